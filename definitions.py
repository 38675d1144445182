"""The QuantBot code location: one Definitions object, loaded by workspace.yaml and [tool.dagster]."""

from dagster import Definitions, in_process_executor

from assets import analytics, candles, ops, simulation, telegram
from assets.automation import automation_sensor
from resources import build_resources

defs = Definitions(
    assets=[
        telegram.telegram_exports, telegram.telegram_calls,
        candles.raw_candles,
        *analytics.aggregated_candles, analytics.token_analytics,
        analytics.caller_leaderboard, analytics.token_leaderboard,
        simulation.simulation_results, simulation.strategy_leaderboard, simulation.caller_strategy_leaderboard,
    ],
    asset_checks=[analytics.candles_consistent, analytics.candle_coverage, *analytics.aggregates_match_raw],
    sensors=[telegram.telegram_inbox_sensor, simulation.strategies_sensor, ops.run_failure_alerts, automation_sensor],
    schedules=[ops.refresh_incomplete_windows],
    resources=build_resources(),
    # one process per run, steps in sequence: a stage step is seconds of IO-bound work, while a process per
    # step re-imports polars, numba and the code location (~3 s each); and chDB allows one process per data
    # folder. Parallelism comes from concurrent runs (dagster.yaml) or the Celery location (deploy/celery).
    executor=in_process_executor,
)
