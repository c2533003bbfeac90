"""CLIP score (torchmetrics' definition: max(mean, 0) of the per-image 100 x cosine), with the std and
interval of the unclamped per-image scores."""

from __future__ import annotations

from ..metric import Metric, MetricInputs
from ..statistics import clip_score_summary


def _compute(inputs: MetricInputs) -> dict:
    summary = clip_score_summary(inputs.features["clip_scores"])
    return {"clip_model": inputs.networks.clip, "clip_score": summary.mean, "clip_score_std": summary.std,
            "clip_score_ci_low": summary.ci_low, "clip_score_ci_high": summary.ci_high}


METRIC = Metric(
    name="clip", doc="CLIP score of each image against its prompt (100 x cosine); max(mean, 0) and 95 % interval.",
    features=("clip_scores",),
    columns=("clip_model", "clip_score", "clip_score_std", "clip_score_ci_low", "clip_score_ci_high"),
    value_column="clip_score", network_column="clip_model", compute=_compute)
