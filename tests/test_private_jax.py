"""The two places that reach into JAX's private modules (no public API
offers these), each behind one function, and the gather deadline built on
the coordination client. When a JAX release moves either private name, a
test here fails (not a user's run)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from bench.core.distributed import DistributedError, ProcessGroup
from tests.conftest import REPO


def _python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_backends_started_tells_before_from_after_jax_starts():
    proc = _python("import jax\nfrom bench.core.devices import backends_started\n"
                   "before = backends_started()\njax.devices()\nprint(before, backends_started())\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]


def test_the_coordination_client_stores_and_returns_values():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (f"import jax\njax.distributed.initialize('127.0.0.1:{port}', 1, 0, initialization_timeout=60)\n"
            "from bench.core.distributed import coordination_client\nclient = coordination_client()\n"
            "client.key_value_set('k', 'v')\nprint(client.blocking_key_value_get('k', 1000))\n"
            "import os, sys\nsys.stdout.flush()\nos._exit(0)\n")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "v"


class SlowPeers:
    """JAX's coordination client as the gather sees it: peer k's value arrives `delay * k` seconds from now."""

    def __init__(self, delay: float):
        self.start, self.delay = time.monotonic(), delay

    def key_value_set(self, key: str, value: str) -> None:
        pass

    def blocking_key_value_get(self, key: str, timeout_ms: int) -> str:
        peer = int(key.rsplit("/", 1)[1])
        wait = self.start + self.delay * peer - time.monotonic()
        if wait > timeout_ms / 1000:
            time.sleep(timeout_ms / 1000)
            raise RuntimeError("DEADLINE_EXCEEDED")
        time.sleep(max(wait, 0.0))
        return '"ok"'


def test_a_gather_waits_one_timeout_in_all_not_one_per_peer():
    # Each of peers 1..3 is 0.6 timeouts later than the one before: each alone is within the
    # timeout, but peer 2 arrives after 1.2 timeouts (waits per peer gathered all three, in 1.8 s).
    group = ProcessGroup(SlowPeers(delay=0.6), process_index=0, process_count=4, hosts=1, timeout_s=1.0)
    with pytest.raises(DistributedError, match="process 2 did not send"):
        group.gather("report", "mine")
    fast = ProcessGroup(SlowPeers(delay=0.05), process_index=0, process_count=4, hosts=1, timeout_s=1.0)
    assert fast.gather("report", "mine") == ["ok"] * 4
