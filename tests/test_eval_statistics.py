"""Metric maths against closed forms, scipy and torch-fidelity's own functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from evals.statistics import (ScoreSummary, clip_score_summary, feature_statistics, frechet_distance,
                              kernel_distance, polynomial_mmd2)


def test_frechet_distance_of_gaussians_in_closed_form():
    # Diagonal covariances commute: the distance is sum (m1-m2)^2 + sum (sqrt(s1) - sqrt(s2))^2.
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 1.0 + 0.0 + 4.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0.0
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, abs=1e-9)
    # One dimension: (m1-m2)^2 + (s1 - s2)^2 with standard deviations s.
    assert frechet_distance([2.0], [[9.0]], [-1.0], [[1.0]]) == pytest.approx(9.0 + 4.0)


def test_frechet_distance_with_full_covariances_matches_a_rotation_invariant_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    sigma = a @ a.T + np.eye(4)
    rotation, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    rotated = rotation @ sigma @ rotation.T
    assert frechet_distance(np.zeros(4), sigma, np.zeros(4), sigma) == pytest.approx(0.0, abs=1e-7)
    # Rotating both distributions leaves the distance unchanged.
    mu = rng.normal(size=4)
    d1 = frechet_distance(mu, sigma, np.zeros(4), np.eye(4))
    d2 = frechet_distance(rotation @ mu, rotated, np.zeros(4), np.eye(4))
    assert d1 == pytest.approx(d2, rel=1e-9)


def test_statistics_and_distance_agree_with_torch_fidelity():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 16)), rng.normal(0.3, 1.2, size=(250, 16))
    (mu1, s1), (mu2, s2) = feature_statistics(x), feature_statistics(y)
    np.testing.assert_allclose(s1, np.cov(x, rowvar=False))
    ours = frechet_distance(mu1, s1, mu2, s2)
    theirs = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, False)
    assert ours == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)


def test_singular_covariances_still_give_a_finite_distance():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 32)), rng.normal(size=(5, 32))  # 5 images, 32 dimensions: rank 4
    assert math.isfinite(frechet_distance(*feature_statistics(x), *feature_statistics(y)))


def _trace_of_root_by_symmetric_form(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr (s1 s2)^½ = tr (s2^½ s1 s2^½)^½: a symmetric PSD matrix, so eigh alone, no sqrtm (the
    eigenvalues that are zero but for round-off, ~1e-14 with square roots ~1e-7, dropped)."""
    values, vectors = np.linalg.eigh(s2)
    root2 = vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T
    product = np.linalg.eigvalsh(root2 @ s1 @ root2)
    return float(np.sqrt(product[product > 1e-12 * product.max()]).sum())


def test_few_images_take_the_root_from_the_small_eigenproblem_exactly():
    from evals.statistics import frechet, frechet_of_features

    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 40)) * rng.uniform(0.5, 3.0, size=40)  # 6 images, 40 dimensions: rank 5
    reference = rng.normal(0.2, 1.5, size=(90, 40))
    (mu1, s1), (mu2, s2) = feature_statistics(x), feature_statistics(reference)
    expected = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * _trace_of_root_by_symmetric_form(s1, s2)
    result = frechet_of_features(x, mu2, s2)
    assert result.value == pytest.approx(expected, rel=1e-10) and result.sqrtm == "exact"
    # The same quantity that scipy's root of the singular product approximates.
    assert result.value == pytest.approx(frechet(mu1, s1, mu2, s2).value, rel=1e-4)
    # More images than dimensions: pytorch-fid's path itself, to the bit.
    many = rng.normal(size=(60, 40))
    assert frechet_of_features(many, mu2, s2) == frechet(*feature_statistics(many), mu2, s2)
    # A reference covariance that is not PSD is left to the general path, which judges its root.
    broken = s2 - 3.0 * np.eye(40)
    assert frechet_of_features(x, mu2, broken) == frechet(mu1, s1, mu2, broken)
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_of_features(x, mu2[:5], s2[:5, :5])


def test_mismatched_dimensions_are_refused():
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_kid_is_unbiased_and_agrees_with_torch_fidelity():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    same = [polynomial_mmd2(rng.normal(size=(50, 8)), rng.normal(size=(50, 8))) for _ in range(200)]
    assert abs(np.mean(same)) < 3 * np.std(same) / math.sqrt(len(same))  # zero on average for equal laws
    shifted = rng.normal(0.5, 1.0, size=(200, 8))
    mean, std = kernel_distance(x, shifted, subsets=50, subset_size=100)
    theirs = kid_features_to_metric(torch.from_numpy(x), torch.from_numpy(shifted), kid_subsets=50,
                                    kid_subset_size=100, verbose=False)
    # Different random subsets: equal within a few standard errors of the subset average.
    assert mean == pytest.approx(theirs["kernel_inception_distance_mean"], abs=4 * std / math.sqrt(50))
    assert mean > 10 * abs(kernel_distance(x, y, subsets=50, subset_size=100)[0])


def test_score_summary_matches_scipy():
    values = np.random.default_rng(4).normal(30, 2, size=40)
    s = ScoreSummary.of(values)
    low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=scipy_stats.sem(values))
    assert (s.count, s.mean) == (40, pytest.approx(values.mean()))
    assert s.std == pytest.approx(values.std(ddof=1))
    assert (s.ci_low, s.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert math.isnan(ScoreSummary.of([1.0]).ci_low)


def test_clip_score_summary_clamps_the_mean_as_torchmetrics():
    # torchmetrics' CLIPScore.compute: max(score sum / n, 0) over the unclamped 100 x cosines.
    scores = np.array([-30.0, 10.0, 35.0, -5.0])
    s = clip_score_summary(scores)
    assert s.mean == pytest.approx(2.5) and s.std == pytest.approx(scores.std(ddof=1))
    assert s.ci_low == 0.0 and s.ci_high == pytest.approx(ScoreSummary.of(scores).ci_high)
    negative = clip_score_summary([-12.0, -10.0, -11.0, -9.0])  # the whole interval below 0
    assert (negative.mean, negative.ci_low, negative.ci_high) == (0.0, 0.0, 0.0)
    assert math.isnan(clip_score_summary([-1.0]).ci_low) and clip_score_summary([-1.0]).mean == 0.0


def _first_covariances(kind: str):
    """Covariances of a few wildly scaled features whose product's square root
    is untrustworthy (`kind`: "retried" - fixed by the offset - or "null")."""
    import warnings

    from evals.statistics import frechet

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about the singular products this looks for
        for _ in range(3000):
            d = int(rng.integers(2, 12))
            n = int(rng.integers(2, d + 1))
            x = rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-4, 4, size=d)
            y = rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-4, 4, size=d)
            s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
            result = frechet(np.zeros(d), s1, np.zeros(d), s2)
            if (result.sqrtm != "exact") and ((result.value is None) == (kind == "null")):
                return s1, s2, result
    raise AssertionError(f"no {kind} case found")


def test_an_imaginary_square_root_is_retried_with_the_offset_and_says_so():
    from scipy import linalg

    s1, s2, result = _first_covariances("retried")
    exact = linalg.sqrtm(s1 @ s2)
    assert not np.isfinite(exact).all() or np.abs(np.diagonal(exact).imag).max() > 1e-3  # silently dropped before
    offset = np.eye(len(s1)) * 1e-6
    covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset)).real
    assert result.value == pytest.approx(np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean), rel=1e-9)
    assert result.sqrtm.startswith("offset 1e-06 (without, the root ") and result.reason is None


def test_a_square_root_that_stays_imaginary_gives_no_value_but_a_reason():
    s1, s2, result = _first_covariances("null")
    assert result.value is None and "imaginary diagonal" in result.reason and "1e-3" in result.reason
    with pytest.raises(ValueError, match="matrix square root"):
        frechet_distance(np.zeros(len(s1)), s1, np.zeros(len(s1)), s2)


def test_inception_score_needs_enough_images_per_split():
    from evals.fidelity import fidelity_metrics
    from evals.inception import LOGITS, POOL

    rng = np.random.default_rng(3)

    def features(n):
        return {POOL: rng.normal(size=(n, 8)).astype(np.float32), LOGITS: rng.normal(size=(n, 10)).astype(np.float32)}

    few = fidelity_metrics(features(10), None, {"isc"})  # 10 images: one split each was exactly 1.0 before
    assert few["isc_mean"] is None and few["isc_std"] is None and few["isc_splits"] == 0
    assert few["quality_notes"].startswith("isc: 10 images, fewer than the 50 one split")
    enough = fidelity_metrics(features(120), None, {"isc"})
    assert enough["isc_splits"] == 2 and enough["isc_mean"] > 1.0 and enough["quality_notes"] is None


def test_kid_records_the_subset_size_it_used():
    from evals.fidelity import Reference, fidelity_metrics
    from evals.inception import LOGITS, POOL

    rng = np.random.default_rng(4)
    pool, ref = rng.normal(size=(30, 8)), rng.normal(size=(12, 8))
    mu, sigma = feature_statistics(ref)
    out = fidelity_metrics({POOL: pool, LOGITS: rng.normal(size=(30, 10))}, Reference("ref", mu, sigma, 12, ref),
                           {"kid", "fid"})
    assert out["kid_subset_size"] == 12 and math.isfinite(out["kid_mean"])
    assert out["fid_sqrtm"] == "exact" and math.isfinite(out["fid"])
