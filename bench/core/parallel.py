"""Running one program over 1..N devices: `single` (jit on one device),
`pmap` (as the original notebook: parameters replicated, batch split over a
leading device axis) and `sharded` (jit over a device Mesh, parameters
replicated and the batch sharded with NamedSharding).

A runner is compiled once (`compile`, timed on its own), then called with
host batches of exactly `global_batch` rows; it returns device arrays so
callers choose when to synchronise.

Across processes (jax.distributed) the devices are global: every process
lays out the same weights, feeds only the rows its own devices hold and gets
back only those rows (`local_rows`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bench.base.choices import PARALLEL_MODES

from .pipeline import Program


@dataclass(frozen=True)
class ParallelConfig:
    mode: str = "single"
    devices: int = 1
    batch_per_device: int = 1

    def __post_init__(self):
        if self.mode not in PARALLEL_MODES:
            raise ValueError(f"--parallel must be one of {', '.join(PARALLEL_MODES)}, got '{self.mode}'")
        if self.batch_per_device < 1:
            raise ValueError(f"--batch-per-device must be >= 1, got {self.batch_per_device}")
        if self.mode == "single" and self.devices != 1:
            raise ValueError("--parallel single runs on one device; use pmap or sharded with --devices > 1")

    @property
    def global_batch(self) -> int:
        return self.devices * self.batch_per_device


def _mesh_shardings(devices: list) -> tuple[NamedSharding, NamedSharding]:
    """(replicated, split along the leading axis) over a 1-d mesh of `devices`."""
    mesh = Mesh(np.asarray(devices), ("data",))
    return NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("data"))


def place_params(params: dict, devices: list, mode: str) -> dict:
    """Host parameters laid out for `mode`: one replicated copy (single,
    sharded), or pmap's (devices, ...) stack of per-device copies."""
    replicated, split = _mesh_shardings(devices)
    if mode != "pmap" and jax.process_count() == 1:
        return jax.device_put(params, replicated)
    # Across processes each one places the copies on its own devices: the
    # backends move nothing between hosts.
    local = [d for d in devices if d.process_index == jax.process_index()]

    def copies(leaf) -> jax.Array:
        leaf = np.asarray(leaf)
        if mode != "pmap":
            return jax.make_array_from_single_device_arrays(leaf.shape, replicated,
                                                            [jax.device_put(leaf, d) for d in local])
        shards = [jax.device_put(leaf[None], d) for d in local]
        return jax.make_array_from_single_device_arrays((len(devices), *leaf.shape), split, shards)

    return jax.tree.map(copies, params)


class Runner:
    """One program laid out over `devices`. `params` are host parameters, or
    parameters already laid out for these devices and mode (`place_params`, or
    another runner's `params`) passed with `placed=True`, so several programs
    share one copy of the weights."""

    def __init__(self, program: Program, params: dict, devices: list, config: ParallelConfig, placed: bool = False):
        self.config = config
        self.devices = devices
        self._replicated, self._split = _mesh_shardings(devices)
        if config.mode == "pmap":
            self._fn = jax.pmap(program, devices=devices)
        else:
            self._fn = jax.jit(program, out_shardings=self._split)
        self.params = params if placed else place_params(params, devices, config.mode)
        self._compiled = None

    def put(self, batch: dict) -> dict:
        """Host batch (all `global_batch` rows) -> device batch, laid out for
        this mode; across processes each sends only its devices' rows."""
        if self.config.mode == "pmap":
            n = self.config.devices
            batch = {k: v.reshape(n, -1, *v.shape[1:]) for k, v in batch.items()}
        if jax.process_count() == 1:
            return jax.device_put(batch, self._split)
        blocks = self._local_positions()
        return {k: jax.make_array_from_process_local_data(self._split, _rows_of(v, blocks, len(self.devices)),
                                                          v.shape)
                for k, v in batch.items()}

    def _local_positions(self) -> list[int]:
        """Positions in the device list of this process's devices (their blocks of the batch)."""
        return [i for i, d in enumerate(self.devices) if d.process_index == jax.process_index()]

    def local_rows(self) -> np.ndarray:
        """Indices in the global batch of the rows `to_host` returns, in order."""
        per_device = self.config.batch_per_device
        return np.concatenate([np.arange(i * per_device, (i + 1) * per_device) for i in self._local_positions()])

    def compile(self, example_batch: dict) -> float:
        """Ahead-of-time compilation for a host batch's shapes; returns its wall time in seconds."""
        return self.compile_for(self.put(example_batch))

    def compile_for(self, device_batch) -> float:
        """As `compile`, for inputs already on device in this runner's layout
        (another runner's outputs, say)."""
        start = time.perf_counter()
        self.adopt(self.lower_for(device_batch).compile())
        return time.perf_counter() - start

    def lower_for(self, device_batch):
        """The program traced and lowered for these inputs' shapes (jax's
        `Lowered`): its `compile()` releases the GIL, so other threads can
        compile while this one lowers the next program."""
        return self._fn.lower(self.params, device_batch)

    def adopt(self, executable) -> None:
        """Use `executable` (this runner's `lower_for(...).compile()`, compiled elsewhere)."""
        self._compiled = executable

    @property
    def compiled(self):
        """The compiled executable: `compiled(params, device_batch)`."""
        if self._compiled is None:
            raise RuntimeError("compile() first")
        return self._compiled

    def __call__(self, device_batch):
        return self.compiled(self.params, device_batch)

    def to_host(self, outputs):
        """Device outputs -> numpy with one leading batch axis: the rows of
        this process's devices (all rows in a single process), in batch order."""
        if jax.process_count() == 1:
            host = jax.device_get(outputs)
        else:
            position = {d: i for i, d in enumerate(self.devices)}

            def local(array: jax.Array) -> np.ndarray:
                shards = sorted(array.addressable_shards, key=lambda shard: position[shard.device])
                return np.concatenate([np.asarray(shard.data) for shard in shards])

            host = jax.tree.map(local, outputs)
        if self.config.mode == "pmap":
            host = jax.tree.map(lambda v: v.reshape(-1, *v.shape[2:]), host)
        return host


    def to_host_all(self, outputs):
        """As `to_host`, but every row on every process (gathered across
        processes by a collective: for outputs one process writes)."""
        if jax.process_count() == 1:
            return self.to_host(outputs)
        from jax.experimental import multihost_utils

        host = multihost_utils.process_allgather(outputs, tiled=True)
        if self.config.mode == "pmap":
            host = jax.tree.map(lambda v: v.reshape(-1, *v.shape[2:]), host)
        return host


def _rows_of(value: np.ndarray, blocks: list[int], count: int) -> np.ndarray:
    """The leading-axis blocks `blocks` of `value`, cut into `count` equal blocks."""
    size = value.shape[0] // count
    return np.concatenate([value[i * size:(i + 1) * size] for i in blocks])
