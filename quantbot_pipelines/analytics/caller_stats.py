"""Caller stats as Telegram users quote them, from the price at the call (docs/semantics.md#caller-stats).

Per call (token_analytics columns): call_price, x_from_call = window peak / call price, low_from_call (the
low before 2x from the call, / call price). Here:
- a rug: low_from_call <= rug_level (default 0.10: down 90 % before 2x from the call);
- points from a ladder: a rug scores `rug`, x below the lowest level `miss`, else the highest level reached;
- boards per (window, scope, caller): trailing windows of call days ending at the latest call day (7d = that
  day and the 6 before, `all` every day), for all chats together (scope `all`) and for each chat alone
  (scope = chat_id); the counted calls are those of the caller board (status ok, a caller id, not a repeat)
  with x_from_call set. Beside the users' figures: the caller board's score over the same calls, and a rank
  by it among the callers shown (at least min_calls calls and a median X of at least min_x).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from quantbot_pipelines.analytics.leaderboard import caller_leaderboard
from quantbot_pipelines.schemas import CALLER_BOARDS

ALL = "all"  # the window of every day, and the scope of every chat
DEFAULT_WINDOWS = ("7d", "30d", "90d", ALL)
DEFAULT_RUG_LEVEL = 0.10
HIT_LEVELS = (2.0, 5.0, 10.0)
_WINDOW = re.compile(r"^([1-9][0-9]*)d$")
_SEP = "\x1f"  # joins window, scope and caller id into one key for the caller board's score


@dataclass(frozen=True)
class PointsLadder:
    """Points of a call: `rug` for a rug, `miss` below the lowest level, else the points of the highest level
    reached (`levels`: (multiple from the call, points), ascending, every multiple above 1)."""

    levels: tuple[tuple[float, float], ...] = (
        (2.0, 2.0), (3.0, 3.0), (5.0, 5.0), (10.0, 10.0), (25.0, 25.0), (50.0, 50.0), (100.0, 100.0))
    rug: float = -25.0
    miss: float = -2.0

    def __post_init__(self):
        levels = tuple((float(x), float(p)) for x, p in self.levels)
        if not levels:
            raise ValueError("a points ladder needs at least one level")
        xs = [x for x, _ in levels]
        if not all(math.isfinite(x) and x > 1 for x in xs):
            raise ValueError(f"ladder levels must be finite multiples above 1, got {xs}")
        if any(b <= a for a, b in itertools.pairwise(xs)):
            raise ValueError(f"ladder levels must ascend, got {xs}")
        if not all(math.isfinite(p) for p in [*(p for _, p in levels), self.rug, self.miss]):
            raise ValueError("ladder points must be finite numbers")
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "rug", float(self.rug))
        object.__setattr__(self, "miss", float(self.miss))

    @classmethod
    def from_mapping(cls, levels: Mapping, *, rug: float = -25.0, miss: float = -2.0) -> PointsLadder:
        """From {level: points}; a level may be written 2, 2.0, "2" or "2x" (any order)."""

        def multiple(key) -> float:
            text = str(key).strip().lower().removesuffix("x")
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"ladder level {key!r} is not a multiple such as 2 or 2x") from None

        return cls(tuple(sorted((multiple(k), float(v)) for k, v in levels.items())), rug=rug, miss=miss)

    def expr(self, x: pl.Expr, rug: pl.Expr) -> pl.Expr:
        """Points of each call from its X from the call and its rug flag (null where x is null)."""
        out = pl.when(x.is_null()).then(None).when(rug).then(pl.lit(self.rug))
        for level, points in reversed(self.levels):
            out = out.when(x >= level).then(pl.lit(points))
        return out.otherwise(pl.lit(self.miss)).cast(pl.Float64)


def _check_rug_level(rug_level: float) -> None:
    if not 0 <= rug_level < 1:
        raise ValueError(f"rug_level must be in [0, 1), got {rug_level}")


def call_points(
    analytics: pl.DataFrame, *, rug_level: float = DEFAULT_RUG_LEVEL, points: PointsLadder = PointsLadder()
) -> pl.DataFrame:
    """token_analytics rows with `rug` (low_from_call <= rug_level) and `points` (the ladder's) added; both
    null where x_from_call is null."""
    _check_rug_level(rug_level)
    x = pl.col("x_from_call")
    rug = pl.when(x.is_not_null()).then(pl.col("low_from_call").fill_null(1.0) <= rug_level)
    return analytics.with_columns(rug.alias("rug")).with_columns(points.expr(x, pl.col("rug")).alias("points"))


def _window_days(window: str) -> int | None:
    if window == ALL:
        return None
    m = _WINDOW.match(window)
    if m is None:
        raise ValueError(f"a window is <N>d (7d, 30d, ...) or {ALL!r}, got {window!r}")
    return int(m.group(1))


def _days(analytics: pl.DataFrame) -> pl.Series:
    if "day" in analytics.columns:
        return analytics.get_column("day")
    return analytics.get_column("call_ts").dt.date()


def counted_calls(analytics: pl.DataFrame) -> pl.DataFrame:
    """The calls the boards count: the caller board's (status ok, a caller id, not a repeat) with
    x_from_call set."""
    return analytics.filter(
        (pl.col("status") == "ok")
        & pl.col("caller_id").is_not_null()
        & ~pl.col("repeat").fill_null(False)
        & pl.col("x_from_call").is_not_null()
    )


def board_list(analytics: pl.DataFrame, *, windows: Sequence[str] = DEFAULT_WINDOWS) -> pl.DataFrame:
    """Every board (window, scope, chat_id, start_day, end_day), in board order: each window with scope
    `all`, then one scope per chat with counted calls (sorted by chat id). Empty without rows."""
    schema = {"window": pl.String, "scope": pl.String, "chat_id": pl.String, "start_day": pl.Date,
              "end_day": pl.Date}
    spans = [_window_days(w) for w in windows]
    if len(set(windows)) != len(windows):
        raise ValueError(f"windows repeat: {list(windows)}")
    if analytics.height == 0:
        return pl.DataFrame(schema=schema)
    days = _days(analytics)
    first, end = days.min(), days.max()
    chats = sorted(counted_calls(analytics).get_column("chat_id").unique().to_list())
    rows = []
    for w, n in zip(windows, spans, strict=True):
        start = first if n is None else end - dt.timedelta(days=n - 1)
        rows += [(w, ALL, None, start, end)] + [(w, c, c, start, end) for c in chats]
    return pl.DataFrame(rows, schema=schema, orient="row")


def caller_boards(
    analytics: pl.DataFrame,
    *,
    windows: Sequence[str] = DEFAULT_WINDOWS,
    min_calls: int = 5,
    min_x: float = 0.0,
    rug_level: float = DEFAULT_RUG_LEVEL,
    points: PointsLadder = PointsLadder(),
) -> pl.DataFrame:
    """CALLER_BOARDS rows from token_analytics rows: per board (window x scope, see board_list) the callers
    with at least `min_calls` counted calls and a median X of at least `min_x`, best score first."""
    schema = dict(pl.from_arrow(CALLER_BOARDS.empty()).schema)
    if min_calls < 1:
        raise ValueError(f"min_calls must be at least 1, got {min_calls}")
    if not min_x >= 0:
        raise ValueError(f"min_x must be a number >= 0, got {min_x}")
    boards = board_list(analytics, windows=windows)
    _check_rug_level(rug_level)
    if boards.height == 0:
        return pl.DataFrame(schema=schema)
    calls = call_points(counted_calls(analytics), rug_level=rug_level, points=points)
    if calls.height == 0:
        return pl.DataFrame(schema=schema)
    on_board = _on_board(calls.with_columns(_days(calls).alias("_day")), boards)
    keys = ["window", "scope", "caller_id"]
    n = pl.len().cast(pl.Float64)
    x = pl.col("x_from_call")
    board = (
        on_board.sort("call_ts")
        .group_by(keys)
        .agg(
            pl.col("chat_id").first(),
            pl.col("start_day").first(),
            pl.col("end_day").first(),
            pl.col("caller_name").drop_nulls().last(),
            pl.len().alias("calls"),
            pl.struct("chain", "address").n_unique().alias("tokens"),
            x.mean().alias("mean_x"),
            x.median().alias("median_x"),
            *((x >= level).sum().truediv(n).alias(f"hit_rate_{level:g}x") for level in HIT_LEVELS),
            pl.col("rug").sum().alias("rugs"),
            pl.col("points").sum().alias("points"),
            pl.col("time_to_peak_s").cast(pl.Float64).median().alias("median_time_to_peak_s"),
        )
        .with_columns(
            (pl.col("rugs") / pl.col("calls")).alias("rug_rate"),
            (pl.col("points") / pl.col("calls")).alias("points_per_call"),
        )
        .filter((pl.col("calls") >= min_calls) & (pl.col("median_x") >= min_x))
    )
    board = board.join(_scores(on_board), on=keys, how="left")
    board = board.sort(["score", "calls", "caller_id"], descending=[True, True, False], nulls_last=True)
    board = board.with_columns(pl.int_range(1, pl.len() + 1).over(["window", "scope"]).alias("rank"))
    order = boards.select("window", "scope").with_row_index("_board")
    board = board.join(order, on=["window", "scope"], how="left").sort("_board", "rank")
    return board.select(list(schema)).cast(schema)


def _on_board(calls: pl.DataFrame, boards: pl.DataFrame) -> pl.DataFrame:
    """Each call once per board it falls on: its window's days, scope `all` and its own chat."""
    parts = []
    for (window,), spans in boards.group_by("window", maintain_order=True):
        start, end = spans.get_column("start_day")[0], spans.get_column("end_day")[0]
        inside = calls.filter(pl.col("_day").is_between(start, end)).with_columns(
            pl.lit(window).alias("window"), pl.lit(start).alias("start_day"), pl.lit(end).alias("end_day"))
        parts.append(inside.with_columns(pl.lit(ALL).alias("scope"), pl.lit(None, pl.String).alias("chat_id")))
        parts.append(inside.with_columns(pl.col("chat_id").alias("scope")))
    return pl.concat(parts, how="vertical_relaxed")


def _scores(on_board: pl.DataFrame) -> pl.DataFrame:
    """The caller board's score per (window, scope, caller), computed by the caller board itself over each
    board's calls (one caller id per board and caller)."""
    keyed = on_board.with_columns(
        pl.concat_str([pl.col("window"), pl.col("scope"), pl.col("caller_id")], separator=_SEP).alias("caller_id")
    )
    scored = caller_leaderboard(keyed, min_calls=1)
    parts = scored.get_column("caller_id").str.splitn(_SEP, 3).struct.rename_fields(["window", "scope", "caller_id"])
    return pl.DataFrame(parts).unnest("caller_id").with_columns(scored.get_column("score"))
