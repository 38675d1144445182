"""Analytics: aggregated intervals, per-call token analytics, leaderboards, caller stats and check helpers.

Definitions: docs/semantics.md.
"""

from quantbot_pipelines.analytics.aggregate import aggregate_candles
from quantbot_pipelines.analytics.caller_stats import (
    DEFAULT_WINDOWS,
    PointsLadder,
    board_list,
    call_points,
    caller_boards,
    counted_calls,
)
from quantbot_pipelines.analytics.checks import calls_with_candles, candle_problems, rollup_mismatches
from quantbot_pipelines.analytics.leaderboard import (
    caller_leaderboard,
    token_leaderboard,
)
from quantbot_pipelines.analytics.metrics import LEVELS, path_metrics, token_analytics

__all__ = [
    "DEFAULT_WINDOWS",
    "LEVELS",
    "PointsLadder",
    "aggregate_candles",
    "board_list",
    "call_points",
    "caller_boards",
    "caller_leaderboard",
    "calls_with_candles",
    "candle_problems",
    "counted_calls",
    "path_metrics",
    "rollup_mismatches",
    "token_analytics",
    "token_leaderboard",
]
