"""Generating images for a list of prompts: plan batches, compile once, run,
and gather the results in prompt-major order."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import numpy as np
from tqdm import tqdm

from .batching import plan_batches
from .models.loading import Models
from .parallel import ParallelConfig, Runner
from .pipeline import PromptTable, build_program
from .sampling import SamplingConfig


@dataclass
class Generation:
    tokens: np.ndarray  # (prompts, n, image_length) int32
    images: np.ndarray  # (prompts, n, H, W, 3) float32 in [0, 1]
    clip_scores: np.ndarray  # (prompts, n) float32
    compile_seconds: float
    batch_seconds: list[float]  # wall time of each batch, host to host
    truncated_prompts: list[int]


def generate(models: Models, prompts: list[str], samples_per_prompt: int, seed: int, sampling: SamplingConfig,
             parallel: ParallelConfig, devices: list, progress: bool = True) -> Generation:
    table = PromptTable(models, prompts)
    batches = plan_batches(len(prompts), samples_per_prompt, parallel.global_batch)
    # The sweep's program: the settings are batch inputs, only their structure is compiled in.
    runner = Runner(build_program(models, sampling.structure), models.params, devices, parallel)
    compile_seconds = runner.compile(table.batch(batches[0].prompt_index, batches[0].sample_index, seed, sampling))

    outputs, batch_seconds = [], []
    for batch in tqdm(batches, desc="batches", unit="batch", disable=not progress, delay=2.0):
        start = time.perf_counter()
        result = runner(runner.put(table.batch(batch.prompt_index, batch.sample_index, seed, sampling)))
        result = jax.block_until_ready(result)
        batch_seconds.append(time.perf_counter() - start)
        host = runner.to_host_all(result)
        outputs.append({k: v[:batch.valid] for k, v in host.items()})

    merged = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
    shape = (len(prompts), samples_per_prompt)
    return Generation(
        tokens=merged["tokens"].reshape(*shape, -1).astype(np.int32),
        images=merged["images"].reshape(*shape, *merged["images"].shape[1:]),
        clip_scores=merged["clip_scores"].reshape(shape),
        compile_seconds=compile_seconds,
        batch_seconds=batch_seconds,
        truncated_prompts=table.truncated,
    )
