"""The analytics stage: aggregated intervals (with their checks), per-call token analytics, caller and token
leaderboards, and the caller boards by window and chat (with their CSV downloads)."""

from dagster import Definitions

from assets.analytics.assets import (
    aggregated_candles,
    caller_boards,
    caller_leaderboard,
    token_analytics,
    token_leaderboard,
)
from assets.partitions import CallDays
from resources.settings import Settings


def defs(settings: Settings, days: CallDays) -> Definitions:
    return Definitions(
        assets=[aggregated_candles(days.days, tuple(settings.intervals)), token_analytics(days.days),
                caller_leaderboard, caller_boards, token_leaderboard],
    )
