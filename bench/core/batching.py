"""Pure planning of work into fixed-size batches (no jax, no IO)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Batch:
    prompt_index: np.ndarray  # (global_batch,) int32
    sample_index: np.ndarray  # (global_batch,) int32
    valid: int  # rows after the first `valid` are padding, dropped from the results


def plan_batches(num_prompts: int, samples_per_prompt: int, global_batch: int) -> list[Batch]:
    """Every (prompt, sample) pair in prompt-major order, cut into batches of
    exactly `global_batch` rows; the last is padded by repeating its final
    pair, so every batch has the shape the program was compiled for."""
    if num_prompts < 1 or samples_per_prompt < 1 or global_batch < 1:
        raise ValueError("num_prompts, samples_per_prompt and global_batch must be >= 1")
    prompts, samples = np.divmod(np.arange(num_prompts * samples_per_prompt, dtype=np.int32), samples_per_prompt)
    batches = []
    for start in range(0, len(prompts), global_batch):
        p, s = prompts[start:start + global_batch], samples[start:start + global_batch]
        pad = global_batch - len(p)
        batches.append(Batch(np.pad(p, (0, pad), mode="edge"), np.pad(s, (0, pad), mode="edge"), len(p)))
    return batches


def padded_rows(num_prompts: int, samples_per_prompt: int, global_batch: int) -> int:
    """Rows of `plan_batches`' batches that carry no image (all in the last batch)."""
    return -(num_prompts * samples_per_prompt) % global_batch
