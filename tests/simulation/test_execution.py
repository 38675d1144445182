"""Sized trades: price impact against a constant-product pool, volume caps, fixed costs, and the same-candle
order bounds (docs/semantics.md#position-size, #pool-liquidity, #price-impact, #volume-caps, #order-bounds)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest
from simhelp import calls_frame, candles_frame, minute

from quantbot_pipelines.simulation import Strategy, simulate
from quantbot_pipelines.simulation.impact import buy_tokens, pool_at, sell_usd

FLAT = (1.0, 1.0, 1.0, 1.0)


def frames(paths, *, volume=None, liquidity=None, card_price=None, bonding=None, dex=None, n_calls=None):
    calls = calls_frame(len(paths))
    n = calls.height
    calls = calls.with_columns(
        pl.Series("card_liquidity_usd", liquidity if liquidity is not None else [None] * n, pl.Float64),
        pl.Series("card_price_usd", card_price if card_price is not None else [None] * n, pl.Float64),
        pl.Series("card_bonding_pct", bonding if bonding is not None else [None] * n, pl.Float64),
        pl.Series("card_dex", dex if dex is not None else [None] * n, pl.String))
    candles = candles_frame(paths)
    if volume is not None:
        candles = candles.with_columns(pl.Series("volume_usd", [v for vs in volume for v in vs], pl.Float64))
    return calls, candles


def one(paths, strategy, **kw) -> dict:
    calls, candles = frames(paths, **kw)
    row = simulate(calls, candles, [strategy]).row(0, named=True)
    row["fills"] = json.loads(row["fills"]) if row["fills"] else None
    return row


def test_hand_computed_fills_on_a_known_pool():
    # the worked example of docs/semantics.md#price-impact: $30K liquidity, entry 0.0010, $500, 25 + 100 bps
    s = Strategy("xyk", take_profit=((2.0, 1.0),), fee_bps=100, size_usd=500, impact="xyk", dex_fee_bps=25)
    path = [(0.001, 0.00105, 0.00095, 0.001), (0.0015, 0.0025, 0.0014, 0.002)]
    row = one([path], s, liquidity=[30_000.0], card_price=[0.001])
    tokens = 15_000_000 * 498.75 / 15_498.75
    assert tokens == pytest.approx(482_700.2178, rel=1e-9)
    y = 15_000 * math.sqrt(2)
    usd = y * tokens * 0.9975 / (y / 0.002 + tokens * 0.9975)
    assert usd == pytest.approx(921.1698, rel=1e-6)
    assert row["liquidity_source"] == "card" and row["pool_usd"] == pytest.approx(15_000)
    assert row["cost_usd"] == pytest.approx(505.0)
    assert row["proceeds_usd"] == pytest.approx(usd * 0.99, rel=1e-12)
    assert row["net_multiple"] == pytest.approx(1.80586, rel=1e-5)
    # the pool took (its fee included) on both sides what the raw prices would have given more
    assert row["impact_usd"] == pytest.approx((500 - tokens * 0.001) + (tokens * 0.002 - usd), rel=1e-9)
    assert [f[3] for f in row["fills"]] == ["entry", "take_profit"]
    assert row["fills"][0][2] == 1.0 and row["fills"][1][2] == pytest.approx(1.0)


def test_round_trip_at_an_unchanged_price_loses_exactly_impact_and_fees():
    s = Strategy("rt", time_exit_s=60, fee_bps=100, slippage_bps=30, size_usd=2_000, impact="xyk",
                 dex_fee_bps=30, fee_fixed_usd=0.25)
    row = one([[FLAT, FLAT, FLAT]], s, liquidity=[40_000.0], card_price=[1.0])
    x, y = pool_at(20_000.0, 1.0, 1.0)
    got = buy_tokens(2_000.0, x, y, 0.003)
    tokens = got / 1.003
    back = sell_usd(tokens, x, y, 0.003)
    assert row["cost_usd"] == pytest.approx(2_000 * 1.01 + 0.25, rel=1e-12)
    assert row["proceeds_usd"] == pytest.approx(back * 0.997 * 0.99 - 0.25, rel=1e-12)
    impact = (2_000 - got) + (tokens - back)
    assert row["impact_usd"] == pytest.approx(impact, rel=1e-12)
    # what was lost is the impact and the trader's costs, nothing else
    lost = row["cost_usd"] - row["proceeds_usd"]
    trader = 2_000 * 0.01 + 0.25 + (got - tokens) + back * (1 - 0.997 * 0.99) + 0.25
    assert lost == pytest.approx(impact + trader, rel=1e-9)


def random_paths(rng, n, bars, wick=0.05):
    paths = []
    for _ in range(n):
        close = np.exp(np.cumsum(rng.normal(0, 0.06, bars)))
        o = np.concatenate([[1.0], close[:-1]])
        h = np.maximum(o, close) * np.exp(np.abs(rng.normal(0, wick, bars)))
        lo = np.minimum(o, close) * np.exp(-np.abs(rng.normal(0, wick, bars)))
        paths.append(list(zip(o, h, lo, close, strict=True)))
    return paths


RULES = [
    {"take_profit": ((1.5, 0.5), (3.0, 0.5)), "stop_loss": 0.7},
    {"take_profit": ((2.0, 1.0),), "trailing_stop": (1.2, 0.2)},
    {"take_profit": ((1.3, 0.3), (1.8, 0.3), (4.0, 0.4)), "stop_loss": 0.8, "break_even": 0.0},
    {"stop_loss": 0.6, "time_exit_s": 20 * 60},
]


def test_size_towards_zero_gives_the_unit_size_results():
    rng = np.random.default_rng(3)
    paths = random_paths(rng, 40, 90)
    base = [Strategy(f"u{i}", fee_bps=100, slippage_bps=50, **r) for i, r in enumerate(RULES)]
    tiny = [dataclasses.replace(s, name=s.name + "_tiny", size_usd=1e-6, impact="xyk", dex_fee_bps=0.0)
            for s in base]
    fee = [dataclasses.replace(s, name=s.name + "_fee", size_usd=1e-6, impact="xyk", dex_fee_bps=30.0)
           for s in base]
    calls, candles = frames(paths, liquidity=[20_000.0] * len(paths))
    out = simulate(calls, candles, base + tiny + fee)
    by = {s: out.filter(pl.col("strategy") == s).get_column("net_multiple").to_numpy() for s in out["strategy"].unique()}
    for s in base:
        np.testing.assert_allclose(by[s.name + "_tiny"], by[s.name], rtol=1e-7)
        # the pool's fee is still paid on both sides
        np.testing.assert_allclose(by[s.name + "_fee"], by[s.name] * 0.997 ** 2, rtol=1e-7)


def test_sized_without_impact_equals_unit_size():
    rng = np.random.default_rng(4)
    paths = random_paths(rng, 30, 60)
    base = [Strategy(f"u{i}", fee_bps=100, slippage_bps=50, **r) for i, r in enumerate(RULES)]
    sized = [dataclasses.replace(s, name=s.name + "_500", size_usd=500.0) for s in base]
    out = simulate(*frames(paths), base + sized)
    for s in base:
        a = out.filter(pl.col("strategy") == s.name)
        b = out.filter(pl.col("strategy") == s.name + "_500")
        np.testing.assert_allclose(b["net_multiple"].to_numpy(), a["net_multiple"].to_numpy(), rtol=1e-12)
        assert b["cost_usd"].to_list() == pytest.approx([500 * 1.01] * b.height)


def test_volume_cap_carries_fills_to_the_next_candles():
    # the worked example of docs/semantics.md#volume-caps
    s = Strategy("cap", take_profit=((2.0, 1.0),), size_usd=500, max_volume_share=0.2)
    path = [(1.00, 1.05, 0.95, 1.00), (1.00, 1.10, 0.98, 1.08), (1.50, 2.20, 1.40, 2.00), (2.00, 2.10, 1.80, 1.90),
            (1.9, 1.9, 1.9, 1.9)]
    row = one([path], s, volume=[[1_000, 2_500, 1_500, 5_000, 9_000]])
    n = 200 + 300 / 1.04
    assert [f[3] for f in row["fills"]] == ["entry", "entry", "take_profit", "take_profit"]
    assert [f[1] for f in row["fills"]] == pytest.approx([1.00, 1.04, 2.00, 1.95])
    assert [f[2] for f in row["fills"]] == pytest.approx([0.4, 0.6, 150 / n, (n - 150) / n])
    assert row["proceeds_usd"] == pytest.approx(960.0)
    assert row["net_multiple"] == pytest.approx(1.92)
    assert row["entry_fill_share"] == pytest.approx(1.0) and row["unfilled_share"] == pytest.approx(0.0)
    assert row["exit_ts"] > row["entry_ts"]


def test_what_cannot_fill_before_the_window_ends_is_unfilled():
    s = Strategy("thin", stop_loss=0.5, size_usd=1_000, max_volume_share=0.1, horizon_s=4 * 60)
    path = [(1.0, 1.0, 1.0, 1.0), (1.0, 1.0, 0.4, 0.45), (0.45, 0.5, 0.4, 0.42), (0.42, 0.44, 0.4, 0.41)]
    row = one([path], s, volume=[[20_000, 1_000, 500, None]])
    # bought whole at the entry candle (cap 2,000); the stop sells 100 USD at 0.5, 50 USD at the mean of the
    # next candle, and the last candle has no volume: the rest is never sold
    tokens = 1_000.0
    sold = 100 / 0.5 + 50 / ((0.45 + 0.5 + 0.4 + 0.42) / 4)
    assert row["unfilled_share"] == pytest.approx((tokens - sold) / tokens)
    assert row["proceeds_usd"] == pytest.approx(150.0)
    assert row["net_multiple"] == pytest.approx(0.15)


def test_an_entry_capped_by_volume_stops_at_the_first_sell():
    s = Strategy("capbuy", take_profit=((1.5, 1.0),), size_usd=1_000, max_volume_share=0.5)
    path = [(1.0, 1.0, 1.0, 1.0), (1.0, 1.0, 1.0, 1.0), (1.2, 1.6, 1.2, 1.5), (1.5, 1.5, 1.5, 1.5)]
    row = one([path], s, volume=[[400, 600, 100_000, 100_000]])
    assert row["entry_fill_share"] == pytest.approx(0.5)  # 200 + 300 USD before the level is reached
    assert row["cost_usd"] == pytest.approx(500.0)
    assert row["proceeds_usd"] == pytest.approx(500 * 1.5)


def test_no_known_liquidity_is_priced_without_impact_and_flagged():
    s = Strategy("blind", take_profit=((2.0, 1.0),), size_usd=500, impact="xyk")
    row = one([[FLAT, (1.0, 2.5, 1.0, 2.2)]], s)
    assert row["liquidity_source"] == "none" and row["pool_usd"] is None
    assert row["net_multiple"] == pytest.approx(2.0) and row["impact_usd"] == 0.0


def test_bonding_curve_liquidity_comes_from_the_card():
    s = Strategy("curve", take_profit=((2.0, 1.0),), size_usd=100, impact="xyk")
    row = one([[(0.00005,) * 4, (0.00005, 0.00011, 0.00005, 0.0001)]], s, card_price=[0.00005],
              bonding=[40.0], dex=["Pump.fun"], liquidity=[99_999.0])
    assert row["liquidity_source"] == "bonding_curve"
    assert row["pool_usd"] == pytest.approx(37_788.0)
    # the curve's own fee (100 bps) on both sides
    x, y = pool_at(37_788.0, 0.00005, 0.00005)
    tokens = buy_tokens(100.0, x, y, 0.01)
    x2, y2 = pool_at(37_788.0, 0.00005, 0.0001)
    assert row["proceeds_usd"] == pytest.approx(sell_usd(tokens, x2, y2, 0.01), rel=1e-12)


@pytest.mark.parametrize("sized", [False, True])
def test_order_bounds_equal_the_two_policies(sized):
    rng = np.random.default_rng(11 + sized)
    paths = random_paths(rng, 60, 120, wick=0.25)  # long wicks: candles crossing a stop and a level
    extra = {"size_usd": 800.0, "impact": "xyk", "max_volume_share": 0.3, "fee_fixed_usd": 0.1} if sized else {}
    own = [Strategy(f"s{i}_{pol}", intrabar=pol, fee_bps=100, slippage_bps=20, **r, **extra)
           for i, r in enumerate(RULES) for pol in ("stop_first", "take_profit_first", "nearest_first")]
    lows = [dataclasses.replace(s, name=s.name + "_lo", intrabar="stop_first") for s in own]
    highs = [dataclasses.replace(s, name=s.name + "_hi", intrabar="take_profit_first") for s in own]
    volume = [list(rng.uniform(50, 5_000, 120)) for _ in paths]
    calls, candles = frames(paths, liquidity=list(rng.uniform(5_000, 50_000, len(paths))), volume=volume)
    out = simulate(calls, candles, own + lows + highs)
    col = {s: out.filter(pl.col("strategy") == s) for s in out["strategy"].unique()}
    ambiguous = 0
    for s in own:
        mine = col[s.name]
        ambiguous += mine["ambiguous_candles"].sum()
        np.testing.assert_array_equal(mine["net_multiple_low"].to_numpy(), col[s.name + "_lo"]["net_multiple"]
                                      .to_numpy())
        np.testing.assert_array_equal(mine["net_multiple_high"].to_numpy(), col[s.name + "_hi"]["net_multiple"]
                                      .to_numpy())
        assert (mine["net_multiple_low"] <= mine["net_multiple"] + 1e-12).all()
        assert (mine["net_multiple"] <= mine["net_multiple_high"] + 1e-12).all()
        amb = mine.filter(pl.col("ambiguous_candles") > 0)
        assert (amb["settled_by"] == "policy").all()
    assert ambiguous > 20  # the paths do make the readings differ


def fine_frame(minute_k: int, quarters: list[tuple]) -> pl.DataFrame:
    start = minute(minute_k)
    return pl.DataFrame({
        "chain": ["solana"] * len(quarters), "address": ["Tok0"] * len(quarters),
        "open_ts": [start + dt.timedelta(seconds=15 * i) for i in range(len(quarters))],
        "open": [q[0] for q in quarters], "high": [q[1] for q in quarters], "low": [q[2] for q in quarters],
        "close": [q[3] for q in quarters]})


@pytest.mark.parametrize("sized", [False, True])
def test_finer_candles_settle_an_ambiguous_candle(sized):
    # the example of docs/semantics.md#order-bounds ("Finer candles")
    extra = {"size_usd": 100.0} if sized else {}
    s = Strategy("tp2", take_profit=((2.0, 1.0),), stop_loss=0.5, **extra)
    path = [FLAT, (1.00, 2.20, 0.40, 1.00), FLAT]
    calls, candles = frames([path])
    plain = simulate(calls, candles, [s]).row(0, named=True)
    assert plain["ambiguous_candles"] == 1 and plain["settled_by"] == "policy"
    assert plain["net_multiple"] == pytest.approx(0.5) and plain["net_multiple_high"] == pytest.approx(2.0)
    level_first = fine_frame(1, [(1.00, 1.30, 0.95, 1.25), (1.25, 2.20, 1.20, 2.10), (2.10, 2.15, 0.40, 0.45),
                                 (0.45, 1.00, 0.42, 1.00)])
    row = simulate(calls, candles, [s], finer=level_first).row(0, named=True)
    assert row["settled_by"] == "finer_candles" and row["exit_reason"] == "take_profit"
    assert row["net_multiple"] == pytest.approx(2.0)
    assert row["net_multiple_low"] == pytest.approx(0.5) and row["net_multiple_high"] == pytest.approx(2.0)
    assert json.loads(row["fills"])[-1][1:] == [2.0, pytest.approx(1.0), "take_profit"]
    if sized:
        assert row["proceeds_usd"] == pytest.approx(200.0)
    stop_first = fine_frame(1, [(1.00, 1.10, 0.40, 0.50), (0.50, 2.20, 0.45, 1.00)])
    row = simulate(calls, candles, [dataclasses.replace(s, intrabar="take_profit_first")],
                   finer=stop_first).row(0, named=True)
    assert row["settled_by"] == "finer_candles" and row["exit_reason"] == "stop_loss"
    assert row["net_multiple"] == pytest.approx(0.5)
    both = fine_frame(1, [(1.00, 2.20, 0.40, 1.00)])  # one finer candle crossing both again: the policy stands
    row = simulate(calls, candles, [s], finer=both).row(0, named=True)
    assert row["settled_by"] == "policy" and row["net_multiple"] == pytest.approx(0.5)


def test_long_carries_keep_every_part():
    # a size far above the candles' volume: the buy and the sell each fill over tens of candles, more parts
    # than a pair's first slot holds, and every part is kept
    s = Strategy("big", take_profit=((1.5, 0.5),), time_exit_s=50 * 60, size_usd=10_000, max_volume_share=0.1,
                 fee_bps=100)
    path = [FLAT] * 20 + [(1.0, 1.6, 1.0, 1.5)] + [(1.5, 1.5, 1.5, 1.5)] * 60
    row = one([path, path], s, volume=[[1_000.0] * len(path)] * 2)
    fills = row["fills"]
    buys = [f for f in fills if f[3] == "entry"]
    sells = [f for f in fills if f[3] != "entry"]
    assert len(fills) > 40 and len(buys) == 20  # 100 USD a candle until the level decides a sell: 2,000 USD
    assert sum(f[2] for f in buys) == pytest.approx(row["entry_fill_share"]) == pytest.approx(0.20)
    assert sum(f[2] for f in sells) == pytest.approx(1 - row["unfilled_share"])
    assert row["proceeds_usd"] == pytest.approx(sum(f[1] * f[2] for f in sells) * 2_000 * 0.99, rel=1e-9)
