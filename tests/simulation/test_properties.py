"""Property tests (hypothesis) of the engine against docs/semantics.md#fills."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simhelp import calls_frame, candles_frame, simulate

from quantbot_pipelines.simulation import Strategy

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_paths(seed: int, n: int, length: int, gaps: bool = True) -> list[list[tuple]]:
    """Memecoin-like random walks from 1.0; opens gap away from the previous close when `gaps`."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        close, path = 1.0, []
        for k in range(length):
            o = 1.0 if k == 0 else close * (float(np.exp(rng.normal(0, 0.08))) if gaps and rng.random() < 0.2 else 1)
            close = o * float(np.exp(rng.normal(0, 0.12)))
            h = max(o, close) * float(np.exp(abs(rng.normal(0, 0.1))))
            low = min(o, close) * float(np.exp(-abs(rng.normal(0, 0.1))))
            path.append((o, h, low, close))
        out.append(path)
    return out


ladders = st.lists(st.tuples(st.floats(1.05, 6.0), st.floats(0.05, 0.33)), min_size=0, max_size=3).map(
    lambda levels: tuple(sorted({round(m, 3): f for m, f in levels}.items())))


@st.composite
def strategies_(draw):
    tp = draw(ladders)
    return {
        "take_profit": tp,
        "stop_loss": draw(st.none() | st.floats(0.2, 0.95)),
        "trailing_stop": draw(st.none() | st.tuples(st.floats(0.5, 3.0), st.floats(0.05, 0.6))),
        "break_even": draw(st.none() | st.floats(-0.5, 0.0)) if tp else None,
        "time_exit_s": draw(st.none() | st.integers(60, 3600)),
        "fee_bps": draw(st.floats(0, 200)),
        "slippage_bps": draw(st.floats(0, 200)),
    }


@SETTINGS
@given(strategies_(), st.integers(0, 2**31))
def test_stop_first_never_beats_take_profit_first(params, seed):
    paths = random_paths(seed, 6, 40)
    strategies = [Strategy(name=p, intrabar=p, **params) for p in ("stop_first", "nearest_first", "take_profit_first")]
    out = simulate(calls_frame(len(paths)), candles_frame(paths), strategies)
    m = out.pivot(on="strategy", index="address", values="net_multiple")
    assert (m["stop_first"] <= m["take_profit_first"] + 1e-12).all()
    assert (m["stop_first"] <= m["nearest_first"] + 1e-12).all()
    assert (m["nearest_first"] <= m["take_profit_first"] + 1e-12).all()


@SETTINGS
@given(st.floats(1.01, 4.0), st.integers(0, 2**31))
def test_single_full_level_gives_exactly_m_when_hit(m, seed):
    paths = random_paths(seed, 8, 30, gaps=False)  # opens equal the previous close: no gap past the level
    out = simulate(calls_frame(len(paths)), candles_frame(paths), [Strategy(name="tp", take_profit=((m, 1.0),))])
    for path, row in zip(paths, out.iter_rows(named=True), strict=True):
        hit = any(h >= m * path[0][0] for _, h, _, _ in path)
        assert (row["exit_reason"] == "take_profit") == hit
        if hit:
            assert row["net_multiple"] == m
        else:
            assert row["net_multiple"] == path[-1][3] / path[0][0]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 7))
def test_results_do_not_depend_on_chunk_size_or_call_order(seed, chunk):
    paths = random_paths(seed, 9, 25)
    calls = calls_frame(len(paths), repeat_every=4)
    candles = candles_frame(paths)
    strategies = [Strategy(name="a", take_profit=((1.5, 0.5), (2.5, 0.5)), stop_loss=0.6, break_even=0.0),
                  Strategy(name="b", trailing_stop=(1.2, 0.25), time_exit_s=900, fee_bps=50),
                  Strategy(name="c", stop_loss=0.7, entry_delay_s=60, slippage_bps=30)]
    whole = simulate(calls, candles, strategies)
    chunked = simulate(calls, candles, strategies, chunk_calls=chunk)
    assert whole.equals(chunked)
    perm = np.random.default_rng(seed).permutation(calls.height)
    shuffled = simulate(calls[perm], candles.sample(fraction=1.0, shuffle=True, seed=seed), strategies[::-1])
    key = ["strategy", "message_id"]
    assert whole.sort(key).equals(shuffled.sort(key))


def test_deterministic_across_runs():
    paths = random_paths(7, 20, 60)
    strategies = [Strategy(name="x", take_profit=((2.0, 1.0),), stop_loss=0.5, intrabar="nearest_first")]
    a = simulate(calls_frame(20), candles_frame(paths), strategies)
    b = simulate(calls_frame(20), candles_frame(paths), strategies)
    assert a.equals(b) and a["net_multiple"].is_not_null().all()
    assert set(a["exit_reason"]) <= {"take_profit", "stop_loss", "end_of_window"}
    assert pl.Series(a["net_multiple"]).min() > 0
