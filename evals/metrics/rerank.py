"""What the notebook's CLIP re-ranking buys, from the per-image CLIP scores
that `clip` computes: per prompt the mean (one image), the best of n, and
the exact expected best-of-k curve; per point their means over prompts."""

from __future__ import annotations

import numpy as np

from ..metric import Metric, MetricInputs
from ..rerank import point_curve


def _compute(inputs: MetricInputs) -> dict:
    scores = np.asarray(inputs.features["clip_scores"], np.float64)
    n = inputs.images_per_prompt
    if not n or len(scores) % n:
        return {"null_reason": "rerank needs the images grouped by prompt (n images per prompt)"}
    curve = point_curve(scores.reshape(-1, n))
    return {"rerank_images_per_prompt": n, "clip_score_best_of_n": float(curve[-1]),
            "rerank_gain": float(curve[-1] - curve[0]), "clip_score_best_of_k": [float(v) for v in curve]}


METRIC = Metric(
    name="rerank", doc="CLIP re-ranking gain: expected best-of-k CLIP score per prompt for k = 1..n (needs clip).",
    features=("clip_scores",),
    columns=("rerank_images_per_prompt", "clip_score_best_of_n", "rerank_gain", "clip_score_best_of_k"),
    value_column="clip_score_best_of_n", network_column="clip_model", compute=_compute, requires=("clip",))
