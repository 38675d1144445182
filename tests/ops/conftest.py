"""Real services the ops tests use: a throw-away database on the machine's PostgreSQL, a Dagster home on it."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg2
import pytest
import yaml

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_database():
    name = f"quantbot_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as exc:  # CI starts PostgreSQL in .ci/run; say so plainly if it is down
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield name
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def pg_home(tmp_path, pg_database) -> Path:
    """A DAGSTER_HOME whose dagster.yaml is deploy/dagster.postgres.yaml with this test's database filled in."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((REPO / "deploy" / "dagster.postgres.yaml").read_text())
    config["storage"]["postgres"]["postgres_db"] = {
        "hostname": PG["host"], "port": PG["port"], "username": PG["user"], "password": "",
        "db_name": pg_database, "scheme": "postgresql+psycopg2"}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home
