"""Scale-out on dagster-celery: two real Celery workers on the local RabbitMQ run a multi-day materialization
(instance on Postgres), and the warehouse ends up exactly as after the same run in process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, execute_job, materialize, reconstructable

from assets.partitions import RANGE_END, RANGE_START
from tests.ops.conftest import REPO
from tests.support.pipeline import make_definitions, make_resources

CELERY_DIR = REPO / "deploy" / "celery"
TABLES = ("telegram_calls", "raw_candles", "token_analytics")


def _rabbitmq_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=3).close()
        return True
    except OSError:
        return False


def _stage_sample(root: Path) -> list[str]:
    from quantbot_pipelines.sample import write_sample_inbox
    from quantbot_pipelines.telegram.staging import inbox_exports, stage_export

    resources = make_resources(root)
    write_sample_inbox(root / "inbox")
    wh = resources["warehouse"].get()
    days: set[str] = set()
    for ref in inbox_exports(root / "inbox").values():
        days |= {str(d) for d in stage_export(wh, ref).affected_days}
    return sorted(days)


def _worker_env(root: Path) -> dict:
    env = dict(os.environ)
    env.update({"QUANTBOT_DATA_DIR": str(root), "QUANTBOT_STRATEGIES": str(root / "strategies"),
                "PYTHONPATH": os.pathsep.join([str(REPO), str(CELERY_DIR)])})
    return env


@pytest.fixture
def celery_workers(tmp_path):
    if not _rabbitmq_up():
        pytest.fail("RabbitMQ at 127.0.0.1:5672 is not reachable (the Celery test needs the local broker)")
    root = tmp_path / "celery"
    days = _stage_sample(root)
    celery = str(Path(sys.executable).parent / "celery")
    procs, logs = [], []
    for i in range(2):
        log = open(tmp_path / f"worker{i}.log", "w")  # noqa: SIM115 (closed in finally)
        logs.append(log)
        procs.append(subprocess.Popen(
            [celery, "-A", "dagster_celery.app", "worker", "-Q", "dagster", "-c", "1", "-n", f"quantbot{i}@%h",
             "--purge", "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=REPO, env=_worker_env(root), stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            text = "".join((tmp_path / f"worker{i}.log").read_text() for i in range(2))
            if text.count(" ready.") >= 2:
                break
            if any(p.poll() is not None for p in procs):
                pytest.fail(f"a Celery worker exited:\n{text[-3000:]}")
            time.sleep(0.5)
        else:
            pytest.fail("Celery workers did not become ready in 60 s")
        yield root, days, tmp_path
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        for log in logs:
            log.close()


def _tables(resources) -> dict[str, pl.DataFrame]:
    wh = resources["warehouse"].get()
    # source_file names each run's own temp folder; everything else must match
    return {t: wh.read(t).drop("source_file", strict=False).sort(pl.all()) for t in TABLES}


def test_celery_run_equals_in_process_run(tmp_path, pg_home, celery_workers, monkeypatch):
    root, days, logdir = celery_workers
    tags = {RANGE_START: days[0], RANGE_END: days[-1]}

    # the same day range in process, on a warehouse of its own
    local_root = tmp_path / "local"
    assert _stage_sample(local_root) == days
    local = make_resources(local_root)
    materialize(list(make_definitions(local).assets), selection=[*TABLES, "candle_ledger"], tags=tags, resources=local,
                instance=DagsterInstance.ephemeral())

    monkeypatch.setenv("DAGSTER_HOME", str(pg_home))
    monkeypatch.syspath_prepend(str(CELERY_DIR))
    import celery_definitions  # the workers import it by the same name (PYTHONPATH)

    recon = reconstructable(celery_definitions.day_pipeline_job)
    with DagsterInstance.get() as instance:
        with execute_job(recon, instance=instance, tags=tags) as result:
            assert result.success, [e.message for e in result.all_events if e.is_failure]
            run_id = result.run_id
        events = instance.all_logs(run_id)
    in_workers = {e.step_key for e in events if "in celery worker" in (e.message or "")}
    assert set(TABLES) <= in_workers, "every stage ran as a Celery task (its checks too)"

    worker_logs = "".join((logdir / f"worker{i}.log").read_text() for i in range(2))
    assert worker_logs.count("succeeded in") >= len(TABLES)

    celery_tables, local_tables = _tables(make_resources(root)), _tables(local)
    for name in TABLES:
        assert celery_tables[name].height > 0, name
        assert celery_tables[name].equals(local_tables[name]), name
