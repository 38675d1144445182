"""Picked up by dagster-celery's worker app (`celery -A dagster_celery.app worker`) when on PYTHONPATH (with the
repo root: the broker settings are read where every other setting is)."""

from resources.settings import Settings

_settings = Settings.from_env()
broker_url = _settings.celery_broker
result_backend = _settings.celery_backend
worker_prefetch_multiplier = 1  # steps are long; do not let one worker hoard them
