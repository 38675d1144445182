"""Picked up by dagster-celery's worker app (`celery -A dagster_celery.app worker`) when on PYTHONPATH."""

import os

broker_url = os.environ.get("QUANTBOT_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//")
result_backend = os.environ.get("QUANTBOT_CELERY_BACKEND", "rpc://")
worker_prefetch_multiplier = 1  # steps are long; do not let one worker hoard them
