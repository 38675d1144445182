"""The telegram stage: exports in the inbox -> staged calls and quarantine -> calls by UTC day."""

from dagster import Definitions

from assets.partitions import CallDays
from assets.telegram.assets import telegram_calls, telegram_exports
from assets.telegram.sensors import calls_job, stage_export_job, telegram_inbox_sensor
from resources.settings import Settings


def defs(settings: Settings, days: CallDays) -> Definitions:
    return Definitions(assets=[telegram_exports, telegram_calls(days.days)],
                       jobs=[stage_export_job, calls_job], sensors=[telegram_inbox_sensor(settings)])
