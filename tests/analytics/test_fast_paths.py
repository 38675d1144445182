"""The one-pass window kernel agrees with a plain Python reading of docs/semantics.md#path-analytics."""

from __future__ import annotations

import numpy as np

from quantbot_pipelines.analytics.kernels import window_metrics
from quantbot_pipelines.analytics.metrics import _LEVELS, _TWO


def reference(high, low, close, s, e, p):
    """The definitions, read plainly."""
    h, lo = high[s:e], low[s:e]
    mx = h.max()
    hits = [next((s + j for j in range(e - s) if h[j] >= lv * p), -1) for lv in _LEVELS]
    two = hits[_TWO] if hits[_TWO] >= 0 else e
    return int(s + np.argmax(h >= mx)), mx, lo.min(), min([p, *low[s:two]]), close[e - 1], hits


def test_one_pass_kernel_matches_the_definitions():
    rng = np.random.default_rng(11)
    n = 5_000
    o = np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    high = np.round(o * np.exp(np.abs(rng.normal(0, 0.05, n))), 3)  # rounding makes ties at the max
    low = o * np.exp(-np.abs(rng.normal(0, 0.05, n)))
    start = rng.integers(0, n - 1, 300)
    stop = np.minimum(n, start + rng.integers(1, 700, 300))
    price = o[start] * rng.choice([1.0, 0.3, 0.05], 300)
    got = window_metrics(np.arange(n), high, low, o, start, stop, price, _LEVELS, _TWO)
    for k in range(300):
        ath_i, mx, mn, lb, end, hits = reference(high, low, o, start[k], stop[k], price[k])
        assert (got[0][k], got[1][k], got[2][k], got[3][k], got[4][k]) == (ath_i, mx, mn, lb, end)
        assert list(got[5][k]) == hits
    assert (got[5][:, -1] >= 0).sum() > 10  # some windows reach 10x
