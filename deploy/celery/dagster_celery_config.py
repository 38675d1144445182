"""Picked up by dagster-celery's worker app (`celery -A dagster_celery.app worker`) when on PYTHONPATH (with the
repo root: the broker settings are read where every other setting is)."""

from resources.settings import celery_urls

# the URLs as given (passwords included: Celery needs them); this is Celery's configuration, not Dagster's
broker_url, result_backend = celery_urls()
worker_prefetch_multiplier = 1  # steps are long; do not let one worker hoard them
