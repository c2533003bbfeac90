"""A point's images and arrays on disk: each process writes its share to the
point's staging folder; process 0 merges the shares and publishes the folder
as images/<point-id>/ in one rename."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bench.results.outputs import image_name, to_uint8
from bench.results.store import RunStore, writing

from .spec import Point


def write_share(staging: Path, merged: dict, process: int) -> None:
    """This process's images (PNGs) and a part file with their tokens and CLIP
    scores, indexed by (prompt, sample), for process 0 to merge."""
    with writing(staging):
        for p, s, image in zip(merged["prompt"], merged["sample"], merged["images"]):
            Image.fromarray(to_uint8(image)).save(staging / image_name(int(p), int(s)))
        np.savez(staging / f"part-{process}.npz", prompt=merged["prompt"], sample=merged["sample"],
                 tokens=merged["tokens"].astype(np.int32), clip_scores=merged["clip_scores"].astype(np.float32))


def publish_shares(store: RunStore, point: Point, num_prompts: int, num_images: int, processes: int,
                   latencies: np.ndarray) -> Path:
    """Merge the processes' part files into tokens.npy (int32 [prompts, n, 256])
    and clip_scores.npy ([prompts, n]), add latencies.npy (every timed call,
    seconds, in call order), then move the folder into images/<point-id>/ in
    one rename."""
    staging = store.staging_dir(point.point_id)
    parts = [np.load(staging / f"part-{k}.npz") for k in range(processes)]
    length = parts[0]["tokens"].shape[-1]
    tokens = np.zeros((num_prompts, num_images, length), np.int32)
    scores = np.zeros((num_prompts, num_images), np.float32)
    filled = np.zeros((num_prompts, num_images), bool)
    for part in parts:
        tokens[part["prompt"], part["sample"]] = part["tokens"]
        scores[part["prompt"], part["sample"]] = part["clip_scores"]
        filled[part["prompt"], part["sample"]] = True
    if not filled.all():
        raise RuntimeError(f"images missing from the processes' shares: {np.argwhere(~filled).tolist()[:4]}")
    with writing(staging):
        np.save(staging / "tokens.npy", tokens)
        np.save(staging / "clip_scores.npy", scores)
        np.save(staging / "latencies.npy", np.asarray(latencies, dtype=np.float64))
    for k in range(processes):
        (staging / f"part-{k}.npz").unlink()
    return store.publish_images(staging, point.point_id)
