"""Adherence: the shapes world's checker over a point's images (GenEval's
idea with exact ground truth). Per point the share of images that pass and
the mean partial score; evals/evaluate.py keeps the same per prompt, so the
report breaks adherence down by challenge. The pass rate comes with its 95 %
Wilson interval: from the handful of images of a demo point it is wide, and
says so."""

from __future__ import annotations

import numpy as np

from ..adherence import checker_name
from ..metric import Metric, MetricInputs

CONFIDENCE = 0.95


def pass_rate_interval(passed: int, images: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a pass rate: unlike the normal approximation it stays
    inside [0, 1] and is not zero-width at 0 or all passing, where small points land."""
    from scipy.stats import binomtest

    interval = binomtest(passed, images).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def _compute(inputs: MetricInputs) -> dict:
    scores = np.asarray(inputs.features["adherence"], np.float64)  # (images, 2): passed, partial
    low, high = pass_rate_interval(int(scores[:, 0].sum()), len(scores))
    return {"adherence_checker": checker_name(), "adherence": float(scores[:, 0].mean()),
            "adherence_ci_low": low, "adherence_ci_high": high, "adherence_partial": float(scores[:, 1].mean())}


METRIC = Metric(
    name="adherence", doc="Shapes world only: share of images whose caption the world's checker passes, and the "
                          "mean partial score.",
    features=("adherence",), columns=("adherence_checker", "adherence", "adherence_ci_low", "adherence_ci_high", "adherence_partial"),
    value_column="adherence", network_column="adherence_checker", compute=_compute)
