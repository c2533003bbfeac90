"""What CLIP re-ranking buys: for a prompt with n images scored by CLIP, the
expected score of the best of k images drawn at random from the n, for
k = 1..n. k = 1 is the plain mean (one image, no re-ranking); k = n is the
best of all n, what the notebook shows. Exact, from the order statistics of
the n scores rather than by resampling: with the scores sorted ascending,
s_(1) <= ... <= s_(n), the i-th is the best of a random k-subset with
probability C(i-1, k-1) / C(n, k), so

  E[best of k] = Σ_{i=k..n} C(i-1, k-1) / C(n, k) · s_(i)."""

from __future__ import annotations

from math import comb

import numpy as np


def best_of_k_curve(scores) -> np.ndarray:
    """E[max of a uniformly random k-subset of `scores`] for k = 1..n."""
    ordered = np.sort(np.asarray(scores, np.float64))
    n = len(ordered)
    if n == 0:
        raise ValueError("no scores")
    curve = np.empty(n)
    for k in range(1, n + 1):
        total = comb(n, k)
        # Python integers divide exactly before rounding: no overflow for large n.
        weights = np.array([comb(i - 1, k - 1) / total for i in range(k, n + 1)])
        curve[k - 1] = weights @ ordered[k - 1:]
    return curve


def point_curve(scores_by_prompt: np.ndarray) -> np.ndarray:
    """The mean over prompts of each prompt's best-of-k curve; rows are prompts, columns their n images."""
    scores_by_prompt = np.asarray(scores_by_prompt, np.float64)
    if scores_by_prompt.ndim != 2 or 0 in scores_by_prompt.shape:
        raise ValueError(f"need a (prompts, images per prompt) score matrix, got {scores_by_prompt.shape}")
    return np.mean([best_of_k_curve(row) for row in scores_by_prompt], axis=0)
