"""The code location with the Celery executor (dagster-celery): each step of a run is a Celery task, picked up
by workers on any machine that shares the broker, the Dagster instance (Postgres) and the warehouse.

    workspace: python_file: deploy/celery/celery_definitions.py (working_directory: the repo root)
    workers:   PYTHONPATH=.:deploy/celery celery -A dagster_celery.app worker -Q dagster

Broker and result backend come from QUANTBOT_CELERY_BROKER / QUANTBOT_CELERY_BACKEND (resources/settings.py;
defaults: the local RabbitMQ and Celery's rpc:// backend); workers read the same through dagster_celery_config.py.
A URL with a password in it is given to the executor as {"env": <variable>}: Dagster resolves it when the run
starts, and its storage (where executor config and job snapshots are kept) holds only the variable's name.
"""

import dagster as dg
from dagster_celery import celery_executor

from assets import build_definitions
from resources.settings import Settings


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    executor = celery_executor.configured({
        "broker": settings.executor_value("QUANTBOT_CELERY_BROKER", settings.celery_broker),
        "backend": settings.executor_value("QUANTBOT_CELERY_BACKEND", settings.celery_backend),
    })
    # the day-partitioned stages as one job: a day range becomes one run whose steps run on the workers
    day_pipeline = dg.define_asset_job(
        "day_pipeline", selection=["telegram_calls", "raw_candles", "candle_ledger", "token_analytics"],
        executor_def=executor)
    # the same assets, checks, sensors and resources as the embedded location, with Celery as the executor
    return dg.Definitions.merge(build_definitions(settings, executor=executor), dg.Definitions(jobs=[day_pipeline]))


def day_pipeline_job():
    """Entry point for dagster.reconstructable: workers rebuild the job by importing this module."""
    return defs().resolve_job_def("day_pipeline")
