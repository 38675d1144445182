"""The candle rules (docs/semantics.md#valid-candles): only valid candles are stored, whatever the source; an
answer with invalid ones is recorded as `invalid`, does not complete its window, and is asked again later, not
at once and not every run."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from quantbot_pipelines.candles import (
    BirdeyeSource,
    CandleRequest,
    FileSource,
    GeckoTerminalSource,
    collect_candles,
)
from quantbot_pipelines.candles.validate import check_candles, describe_invalid, stored_candle_problems
from tests.candles.fake_market import CORRUPT, FakeMarket, MemoryStore, calls_frame, expected_open_times

KEY = "test-key-SECRET-123"
DAY = dt.date(2025, 3, 1)
T0 = int(dt.datetime(2025, 3, 1, 12, 0, 30, tzinfo=dt.UTC).timestamp())
LATER = T0 + 10 * 86400
NAN, INF = math.nan, math.inf


@pytest.fixture
def market():
    with FakeMarket(keys=(KEY,)) as m:
        yield m


def birdeye(market, **kw) -> BirdeyeSource:
    opts = {"requests_per_second": 500.0, "max_concurrency": 4, "timeout_s": 0.5, "max_attempts": 3,
            "backoff_base_s": 0.01, "backoff_max_s": 0.02} | kw
    return BirdeyeSource([KEY], base_url=market.url, **opts)


def run(src, store, calls, now=LATER, **kw):
    b = collect_candles(calls, day=DAY, source=src, ledger=store.ledger, read_stored=store.read_stored, now=now, **kw)
    store.save(DAY, b)
    return b


def window(call: int, pre=3600, horizon=172800) -> tuple[int, int]:
    return (call - pre) // 60 * 60, (call + horizon) // 60 * 60 + 60


def test_the_worked_example_of_the_rule():
    """docs/semantics.md#valid-candles, the example: five candles asked for 08:00-08:05, two kept."""
    t = int(dt.datetime(2025, 3, 2, 8, tzinfo=dt.UTC).timestamp())
    req = CandleRequest("solana", "Tok", "1m", t, t + 300)
    frame = pl.DataFrame({
        "open_ts": [t, t + 60, t + 127, t + 180, t + 240, t + 300],
        "open": [1.00, 1.10, 1.20, NAN, 1.30, 1.0],
        "high": [1.20, 1.05, 1.30, 1.40, 1.35, 1.0],
        "low": [0.90, 1.00, 1.10, 1.20, 1.25, 1.0],
        "close": [1.10, 1.02, 1.25, 1.30, 1.32, 1.0],
        "volume_usd": [10.0, 4.0, 3.0, 2.0, None, -1.0],
    })
    got = check_candles(frame, req)
    assert got.valid["open_ts"].to_list() == [t, t + 240]           # 08:00, and 08:04 with its volume unknown
    assert got.invalid == {"non_finite": 1, "off_grid": 1, "high_below_open_or_close": 1}
    assert describe_invalid(got.invalid) == \
        "3 invalid candles dropped (non_finite 1, off_grid 1, high_below_open_or_close 1)"
    # 08:05 lies outside the window asked: not this window's, not counted


@pytest.mark.parametrize(("values", "reason"), [
    ({"open": None}, "not_a_number"), ({"close": INF}, "non_finite"), ({"volume_usd": NAN}, "non_finite"),
    ({"low": 0.0}, "non_positive_price"), ({"open": -1.0}, "non_positive_price"),
    ({"open_ts": 1}, "off_grid"), ({"low": 1.15}, "low_above_open_or_close"),
    ({"high": 0.5, "low": 0.9}, "high_below_open_or_close"),  # high < low breaks one of the two, here this one
    ({"high": 1.05}, "high_below_open_or_close"), ({"volume_usd": -0.01}, "negative_volume"),
    # the volume in tokens follows the rules of the USD volume
    ({"volume_tokens": NAN}, "non_finite"), ({"volume_tokens": INF}, "non_finite"),
    ({"volume_tokens": -0.01}, "negative_volume"),
    ({"volume_tokens": -1.0, "low": 0.0}, "non_positive_price"),  # the first rule broken counts
])
def test_each_rule_on_its_own(values, reason):
    base = {"open_ts": 0, "open": 1.0, "high": 1.2, "low": 0.9, "close": 1.1, "volume_usd": 5.0,
            "volume_tokens": 4.5}
    req = CandleRequest("solana", "Tok", "1m", 0, 120)
    got = check_candles(pl.DataFrame([base, base | {"open_ts": 60} | values]), req)
    assert got.invalid == {reason: 1} and got.valid["open_ts"].to_list() == [0]
    for nulls in ({"volume_usd": None}, {"volume_tokens": None}, {"volume_usd": None, "volume_tokens": None}):
        assert check_candles(pl.DataFrame([base | nulls]), req).invalid == {}  # a null volume is valid
    # a frame without volume_tokens (a source that gives none) has it null
    got = check_candles(pl.DataFrame([{k: v for k, v in base.items() if k != "volume_tokens"}]), req)
    assert got.invalid == {} and got.valid["volume_tokens"].to_list() == [None]


def test_bad_candles_are_not_stored_and_their_window_is_not_covered(market):
    kinds = ["nan", "nan_literal", "inf", "zero", "negative", "negvol", "negvol_tokens", "garbage_tokens",
             "highlow", "offgrid", "null", "string", "bool"]
    for k in kinds:
        market.faults[f"T{k}"] = [f"candles:{k}"]
    market.faults["Tnumstring"] = ["candles:numstring"]  # a number spelled as a string is a number
    calls = calls_frame([("solana", f"T{k}", T0) for k in [*kinds, "numstring"]])
    store, src = MemoryStore(), birdeye(market)
    b = run(src, store, calls)
    led = {r["address"]: r for r in b.ledger.iter_rows(named=True)}
    s, e = window(T0)
    want = {"nan": "non_finite", "nan_literal": "non_finite", "inf": "non_finite", "zero": "non_positive_price",
            "negative": "non_positive_price", "negvol": "negative_volume", "negvol_tokens": "negative_volume",
            "garbage_tokens": "non_finite", "highlow": "high_below_open_or_close", "offgrid": "off_grid",
            "null": "not_a_number", "string": "not_a_number", "bool": "not_a_number"}
    for k in kinds:
        row = led[f"T{k}"]
        assert (row["status"], row["invalid_candles"], row["requests"]) == ("invalid", 1, 1), (k, row)
        assert f"({want[k]} 1)" in row["detail"], (k, row["detail"])
        stored = b.candles.filter(pl.col("address") == f"T{k}")["open_ts"].dt.epoch("s").to_list()
        assert stored == expected_open_times(f"T{k}", s, e)[1:], k  # every candle but the spoiled first
    assert (led["Tnumstring"]["status"], led["Tnumstring"]["invalid_candles"]) == ("ok", 0)
    assert b.stats["invalid_candles"] == {"not_a_number": 3, "non_finite": 4, "non_positive_price": 2,
                                          "off_grid": 1, "high_below_open_or_close": 1, "negative_volume": 2}
    assert b.stats["invalid_windows"] == len(kinds) and b.stats["windows_incomplete"] == len(kinds)
    cov = dict(zip(b.coverage["address"], b.coverage["status"], strict=True))
    assert all(cov[f"T{k}"] == "invalid" for k in kinds) and cov["Tnumstring"] == "ok"
    assert stored_candle_problems(b.candles) == {"negative_volume": 0, "non_finite_volume": 0, "open_ts_off_grid": 0}
    assert b.candles.select(pl.all_horizontal([pl.col(c).is_finite() & (pl.col(c) > 0)
                                               for c in ("open", "high", "low", "close")]).all()).item()

    # asked again later, not every run: before retry_after nothing is asked, after it the window once
    n = len(market.ohlcv_requests())
    b2 = run(src, store, calls, now=LATER + 3600)
    assert len(market.ohlcv_requests()) == n and b2.stats["requests"] == 0
    assert b2.candles.height == b.candles.height and b2.stats["by_status"]["invalid"] == len(kinds)
    retry = led["Tnan"]["retry_after"]
    assert retry == dt.datetime.fromtimestamp(LATER + (LATER - e), dt.UTC)  # as long again as the window is old
    b3 = run(src, store, calls, now=int(retry.timestamp()) + 1)
    assert len(market.ohlcv_requests()) == n + len(kinds)  # the spoiled windows, once each; the good one never
    assert set(b3.ledger["status"]) == {"ok"} and b3.stats["windows_complete"] == len(kinds) + 1


def test_invalid_answers_are_asked_again_a_handful_of_times_over_a_windows_life(market):
    """Each retry waits as long as the window is old: a provider that never fixes a candle costs a few
    requests over a year, not one per run."""
    market.faults["Tbad"] = ["candles:zero"] * 100
    calls = calls_frame([("solana", "Tbad", T0)])
    store, src = MemoryStore(), birdeye(market)
    now, year = T0 + 3 * 86400, T0 + 365 * 86400
    while now < year:
        b = run(src, store, calls, now=now)
        assert b.ledger["status"].to_list() == ["invalid"]
        run(src, store, calls, now=now + 3600)  # the run an hour later asks nothing
        now = int(b.ledger["retry_after"][0].timestamp()) + 1
    # the window ends on day 2: asked on days 3, 4, 6, 10, 18, 34, 66, 130 and 258, nine requests in the year
    assert len(market.ohlcv_requests()) == 9


def test_file_and_geckoterminal_answers_pass_the_same_check(tmp_path, market):
    (tmp_path / "solana").mkdir()
    ts = [T0 - 30 + 60 * i for i in range(5)]  # T0 is 30 s into its minute: T0 - 30 is on the grid
    frame = pl.DataFrame({"open_ts": ts, "open": [1.0, NAN, 1.0, 1.0, 1.0], "high": [2.0] * 5,
                          "low": [0.5, 0.5, 0.5, 0.5, 0.5], "close": [1.5] * 5,
                          "volume_usd": [1.0, 1.0, 1.0, -3.0, 1.0]})
    frame = frame.with_columns(pl.when(pl.int_range(5) == 2).then(pl.col("open_ts") + 1)
                               .otherwise(pl.col("open_ts")).alias("open_ts"))
    frame.write_parquet(tmp_path / "solana" / "FileTok.parquet")
    b = run(FileSource(tmp_path), MemoryStore(), calls_frame([("solana", "FileTok", T0)]), pre_window_s=60,
            horizon_s=300)
    row = b.ledger.row(0, named=True)
    assert row["status"] == "invalid" and row["invalid_candles"] == 3 and row["retry_after"] is None  # free: every run
    assert "non_finite 1, off_grid 1, negative_volume 1" in row["detail"]
    assert b.candles["open_ts"].dt.epoch("s").to_list() == [ts[0], ts[4]]

    market.ohlcv_faults["0xgecko"] = ["candles:nan"]
    gecko = GeckoTerminalSource(base_url=market.url, requests_per_minute=60000.0, timeout_s=0.5, max_attempts=2,
                                backoff_base_s=0.01, backoff_max_s=0.02)
    b = run(gecko, MemoryStore(), calls_frame([("ethereum", "0xgecko", T0)]))
    row = b.ledger.row(0, named=True)
    assert (row["status"], row["invalid_candles"]) == ("invalid", 1) and "non_finite 1" in row["detail"]


@pytest.mark.parametrize("kind", ["null", "string"])
def test_geckoterminal_rows_with_wrong_types_are_counted_not_fatal(market, kind):
    market.ohlcv_faults["0xtypes"] = [f"candles:{kind}"]
    gecko = GeckoTerminalSource(base_url=market.url, requests_per_minute=60000.0, timeout_s=0.5, max_attempts=2,
                                backoff_base_s=0.01, backoff_max_s=0.02)
    b = run(gecko, MemoryStore(), calls_frame([("ethereum", "0xtypes", T0)]))
    row = b.ledger.row(0, named=True)
    assert (row["status"], row["invalid_candles"]) == ("invalid", 1) and "not_a_number 1" in row["detail"]
    assert b.candles.height == len(expected_open_times("0xtypes", *window(T0))) - 1


def test_stored_problems_cover_volume_and_the_grid():
    at = [dt.datetime(2025, 3, 1, 10, m, s, tzinfo=dt.UTC) for m, s in ((0, 0), (1, 0), (2, 7), (5, 0))]
    candles = pl.DataFrame({"interval": ["1m", "1m", "1m", "5m"], "open_ts": at,
                            "volume_usd": [1.0, -2.0, INF, None]})
    assert stored_candle_problems(candles) == {"negative_volume": 1, "non_finite_volume": 1, "open_ts_off_grid": 1}
    # the volume in tokens too; a candle with both volumes wrong counts once
    tokens = candles.with_columns(pl.Series("volume_tokens", [-1.0, -3.0, None, NAN]))
    assert stored_candle_problems(tokens) == {"negative_volume": 2, "non_finite_volume": 2,
                                              "open_ts_off_grid": 1}


def test_the_fault_kinds_of_the_fake_market_are_all_checked():
    assert set(CORRUPT) == {"nan", "nan_literal", "inf", "zero", "negative", "negvol", "negvol_tokens",
                            "garbage_tokens", "highlow", "offgrid", "null", "string", "numstring", "bool"}
