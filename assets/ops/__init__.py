"""Operations: failed runs recorded (run_failures) and alerted; the follow-through sensor that takes each wave
from one stage to the next, and the wave's jobs."""

from dagster import Definitions

from assets.ops.alerts import run_failure_alerts, run_failures
from assets.waves import call_days_job, follow_through_sensor, simulation_job, validation_job
from resources.settings import Settings


def defs(settings: Settings) -> Definitions:
    return Definitions(assets=[run_failures], jobs=[call_days_job, simulation_job, validation_job],
                       sensors=[run_failure_alerts, follow_through_sensor(settings)])
