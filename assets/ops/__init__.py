"""Operations: failed runs recorded (run_failures) and alerted; the automation sensor over every stage."""

from dagster import Definitions

from assets.automation import automation_sensor
from assets.ops.alerts import run_failure_alerts, run_failures
from resources.settings import Settings


def defs(settings: Settings) -> Definitions:
    return Definitions(assets=[run_failures], sensors=[run_failure_alerts, automation_sensor(settings)])
