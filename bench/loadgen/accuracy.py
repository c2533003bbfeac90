"""Accuracy mode after the test, as MLPerf's accuracy scripts do for SDXL:
the images of LoadGen's accuracy log (every sample once) are written as
PNGs with their tokens, then scored with the project's metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import BenchError
from ..outputs import image_name
from .logs import read_accuracy_log
from .responses import ResponseLayout


@dataclass(frozen=True)
class QualitySettings:
    clip: str | None  # CLIP checkpoint for clip_score (None: no CLIP score)
    fid_ref: str | None = None  # folder or .npz: FID and KID against it
    inception_weights: Path | None = None


def write_accuracy_images(log: Path, layout: ResponseLayout, num_prompts: int, num_images: int,
                          out: Path) -> int:
    """PNGs named promptPPP_sampleSSS.png and tokens.npy (int32 [prompts, n, length]) from the
    accuracy log; returns the number of images. Every sample must be in the log."""
    entries = read_accuracy_log(log)
    total = num_prompts * num_images
    missing = sorted(set(range(total)) - {index for index, _ in entries})
    if missing:
        raise BenchError(f"{log}: {len(missing)} of {total} samples missing from the accuracy log")
    out.mkdir(parents=True, exist_ok=True)
    tokens = np.zeros((total, layout.tokens), np.int32)
    for index, data in entries:
        if index >= total:
            raise BenchError(f"{log}: sample {index} is outside the query sample library ({total} samples)")
        try:
            tokens[index], image = layout.decode(data)
        except ValueError as e:  # a response of the wrong length: a damaged log, not the images
            raise BenchError(f"{log}: sample {index}: {e}") from None
        prompt, sample = divmod(index, num_images)
        Image.fromarray(image).save(out / image_name(prompt, sample))
    np.save(out / "tokens.npy", tokens.reshape(num_prompts, num_images, -1))
    return total


def evaluate_images(folder: Path, prompts: list[str], num_images: int, settings: QualitySettings) -> dict:
    """Quality columns of the scenario row for the images in `folder`."""
    from evals.images import load_images
    from evals.statistics import clip_score_summary

    files = [folder / image_name(p, s) for p in range(len(prompts)) for s in range(num_images)]
    images = load_images(files)
    row: dict = {}
    if settings.clip:
        from evals.clip_score import clip_scores, load_clip

        scores = clip_scores(*load_clip(settings.clip), images, [p for p in prompts for _ in range(num_images)])
        summary = clip_score_summary(scores)
        row.update(clip_model=settings.clip, clip_score=summary.mean, clip_score_std=summary.std,
                   clip_score_ci_low=summary.ci_low, clip_score_ci_high=summary.ci_high)
    if settings.fid_ref:
        from bench.cache import cache_root
        from evals import fidelity, inception

        extractor = inception.load_extractor(settings.inception_weights)
        reference = fidelity.resolve_reference(settings.fid_ref, extractor,
                                               inception.weights_id(settings.inception_weights),
                                               cache_root() / "fid-stats")
        figures = fidelity.fidelity_metrics(inception.inception_features(extractor, images), reference,
                                            {"fid", "kid"}, settings.inception_weights)
        row.update({k: figures.get(k) for k in ("fid_reference", "fid", "fid_biased", "kid_mean", "kid_std")})
    return row
