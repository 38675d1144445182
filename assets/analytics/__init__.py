"""The analytics stage: aggregated intervals, per-call token analytics, caller and token leaderboards."""

from dagster import Definitions

from assets.analytics.assets import aggregated_candles, caller_leaderboard, token_analytics, token_leaderboard
from assets.analytics.checks import aggregates_match_raw
from assets.partitions import CallDays
from resources.settings import Settings


def defs(settings: Settings, days: CallDays) -> Definitions:
    return Definitions(
        assets=[*(aggregated_candles(days.days, i) for i in settings.intervals), token_analytics(days.days),
                caller_leaderboard, token_leaderboard],
        asset_checks=[aggregates_match_raw(days.days, i) for i in settings.intervals],
    )
