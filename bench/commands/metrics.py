"""`dalle-bench metrics ...`: score any folder of images, printed as JSON.
Each sub-command's options become one request that knows how to score itself."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .evaluate import metrics_list

if TYPE_CHECKING:  # evals imports its networks' libraries: only when a metric runs
    from evals.metric import Networks


def json_text(value, indent: int = 2) -> str:
    """JSON with null for NaN and infinities (json.dumps writes NaN, which is not JSON); numpy scalars
    become Python numbers."""
    import numpy as np

    def clean(v):
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), indent=indent, allow_nan=False)


@dataclass(frozen=True)
class ClipScoreRequest:
    images_dir: Path
    prompts_file: Path
    clip: str

    @classmethod
    def from_options(cls, images_dir: Path, prompts_file: Path, clip_source: str) -> ClipScoreRequest:
        return cls(Path(images_dir), Path(prompts_file), clip_source)

    def score(self) -> dict:
        from evals.commands import clip_score_of_folder

        return clip_score_of_folder(self.images_dir, self.prompts_file, self.clip)


@dataclass(frozen=True)
class FidRequest:
    images_dir: Path
    reference: str
    metrics: tuple[str, ...]
    inception_weights: Path | None
    cache_dir: Path | None

    @classmethod
    def from_options(cls, images_dir: Path, reference: str, metrics: str, inception_weights: Path | None,
                     cache_dir: Path | None) -> FidRequest:
        return cls(Path(images_dir), reference, metrics_list(metrics), inception_weights, cache_dir)

    def score(self) -> dict:
        from evals.commands import fid_of_folder

        return fid_of_folder(self.images_dir, self.reference, self.metrics, self.inception_weights, self.cache_dir)


@dataclass(frozen=True)
class RegisteredMetricRequest:
    """One metric of the evals registry (cmmd, fd_dinov2, prdc) against a reference folder."""

    name: str
    images_dir: Path
    reference: str
    networks: Networks
    cache_dir: Path | None

    @classmethod
    def from_options(cls, name: str, images_dir: Path, reference: str, cache_dir: Path | None,
                     **networks: str) -> RegisteredMetricRequest:
        """`networks`: the Networks fields the command's options set (cmmd_clip, dinov2)."""
        from evals.metric import Networks

        return cls(name, Path(images_dir), reference, Networks(**networks), cache_dir)

    def score(self) -> dict:
        from evals.commands import registered_metric_of_folder

        return registered_metric_of_folder(self.name, self.images_dir, self.reference, self.networks, self.cache_dir)


def run(request: ClipScoreRequest | FidRequest | RegisteredMetricRequest) -> None:
    click.echo(json_text(request.score(), indent=2))
