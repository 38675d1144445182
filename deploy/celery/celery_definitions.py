"""The code location with the Celery executor (dagster-celery): each step of a run is a Celery task, picked up
by workers on any machine that shares the broker, the Dagster instance (Postgres) and the warehouse.

    workspace: python_file: deploy/celery/celery_definitions.py (working_directory: the repo root)
    workers:   PYTHONPATH=.:deploy/celery celery -A dagster_celery.app worker -Q dagster

Broker and result backend come from QUANTBOT_CELERY_BROKER / QUANTBOT_CELERY_BACKEND (defaults: the local
RabbitMQ and Celery's rpc:// backend); workers read the same variables through dagster_celery_config.py.
"""

from __future__ import annotations

import os

from dagster import Definitions, define_asset_job
from dagster_celery import celery_executor

import definitions as base

executor = celery_executor.configured({
    "broker": os.environ.get("QUANTBOT_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//"),
    "backend": os.environ.get("QUANTBOT_CELERY_BACKEND", "rpc://"),
})

# the day-partitioned stages as one job: a day range becomes one run whose steps run on the workers
day_pipeline = define_asset_job("day_pipeline", selection=["telegram_calls", "raw_candles", "token_analytics"],
                                executor_def=executor)

# the same assets, checks, sensors and resources as the embedded location, with Celery as the executor
defs = Definitions(assets=base.defs.assets, asset_checks=base.defs.asset_checks, sensors=base.defs.sensors,
                   schedules=base.defs.schedules, resources=base.defs.resources, jobs=[day_pipeline],
                   executor=executor)


def day_pipeline_job():
    """Entry point for dagster.reconstructable: workers rebuild the job by importing this module."""
    return defs.resolve_job_def("day_pipeline")
