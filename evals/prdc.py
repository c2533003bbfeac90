"""Precision, recall, density and coverage (Naeem et al., "Reliable Fidelity
and Diversity Metrics for Generative Models", ICML 2020), over feature
matrices: pure maths, Euclidean distances, as the authors' `prdc` package.

With real features R, generated features F and NND_k(r) the distance from r
to its k-th nearest other real point (the point itself does not count):
  precision = share of f within NND_k(r) of some r
  recall    = share of r within NND_k(f) of some f (k-th neighbour among F)
  density   = (1/k) × mean over f of the number of r whose ball holds f
  coverage  = share of r whose nearest f lies within NND_k(r)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEAREST_K = 5


@dataclass(frozen=True)
class PRDC:
    precision: float
    recall: float
    density: float
    coverage: float


def kth_neighbour_distances(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest other row."""
    from scipy.spatial.distance import cdist  # scipy: loaded to compute, not with the metric registry

    distances = cdist(features, features)
    # Index k of the sorted row: index 0 is the row itself (distance 0).
    return np.partition(distances, k, axis=1)[:, k]


def prdc(real: np.ndarray, fake: np.ndarray, k: int = NEAREST_K) -> PRDC:
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"PRDC with k={k} needs more than {k} images on each side, got {len(fake)} and {len(real)}")
    real_radii = kth_neighbour_distances(real, k)
    fake_radii = kth_neighbour_distances(fake, k)
    from scipy.spatial.distance import cdist

    real_to_fake = cdist(real, fake)
    inside_real_balls = real_to_fake < real_radii[:, None]
    return PRDC(
        precision=float(inside_real_balls.any(axis=0).mean()),
        recall=float((real_to_fake < fake_radii[None, :]).any(axis=1).mean()),
        density=float(inside_real_balls.sum(axis=0).mean() / k),
        coverage=float((real_to_fake.min(axis=1) < real_radii).mean()),
    )
