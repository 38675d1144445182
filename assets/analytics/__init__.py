from assets.analytics.assets import aggregated_candles, caller_leaderboard, token_analytics, token_leaderboard
from assets.analytics.checks import aggregates_match_raw, candle_coverage, candles_consistent

__all__ = ["aggregated_candles", "aggregates_match_raw", "caller_leaderboard", "candle_coverage",
           "candles_consistent", "token_analytics", "token_leaderboard"]
