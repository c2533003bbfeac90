"""Runs that span several processes (hosts), on JAX's own multi-process
runtime: `jax.distributed.initialize`, its coordination service, and gloo
collectives on CPU.

Device work needs no help from here: every process runs the same programs
over one global device mesh and feeds only its own rows. What the harness
adds are the few host-side exchanges of a sweep (the run folder, which
points to run, each point's measurements, the verdict on each point), made
through the coordination service's key-value store. Every exchange waits at
most `timeout_s`, so a process that died or hangs becomes an error naming
it, never a hang of the others."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from dataclasses import dataclass

from bench.base.errors import BenchError

ENV_VARS = {"coordinator": "DALLE_BENCH_COORDINATOR", "num_processes": "DALLE_BENCH_NUM_PROCESSES",
            "process_id": "DALLE_BENCH_PROCESS_ID", "timeout_s": "DALLE_BENCH_DISTRIBUTED_TIMEOUT"}
AUTO = "auto"


class DistributedError(BenchError):
    """Another process died, hung or gave up: the run stops (exit status 1)."""

    exit_code = 1


@dataclass(frozen=True)
class DistributedConfig:
    """How this process joins a multi-process run. `coordinator` is HOST:PORT
    of process 0, or 'auto' for JAX's cluster auto-detection (Cloud TPU,
    SLURM, Open MPI); None runs a single process."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    timeout_s: float = 300.0

    def __post_init__(self):
        if not self.timeout_s > 0:  # NaN too
            raise BenchError(f"--distributed-timeout must be > 0 seconds, got {self.timeout_s:g}")
        if self.coordinator is None:
            if self.num_processes not in (None, 1) or self.process_id not in (None, 0):
                raise BenchError("--num-processes/--process-id need --coordinator HOST:PORT (or 'auto')")
            return
        if self.coordinator != AUTO:
            if not re.fullmatch(r"\[?[\w.:-]+\]?:\d{1,5}", self.coordinator):
                raise BenchError(f"--coordinator must be HOST:PORT or 'auto', got '{self.coordinator}'")
            if self.num_processes is None or self.process_id is None:
                raise BenchError("--coordinator HOST:PORT needs --num-processes and --process-id")
        if self.num_processes is not None and self.num_processes < 1:
            raise BenchError(f"--num-processes must be >= 1, got {self.num_processes}")
        if self.process_id is not None and not 0 <= self.process_id < (self.num_processes or self.process_id + 1):
            raise BenchError(f"--process-id must be in [0, {self.num_processes}), got {self.process_id}")

    @property
    def enabled(self) -> bool:
        return self.coordinator is not None


class Cluster:
    """One process alone: every exchange is local."""

    process_index = 0
    process_count = 1
    hosts = 1

    @property
    def is_main(self) -> bool:
        return self.process_index == 0

    def share(self, name: str, value=None, patience: float = 1.0):
        """Process 0's `value`, on every process (JSON-serialisable). The
        others wait `patience` times the timeout for it."""
        return value

    def gather(self, name: str, value) -> list | None:
        """Every process's `value`, in process order, on process 0; None elsewhere."""
        return [value]

    def describe(self) -> str:
        return "1 process"

    def goodbye(self) -> None:
        """The end of the run for this process: process 0 waits until every other one is done."""
        self.gather("goodbye", True)


class ProcessGroup(Cluster):
    """Processes joined through jax.distributed; exchanges go through its key-value store."""

    def __init__(self, client, process_index: int, process_count: int, hosts: int, timeout_s: float):
        self._client = client
        self.process_index = process_index
        self.process_count = process_count
        self.hosts = hosts
        self.timeout_s = timeout_s

    def _get(self, key: str, owner: int, what: str, patience: float = 1.0, deadline: float | None = None) -> str:
        """The value under `key`, waiting until `deadline` (time.monotonic()),
        by default `patience` timeouts from now."""
        timeout_s = self.timeout_s * patience
        deadline = time.monotonic() + timeout_s if deadline is None else deadline
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        try:
            if remaining_ms <= 0:
                raise TimeoutError("DEADLINE_EXCEEDED before asking")
            return self._client.blocking_key_value_get(key, remaining_ms)
        except Exception as e:  # the runtime raises one error type for timeouts and lost connections
            reason = "died or hung" if "DEADLINE" in str(e) else f"is gone ({type(e).__name__})"
            raise DistributedError(f"process {owner} did not send {what} within {timeout_s:g} s: "
                                   f"it {reason}") from None

    def share(self, name: str, value=None, patience: float = 1.0):
        key = f"dalle-bench/share/{name}"
        if self.is_main:
            self._client.key_value_set(key, json.dumps(value))
            return value
        return json.loads(self._get(key, 0, name, patience))

    def gather(self, name: str, value) -> list | None:
        self._client.key_value_set(f"dalle-bench/gather/{name}/{self.process_index}", json.dumps(value))
        if not self.is_main:
            return None
        # One deadline for the whole gather: slow peers must not each get the full timeout in turn.
        deadline = time.monotonic() + self.timeout_s
        return [json.loads(self._get(f"dalle-bench/gather/{name}/{k}", k, name, deadline=deadline))
                for k in range(self.process_count)]

    def describe(self) -> str:
        return f"process {self.process_index} of {self.process_count}"


_joined = False


def leave(code: int) -> None:
    """End this process of a multi-process run. JAX's shutdown handshake
    aborts a process whose peers or coordinator have already gone, so a
    process that joined flushes its output and exits at once; by then every
    result is written (process 0 waits for the others' goodbye first)."""
    if _joined:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def start(config: DistributedConfig) -> Cluster:
    """Join the run (before any other JAX work) and return its exchanges."""
    if not config.enabled:
        return Cluster()
    import jax

    # gloo: the CPU backend's cross-process collectives. Recoverability: a
    # dead peer is then ours to report (with our timeout), instead of the
    # runtime aborting every surviving process.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_enable_recoverability", True)
    timeout = max(1, round(config.timeout_s))
    try:
        jax.distributed.initialize(None if config.coordinator == AUTO else config.coordinator,
                                   config.num_processes, config.process_id, initialization_timeout=timeout,
                                   heartbeat_timeout_seconds=max(10, timeout), shutdown_timeout_seconds=timeout)
    except Exception as e:  # auto-detection failures and connection timeouts alike
        raise BenchError(f"--coordinator {config.coordinator}: could not join the run: {e}".splitlines()[0]) from None
    global _joined
    _joined = True
    group = ProcessGroup(coordination_client(), jax.process_index(), jax.process_count(), 1, config.timeout_s)
    names = group.gather("hostnames", socket.gethostname())
    group.hosts = group.share("hosts", len(set(names)) if names else None)
    return group


def coordination_client():
    """The key-value client of the coordination service jax.distributed
    started. JAX has no public accessor for it: this is the one place that
    reaches into `jax._src` for it, and tests/test_private_jax.py fails when
    a JAX release moves it."""
    from jax._src import distributed

    client = distributed.global_state.client
    if client is None:
        raise RuntimeError("jax.distributed is not initialised: no coordination client")
    return client
