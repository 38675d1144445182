from assets.ops.alerts import run_failure_alerts
from assets.ops.schedules import refresh_incomplete_windows

__all__ = ["refresh_incomplete_windows", "run_failure_alerts"]
