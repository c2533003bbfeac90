"""CLIP score (torchmetrics' definition: max(mean, 0) of the per-image 100 x cosine), with the std and
interval of the unclamped per-image scores."""

from __future__ import annotations

import pyarrow as pa

from bench.base.column import Column
from evals.metric import Metric, MetricInputs

CLIP_MODEL = Column("clip_model", pa.string(), "CLIP checkpoint of the clip_score columns (Hub id or folder).")
CLIP_SCORE = Column("clip_score", pa.float64(), "CLIP score, torchmetrics' definition: max(mean, 0) of the "
                    "per-image scores 100 x cosine (the mean is clamped, not each image).")
CLIP_SCORE_STD = Column("clip_score_std", pa.float64(),
                        "Sample standard deviation of the per-image CLIP scores (unclamped).")
CLIP_SCORE_CI_LOW = Column("clip_score_ci_low", pa.float64(), "Lower end of the 95 % Student-t interval of the "
                           "mean of the unclamped per-image CLIP scores, clamped at 0 as clip_score is.")
CLIP_SCORE_CI_HIGH = Column("clip_score_ci_high", pa.float64(), "Upper end of the 95 % Student-t interval of the "
                            "mean of the unclamped per-image CLIP scores, clamped at 0 as clip_score is.")


def _compute(inputs: MetricInputs) -> dict:
    from evals.statistics import clip_score_summary  # scipy: loaded to compute, not to read the schema

    summary = clip_score_summary(inputs.features["clip_scores"])
    return {"clip_model": inputs.networks.clip, "clip_score": summary.mean, "clip_score_std": summary.std,
            "clip_score_ci_low": summary.ci_low, "clip_score_ci_high": summary.ci_high}


METRIC = Metric(
    name="clip", doc="CLIP score of each image against its prompt (100 x cosine); max(mean, 0) and 95 % interval.",
    features=("clip_scores",),
    fills=(CLIP_MODEL, CLIP_SCORE, CLIP_SCORE_STD, CLIP_SCORE_CI_LOW, CLIP_SCORE_CI_HIGH),
    value_column="clip_score", network_column="clip_model", compute=_compute)
