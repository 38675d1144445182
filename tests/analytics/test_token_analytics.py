"""Hand-computed paths for every figure in docs/semantics.md
("Entry", "Path analytics")."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from quantbot_pipelines.analytics import token_analytics
from quantbot_pipelines.backtest import call_windows
from quantbot_pipelines.schemas import TOKEN_ANALYTICS
from tests.analytics._data import T0, calls, candles

FAR = T0 + 365 * 86400

# token "run": minute -> (open, high, low, close); minute 0 is in progress at the call (T0 + 30 s)
RUN = [
    (0, 1.0, 5.0, 0.1, 1.0),
    (1, 1.0, 1.2, 0.8, 1.1),  # entry: open 1.0 at T0 + 60
    (2, 1.1, 1.6, 0.7, 1.5),  # 1.5x
    (3, 1.5, 1.9, 0.6, 1.8),  # lowest low before 2x
    (4, 1.8, 2.5, 0.9, 2.4),  # 2x (its low does not count before 2x)
    (5, 2.4, 3.2, 0.5, 3.0),  # 3x and the ATH; lowest low of the window
    (6, 3.0, 3.1, 2.0, 2.2),
]  # last close


def one(df: pl.DataFrame, message_id: int = 1) -> dict:
    return df.filter(pl.col("message_id") == message_id).row(0, named=True)


def test_every_metric_on_a_hand_computed_path():
    out = token_analytics(calls([("run", 30)]), candles({"run": RUN}), now=FAR)
    assert out.columns == TOKEN_ANALYTICS.columns
    TOKEN_ANALYTICS.conform(out.to_arrow())  # types fit the schema
    r = one(out)
    assert r["status"] == "ok"
    assert r["entry_ts"] == dt.datetime.fromtimestamp(T0 + 60, dt.UTC)  # the candle in progress is not used
    assert r["entry_price"] == 1.0
    assert r["ath_multiple"] == pytest.approx(3.2)  # the 5.0 high of minute 0 is before the entry
    assert r["ath_ts"] == dt.datetime.fromtimestamp(T0 + 300, dt.UTC)
    assert r["time_to_ath_s"] == 240
    assert (r["time_to_1_5x_s"], r["time_to_2x_s"], r["time_to_3x_s"]) == (60, 180, 240)
    assert r["time_to_5x_s"] is None and r["time_to_10x_s"] is None
    assert r["min_multiple"] == pytest.approx(0.5)
    assert r["drawdown_before_2x"] == pytest.approx(-0.4)
    assert r["end_multiple"] == pytest.approx(2.2)
    assert r["candles"] == 6
    assert r["window_complete"] is True
    assert (r["caller_id"], r["card_ticker"], r["day"]) == ("u1", "RUN", dt.date(2026, 1, 1))


def test_horizon_cuts_the_window():
    r = one(token_analytics(calls([("run", 30)]), candles({"run": RUN}), horizon_s=300, now=FAR))
    # window [T0 + 60, T0 + 360): minutes 1..5
    assert r["candles"] == 5 and r["end_multiple"] == pytest.approx(3.0)


def test_entry_delay_moves_the_entry():
    r = one(token_analytics(calls([("run", 30)]), candles({"run": RUN}), entry_delay_s=120, now=FAR))
    # first open at or after T0 + 150 is minute 3
    assert r["entry_ts"] == dt.datetime.fromtimestamp(T0 + 180, dt.UTC) and r["entry_price"] == 1.5
    assert r["ath_multiple"] == pytest.approx(3.2 / 1.5)
    assert r["time_to_2x_s"] == 120  # minute 5 high 3.2 >= 3.0
    assert r["drawdown_before_2x"] == pytest.approx(0.6 / 1.5 - 1)  # minutes 3, 4 before the 2x candle


def test_call_exactly_on_a_candle_open_enters_on_that_candle():
    r = one(token_analytics(calls([("run", 60)]), candles({"run": RUN}), now=FAR))
    assert r["entry_ts"] == dt.datetime.fromtimestamp(T0 + 60, dt.UTC)


def test_gap_after_the_call_and_inside_the_window():
    gap = [(0, 1, 1, 1, 1), (10, 2.0, 2.2, 1.8, 2.0), (11, 2.0, 2.1, 1.5, 1.9), (30, 3.0, 4.4, 2.9, 4.0)]
    r = one(token_analytics(calls([("gap", 30)]), candles({"gap": gap}), now=FAR))
    assert r["status"] == "ok" and r["entry_price"] == 2.0
    assert r["entry_ts"] == dt.datetime.fromtimestamp(T0 + 600, dt.UTC)
    assert r["time_to_2x_s"] == 1200 and r["time_to_1_5x_s"] == 1200  # times from open times, not indexes
    assert r["drawdown_before_2x"] == pytest.approx(1.5 / 2.0 - 1)
    assert r["candles"] == 3
    # the first candle after the call opens 9.5 min later: beyond a 5 min max gap there is no entry
    r = one(token_analytics(calls([("gap", 30)]), candles({"gap": gap}), max_entry_gap_s=300, now=FAR))
    assert r["status"] == "no_entry" and r["entry_price"] is None and r["ath_multiple"] is None
    assert r["candles"] == 0


def test_never_trades_after_the_call_and_no_candles_at_all():
    quiet = [(-5, 1, 1, 1, 1), (-1, 1, 1, 1, 1), (0, 1, 1, 1, 1)]
    out = token_analytics(calls([("quiet", 30), ("ghost", 30)]), candles({"quiet": quiet}), now=FAR)
    assert one(out, 1)["status"] == "no_entry"  # candles before the call only
    assert one(out, 2)["status"] == "no_candles"  # no candle of the token at all
    for r in out.iter_rows(named=True):
        assert r["entry_ts"] is None and r["time_to_2x_s"] is None and r["end_multiple"] is None


def test_ten_x_in_the_first_candle():
    moon = [(1, 1.0, 12.0, 0.9, 11.0), (2, 11.0, 11.5, 8.0, 9.0)]
    r = one(token_analytics(calls([("moon", 30)]), candles({"moon": moon}), now=FAR))
    assert [r[f"time_to_{n}x_s"] for n in ("1_5", "2", "3", "5", "10")] == [0, 0, 0, 0, 0]
    assert r["ath_multiple"] == 12.0 and r["time_to_ath_s"] == 0
    assert r["drawdown_before_2x"] == 0.0  # no candle before the 2x candle: the path starts at entry
    assert r["min_multiple"] == pytest.approx(0.9) and r["end_multiple"] == 9.0


def test_incomplete_window_without_coverage():
    out = token_analytics(calls([("run", 30)]), candles({"run": RUN}), now=T0 + 3600)
    assert one(out)["window_complete"] is False  # younger than the 48 h horizon
    # a candle at or beyond the window's end also tells the window is over
    late = RUN + [(2 * 1440 + 1, 1, 1, 1, 1)]
    assert one(token_analytics(calls([("run", 30)]), candles({"run": late}), now=T0 + 3600))[
        "window_complete"
    ]


def _coverage(spans: list[tuple[int, int]], address: str = "run") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "chain": "solana",
            "address": address,
            "interval": "1m",
            "start_ts": [s for s, _ in spans],
            "end_ts": [e for _, e in spans],
        }
    ).with_columns(pl.col("start_ts", "end_ts").mul(1000).cast(pl.Datetime("ms", "UTC")))


def test_window_complete_from_coverage_spans():
    c, k = calls([("run", 30)]), candles({"run": RUN})
    end = T0 + 60 + 172800
    for spans, now, want in [
        ([(T0 - 3600, end)], FAR, True),
        ([(T0 - 3600, T0 + 7200), (T0 + 7200, end + 60)], FAR, True),  # touching spans join
        ([(T0 - 3600, T0 + 7200), (T0 + 7260, end)], FAR, False),  # a hole
        ([(T0 + 120, end)], FAR, False),  # starts after entry
        ([(T0 - 3600, end)], end - 1, False),  # covered but not over yet
        ([(T0 - 3600, end)], end, True),
    ]:
        got = one(token_analytics(c, k, coverage=_coverage(spans), now=now))["window_complete"]
        assert got is want, (spans, now)
    other = _coverage([(T0 - 3600, end)], address="other")
    assert one(token_analytics(c, k, coverage=other, now=FAR))["window_complete"] is False


def test_unsorted_input_and_duplicates_give_the_same_rows():
    k = candles({"run": RUN, "moon": [(1, 1.0, 12.0, 0.9, 11.0)]})
    c = calls([("run", 30), ("moon", 30), ("run", 90)])
    a = token_analytics(c, k, now=FAR)
    shuffled = pl.concat([k, k.head(2)]).sample(fraction=1.0, shuffle=True, seed=3)
    b = token_analytics(c, shuffled, now=FAR)
    assert a.equals(b)
    assert one(a, 3)["entry_ts"] == dt.datetime.fromtimestamp(T0 + 120, dt.UTC)  # call at +90 s: next open


def test_call_windows_windows_and_delay():
    k = candles({"run": RUN})
    p = call_windows(calls([("run", 30), ("ghost", 0)]), k, entry_delay_s=0, max_entry_gap_s=900,
                     horizon_s=180)
    assert p.n_calls == 2 and list(p.status) == ["ok", "no_candles"]
    assert (p.start[0], p.stop[0]) == (1, 4)  # minutes 1, 2, 3
    assert p.entry_ts[0] == T0 + 60 and p.entry_ts[1] == -1 and np.isnan(p.entry_price[1])
    assert p.ts.dtype == np.int64 and list(p.ts[:2]) == [T0, T0 + 60]
    assert p.last_ts[0] == T0 + 360


def test_empty_inputs():
    out = token_analytics(calls([("run", 30)]).head(0), candles({"run": RUN}).head(0), now=FAR)
    assert out.height == 0 and out.columns == TOKEN_ANALYTICS.columns
    out = token_analytics(calls([("run", 30)]), candles({"run": RUN}).head(0), now=FAR)
    assert one(out)["status"] == "no_candles"
    assert isinstance(TOKEN_ANALYTICS.conform(out.to_arrow()), pa.Table)


# -- figures from the call price (docs/semantics.md#caller-stats) -------------------------------------------

_FROM_CALL = ["call_price", "call_price_source", "x_from_call", "time_to_peak_s", "low_from_call"]


def test_figures_from_the_call_price_on_the_hand_computed_path():
    r = one(token_analytics(calls([("run", 30)]), candles({"run": RUN}), now=FAR))
    assert (r["call_price"], r["call_price_source"]) == (1.0, "candle")  # minute 0 is in progress at T0 + 30
    assert r["x_from_call"] == pytest.approx(3.2) and r["time_to_peak_s"] == 300 - 30
    assert r["low_from_call"] == pytest.approx(0.6)  # the call price is the entry price: drawdown_before_2x + 1
    c = calls([("run", 30)]).with_columns(card_price_usd=pl.lit(0.9))
    r = one(token_analytics(c, candles({"run": RUN}), now=FAR))
    assert (r["call_price"], r["call_price_source"]) == (0.9, "card")
    assert r["x_from_call"] == pytest.approx(3.2 / 0.9)
    assert r["low_from_call"] == pytest.approx(0.7 / 0.9)  # 2x (1.8) first at minute 3: lows 0.8, 0.7 before


def test_figures_from_the_call_price_leave_the_other_columns_as_they_were():
    k = candles({"run": RUN, "moon": [(1, 1.0, 12.0, 0.9, 11.0)]})
    c = calls([("run", 30), ("moon", 30), ("run", 90), ("ghost", 0)])
    plain = token_analytics(c, k, now=FAR)
    carded = token_analytics(c.with_columns(card_price_usd=pl.Series([0.5, None, 2.0, 1.0])), k, now=FAR)
    assert plain.drop(_FROM_CALL).equals(carded.drop(_FROM_CALL))
    assert plain.columns[-len(_FROM_CALL):] == _FROM_CALL
    assert carded.get_column("call_price_source").to_list() == ["card", "entry", "card", None]
    assert plain.get_column("call_price_source").to_list() == ["candle", "entry", "candle", None]


def test_low_from_call_matches_a_plain_reading_on_random_paths():
    rng = np.random.default_rng(5)
    rows, paths = [], {}
    for t in range(40):
        n = int(rng.integers(1, 120))
        o = np.exp(np.cumsum(rng.normal(0, 0.15, n)))
        minutes = np.sort(rng.choice(np.arange(200), n, replace=False))
        paths[f"t{t}"] = [(int(m), o[j], o[j] * np.exp(abs(rng.normal(0, 0.2))), o[j] * np.exp(-abs(rng.normal(0, 0.3))),
                           o[j]) for j, m in enumerate(minutes)]
        for _ in range(3):
            rows.append((f"t{t}", int(rng.integers(0, 100 * 60))))
    c = calls(rows)
    card = [float(rng.uniform(0.1, 10.0)) if rng.random() < 0.5 else None for _ in rows]
    out = token_analytics(c.with_columns(card_price_usd=pl.Series(card)), candles(paths), now=FAR)
    checked = 0
    for (addr, at), cp_card, r in zip(rows, card, out.iter_rows(named=True), strict=True):
        path = paths[addr]
        call_s = T0 + at
        entry = next((p for p in path if T0 + p[0] * 60 >= call_s and T0 + p[0] * 60 - call_s <= 900), None)
        if entry is None:
            assert r["x_from_call"] is None and r["low_from_call"] is None
            continue
        window = [p for p in path if entry[0] <= p[0] < entry[0] + 2880]
        in_progress = next((p for p in path if T0 + p[0] * 60 <= call_s < T0 + p[0] * 60 + 60), None)
        market = in_progress[1] if in_progress else entry[1]
        # a card more than 2x off the market at the call is not read (docs/semantics.md#caller-stats)
        card_ok = cp_card is not None and 0.5 <= cp_card / market <= 2.0
        price = cp_card if card_ok else market
        source = "card" if card_ok else "candle" if in_progress else "entry"
        two = next((j for j, p in enumerate(window) if p[2] >= 2 * price), len(window))
        peak = max(p[2] for p in window)
        ath_minute = next(p[0] for p in window if p[2] == peak)
        assert (r["call_price"], r["call_price_source"]) == (price, source)
        assert r["x_from_call"] == pytest.approx(peak / price, rel=1e-12)
        assert r["low_from_call"] == pytest.approx(min([price, *(p[3] for p in window[:two])]) / price, rel=1e-12)
        assert r["time_to_peak_s"] == T0 + ath_minute * 60 - call_s
        checked += 1
    assert checked > 60
