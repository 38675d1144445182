"""Analytics: aggregated intervals, per-call token analytics, leaderboards and check helpers.

Definitions: docs/semantics.md.
"""

from quantbot_pipelines.analytics.aggregate import aggregate_candles, interval_seconds
from quantbot_pipelines.analytics.checks import calls_with_candles, candle_problems, rollup_mismatches
from quantbot_pipelines.analytics.leaderboard import (
    caller_leaderboard,
    caller_leaderboard_markdown,
    token_leaderboard,
)
from quantbot_pipelines.analytics.metrics import LEVELS, path_metrics, token_analytics
from quantbot_pipelines.analytics.plots import ath_distribution_plot

__all__ = [
    "LEVELS",
    "aggregate_candles",
    "ath_distribution_plot",
    "caller_leaderboard",
    "caller_leaderboard_markdown",
    "calls_with_candles",
    "candle_problems",
    "interval_seconds",
    "path_metrics",
    "rollup_mismatches",
    "token_analytics",
    "token_leaderboard",
]
