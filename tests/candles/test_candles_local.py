"""Synthetic market and file source: determinism, seamless joins, realistic shapes, CSV and Parquet."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import numpy as np
import polars as pl

from quantbot_pipelines.candles import CandleRequest, FileSource, SyntheticMarket, collect_candles
from quantbot_pipelines.candles.windows import merge_spans, plan_requests, subtract_spans, token_windows
from tests.candles.fake_market import MemoryStore, calls_frame

DAY = dt.date(2025, 3, 1)
T0 = int(dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC).timestamp())


def test_synthetic_is_deterministic_and_joins_seamlessly():
    m = SyntheticMarket(seed=7)
    whole = m.candles("solana", "Tok1", T0 - 3600, T0 + 172800, anchor_ts=T0)
    assert whole.height > 1000
    assert whole.equals(SyntheticMarket(seed=7).candles("solana", "Tok1", T0 - 3600, T0 + 172800, anchor_ts=T0))
    pieces = pl.concat([m.candles("solana", "Tok1", a, b, anchor_ts=T0)
                        for a, b in [(T0 - 3600, T0 + 600), (T0 + 600, T0 + 90000), (T0 + 90000, T0 + 172800)]])
    assert pieces.equals(whole)
    other = SyntheticMarket(seed=8).candles("solana", "Tok1", T0 - 3600, T0 + 172800, anchor_ts=T0)
    assert not other.equals(whole)
    # within a run and across runs through collect_candles: the tail joins the head
    store, calls = MemoryStore(), calls_frame([("solana", "Tok1", T0)])
    for now in (T0 + 5 * 3600, T0 + 5 * 86400):
        b = collect_candles(calls, day=DAY, source=m, ledger=store.ledger, read_stored=store.read_stored, now=now)
        store.save(DAY, b)
    whole = m.candles("solana", "Tok1", T0 - 3600, T0 + 172860, anchor_ts=T0)  # the window's last candle too
    cols = ("open_ts", "open", "high", "low", "close", "volume_usd", "volume_tokens")
    assert b.candles.select(cols).with_columns(pl.col("open_ts").dt.epoch("s")).equals(whole)


def test_synthetic_volume_in_tokens():
    m = SyntheticMarket(seed=7)
    one = m.candles("solana", "Tok1", T0 - 3600, T0 + 86400, anchor_ts=T0)
    typical = (one["open"] + one["high"] + one["low"] + one["close"]) / 4
    assert np.allclose(one["volume_tokens"].to_numpy(), (one["volume_usd"] / typical).to_numpy(), rtol=1e-12)
    assert (one["volume_tokens"] > 0).all()
    # a coarser candle sums its minutes' token volumes, as the rollup of the 1m candles does
    five = m.candles("solana", "Tok1", T0 - 3600, T0 + 86400, anchor_ts=T0, interval="5m")
    minutes = (one.with_columns((pl.col("open_ts") - pl.col("open_ts") % 300).alias("b"))
               .group_by("b").agg(pl.col("volume_tokens").sum()).sort("b"))
    assert minutes["b"].to_list() == five["open_ts"].to_list()
    assert np.allclose(minutes["volume_tokens"].to_numpy(), five["volume_tokens"].to_numpy(), rtol=1e-12)


def test_synthetic_pool_liquidity():
    m = SyntheticMarket(seed=7)
    names = [f"T{i}" for i in range(300)]
    pools = [m.pool_liquidity_usd("solana", n) for n in names]
    assert all(5e3 <= p <= 2e5 for p in pools) and len(set(pools)) == len(pools)
    assert min(pools) < 1e4 and max(pools) > 1e5  # spread over the range
    assert SyntheticMarket(seed=8).pool_liquidity_usd("solana", "T0") != pools[0]
    # every answer of the token reports the same pool, whatever the window, the anchor or the interval
    dead = next(n for n in names if m.scenario("solana", n, T0) == "dead")
    live = next(n for n in names if m.scenario("solana", n, T0) == "pump")
    for name in (dead, live):
        got = {m.fetch(CandleRequest("solana", name, iv, T0 + k * 3600, T0 + (k + 2) * 3600,
                                     anchor_ts=T0 + a)).pool_liquidity_usd
               for k in (0, 10) for a in (0, 600) for iv in ("1m", "5m")}
        assert got == {m.pool_liquidity_usd("solana", name)}
    assert m.fetch(CandleRequest("solana", dead, "1m", T0, T0 + 3600, anchor_ts=T0)).status == "no_trades"
    # and the ledger row of each answer carries it
    store = MemoryStore()
    calls = calls_frame([("solana", live, T0), ("solana", dead, T0), ("unknown", "who", T0)])
    b = collect_candles(calls, day=DAY, source=m, ledger=store.ledger, read_stored=store.read_stored,
                        now=T0 + 5 * 86400)
    led = {r["address"]: r for r in b.ledger.iter_rows(named=True)}
    assert led[live]["pool_liquidity_usd"] == m.pool_liquidity_usd("solana", live)
    assert led[dead]["pool_liquidity_usd"] == m.pool_liquidity_usd("solana", dead)
    assert led["who"]["status"] == "skipped" and led["who"]["pool_liquidity_usd"] is None


def test_synthetic_paths_look_like_memecoins():
    m = SyntheticMarket(seed=7)
    kinds, peaks, gaps = Counter(), [], []
    t = time.perf_counter()
    for i in range(400):
        f = m.candles("solana", f"T{i}", T0 - 3600, T0 + 172800, anchor_ts=T0)
        kinds[m.scenario("solana", f"T{i}", T0)] += 1
        if f.is_empty():
            continue
        o, h, lo, c = (f[x].to_numpy() for x in ("open", "high", "low", "close"))
        assert (lo > 0).all() and (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
        assert (f["volume_usd"] > 0).all() and f["open_ts"].is_sorted() and (f["open_ts"] % 60 == 0).all()
        after = f.filter(pl.col("open_ts") >= T0)
        peaks.append(after["high"].max() / after["open"][0])
        gaps.append(1 - f.height / 2941)
    per_token = (time.perf_counter() - t) / 400
    assert set(kinds) == {"dead", "pump", "moon", "rug", "bleed"} and 20 <= kinds["dead"] <= 70
    peaks = np.array(peaks)
    assert (peaks >= 2).mean() > 0.25 and (peaks >= 30).any() and np.median(peaks) < 5
    assert 0.02 < np.median(gaps) < 0.5
    assert per_token < 0.003  # generous on a shared 2-core machine; typically ~0.6 ms


def test_synthetic_dead_token_and_rug():
    m = SyntheticMarket(seed=7)
    names = [f"T{i}" for i in range(200)]
    dead = next(n for n in names if m.scenario("solana", n, T0) == "dead")
    rug = next(n for n in names if m.scenario("solana", n, T0) == "rug")
    res = m.fetch(CandleRequest("solana", dead, "1m", T0, T0 + 86400, anchor_ts=T0))
    assert res.status == "no_trades" and res.candles.is_empty()
    f = m.candles("solana", rug, T0 - 3600, T0 + 172800, anchor_ts=T0)
    assert (f["close"] / f["open"]).min() < 0.12  # one candle loses 90% or more
    five = m.candles("solana", rug, T0 - 3600, T0 + 172800, anchor_ts=T0, interval="5m")
    assert (five["open_ts"] % 300 == 0).all() and five["high"].max() == f["high"].max()


def test_file_source_csv_and_parquet(tmp_path):
    (tmp_path / "solana").mkdir()
    (tmp_path / "base").mkdir()
    ts = [T0 - 120 + 60 * i for i in range(10)]
    pl.DataFrame({"open_ts": ts, "open": [1.0] * 10, "high": [2.0] * 10, "low": [0.5] * 10, "close": [1.5] * 10,
                  "volume_usd": [10.0] * 10, "volume_tokens": [6.5] * 10}).write_parquet(
        tmp_path / "solana" / "SolTok.parquet")
    iso = [dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t in ts]
    pl.DataFrame({"open_ts": iso, "open": [3.0] * 10, "high": [4.0] * 10, "low": [2.5] * 10,
                  "close": [3.5] * 10}).write_csv(tmp_path / "base" / "0xfeed.csv")
    calls = calls_frame([("solana", "SolTok", T0), ("base", "0xfeed", T0), ("base", "0xmissing", T0),
                         ("unknown", "who", T0)])
    store, src = MemoryStore(), FileSource(tmp_path)
    b = collect_candles(calls, day=DAY, source=src, ledger=store.ledger, read_stored=store.read_stored,
                        now=T0 + 5 * 86400, pre_window_s=60, horizon_s=300)
    store.save(DAY, b)
    got = {a: g["open_ts"].dt.epoch("s").to_list() for (a,), g in b.candles.group_by("address")}
    window = [t for t in ts if T0 - 60 <= t < T0 + 360]
    assert got == {"SolTok": window, "0xfeed": window}
    assert b.candles.filter(pl.col("address") == "0xfeed")["volume_usd"].is_null().all()
    # volume_tokens is optional: read when the file has it, else null
    assert b.candles.filter(pl.col("address") == "SolTok")["volume_tokens"].to_list() == [6.5] * len(window)
    assert b.candles.filter(pl.col("address") == "0xfeed")["volume_tokens"].is_null().all()
    assert b.ledger["pool_liquidity_usd"].is_null().all()  # files report no pool
    st = dict(zip(b.ledger["address"], b.ledger["status"], strict=True))
    assert st == {"SolTok": "ok", "0xfeed": "ok", "0xmissing": "token_unknown", "who": "skipped"}
    # a file dropped in later is picked up on the next run (reading files costs nothing)
    pl.DataFrame({"open_ts": ts, "open": [1.0] * 10, "high": [1.0] * 10, "low": [1.0] * 10, "close": [1.0] * 10,
                  "volume_usd": [1.0] * 10}).write_csv(tmp_path / "base" / "0xmissing.csv")
    b2 = collect_candles(calls, day=DAY, source=src, ledger=store.ledger, read_stored=store.read_stored,
                         now=T0 + 5 * 86400, pre_window_s=60, horizon_s=300)
    assert b2.stats["requests"] == 1 and b2.candles.filter(pl.col("address") == "0xmissing").height == len(window)


def test_windows_merge_subtract_and_chunk():
    assert merge_spans([(0, 10), (10, 20), (30, 40), (35, 50)]) == [(0, 20), (30, 50)]
    assert subtract_spans([(0, 100)], [(10, 20), (15, 30), (90, 200)]) == [(0, 10), (30, 90)]
    calls = calls_frame([("solana", "A", T0), ("solana", "A", T0 + 4 * 86400), ("solana", "B", T0)])
    w = token_windows(calls, interval="1m", pre_window_s=3600, horizon_s=172800)
    assert [(x.address, len(x.spans)) for x in w] == [("A", 2), ("B", 1)]
    ledger = MemoryStore().ledger
    reqs = plan_requests(w, ledger, interval="1m", now=T0 + 10 * 86400, max_candles=1000)
    assert all(r.end_ts - r.start_ts <= 60000 for r in reqs)
    assert merge_spans([(r.start_ts, r.end_ts) for r in reqs if r.address == "A"]) == w[0].spans
