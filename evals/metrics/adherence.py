"""Adherence: the shapes world's checker over a point's images (GenEval's
idea with exact ground truth). Per point the share of images that pass and
the mean partial score; evals/evaluate.py keeps the same per prompt, so the
report breaks adherence down by challenge."""

from __future__ import annotations

import numpy as np

from ..adherence import checker_name
from ..metric import Metric, MetricInputs


def _compute(inputs: MetricInputs) -> dict:
    scores = np.asarray(inputs.features["adherence"], np.float64)  # (images, 2): passed, partial
    return {"adherence_checker": checker_name(), "adherence": float(scores[:, 0].mean()),
            "adherence_partial": float(scores[:, 1].mean())}


METRIC = Metric(
    name="adherence", doc="Shapes world only: share of images whose caption the world's checker passes, and the "
                          "mean partial score.",
    features=("adherence",), columns=("adherence_checker", "adherence", "adherence_partial"),
    value_column="adherence", network_column="adherence_checker", compute=_compute)
