"""Writing a generation to disk: PNGs, per-prompt grids, tokens, metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from bench.base.atomic import write_text_atomic

RANDOM_WEIGHTS_NOTE = ("random weights: throughput figures are real, image quality and CLIP scores are "
                       "meaningless")


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.asarray(np.round(np.clip(image, 0.0, 1.0) * 255), np.uint8)


def image_name(prompt: int, sample: int) -> str:
    return f"prompt{prompt:03d}_sample{sample:03d}.png"


def grid(images: np.ndarray, order: np.ndarray) -> Image.Image:
    """One row of images, left to right in `order`."""
    return Image.fromarray(np.concatenate([to_uint8(images[i]) for i in order], axis=1))


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write to a temporary file in the same folder, then rename: readers see the old file or the new one."""
    write_text_atomic(path, json.dumps(payload, indent=2, default=_jsonable) + "\n")


def write_generation(out: Path, prompts: list[str], generation, metadata: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for p, prompt_images in enumerate(generation.images):
        for s, image in enumerate(prompt_images):
            Image.fromarray(to_uint8(image)).save(out / image_name(p, s))
        by_score = np.argsort(-generation.clip_scores[p], kind="stable")
        grid(prompt_images, by_score).save(out / f"grid_prompt{p:03d}.png")
    np.save(out / "tokens.npy", generation.tokens.astype(np.int32))
    write_json_atomic(out / "generate.json", metadata)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
