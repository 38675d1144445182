"""Caller stats from the call price: the worked examples of docs/semantics.md#caller-stats recomputed, the
call price fallbacks, rugs, points, windows, scopes and filters, and the boards against a plain reading."""

from __future__ import annotations

import datetime as dt
import math
import statistics

import numpy as np
import polars as pl
import pytest

from quantbot_pipelines.analytics import (
    PointsLadder,
    board_list,
    call_points,
    caller_boards,
    caller_leaderboard,
    token_analytics,
)
from quantbot_pipelines.schemas import CALLER_BOARDS, TOKEN_ANALYTICS
from tests.analytics._data import T0, calls, candles

FAR = T0 + 365 * 86400
END = dt.date(2025, 3, 31)

# the first worked example, minute 0 standing for 08:14: the call comes 5 s into it
RUNNER = [
    (0, 0.90, 1.30, 0.85, 1.00),  # in progress at the call: only its open counts
    (1, 1.00, 1.20, 0.95, 1.10),  # entry
    (2, 1.10, 1.70, 1.00, 1.60),
    (3, 1.60, 1.85, 1.40, 1.80),  # 2x the call price (1.80)
    (4, 1.80, 4.60, 0.30, 4.00),  # peak
    (5, 4.00, 4.10, 0.05, 0.08),  # a fall after 2x: not a rug
]
# the rug example, minute 0 standing for 10:00: the call comes 30 s into it
RUG = [
    (0, 2.00, 2.05, 1.95, 2.10),
    (1, 2.10, 2.50, 1.50, 1.60),
    (2, 1.60, 1.70, 0.15, 0.20),  # down to 7.5 % of the call price before 2x
    (3, 0.20, 4.40, 0.18, 4.00),  # 2.2x the call price, after the rug
]


def analytics_of(rows: list[tuple], k: pl.DataFrame, card: list[float | None] | None = None) -> pl.DataFrame:
    c = calls(rows)
    if card is not None:
        c = c.with_columns(pl.Series("card_price_usd", card, pl.Float64))
    return token_analytics(c, k, now=FAR)


def row(df: pl.DataFrame, message_id: int = 1) -> dict:
    return df.filter(pl.col("message_id") == message_id).row(0, named=True)


def with_points(df: pl.DataFrame, **kw) -> pl.DataFrame:
    return call_points(df, **kw)


# -- per call ----------------------------------------------------------------------------------------------


def test_worked_example_from_the_candle_in_progress():
    out = with_points(analytics_of([("a", 5)], candles({"a": RUNNER})))
    r = row(out)
    assert (r["call_price"], r["call_price_source"]) == (0.90, "candle")
    assert r["entry_price"] == 1.00 and r["ath_multiple"] == pytest.approx(4.6)  # 1.30 of 08:14 is not the peak
    assert r["x_from_call"] == pytest.approx(4.6 / 0.9) and r["x_from_call"] == pytest.approx(5.11, abs=5e-3)
    assert r["time_to_peak_s"] == 235  # 08:18:00 - 08:14:05
    assert r["low_from_call"] == pytest.approx(1.0)  # min(0.90, 0.95, 1.00) / 0.90
    assert r["min_multiple"] == pytest.approx(0.05) and r["rug"] is False  # the fall came after 2x
    assert r["points"] == 5.0


def test_worked_example_card_and_entry_fallbacks():
    k = candles({"a": RUNNER, "b": RUNNER[1:]})  # b: no candle in progress at the call
    out = with_points(analytics_of([("a", 5), ("b", 5)], k, card=[0.95, None]))
    card, entry = row(out, 1), row(out, 2)
    assert (card["call_price"], card["call_price_source"]) == (0.95, "card")
    assert card["x_from_call"] == pytest.approx(4.6 / 0.95) and card["points"] == 3.0
    assert card["low_from_call"] == pytest.approx(1.0)  # 2x (1.90) first at 08:18; lows before >= 0.95
    assert (entry["call_price"], entry["call_price_source"]) == (1.00, "entry")
    assert entry["x_from_call"] == pytest.approx(4.6) and entry["points"] == 3.0


def test_worked_example_rug_before_2x():
    r = row(with_points(analytics_of([("r", 30)], candles({"r": RUG}))))
    assert (r["call_price"], r["call_price_source"]) == (2.00, "candle")
    assert r["x_from_call"] == pytest.approx(2.2) and r["time_to_peak_s"] == 150
    assert r["low_from_call"] == pytest.approx(0.075)
    assert r["rug"] is True and r["points"] == -25.0  # a rug whatever came after
    # a looser rug level: not a rug, then the 2.2x scores the 2x level
    r = row(with_points(analytics_of([("r", 30)], candles({"r": RUG})), rug_level=0.05))
    assert r["rug"] is False and r["points"] == 2.0


def test_fall_after_2x_is_not_a_rug_but_before_is():
    before = [(1, 1.0, 1.1, 0.05, 0.1), (2, 0.1, 2.5, 0.1, 2.4)]
    after = [(1, 1.0, 2.5, 0.9, 2.4), (2, 2.4, 2.4, 0.05, 0.1)]
    out = with_points(analytics_of([("before", 30), ("after", 30)], candles({"before": before, "after": after})))
    b, a = row(out, 1), row(out, 2)
    assert b["call_price_source"] == "entry" and b["low_from_call"] == pytest.approx(0.05) and b["rug"] is True
    assert a["low_from_call"] == 1.0 and a["rug"] is False and a["points"] == 2.0  # 2x on the entry candle


def test_call_price_edge_cases():
    k = candles({"a": RUNNER, "quiet": [(0, 3.0, 3.0, 3.0, 3.0)], "other": [(0, 7.0, 7.0, 7.0, 7.0)],
                 "next": RUNNER[1:]})
    rows = [("a", 60), ("a", 5), ("a", 5), ("ghost", 5), ("quiet", 5), ("quiet", 65), ("next", 5)]
    out = analytics_of(rows, k, card=[None, 0.0, float("nan"), 1.0, 2.5, None, None])
    on_open = row(out, 1)  # a call exactly on an open: that candle is in progress, its open is the entry's
    assert (on_open["call_price"], on_open["call_price_source"]) == (1.00, "candle")
    assert on_open["x_from_call"] == pytest.approx(4.6)
    for m in (2, 3):  # a card price of 0 or nan does not count
        assert (row(out, m)["call_price"], row(out, m)["call_price_source"]) == (0.90, "candle")
    ghost = row(out, 4)  # no candles: no call price, even with a card
    assert ghost["status"] == "no_candles" and ghost["call_price"] is None and ghost["call_price_source"] is None
    quiet = row(out, 5)  # no entry: the card's price stands, the figures from it are null
    assert quiet["status"] == "no_entry" and (quiet["call_price"], quiet["call_price_source"]) == (2.5, "card")
    assert quiet["x_from_call"] is None and quiet["time_to_peak_s"] is None and quiet["low_from_call"] is None
    late = row(out, 6)  # no entry, no card, the candle in progress is long over: nothing
    assert late["call_price"] is None and late["call_price_source"] is None
    # the candle of another token at the same minute is not this token's candle in progress
    assert row(out, 7)["call_price_source"] == "entry"


def test_call_price_after_an_entry_delay():
    r = row(token_analytics(calls([("a", 5)]), candles({"a": RUNNER}), entry_delay_s=120, now=FAR))
    assert r["entry_price"] == 1.60 and r["call_price"] == 0.90  # the call price is the call's, not the entry's
    assert r["x_from_call"] == pytest.approx(4.6 / 0.9) and r["time_to_peak_s"] == 235


# -- points ------------------------------------------------------------------------------------------------


def test_points_ladder_default_and_custom():
    x = [0.5, 1.99, 2.0, 2.9, 3.0, 7.0, 10.0, 24.0, 25.0, 60.0, 100.0, 5000.0, None]
    df = pl.DataFrame({"x_from_call": x, "low_from_call": [1.0] * 12 + [None]})
    got = call_points(df).get_column("points").to_list()
    assert got == [-2, -2, 2, 2, 3, 5, 10, 10, 25, 50, 100, 100, None]
    ladder = PointsLadder.from_mapping({"1.5x": 1, 4: 7.5, "2": 3}, rug=-100, miss=-1)
    assert ladder.levels == ((1.5, 1.0), (2.0, 3.0), (4.0, 7.5))
    df = pl.DataFrame({"x_from_call": [1.2, 1.5, 3.9, 4.0, 9.0], "low_from_call": [1.0, 1.0, 0.01, 1.0, 1.0]})
    out = call_points(df, points=ladder)
    assert out.get_column("points").to_list() == [-1, 1, -100, 7.5, 7.5]
    assert out.get_column("rug").to_list() == [False, False, True, False, False]


@pytest.mark.parametrize("levels", [(), ((2.0, 2.0), (2.0, 3.0)), ((3.0, 1.0), (2.0, 1.0)), ((1.0, 1.0),),
                                    ((0.5, 1.0),), ((float("inf"), 1.0),), ((2.0, float("nan")),)])
def test_points_ladder_is_validated(levels):
    with pytest.raises(ValueError):
        PointsLadder(levels)


def test_bad_parameters():
    with pytest.raises(ValueError):
        PointsLadder.from_mapping({"two": 2})
    a = boards_frame([call("u", END, 2.0)])
    with pytest.raises(ValueError):
        caller_boards(a, windows=("7d", "week"))
    with pytest.raises(ValueError):
        caller_boards(a, windows=("7d", "7d"))
    with pytest.raises(ValueError):
        caller_boards(a, rug_level=1.0)
    with pytest.raises(ValueError):
        caller_boards(a, min_calls=0)


# -- boards ------------------------------------------------------------------------------------------------

_SCHEMA = pl.from_arrow(TOKEN_ANALYTICS.empty()).schema
_seq = iter(range(10**9))


def call(caller, day, x, *, low=1.0, chat="c1", ath=None, ttp=60, repeat=False, status="ok", token=None,
         name=None) -> dict:
    """A token_analytics row with the figures the boards read."""
    i = next(_seq)
    ath = (1.0 if x is None else x) if ath is None else ath
    hits = {f"time_to_{n}x_s": (600 if ath >= float(n.replace("_", ".")) else None) for n in ("2", "5", "10")}
    return {"day": day, "chat_id": chat, "message_id": i, "caller_id": caller, "caller_name": name or caller,
            "chain": "solana", "address": token or f"t{i}", "call_ts": dt.datetime.combine(day, dt.time(12), dt.UTC)
            + dt.timedelta(seconds=i), "first_call": True, "repeat": repeat, "status": status, "entry_price": 1.0,
            "ath_multiple": ath, **hits, "drawdown_before_2x": -0.2, "window_complete": True, "candles": 10,
            "call_price": 1.0, "call_price_source": "entry", "x_from_call": x, "time_to_peak_s": ttp,
            "low_from_call": low}


def boards_frame(rows: list[dict]) -> pl.DataFrame:
    df = pl.DataFrame(rows, infer_schema_length=None)
    missing = [pl.lit(None, _SCHEMA[c]).alias(c) for c in _SCHEMA if c not in df.columns]
    return df.with_columns(missing).select(_SCHEMA.names()).cast(dict(_SCHEMA))


def one_board(board: pl.DataFrame, window: str, scope: str = "all") -> pl.DataFrame:
    return board.filter((pl.col("window") == window) & (pl.col("scope") == scope))


def test_worked_example_board():
    xs = [(5.0, 1.0), (2.2, 0.075), (1.5, 0.8), (12.0, 0.5), (3.0, 1.0)]
    a = boards_frame([call("u1", END - dt.timedelta(days=i), x, low=lo, ttp=60 * (i + 1))
                      for i, (x, lo) in enumerate(xs)])
    board = caller_boards(a)
    assert board.columns == CALLER_BOARDS.columns
    CALLER_BOARDS.conform(board.to_arrow())
    r = one_board(board, "7d").row(0, named=True)
    assert (r["calls"], r["tokens"], r["rank"], r["chat_id"]) == (5, 5, 1, None)
    assert r["mean_x"] == pytest.approx(4.74) and r["median_x"] == 3.0
    assert (r["hit_rate_2x"], r["hit_rate_5x"], r["hit_rate_10x"]) == pytest.approx((0.8, 0.4, 0.2))
    assert (r["rugs"], r["rug_rate"], r["points"], r["points_per_call"]) == (1, 0.2, -9.0, -1.8)
    assert r["median_time_to_peak_s"] == 180.0
    assert caller_boards(a, min_x=3.5).height == 0  # a median X of 3.0 is below it
    spans = {w: (s, e) for w, s, e in board_list(a).filter(pl.col("scope") == "all")
             .select("window", "start_day", "end_day").iter_rows()}
    assert spans["7d"] == (dt.date(2025, 3, 25), END) and spans["30d"] == (dt.date(2025, 3, 2), END)
    assert spans["90d"] == (dt.date(2025, 1, 1), END) and spans["all"] == (END - dt.timedelta(days=4), END)


def test_the_score_is_the_caller_boards_over_the_same_calls():
    rows = [call("u1", END - dt.timedelta(days=i), x) for i, x in enumerate([5, 1.2, 2.5, 0.7, 3, 11, 1.1])]
    rows += [call("u2", END - dt.timedelta(days=i), x) for i, x in enumerate([2, 2.1, 1.9, 2.2, 1.4, 2.6])]
    rows += [call("u2", END, 50.0, repeat=True), call("u2", END, 50.0, status="no_entry")]
    a = boards_frame(rows)
    got = one_board(caller_boards(a, windows=("all",)), "all")
    want = caller_leaderboard(a, min_calls=5)
    assert got.select("caller_id", "rank", "calls", "score").rows() == want.select(
        "caller_id", "rank", "calls", "score").rows()


def test_windows_count_trailing_call_days():
    a = boards_frame([call("u", END - dt.timedelta(days=i), 2.0) for i in range(40)]
                     + [call("u", END - dt.timedelta(days=6), 2.0, chat="c2")])
    board = caller_boards(a, min_calls=1)
    calls_of = dict(one_board(board, w).select("window", "calls").row(0) for w in ("7d", "30d", "90d", "all"))
    assert calls_of == {"7d": 8, "30d": 31, "90d": 41, "all": 41}  # 7d: the latest day and the 6 before
    assert one_board(caller_boards(a, windows=("1d",), min_calls=1), "1d").get_column("calls").item() == 1
    # every board of a window ends on the latest day, for every chat: a quiet chat's 7d board is empty
    quiet = boards_frame([call("u", END, 2.0), call("v", END - dt.timedelta(days=20), 2.0, chat="c2")])
    board = caller_boards(quiet, min_calls=1)
    assert one_board(board, "7d", "c2").height == 0 and one_board(board, "30d", "c2").height == 1
    assert board_list(quiet).filter(pl.col("window") == "7d").get_column("scope").to_list() == ["all", "c1", "c2"]


def test_per_chat_scopes():
    rows = [call("u", END, 3.0, chat="c1") for _ in range(3)] + [call("u", END, 1.5, chat="c2") for _ in range(2)]
    rows += [call("v", END, 6.0, chat="c2") for _ in range(2)]
    board = caller_boards(boards_frame(rows), windows=("all",), min_calls=2)
    # v's two 6x calls outscore u's five (3 of them 3x) on every board they share
    assert board.select("scope", "chat_id", "caller_id", "calls", "rank").rows() == [
        ("all", None, "v", 2, 1), ("all", None, "u", 5, 2),
        ("c1", "c1", "u", 3, 1),
        ("c2", "c2", "v", 2, 1), ("c2", "c2", "u", 2, 2),
    ]
    for _, b in board.group_by("window", "scope"):  # ranks are per board
        assert b.sort("rank").get_column("score").is_sorted(descending=True)
    assert one_board(board, "all", "c2").filter(pl.col("caller_id") == "u").get_column("median_x").item() == 1.5


def test_filters_leave_callers_off_and_ranks_count_the_callers_shown():
    rows = [call("big", END, x) for x in (1.1, 1.2, 1.3, 1.4, 1.5, 1.6)]
    rows += [call("good", END, x) for x in (3, 4, 5, 6, 7)]
    rows += [call("few", END, x) for x in (40, 50)]
    rows += [call("skip", END, 9.0, repeat=True) for _ in range(6)] + [call(None, END, 9.0) for _ in range(6)]
    a = boards_frame(rows + [call("nox", END, None) for _ in range(6)])
    board = one_board(caller_boards(a, windows=("all",)), "all")
    assert board.select("caller_id", "rank").rows() == [("good", 1), ("big", 2)]
    board = one_board(caller_boards(a, windows=("all",), min_x=2.0), "all")
    assert board.select("caller_id", "rank").rows() == [("good", 1)]
    board = one_board(caller_boards(a, windows=("all",), min_calls=2), "all")
    assert board.get_column("caller_id").to_list() == ["good", "few", "big"]


def test_caller_name_tokens_and_empty_input():
    rows = [call("u", END, 2.0, token="same", name="Old"), call("u", END, 2.0, token="same", name="New"),
            call("u", END, 2.0) | {"caller_name": None}]
    r = caller_boards(boards_frame(rows), windows=("all",), min_calls=1).row(0, named=True)
    assert (r["caller_name"], r["tokens"], r["calls"]) == ("New", 2, 3)  # the last name used, by call time
    empty = caller_boards(boards_frame(rows).head(0))
    assert empty.height == 0 and empty.columns == CALLER_BOARDS.columns
    assert board_list(boards_frame(rows).head(0)).height == 0
    only_misses = caller_boards(boards_frame([call("u", END, None)]))
    assert only_misses.height == 0


# -- against a plain reading -------------------------------------------------------------------------------


def _reference(rows: list[dict], windows, min_calls, min_x, rug_level, ladder: PointsLadder) -> list[tuple]:
    """The board figures, read from the rules with loops over rows."""
    days = [r["day"] for r in rows]
    first, end = min(days), max(days)
    counted = [r for r in rows if r["status"] == "ok" and r["caller_id"] is not None and not r["repeat"]
               and r["x_from_call"] is not None]
    chats = sorted({r["chat_id"] for r in counted})

    def points(x, rug):
        if rug:
            return ladder.rug
        reached = [p for level, p in ladder.levels if x >= level]
        return reached[-1] if reached else ladder.miss

    out = []
    for w in windows:
        start = first if w == "all" else end - dt.timedelta(days=int(w[:-1]) - 1)
        for scope in ["all", *chats]:
            by_caller: dict[str, list[dict]] = {}
            for r in sorted(counted, key=lambda r: r["call_ts"]):
                if start <= r["day"] <= end and scope in ("all", r["chat_id"]):
                    by_caller.setdefault(r["caller_id"], []).append(r)
            lines = []
            for caller, rs in by_caller.items():
                n = len(rs)
                xs = [r["x_from_call"] for r in rs]
                rugs = [r["low_from_call"] <= rug_level for r in rs]
                pts = [points(x, rug) for x, rug in zip(xs, rugs, strict=True)]
                if n < min_calls or statistics.median(xs) < min_x:
                    continue
                h2 = sum(r["time_to_2x_s"] is not None for r in rs)
                z, p = 1.645, h2 / n
                wilson = (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
                med_ath = statistics.median(r["ath_multiple"] for r in rs)
                score = wilson + n / (n + 10) * math.log(max(min(med_ath, 10.0), 1e-12)) / math.log(10)
                names = [r["caller_name"] for r in rs if r["caller_name"] is not None]
                lines.append([w, scope, None if scope == "all" else scope, start, end, caller,
                              names[-1] if names else None, n, len({(r["chain"], r["address"]) for r in rs}),
                              sum(xs) / n, statistics.median(xs), *(sum(x >= lv for x in xs) / n for lv in (2, 5, 10)),
                              sum(rugs), sum(rugs) / n, sum(pts), sum(pts) / n,
                              statistics.median(r["time_to_peak_s"] for r in rs), score])
            lines.sort(key=lambda line: (-line[-1], -line[7], line[5]))
            out += [(*line[:5], i + 1, *line[5:]) for i, line in enumerate(lines)]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_boards_match_a_plain_reading_on_random_frames(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(int(rng.integers(30, 400))):
        x = float(np.round(np.exp(rng.normal(0.3, 1.2)), 2))
        rows.append(call(
            rng.choice(["u1", "u2", "u3", "u4", "u5", "u6"]) if rng.random() > 0.05 else None,
            END - dt.timedelta(days=int(rng.integers(0, 150))),
            x if rng.random() > 0.05 else None,
            low=float(np.round(rng.uniform(0.02, 1.0), 2)), chat=str(rng.choice(["c1", "c2", "name:Chat 3"])),
            ath=float(np.round(x * rng.uniform(0.5, 2.0), 2)) if x else 1.0, ttp=int(rng.integers(0, 86400)),
            repeat=bool(rng.random() < 0.1), status="ok" if rng.random() > 0.1 else "no_entry",
            token=f"t{int(rng.integers(0, 60))}", name=str(rng.choice(["A", "B"])) if rng.random() > 0.2 else None))
    windows = ("7d", "30d", "90d", "all") if seed % 2 else ("3d", "all", "14d")
    min_calls, min_x, rug_level = int(rng.integers(1, 6)), float(rng.choice([0.0, 1.0, 1.8])), 0.1 + 0.1 * (seed % 3)
    ladder = PointsLadder() if seed % 3 else PointsLadder(((1.5, 1.0), (4.0, 6.0), (20.0, 30.0)), rug=-9, miss=-0.5)
    got = caller_boards(boards_frame(rows), windows=windows, min_calls=min_calls, min_x=min_x, rug_level=rug_level,
                        points=ladder)
    want = _reference(rows, windows, min_calls, min_x, rug_level, ladder)
    assert got.height == len(want) and got.height > 0
    for g, w in zip(got.rows(), want, strict=True):
        assert g[:10] == w[:10]  # board, window days, rank, caller, name, calls, tokens
        assert g[10:] == pytest.approx(w[10:], rel=1e-9, abs=1e-12)
