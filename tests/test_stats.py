"""Latency statistics against numpy and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.measure.stats import LatencyStats, bootstrap_median_ci, min_samples_for, percentile_cell


@pytest.mark.parametrize("n", [1, 2, 7, 10, 100, 101])
def test_percentiles_and_moments_match_numpy(n):
    values = np.random.default_rng(n).lognormal(size=n)
    s = LatencyStats.of(values)
    assert s.count == n
    assert s.min == values.min()
    np.testing.assert_allclose([s.p50, s.p90, s.p99], np.percentile(values, [50, 90, 99]), rtol=1e-12)
    np.testing.assert_allclose(s.mean, values.mean(), rtol=1e-12)
    np.testing.assert_allclose(s.std, values.std(ddof=1) if n > 1 else 0.0, rtol=1e-12)


def test_small_samples_do_not_support_tail_percentiles():
    assert min_samples_for(90) == 10 and min_samples_for(99) == 100 and min_samples_for(50) == 2
    few, some, many = (LatencyStats.of(np.ones(n)) for n in (9, 10, 100))
    assert (few.p90_supported, few.p99_supported) == (False, False)
    assert (some.p90_supported, some.p99_supported) == (True, False)
    assert (many.p90_supported, many.p99_supported) == (True, True)


def test_an_unsupported_percentile_is_shown_undecided():
    assert percentile_cell(0.123456, 99, 12) == "n/a (12 calls < 100)"
    assert percentile_cell(0.123456, 90, 12) == "0.1235"
    assert percentile_cell(0.5, 90, 9, "queries") == "n/a (9 queries < 10)"
    assert percentile_cell(float("nan"), 99, 12) is None and percentile_cell(None, 99, 500) is None
    assert percentile_cell(0.5, 99, None) == "0.5"  # no count: nothing to decide on


def test_bootstrap_interval_agrees_with_scipy():
    values = np.random.default_rng(0).normal(10.0, 1.0, size=60)
    low, high = bootstrap_median_ci(values, resamples=20000)
    reference = scipy_stats.bootstrap((values,), np.median, n_resamples=20000, method="percentile",
                                      confidence_level=0.95, random_state=1).confidence_interval
    # Two independent resamplings of the same distribution: equal to within
    # the bootstrap's own Monte Carlo noise (a few hundredths of a sigma here).
    np.testing.assert_allclose([low, high], [reference.low, reference.high], atol=0.05)
    assert low <= np.median(values) <= high


def test_bootstrap_interval_is_deterministic_and_narrows_with_more_samples():
    rng = np.random.default_rng(3)
    small, large = rng.normal(size=20), rng.normal(size=2000)
    assert bootstrap_median_ci(small) == bootstrap_median_ci(small)
    width = lambda ci: ci[1] - ci[0]
    assert width(bootstrap_median_ci(large)) < width(bootstrap_median_ci(small))
    assert all(np.isnan(bootstrap_median_ci([1.0])))


def test_no_latencies_is_an_error():
    with pytest.raises(ValueError):
        LatencyStats.of([])
