"""The Pareto front of a two-objective trade-off, both objectives maximised
(quality and throughput): pure numpy, no plotting."""

from __future__ import annotations

import numpy as np


def pareto_front(x, y) -> np.ndarray:
    """A boolean mask of the points no other point dominates, both x and y
    maximised. A point is dominated when another is at least as good on both
    and strictly better on one, so exact ties stay on the front together.
    Points with a NaN coordinate are never on the front (and dominate nothing)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of the same length, got shapes {x.shape} and {y.shape}")
    valid = ~(np.isnan(x) | np.isnan(y))
    xv, yv = x[valid], y[valid]
    # dominated[i]: some j with x_j >= x_i, y_j >= y_i and one of them strict. O(n²) is fine for a sweep.
    at_least = (xv[None, :] >= xv[:, None]) & (yv[None, :] >= yv[:, None])
    strictly = (xv[None, :] > xv[:, None]) | (yv[None, :] > yv[:, None])
    front = np.zeros(x.shape, bool)
    front[valid] = ~(at_least & strictly).any(axis=1)
    return front
