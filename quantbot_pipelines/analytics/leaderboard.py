"""Caller and token leaderboards over token_analytics rows (docs/semantics.md,
"Rollups": leaderboards rank by a confidence-adjusted figure so one lucky call cannot top the board).

Caller score, over a caller's n non-repeat calls with status ok (repeats too if include_repeats):

    score = wilson_lower(h2, n, z=1.645) + n / (n + 10) * ln(min(median_ath_multiple, 10)) / ln(10)

- wilson_lower: lower bound of the one-sided 95% Wilson interval of the 2x hit rate (h2 = calls whose
  time_to_2x_s is set): p_lo = (p + z^2/2n - z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), p = h2/n;
- the median ATH multiple, capped at 10x (so a single 1,000x token adds no more than a steady 10x caller),
  on a log scale where 10x = 1, shrunk towards 1x (= 0) with the weight of 10 pseudo-calls.
Both terms grow with evidence: 1 call at 1,000x scores ~0.36; 10 calls with 6 hits and a 2.2x median ~0.52.
Callers with fewer than min_calls calls are listed with rank null. Ties: more calls first, then caller_id.
"""

from __future__ import annotations

import math

import polars as pl

from quantbot_pipelines.schemas import CALLER_LEADERBOARD, TOKEN_LEADERBOARD

WILSON_Z = 1.645
SHRINK_CALLS = 10.0
ATH_CAP = 10.0


def wilson_lower(hits: pl.Expr, n: pl.Expr, z: float = WILSON_Z) -> pl.Expr:
    p = hits / n
    z2 = z * z
    return (p + z2 / (2 * n) - z * (p * (1 - p) / n + z2 / (4 * n * n)).sqrt()) / (1 + z2 / n)


def _schema(spec) -> dict:
    return dict(pl.from_arrow(spec.empty()).schema)


def caller_leaderboard(
    analytics: pl.DataFrame, *, min_calls: int = 5, include_repeats: bool = False
) -> pl.DataFrame:
    schema = _schema(CALLER_LEADERBOARD)
    a = analytics.filter((pl.col("status") == "ok") & pl.col("caller_id").is_not_null())
    if not include_repeats:
        a = a.filter(~pl.col("repeat").fill_null(False))
    if a.height == 0:
        return pl.DataFrame(schema=schema)
    n = pl.len().cast(pl.Float64)
    h2 = pl.col("time_to_2x_s").is_not_null().sum()
    board = (
        a.sort("call_ts")
        .group_by("caller_id")
        .agg(
            pl.col("caller_name").drop_nulls().last().alias("caller_name"),
            pl.len().alias("calls"),
            pl.struct("chain", "address").n_unique().alias("tokens"),
            (h2 / n).alias("hit_rate_2x"),
            (pl.col("time_to_5x_s").is_not_null().sum() / n).alias("hit_rate_5x"),
            (pl.col("time_to_10x_s").is_not_null().sum() / n).alias("hit_rate_10x"),
            pl.col("ath_multiple").median().alias("median_ath_multiple"),
            pl.col("ath_multiple").mean().alias("mean_ath_multiple"),
            pl.col("time_to_2x_s").drop_nulls().cast(pl.Float64).median().alias("median_time_to_2x_s"),
            pl.col("drawdown_before_2x").median().alias("median_drawdown_before_2x"),
            wilson_lower(h2, n).alias("_wilson"),
        )
    )
    nc = pl.col("calls").cast(pl.Float64)
    capped = pl.min_horizontal(pl.col("median_ath_multiple"), pl.lit(ATH_CAP)).clip(lower_bound=1e-12)
    board = board.with_columns(
        (pl.col("_wilson") + nc / (nc + SHRINK_CALLS) * capped.log() / math.log(ATH_CAP)).alias("score")
    )
    board = board.sort(["score", "calls", "caller_id"], descending=[True, True, False], nulls_last=True)
    eligible = pl.col("calls") >= min_calls
    board = board.with_columns(
        pl.when(eligible).then(eligible.cast(pl.Int64).cum_sum()).otherwise(None).alias("rank")
    )
    board = board.sort(
        pl.col("rank").is_null(), "rank", pl.col("score"), descending=[False, False, True], nulls_last=True
    )
    return board.select(list(schema)).cast(schema)


def token_leaderboard(analytics: pl.DataFrame) -> pl.DataFrame:
    """One row per token; figures from its first call (earliest call_ts; first_call flag breaks ties)."""
    schema = _schema(TOKEN_LEADERBOARD)
    if analytics.height == 0:
        return pl.DataFrame(schema=schema)
    a = analytics.sort(["call_ts", pl.col("first_call").fill_null(False).not_(), "chat_id", "message_id"])
    board = a.group_by(["chain", "address"], maintain_order=True).agg(
        pl.col("card_ticker").drop_nulls().first().alias("ticker"),
        pl.len().alias("calls"),
        pl.col("caller_id").n_unique().alias("callers"),
        pl.col("call_ts").first().alias("first_call_ts"),
        pl.col("caller_name").first().alias("first_caller_name"),
        pl.col("ath_multiple").first(),
        pl.col("time_to_2x_s").first(),
        pl.col("min_multiple").first(),
        pl.col("end_multiple").first(),
    )
    board = board.sort(["ath_multiple", "first_call_ts"], descending=[True, False], nulls_last=True)
    has = pl.col("ath_multiple").is_not_null()
    board = board.with_columns(pl.when(has).then(has.cast(pl.Int64).cum_sum()).otherwise(None).alias("rank"))
    return board.select(list(schema)).cast(schema)

