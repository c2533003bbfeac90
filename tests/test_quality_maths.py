"""The maths of CMMD, PRDC and the re-ranking curve against independent
implementations and closed forms; no network."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from evals.cmmd import cmmd
from evals.prdc import prdc
from evals.rerank import best_of_k_curve, point_curve


def _unit(rng, n, d):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _numpy_cmmd(x, y, sigma=10.0):
    """The paper's estimator, written out: whole kernel matrices in float64, means over all pairs."""
    def kernel(a, b):
        sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-sq / (2 * sigma ** 2))
    return 1000 * (kernel(x, x).mean() + kernel(y, y).mean() - 2 * kernel(x, y).mean())


@pytest.mark.parametrize("block", [8, 512])  # several row blocks, and one
def test_cmmd_matches_an_independent_numpy_estimator(block):
    rng = np.random.default_rng(0)
    x, y = _unit(rng, 37, 16), _unit(rng, 53, 16) * 0.9 + 0.1 / 4  # two different clouds
    expected = _numpy_cmmd(x, y)
    assert expected > 0.1
    # float32 embeddings, float64 sums of the kernel minus one: far below the figures' printed digits.
    assert cmmd(x, y, block=block) == pytest.approx(expected, rel=1e-5)


def test_cmmd_closed_forms_and_order_invariance():
    rng = np.random.default_rng(1)
    x = _unit(rng, 20, 8)
    assert cmmd(x, x) == 0.0  # identical sets: every kernel mean is the same number
    # Point masses at a and b: 1000 (1 + 1 - 2 exp(-|a-b|² / 2σ²)).
    a, b = np.zeros(8), np.full(8, 0.5)
    expected = 2000 * (1 - math.exp(-np.sum((a - b) ** 2) / 200))
    assert cmmd(np.tile(a, (5, 1)), np.tile(b, (7, 1))) == pytest.approx(expected, rel=1e-5)
    y = _unit(rng, 15, 8)
    shuffled = cmmd(x[rng.permutation(20)], y[rng.permutation(15)])
    assert shuffled == pytest.approx(cmmd(x, y), rel=1e-5)
    assert cmmd(y, x) == pytest.approx(cmmd(x, y), rel=1e-5)


def _prdc_by_definition(real, fake, k):
    """Naeem et al.'s formulas, one point at a time."""
    def kth(points, p, skip_self):
        distances = sorted(np.linalg.norm(points - p, axis=1))
        return distances[k] if skip_self else distances[k - 1]
    real_radius = [kth(real, r, True) for r in real]
    fake_radius = [kth(fake, f, True) for f in fake]
    dist = lambda a, b: float(np.linalg.norm(a - b))  # noqa: E731
    precision = np.mean([any(dist(f, r) < rr for r, rr in zip(real, real_radius)) for f in fake])
    recall = np.mean([any(dist(r, f) < fr for f, fr in zip(fake, fake_radius)) for r in real])
    density = np.mean([sum(dist(f, r) < rr for r, rr in zip(real, real_radius)) for f in fake]) / k
    coverage = np.mean([min(dist(r, f) for f in fake) < rr for r, rr in zip(real, real_radius)])
    return precision, recall, density, coverage


def test_prdc_matches_the_published_formulas():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(30, 6)), rng.normal(loc=0.4, scale=1.3, size=(25, 6))
    got = prdc(real, fake, k=5)
    expected = _prdc_by_definition(real, fake, 5)
    assert (got.precision, got.recall, got.density, got.coverage) == pytest.approx(expected, abs=1e-12)
    assert 0 < got.precision < 1 and 0 < got.coverage < 1  # the fixture exercises both sides of each test
    same = prdc(real, real, k=5)
    assert same.precision == 1 and same.recall == 1 and same.coverage == 1
    with pytest.raises(ValueError, match="more than 5 images"):
        prdc(real[:5], fake)


def test_best_of_k_is_the_mean_over_all_k_subsets():
    rng = np.random.default_rng(3)
    for scores in (rng.normal(30, 3, size=7), np.array([1.0, 2.0, 2.0, 5.0, 1.0, 3.0])):  # ties too
        curve = best_of_k_curve(scores)
        brute = [np.mean([max(c) for c in itertools.combinations(scores, k)]) for k in range(1, len(scores) + 1)]
        np.testing.assert_allclose(curve, brute, rtol=1e-12)
        assert curve[0] == pytest.approx(scores.mean()) and curve[-1] == scores.max()
        assert np.all(np.diff(curve) >= 0)
    assert best_of_k_curve([4.0]).tolist() == [4.0]
    # A point: per prompt first, then the mean over prompts.
    by_prompt = rng.normal(size=(3, 4))
    np.testing.assert_allclose(point_curve(by_prompt), np.mean([best_of_k_curve(r) for r in by_prompt], axis=0))
    assert len(best_of_k_curve(rng.normal(size=300))) == 300  # large n: exact integer binomials, no overflow


def test_fd_dinov2_uses_fids_frechet_maths(monkeypatch):
    # FD-DINOv2's Fréchet distance is FID's function (tested in test_eval_statistics): one implementation.
    from evals import statistics
    from evals.metric import MetricInputs
    from evals.metrics import dinov2

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(12, 3)), rng.normal(loc=1.0, size=(10, 3))
    out = dinov2.FD_DINOV2.compute(MetricInputs({"dinov2": a}, {"dinov2": b}))
    expected = statistics.frechet_distance(*statistics.feature_statistics(a), *statistics.feature_statistics(b))
    assert out == {"fd_dinov2": expected, "fd_dinov2_biased": False}
    # The metric imports FID's function when it computes (scipy waits until then): it calls that one.
    monkeypatch.setattr(statistics, "frechet_distance_of_features", lambda *moments: -1.0)
    assert dinov2.FD_DINOV2.compute(MetricInputs({"dinov2": a}, {"dinov2": b}))["fd_dinov2"] == -1.0


def test_adherence_interval_is_wilsons_score_interval():
    """Worked by hand from Wilson's formula, z = 1.95996: 2 of 4 is centred at
    0.5 with half-width 0.34996; none of 4 reaches z^2 / (n + z^2) = 0.48989;
    all of 4 mirrors it."""
    from evals.metrics.adherence import pass_rate_interval

    assert pass_rate_interval(2, 4) == pytest.approx((0.15004, 0.84996), abs=1e-5)
    assert pass_rate_interval(0, 4) == pytest.approx((0.0, 0.48989), abs=1e-5)
    assert pass_rate_interval(4, 4) == pytest.approx((0.51011, 1.0), abs=1e-5)
    low, high = pass_rate_interval(200, 400)  # many images: the normal approximation's 2 z sqrt(p q / n)
    assert high - low == pytest.approx(2 * 1.95996 * math.sqrt(0.25 / 400), rel=0.01)
