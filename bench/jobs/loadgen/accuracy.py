"""Accuracy mode after the test, as MLPerf's accuracy scripts do for SDXL:
the images of LoadGen's accuracy log (every sample once) are written as
PNGs with their tokens, then scored with the project's metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bench.base.errors import BenchError
from bench.results.outputs import image_name

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


def metric_names(settings: QualitySettings) -> list[str]:
    """The registry's metrics a test's accuracy runs: clip with a CLIP, fid and kid with a reference."""
    return [*(["clip"] if settings.clip else []), *(["fid", "kid"] if settings.fid_ref else [])]


def evaluate_images(folder: Path, prompts: list[str], num_images: int, settings: QualitySettings) -> dict:
    """Quality columns of the scenario row for the images in `folder`: the registry's clip (with a
    CLIP) and fid and kid (with a reference), computed by evals' driver as a sweep's are, each
    network loaded once. Too few images for a metric is a one-line error; a figure the images
    cannot have otherwise (an untrustworthy square root, KID against statistics) is null."""
    from bench.base.cache import cache_root
    from bench.results.scenarios_schema import NAMES
    from evals import registry
    from evals.images import load_images
    from evals.metric import Networks
    from evals.scoring import FeatureBank, compute

    metrics = registry.resolve(metric_names(settings))
    networks = Networks(**({"clip": settings.clip} if settings.clip else {}),
                        inception_weights=settings.inception_weights)
    bank = FeatureBank(networks, settings.fid_ref, cache_root() / "fid-stats")
    files = [folder / image_name(p, s) for p in range(len(prompts)) for s in range(num_images)]
    for metric in metrics:  # too few images for a figure is the run's error, not a null figure in its row
        if why := metric.too_few(len(files), None):
            raise BenchError(f"{folder}: {why}")
    columns, _ = compute(metrics, bank, load_images(files), [p for p in prompts for _ in range(num_images)],
                         num_images)
    # The scenario row keeps the headline columns of each metric, in its schema's order (the order printed).
    filled = {column for metric in metrics for column in metric.columns}
    return {name: columns.get(name) for name in NAMES if name in filled}
