"""Pure maths of the quality metrics, over numpy arrays: feature statistics,
the Fréchet distance, the kernel (polynomial MMD) distance, and summary
statistics of per-image scores. No model, no IO.

Conventions follow the reference FID/KID tools so that their `.npz` files
and figures are interchangeable: covariances with N-1 normalisation, the
matrix square root by scipy, a small diagonal offset when the product is
singular, and KID as the unbiased MMD² with the cubic polynomial kernel
k(x, y) = (x·y / d + 1)³, averaged over random subsets."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy import stats as scipy_stats

# Below this many images the 2048-d Inception covariance is rank-deficient
# and FID is biased upwards: still computed, always flagged.
FID_RELIABLE_IMAGES = 2048


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of an (images, dims) feature matrix, in float64."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need an (images >= 2, dims) feature matrix, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


# pytorch-fid's rule: a matrix square root whose diagonal has an imaginary
# part above this is not round-off, and the distance built on it is wrong.
SQRTM_IMAGINARY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class FrechetResult:
    value: float | None  # None when the matrix square root cannot be trusted
    sqrtm: str  # how the square root was taken: "exact", or "offset 1e-06 (without, the root ...)"
    reason: str | None = None  # why value is None


def _imaginary_diagonal(covmean: np.ndarray) -> float:
    return float(np.abs(np.diagonal(covmean).imag).max()) if np.iscomplexobj(covmean) else 0.0


def _flaw(covmean: np.ndarray) -> str:
    if not np.isfinite(covmean).all():
        return "is not finite"
    return f"has an imaginary diagonal of {_imaginary_diagonal(covmean):.3g}"


def _usable(covmean: np.ndarray) -> bool:
    return bool(np.isfinite(covmean).all()) and _imaginary_diagonal(covmean) <= SQRTM_IMAGINARY_TOLERANCE


def frechet(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
            eps: float = 1e-6) -> FrechetResult:
    """||mu1 - mu2||² + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½), saying how
    the square root was taken. As pytorch-fid: when the product is singular
    (not finite) or its root has an imaginary diagonal above 1e-3, retry with
    `eps` added to both diagonals; if that fails too, the value is None."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"statistics of different dimensions: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}")
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    method = "exact"
    if not _usable(covmean):
        why = _flaw(covmean)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
        method = f"offset {eps:g} (without, the root {why})"
        if not _usable(covmean):
            return FrechetResult(None, method, f"the matrix square root {why}, and with a {eps:g} diagonal offset "
                                               f"it {_flaw(covmean)} (pytorch-fid's tolerance: 1e-3)")
    covmean = covmean.real  # what remains is round-off
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    return FrechetResult(value, method)


# Eigenvalues of a PSD matrix come out of eigvalsh negative by round-off only;
# below this share of the largest, the reference covariance is not PSD.
_ROUNDOFF_NEGATIVE = 1e-9


def frechet_of_features(features: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                        eps: float = 1e-6) -> FrechetResult:
    """`frechet` of a feature matrix against statistics. With no more images n
    than dimensions d, sigma1 = Xᵀ X / (n-1) for the centred features X, and
    sigma1 sigma2 has the nonzero eigenvalues of the n×n PSD matrix
    X sigma2 Xᵀ / (n-1): the trace of the root is the sum of their square
    roots, exact, in milliseconds where scipy's d×d `sqrtm` of a singular
    product takes seconds and needs the offset. More images than dimensions:
    `frechet` itself, as pytorch-fid."""
    features = np.asarray(features, np.float64)
    mu1, sigma1 = feature_statistics(features)
    images, dims = features.shape
    mu2, sigma2 = np.atleast_1d(np.asarray(mu2, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if images > dims or sigma2.shape != (dims, dims) or mu2.shape != (dims,):
        return frechet(mu1, sigma1, mu2, sigma2, eps)  # which also refuses mismatched dimensions
    centred = features - mu1
    small = centred @ sigma2 @ centred.T / (images - 1)
    eigenvalues = np.linalg.eigvalsh((small + small.T) / 2.0)
    if eigenvalues.min() < -_ROUNDOFF_NEGATIVE * max(eigenvalues.max(), 0.0):
        return frechet(mu1, sigma1, mu2, sigma2, eps)  # sigma2 not PSD: the general path says what is wrong
    # The centring leaves one eigenvalue that is zero but for round-off; its square root
    # (~1e-7) is not: eigenvalues within round-off of the largest count as zero.
    roundoff = eigenvalues.max() * images * np.finfo(np.float64).eps
    trace_root = float(np.sqrt(np.where(eigenvalues > roundoff, eigenvalues, 0.0)).sum())
    diff = mu1 - mu2
    return FrechetResult(float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_root), "exact")


def _value_or_raise(result: FrechetResult) -> float:
    if result.value is None:
        raise ValueError(result.reason)
    return result.value


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """The Fréchet distance as a number; ValueError when its square root cannot be trusted (`frechet`)."""
    return _value_or_raise(frechet(mu1, sigma1, mu2, sigma2, eps))


def frechet_distance_of_features(features: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                                 eps: float = 1e-6) -> float:
    """`frechet_distance` of a feature matrix against statistics (`frechet_of_features`)."""
    return _value_or_raise(frechet_of_features(features, mu2, sigma2, eps))


def polynomial_mmd2(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> float:
    """Unbiased MMD² between two samples under k(a, b) = (a·b / d + coef0)^degree."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n, d = x.shape[0], y.shape[0], x.shape[1]
    k_xx = (x @ x.T / d + coef0) ** degree
    k_yy = (y @ y.T / d + coef0) ** degree
    k_xy = (x @ y.T / d + coef0) ** degree
    return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1)) + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
                 - 2.0 * k_xy.mean())


def kid_subset_size(x_count: int, y_count: int, subset_size: int = 1000) -> int:
    """Images per KID subset: the requested size, shrunk to the smaller side."""
    return min(subset_size, x_count, y_count)


def kernel_distance(x: np.ndarray, y: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """KID: (mean, std) of the unbiased polynomial MMD² over random subsets
    of `kid_subset_size` images each (record that size beside the figure)."""
    size = kid_subset_size(len(x), len(y), subset_size)
    if size < 2:
        raise ValueError("KID needs at least 2 images on each side")
    rng = np.random.default_rng(seed)
    values = [polynomial_mmd2(x[rng.choice(len(x), size, replace=False)],
                              y[rng.choice(len(y), size, replace=False)]) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


# Inception Score of a split is exp(mean KL(p(y|x) || p(y))) with p(y) the
# split's own marginal: one image per split gives exactly 1, and a few give a
# marginal too noisy to mean anything. torch-fidelity's default is 10 splits.
ISC_SPLITS = 10
ISC_MIN_IMAGES_PER_SPLIT = 50


def isc_splits(images: int, splits: int = ISC_SPLITS, minimum: int = ISC_MIN_IMAGES_PER_SPLIT) -> int:
    """Splits for the Inception Score: up to `splits`, each of at least `minimum` images (0: too few images)."""
    return min(splits, images // minimum)


def isc_too_few_reason(images: int, minimum: int = ISC_MIN_IMAGES_PER_SPLIT) -> str:
    return (f"{images} images, fewer than the {minimum} one split of the Inception Score needs "
            "(with one image per split it is exactly 1)")


@dataclass(frozen=True)
class ScoreSummary:
    count: int
    mean: float
    std: float
    ci_low: float
    ci_high: float

    @classmethod
    def of(cls, values, confidence: float = 0.95) -> "ScoreSummary":
        """Mean, sample std and the Student-t interval of the mean (nan below 2 values)."""
        values = np.asarray(values, np.float64)
        if values.size == 0:
            raise ValueError("no scores to summarise")
        mean = float(values.mean())
        if values.size < 2:
            return cls(1, mean, 0.0, math.nan, math.nan)
        std = float(values.std(ddof=1))
        half = float(scipy_stats.t.ppf(0.5 + confidence / 2, values.size - 1)) * std / math.sqrt(values.size)
        return cls(int(values.size), mean, std, mean - half, mean + half)


def _at_least_zero(value: float) -> float:
    return value if math.isnan(value) else max(value, 0.0)


def clip_score_summary(scores, confidence: float = 0.95) -> ScoreSummary:
    """The CLIP score of a set of images from its per-image scores 100 x cosine,
    unclamped: torchmetrics' `CLIPScore` value max(mean, 0) (it clamps the
    mean, not each image); the sample std of the unclamped scores; the
    Student-t interval of their mean, its ends clamped at 0 like the mean (an
    interval for max(mean, 0), so it always holds the value)."""
    s = ScoreSummary.of(scores, confidence)
    return ScoreSummary(s.count, max(s.mean, 0.0), s.std, _at_least_zero(s.ci_low), _at_least_zero(s.ci_high))
