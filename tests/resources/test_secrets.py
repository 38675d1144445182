"""No secret reaches Dagster's storage: every way of giving one (a password inside QUANTBOT_WAREHOUSE, the
password apart, Birdeye keys, the alert webhook and bot token, passwords in the Celery broker and backend URLs,
the Postgres password of deploy/dagster.postgres.yaml) set to a distinctive value, then real sensor ticks and
real runs on a real instance, then every row of every table of the instance's databases and every file under
its home read back - compressed blobs decompressed, base64 decoded, recursively - and searched for the values.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import importlib.util
import logging
import shutil
import socket
import sqlite3
import zlib
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
import yaml
from dagster import DagsterInstance

from tests.ops.conftest import PG, pg_database  # noqa: F401 - the fixture, for the Postgres-backed instance
from tests.support.recorder import Recorder

REPO = Path(__file__).resolve().parents[2]

# the secret parts; each also searched for URL-quoted (characters a URL must escape are in them on purpose)
WAREHOUSE_URL_PASSWORD = "Wh&Url=Pw!7f3a"
WAREHOUSE_PASSWORD = "Wh-Apart-Pw-51c2"
BIRDEYE_KEYS = ("bird-key-aa11e", "bird-key-bb22f")
WEBHOOK_TOKEN = "Hook-Tok-9e8d7"
TELEGRAM_TOKEN = "123456:Tg-Tok-c0ffee"
BROKER_PASSWORD = "Amqp&Pw=4d4d"
BACKEND_PASSWORD = "Redis-Pw-3c3c"
PG_PASSWORD = "Pg-Pw-8b8b8"
SECRET_VALUES = (WAREHOUSE_URL_PASSWORD, WAREHOUSE_PASSWORD, *BIRDEYE_KEYS, WEBHOOK_TOKEN, TELEGRAM_TOKEN,
                 BROKER_PASSWORD, BACKEND_PASSWORD, PG_PASSWORD)
NEEDLES = sorted({form for s in SECRET_VALUES for form in (s, quote(s, safe=""), quote(s))})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections to it are refused


def _environment(root: Path, webhook_base: str) -> dict[str, str]:
    from quantbot_pipelines.sample import write_sample_inbox

    write_sample_inbox(root / "sample")
    (root / "inbox").mkdir(parents=True)
    shutil.copytree(REPO / "strategies", root / "strategies")
    return {
        "QUANTBOT_DATA_DIR": str(root),
        "QUANTBOT_STRATEGIES": str(root / "strategies"),
        # nothing listens there: runs and ticks that need the warehouse fail, and record how
        "QUANTBOT_WAREHOUSE": f"http://quant:{quote(WAREHOUSE_URL_PASSWORD, safe='')}@127.0.0.1:{_closed_port()}/qb",
        "QUANTBOT_WAREHOUSE_PASSWORD": WAREHOUSE_PASSWORD,
        "BIRDEYE_API_KEYS": ",".join(BIRDEYE_KEYS),
        "QUANTBOT_ALERT_WEBHOOK_URL": f"{webhook_base}/hooks/{WEBHOOK_TOKEN}",
        "QUANTBOT_ALERT_TELEGRAM_TOKEN": TELEGRAM_TOKEN,  # no chat set: configured, never called
        "QUANTBOT_CELERY_BROKER": f"pyamqp://qb:{quote(BROKER_PASSWORD, safe='')}@127.0.0.1:5672//",
        "QUANTBOT_CELERY_BACKEND": f"redis://:{BACKEND_PASSWORD}@127.0.0.1:6379/0",
        "QUANTBOT_SENSOR_INTERVAL_S": "30",
    }


# ---- reading everything back ----------------------------------------------------------------------------

def _texts(value, depth: int = 0):
    """Every text a stored value may hold: itself, and what decompressing / base64-decoding it gives."""
    if value is None or depth > 4:
        return
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes | bytearray):
        value = bytes(value)
        yield value.decode("utf-8", "replace")
        for unpack in (zlib.decompress, gzip.decompress, lambda b: zlib.decompress(b, -15)):
            try:
                inner = unpack(value)
            except (zlib.error, OSError, EOFError, ValueError):
                continue
            yield from _texts(inner, depth + 1)
        return
    text = str(value)
    yield text
    for token in _base64_candidates(text):
        try:
            yield from _texts(base64.b64decode(token + "=" * (-len(token) % 4), validate=False), depth + 1)
        except (binascii.Error, ValueError):
            pass


def _base64_candidates(text: str):
    import re

    for m in re.finditer(r"[A-Za-z0-9+/_-]{24,}={0,2}", text):
        yield m.group(0).replace("-", "+").replace("_", "/")


def _leaks(where: str, value) -> list[str]:
    found = []
    for text in _texts(value):
        found += [f"{where}: {needle!r}" for needle in NEEDLES if needle in text]
    return found


def _sqlite_leaks(home: Path) -> tuple[list[str], int]:
    found, rows = [], 0
    for db in sorted(home.rglob("*.db")):
        conn = sqlite3.connect(db)
        try:
            tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
            for table in tables:
                for row in conn.execute(f'select * from "{table}"'):
                    rows += 1
                    for i, cell in enumerate(row):
                        found += _leaks(f"{db.relative_to(home)}:{table}[{i}]", cell)
        finally:
            conn.close()
    return found, rows


def _postgres_leaks(database: str) -> tuple[list[str], int]:
    found, rows = [], 0
    conn = psycopg2.connect(dbname=database, **PG)
    try:
        with conn.cursor() as cur:
            cur.execute("select table_name from information_schema.tables where table_schema = 'public'")
            for (table,) in cur.fetchall():
                cur.execute(f'select * from "{table}"')
                for row in cur.fetchall():
                    rows += 1
                    for i, cell in enumerate(row):
                        found += _leaks(f"postgres:{table}[{i}]", cell)
    finally:
        conn.close()
    return found, rows


def _file_leaks(home: Path) -> list[str]:
    found = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        found += _leaks(f"file {path.relative_to(home)}", path.read_bytes())
    return found


# ---- a real tick, real runs ----------------------------------------------------------------------------

def _drop_export(root: Path) -> None:
    first = min((root / "sample").iterdir())
    shutil.copytree(first, root / "inbox" / first.name)


def _daemon_ticks(instance: DagsterInstance, data: Path, rounds: int) -> None:
    """What the sensor daemon does, in process: every running sensor of the code location ticks and the runs
    they request are launched; an export arrives after the first round (the sensors' cursors are set by then),
    so the second requests its staging run, and the third records that run's failure."""
    from dagster._core.test_utils import freeze_time, in_process_test_workspace
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._daemon.sensor import execute_sensor_iteration

    origin = LoadableTargetOrigin(module_name="definitions", working_directory=str(REPO))
    with in_process_test_workspace(instance, origin) as request_context:
        process_context = request_context.process_context
        start = dt.datetime.now(dt.UTC)
        for i in range(rounds):
            if i == 1:
                _drop_export(data)
            with freeze_time(start + dt.timedelta(minutes=2 * i)):
                list(execute_sensor_iteration(process_context, logging.getLogger("sensor-test"), None, None))


def _celery_run(instance: DagsterInstance) -> None:
    """A run of the Celery location's job is created (job snapshot with its executor config) - not executed."""
    spec = importlib.util.spec_from_file_location("qb_celery_definitions",
                                                  REPO / "deploy" / "celery" / "celery_definitions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    job = module.defs().resolve_job_def("day_pipeline")
    from dagster._core.execution.api import create_execution_plan

    plan = create_execution_plan(job)
    instance.create_run_for_job(job_def=job, execution_plan=plan, run_config={})


def _exercise(instance: DagsterInstance, data: Path, launch: bool) -> None:
    _daemon_ticks(instance, data, rounds=3 if launch else 2)
    _celery_run(instance)
    runs = instance.get_runs()
    assert any(r.job_name == "stage_telegram_export" for r in runs), [r.job_name for r in runs]
    ticks = [t for s in instance.all_instigator_state() for t in instance.get_ticks(s.instigator_origin_id,
                                                                                   s.selector_id)]
    assert ticks, "the sensors ticked"


def _set_env(monkeypatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.mark.faults
def test_no_secret_in_a_sqlite_instance(tmp_path, monkeypatch, capfd):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({
        "telemetry": {"enabled": False},
        # runs the sensors request execute in this process, so that their events and logs land here too
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
        "run_launcher": {"module": "dagster._core.launcher.sync_in_memory_run_launcher",
                         "class": "SyncInMemoryRunLauncher"},
    }))
    with Recorder() as hook:
        env = _environment(tmp_path / "data", hook.url)
        _set_env(monkeypatch, {**env, "DAGSTER_HOME": str(home)})
        with DagsterInstance.from_config(str(home)) as instance:
            _exercise(instance, tmp_path / "data", launch=True)
            failed = [r for r in instance.get_runs() if r.is_failure]
            errors = " ".join(str(e.dagster_event.event_specific_data) for r in failed
                              for e in instance.all_logs(r.run_id) if e.dagster_event)
        # the staging run failed (no warehouse), and the failure sensor posted its alert to the webhook
        assert failed and hook.requests, "a run failed and was alerted"
        # ... after resolving the warehouse URL from the environment when the run started (shown masked)
        assert "connecting to http://quant:***@127.0.0.1" in errors, errors[:2000]
    found, rows = _sqlite_leaks(home)
    found += _file_leaks(home)
    out, err = capfd.readouterr()
    found += _leaks("stdout/stderr", out + err)
    assert rows > 50
    assert found == [], "\n".join(found)


@pytest.mark.faults
def test_no_secret_in_a_postgres_instance(tmp_path, monkeypatch, pg_database):  # noqa: F811
    home = tmp_path / "home"
    home.mkdir()
    # the production instance file as shipped: its password comes from DAGSTER_PG_PASSWORD (local PostgreSQL
    # trusts the loopback, so any password connects - a distinctive one shows whether it is stored)
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    shipped = yaml.safe_load((home / "dagster.yaml").read_text())
    assert shipped["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    env = _environment(tmp_path / "data", f"http://127.0.0.1:{_closed_port()}")
    _set_env(monkeypatch, {**env, "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": PG["host"],
                           "DAGSTER_PG_PORT": str(PG["port"]), "DAGSTER_PG_USER": PG["user"],
                           "DAGSTER_PG_PASSWORD": PG_PASSWORD, "DAGSTER_PG_DB": pg_database})
    with DagsterInstance.from_config(str(home)) as instance:
        # the queued run coordinator of the production file: requested runs are stored, and wait in the queue
        _exercise(instance, tmp_path / "data", launch=False)
    found, rows = _postgres_leaks(pg_database)
    found += _file_leaks(home)
    assert rows > 10
    assert found == [], "\n".join(found)
