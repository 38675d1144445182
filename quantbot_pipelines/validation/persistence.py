"""Does a caller's score persist from one period to the next? Spearman's rank correlation of paired scores and
a bootstrap interval for it (docs/semantics.md#caller-persistence-statistics).

Ranks, not values: a single 1,000x call moves a caller's mean by any amount but its rank by at most the
whole board, so the statistic measures whether the order holds up.
"""

from __future__ import annotations

import numpy as np


def _pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
    """The pairs with both sides set (None and NaN drop the pair)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"x and y must be 1-d of the same length, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n along the last axis, ties sharing the average of their positions (vectorised over rows)."""
    a = np.asarray(a, dtype=float)
    n = a.shape[-1]
    order = np.argsort(a, axis=-1, kind="stable")
    s = np.take_along_axis(a, order, axis=-1)
    pos = np.broadcast_to(np.arange(n), s.shape)
    first = np.ones(s.shape, dtype=bool)
    first[..., 1:] = s[..., 1:] != s[..., :-1]
    last = np.ones(s.shape, dtype=bool)
    last[..., :-1] = first[..., 1:]
    start = np.maximum.accumulate(np.where(first, pos, 0), axis=-1)
    end = np.flip(np.minimum.accumulate(np.flip(np.where(last, pos, n - 1), axis=-1), axis=-1), axis=-1)
    ranks = np.empty(s.shape)
    np.put_along_axis(ranks, order, (start + end) / 2 + 1, axis=-1)
    return ranks


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman per row of two (draws x n) arrays; NaN where a side is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    da = ra - ra.mean(axis=-1, keepdims=True)
    db = rb - rb.mean(axis=-1, keepdims=True)
    flat = (ra.max(axis=-1) == ra.min(axis=-1)) | (rb.max(axis=-1) == rb.min(axis=-1))
    den = np.sqrt((da * da).sum(axis=-1) * (db * db).sum(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (da * db).sum(axis=-1) / np.where(flat, 1.0, den)
    return np.where(flat, np.nan, np.clip(rho, -1.0, 1.0))


def rank_correlation(x, y) -> float | None:
    """Spearman's rho of the pairs (x_i, y_i): the Pearson correlation of their average ranks. None with fewer
    than 3 pairs or when one side is constant."""
    a, b = _pairs(x, y)
    if a.size < 3:
        return None
    rho = float(_spearman_rows(a[None, :], b[None, :])[0])
    return None if np.isnan(rho) else rho


def bootstrap_interval(x, y, *, draws: int = 1000, level: float = 0.90,
                       seed: int = 0) -> tuple[float | None, float | None]:
    """Percentile interval (`level`, two-sided, numpy's linear quantiles) of Spearman's rho over `draws`
    resamples of the pairs with replacement (numpy Generator seeded with `seed`; the draws are one
    draws x n integer array). Draws where rho is undefined are skipped; (None, None) with fewer than 3
    pairs or no defined draw."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    a, b = _pairs(x, y)
    if a.size < 3 or draws < 1:
        return None, None
    idx = np.random.default_rng(seed).integers(0, a.size, size=(draws, a.size))
    rho = _spearman_rows(a[idx], b[idx])
    rho = rho[~np.isnan(rho)]
    if rho.size == 0:
        return None, None
    lo, hi = np.quantile(rho, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
