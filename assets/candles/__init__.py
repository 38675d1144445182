"""The candles stage: candles around every call and the coverage ledger, their checks, the daily refresh."""

from dagster import Definitions

from assets.candles.assets import raw_candles
from assets.candles.checks import candle_coverage, candles_consistent
from assets.candles.schedules import refresh_incomplete_windows
from assets.partitions import CallDays
from resources.settings import Settings


def defs(settings: Settings, days: CallDays) -> Definitions:
    return Definitions(assets=[raw_candles(days.days)],
                       asset_checks=[candles_consistent(days.days), candle_coverage(days.days, settings.min_coverage)],
                       schedules=[refresh_incomplete_windows])
