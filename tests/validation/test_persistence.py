"""Caller persistence statistics (docs/semantics.md#caller-persistence-statistics): Spearman's rho against
scipy, the bootstrap against a draw-by-draw loop, and the worked example."""

from __future__ import annotations

import numpy as np
import pytest

from quantbot_pipelines.validation.persistence import average_ranks, bootstrap_interval, rank_correlation

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize(("n", "levels", "seed"), [(3, 0, 1), (5, 3, 2), (40, 0, 3), (200, 7, 4), (1000, 20, 5)])
def test_rank_correlation_equals_scipy(n, levels, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) if not levels else rng.integers(0, levels, n).astype(float)   # ties when levels
    y = 0.5 * x + rng.normal(size=n)
    want = scipy_stats.spearmanr(x, y).statistic
    if np.isnan(want):
        assert rank_correlation(x, y) is None
    else:
        assert rank_correlation(x, y) == pytest.approx(want, abs=1e-12)


def test_average_ranks_equal_scipy_row_by_row():
    a = np.random.default_rng(6).integers(0, 5, (50, 12)).astype(float)
    assert np.array_equal(average_ranks(a), scipy_stats.rankdata(a, method="average", axis=1))


def test_semantics_example():
    train = [0.30, 0.10, 0.25, -0.05]
    assert rank_correlation(train, [0.12, 0.02, -0.01, 0.00]) == pytest.approx(0.40)
    tied = [0.12, 0.00, -0.01, 0.00]
    assert average_ranks(np.array(tied)).tolist() == [4, 2.5, 1, 2.5]
    assert rank_correlation(train, tied) == pytest.approx(0.316, abs=5e-4)
    assert bootstrap_interval(train, [0.12, 0.02, -0.01, 0.00]) == (-1.0, 1.0)
    assert bootstrap_interval(train, tied) == (-1.0, 1.0)


def test_undefined_cases():
    assert rank_correlation([1.0, 2.0], [2.0, 1.0]) is None                      # fewer than 3 pairs
    assert rank_correlation([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) is None            # a constant side
    assert rank_correlation([1.0, None, 2.0, 3.0], [1.0, 9.0, np.nan, 2.0]) is None   # 2 pairs left
    assert rank_correlation([1.0, None, 2.0, 3.0, 4.0], [1.0, 9.0, 2.0, 3.0, 5.0]) == pytest.approx(1.0)
    assert bootstrap_interval([1.0, 2.0], [1.0, 2.0]) == (None, None)
    assert bootstrap_interval([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]) == (None, None)
    with pytest.raises(ValueError):
        rank_correlation([1.0, 2.0, 3.0], [1.0, 2.0])


def _loop_interval(x, y, draws, level, seed):
    """The same draws, one resample at a time, through scipy."""
    idx = np.random.default_rng(seed).integers(0, len(x), size=(draws, len(x)))
    rhos = []
    for row in idx:
        xs, ys = x[row], y[row]
        if np.ptp(xs) == 0 or np.ptp(ys) == 0:
            continue
        rhos.append(scipy_stats.spearmanr(xs, ys).statistic)
    return tuple(np.quantile(rhos, [(1 - level) / 2, 1 - (1 - level) / 2]))


@pytest.mark.parametrize(("n", "draws", "level", "seed"), [(6, 500, 0.90, 0), (25, 1000, 0.90, 1),
                                                           (80, 300, 0.80, 2), (4, 2000, 0.95, 3)])
def test_bootstrap_equals_a_loop(n, draws, level, seed):
    rng = np.random.default_rng(100 + seed)
    x = np.round(rng.normal(size=n), 1)
    y = np.round(0.6 * x + rng.normal(size=n), 1)
    ours = bootstrap_interval(x, y, draws=draws, level=level, seed=seed)
    assert ours == pytest.approx(_loop_interval(x, y, draws, level, seed), abs=1e-12)


def test_bootstrap_is_seeded_and_covers_a_strong_correlation():
    rng = np.random.default_rng(9)
    x = rng.normal(size=60)
    y = x + 0.3 * rng.normal(size=60)
    lo, hi = bootstrap_interval(x, y)
    assert (lo, hi) == bootstrap_interval(x, y, seed=0)
    assert bootstrap_interval(x, y, seed=1) != (lo, hi)
    assert 0.8 < lo < rank_correlation(x, y) < hi <= 1.0
