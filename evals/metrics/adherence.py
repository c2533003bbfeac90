"""Adherence: the shapes world's checker over a point's images (GenEval's
idea with exact ground truth). Per point the share of images that pass and
the mean partial score; bench/jobs/evaluate.py keeps the same per prompt, so the
report breaks adherence down by challenge. The pass rate comes with its 95 %
Wilson interval: from the handful of images of a demo point it is wide, and
says so."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from bench.base.column import Column
from evals.metric import Metric, MetricInputs

CONFIDENCE = 0.95

ADHERENCE_CHECKER = Column("adherence_checker", pa.string(),
                           "Shapes world only: the checker (and its version) behind adherence.")
ADHERENCE = Column("adherence", pa.float64(), "Shapes world only: share of images whose caption the checker passes "
                                              "(every object, count, relation, background right).")
ADHERENCE_CI_LOW = Column("adherence_ci_low", pa.float64(), "Shapes world only: lower end of the 95 % Wilson "
                                                            "interval of adherence (over the point's images).")
ADHERENCE_CI_HIGH = Column("adherence_ci_high", pa.float64(),
                           "Shapes world only: upper end of the 95 % Wilson interval of adherence.")
ADHERENCE_PARTIAL = Column("adherence_partial", pa.float64(),
                           "Shapes world only: mean share of the caption's checks each image passes.")


def pass_rate_interval(passed: int, images: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a pass rate: unlike the normal approximation it stays
    inside [0, 1] and is not zero-width at 0 or all passing, where small points land."""
    from scipy.stats import binomtest

    interval = binomtest(passed, images).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def _compute(inputs: MetricInputs) -> dict:
    from evals.adherence import checker_name  # the shapes world: loaded to compute, not with the metric registry

    scores = np.asarray(inputs.features["adherence"], np.float64)  # (images, 2): passed, partial
    low, high = pass_rate_interval(int(scores[:, 0].sum()), len(scores))
    return {"adherence_checker": checker_name(), "adherence": float(scores[:, 0].mean()),
            "adherence_ci_low": low, "adherence_ci_high": high, "adherence_partial": float(scores[:, 1].mean())}


METRIC = Metric(
    name="adherence", doc="Shapes world only: share of images whose caption the world's checker passes, and the "
                          "mean partial score.",
    features=("adherence",),
    fills=(ADHERENCE_CHECKER, ADHERENCE, ADHERENCE_CI_LOW, ADHERENCE_CI_HIGH, ADHERENCE_PARTIAL),
    value_column="adherence", network_column="adherence_checker", compute=_compute)
