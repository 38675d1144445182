"""The thin Dagster layer: one folder per stage, each exposing `defs(...)`, merged by `build_definitions`.

Modules with Dagster-decorated functions do not use `from __future__ import annotations`: Dagster reads the
parameter annotations (AssetExecutionContext, Config classes) at definition time.
"""

from dagster import Definitions, ExecutorDefinition, in_process_executor

from assets import analytics, candles, ops, simulation, telegram, validation
from assets.dashboard_links import with_dashboard_links
from assets.partitions import CallDays
from resources import build_resources
from resources.settings import Settings


# one process per run, steps in sequence: a stage step is seconds of IO-bound work, while a process per step
# re-imports polars, numba and the code location (~3 s each); and chDB allows one process per data folder.
# Parallelism comes from concurrent runs (dagster.yaml) or the Celery location (deploy/celery).
def build_definitions(settings: Settings, resources: dict | None = None,
                      executor: ExecutorDefinition = in_process_executor) -> Definitions:
    """Every stage's definitions for these settings (the day partitions' start, the intervals, the sensors'
    pace and the resources all come from them), with `resources` in place of the configured ones if given."""
    days = CallDays.from_settings(settings)
    defs = Definitions.merge(
        telegram.defs(settings, days),
        candles.defs(settings, days),
        analytics.defs(settings, days),
        simulation.defs(settings, days),
        validation.defs(settings),
        ops.defs(settings),
        Definitions(
            resources=resources if resources is not None else build_resources(settings), executor=executor),
    )
    return with_dashboard_links(defs, settings.dashboard_url)
