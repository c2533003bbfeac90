"""The images of each point as small embedded thumbnails, with their CLIP
scores: the same prompts and samples for every point, so that settings
compare side by side. Reads the run's files; nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from bench.base.errors import BenchError
from bench.results.outputs import image_name
from evals.images import read_rgb

from .embed import image_uri


@dataclass(frozen=True)
class GridOptions:
    max_prompts: int = 8  # the first prompts of the set; the same ones for every point
    max_samples: int = 4  # the first images of each of those prompts
    thumbnail_px: int = 128  # 256×256 images, halved: under 15 kB each as JPEG, ≤ 0.5 MB a point
    jpeg_quality: int = 85


@dataclass(frozen=True)
class Thumbnail:
    data_uri: str | None  # None when the file is missing or cannot be read: `problem` says which
    clip_score: float | None  # the pipeline's own CLIP score of this image
    problem: str | None = None  # "missing", or why the file could not be read (it names the file)


@dataclass(frozen=True)
class PointImages:
    point_id: str
    thumbnails: tuple[tuple[Thumbnail, ...], ...]  # [prompt][sample]
    prompt_scores: tuple[float | None, ...]  # evaluated mean CLIP score per prompt (`dalle-bench eval`), if any

    @property
    def unreadable(self) -> tuple[str, ...]:
        """Why each image that is there could not be shown (corrupt, too large), one line each."""
        return tuple(t.problem for row in self.thumbnails for t in row if t.problem not in (None, "missing"))


def point_images(folder: Path, point_id: str, num_prompts: int, num_images: int, options: GridOptions,
                 evaluated: pd.DataFrame | None = None) -> PointImages:
    prompts, samples = min(num_prompts, options.max_prompts), min(num_images, options.max_samples)
    scores = _load_scores(folder / "clip_scores.npy", num_prompts, num_images)
    thumbnails = tuple(tuple(_thumbnail(folder / image_name(p, s), options,
                                        None if scores is None else float(scores[p, s]))
                             for s in range(samples)) for p in range(prompts))
    return PointImages(point_id, thumbnails, _prompt_means(evaluated, point_id, prompts))


def _thumbnail(path: Path, options: GridOptions, clip_score: float | None) -> Thumbnail:
    """The image as a small JPEG; a missing or damaged file is a placeholder saying so, not the end
    of the report."""
    if not path.is_file():
        return Thumbnail(None, clip_score, "missing")
    try:
        small = Image.fromarray(read_rgb(path))  # the scorers' reader: size checked before decoding, 16 bit
    except BenchError as problem:
        return Thumbnail(None, clip_score, str(problem))
    small.thumbnail((options.thumbnail_px, options.thumbnail_px), Image.Resampling.LANCZOS)
    return Thumbnail(image_uri(small, options.jpeg_quality), clip_score)


def _load_scores(path: Path, num_prompts: int, num_images: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    scores = np.load(path)
    return scores if scores.shape == (num_prompts, num_images) else None  # from another definition: not trusted


def _prompt_means(evaluated: pd.DataFrame | None, point_id: str, prompts: int) -> tuple[float | None, ...]:
    if evaluated is None or evaluated.empty or "clip_score" not in evaluated:  # adherence alone: no CLIP rows
        return (None,) * prompts
    mine = evaluated[evaluated.point_id == point_id].set_index("prompt_index").clip_score
    return tuple(float(mine[p]) if p in mine.index and pd.notna(mine[p]) else None for p in range(prompts))
