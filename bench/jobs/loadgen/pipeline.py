"""The compiled pipeline as the system under test sees it: (prompt, sample)
pairs in, tokens (and images) out. The one module that uses bench.core.pipeline
and bench.core.parallel, as `generate` and `sweep` do: the same program, runner
and PromptTable, so each sample's tokens equal `generate`'s for its
(seed, prompt, sample) key."""

from __future__ import annotations

import time

import jax
import numpy as np

from bench.core.models.loading import Models
from bench.core.parallel import ParallelConfig, Runner
from bench.core.pipeline import PromptTable, build_program
from bench.core.sampling import SamplingConfig


class CompiledPipeline:
    def __init__(self, models: Models, prompts: list[str], num_images: int, seed: int, sampling: SamplingConfig,
                 parallel: ParallelConfig, devices: list):
        self.num_images, self.seed, self.sampling = num_images, seed, sampling
        self.global_batch = parallel.global_batch
        self.table = PromptTable(models, prompts)
        self.runner = Runner(build_program(models, sampling.structure), models.params, devices, parallel)
        self.image_length = models.geometry.image_length
        self.image_shape: tuple[int, ...] | None = None

    def keys(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """Query-sample-library index -> (prompt, sample): prompt-major, as `generate` orders its images."""
        return np.divmod(np.asarray(indices, np.int32), np.int32(self.num_images))

    def _batch(self, indices) -> dict:
        # Padding repeats the last pair, as plan_batches does: every call has the compiled shape.
        prompt, sample = self.keys(np.pad(np.asarray(indices), (0, self.global_batch - len(indices)), mode="edge"))
        return self.table.batch(prompt, sample, self.seed, self.sampling)

    def compile(self) -> float:
        """Ahead-of-time compilation, before LoadGen starts; seconds."""
        return self.runner.compile(self._batch([0]))

    def warm_up(self) -> float:
        """Two full batches, untimed by LoadGen; the second's wall time, seconds (the defaults of the
        schedule use it): the first carries a fresh executable's first-call costs, 2x a steady batch of
        tiny on CPU, which would loosen the default latency bound by as much. Also learns the images'
        shape (`image_shape`)."""
        batch = list(range(self.global_batch))
        outputs = jax.block_until_ready(self.launch(batch))
        start = time.perf_counter()
        jax.block_until_ready(self.launch(batch))
        seconds = time.perf_counter() - start
        self.image_shape = tuple(int(d) for d in outputs["images"].shape[-3:])
        return seconds

    def launch(self, indices):
        """Start one batch of at most global_batch samples; returns device outputs (asynchronous)."""
        if not 0 < len(indices) <= self.global_batch:
            raise ValueError(f"a batch holds 1 to {self.global_batch} samples, got {len(indices)}")
        return self.runner(self.runner.put(self._batch(indices)))

    def fetch(self, outputs, count: int, with_images: bool) -> dict:
        """The first `count` rows on the host: tokens (int32), and images (float in [0, 1]) when asked."""
        wanted = {k: v for k, v in outputs.items() if k == "tokens" or (with_images and k == "images")}
        return {k: v[:count] for k, v in self.runner.to_host(wanted).items()}
