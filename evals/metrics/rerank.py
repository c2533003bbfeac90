"""What the notebook's CLIP re-ranking buys, from the per-image CLIP scores
that `clip` computes: per prompt the mean (one image), the best of n, and
the exact expected best-of-k curve; per point their means over prompts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from bench.base.column import Column
from evals.metric import Metric, MetricInputs
from evals.rerank import point_curve

RERANK_IMAGES_PER_PROMPT = Column("rerank_images_per_prompt", pa.int32(),
                                  "Images per prompt n behind the re-ranking columns.")
CLIP_SCORE_BEST_OF_N = Column("clip_score_best_of_n", pa.float64(), "Mean over prompts of the best of the n images' "
                              "CLIP scores (what the notebook's re-ranking shows).")
RERANK_GAIN = Column("rerank_gain", pa.float64(),
                     "clip_score_best_of_n minus the mean CLIP score: what re-ranking buys.")
CLIP_SCORE_BEST_OF_K = Column("clip_score_best_of_k", pa.list_(pa.float64()), "Expected CLIP score of the best of "
                              "k random images of a prompt, k = 1..n, exact from the order statistics, mean over "
                              "prompts.")


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
    fills=(RERANK_IMAGES_PER_PROMPT, CLIP_SCORE_BEST_OF_N, RERANK_GAIN, CLIP_SCORE_BEST_OF_K),
    value_column="clip_score_best_of_n", network_column="clip_model", compute=_compute, requires=("clip",))
