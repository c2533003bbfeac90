"""CLIP score (torchmetrics' definition), mean and interval over the point's images."""

from __future__ import annotations

from ..metric import Metric, MetricInputs
from ..statistics import ScoreSummary


def _compute(inputs: MetricInputs) -> dict:
    summary = ScoreSummary.of(inputs.features["clip_scores"])
    return {"clip_model": inputs.networks.clip, "clip_score": summary.mean, "clip_score_std": summary.std,
            "clip_score_ci_low": summary.ci_low, "clip_score_ci_high": summary.ci_high}


METRIC = Metric(
    name="clip", doc="CLIP score of each image against its prompt (100 x max(cosine, 0)), mean and 95 % interval.",
    features=("clip_scores",),
    columns=("clip_model", "clip_score", "clip_score_std", "clip_score_ci_low", "clip_score_ci_high"),
    value_column="clip_score", network_column="clip_model", compute=_compute)
