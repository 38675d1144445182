"""End to end through the real webserver and daemon (`dagster dev`), the way a user meets the pipeline.

1. the asset graph over GraphQL: stage assets, rollups, partitions, checks, sensors, schedule;
2. an export already through the pipeline (scripts/demo.py on the same instance): parsed again by the sensor,
   which finds no day changed and requests nothing;
3. a new export: the sensor and automation materialize exactly the days it touches, nothing else;
4. a backfill over the sample's days, launched through GraphQL, re-materializes the stages: same rows.
Everything started here is stopped at the end, also on failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]
STAGES = ["telegram_calls", "raw_candles", "aggregated_candles/5m", "aggregated_candles/1d", "token_analytics",
          "simulation_results"]
ROLLUPS = ["caller_leaderboard", "token_leaderboard", "strategy_leaderboard", "caller_strategy_leaderboard"]
ACTIVE = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dagster:
    def __init__(self, url: str):
        self.http = httpx.Client(base_url=url, timeout=60)

    def gql(self, query: str, **variables) -> dict:
        answer = self.http.post("/graphql", json={"query": query, "variables": variables}).json()
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def location_loaded(self) -> bool:
        data = self.gql("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                        "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
        entries = data["workspaceOrError"]["locationEntries"]
        for entry in entries:
            if entry["locationOrLoadError"] and entry["locationOrLoadError"]["__typename"] == "PythonError":
                pytest.fail(f"code location failed to load: {entry['locationOrLoadError']['message']}")
        return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

    def active_runs(self) -> int:
        data = self.gql("query($s: [RunStatus!]) { runsOrError(filter: {statuses: $s}) { ... on Runs { results "
                        "{ runId } } } }", s=ACTIVE)
        return len(data["runsOrError"]["results"])

    def failed_runs(self) -> list[str]:
        data = self.gql('{ runsOrError(filter: {statuses: [FAILURE]}) { ... on Runs { results { runId } } } }')
        return [r["runId"] for r in data["runsOrError"]["results"]]

    def materialized(self, asset: str, after_ms: int = 0) -> list[str]:
        data = self.gql("query($p: [String!]!, $after: String) { assetOrError(assetKey: {path: $p}) { ... on Asset "
                        "{ assetMaterializations(afterTimestampMillis: $after, limit: 5000) { partition } } } }",
                        p=[asset], after=str(after_ms))
        node = data["assetOrError"]
        return [m["partition"] for m in node.get("assetMaterializations", [])] if node else []

    def wait_idle(self, needs: list[str], after_ms: int, timeout: float, quiet: float = 15.0) -> None:
        """Until each asset in `needs` materialized after `after_ms` and no run was active for `quiet` s."""
        deadline, idle_since = time.time() + timeout, None
        while time.time() < deadline:
            busy = self.active_runs() > 0 or any(not self.materialized(a, after_ms) for a in needs)
            idle_since = None if busy else (idle_since or time.time())
            if idle_since and time.time() - idle_since >= quiet:
                return
            time.sleep(2)
        pytest.fail(f"pipeline not idle after {timeout:.0f}s; missing: "
                    f"{[a for a in needs if not self.materialized(a, after_ms)]}")


@pytest.fixture
def dagster_dev(tmp_path):
    from quantbot_pipelines.sample import write_sample_inbox

    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    (tmp_path / "strategies").mkdir()
    for name in ("quick_2x.yaml",):  # one file keeps the run count small (one run per file and day range)
        shutil.copy(REPO / "strategies" / name, tmp_path / "strategies" / name)
    write_sample_inbox(tmp_path / "sample")
    exports = sorted(p for p in (tmp_path / "sample").iterdir())
    (data / "inbox").mkdir(parents=True)
    first, second = exports[0], exports[-1]  # the whole-account JSON first, the HTML export later
    shutil.copytree(first, data / "inbox" / first.name)
    port = _free_port()
    env = dict(os.environ, DAGSTER_HOME=str(home), QUANTBOT_DATA_DIR=str(data),
               QUANTBOT_STRATEGIES=str(tmp_path / "strategies"), QUANTBOT_START_DATE="2025-08-25",
               QUANTBOT_SENSOR_INTERVAL_S="6", PYTHONPATH=str(REPO))
    # the first export goes through every stage before the server starts, on the same instance, the way
    # `make demo` does it: the server then meets a warehouse and an instance that already hold a pipeline
    subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py")], cwd=REPO, env=env, check=True,
                   capture_output=True, timeout=300)
    server_ms = int(time.time() * 1000)
    log = open(tmp_path / "dagster.log", "w")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
                             "-w", str(REPO / "workspace.yaml")],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = Dagster(f"http://127.0.0.1:{port}")
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"dagster dev exited:\n{(tmp_path / 'dagster.log').read_text()[-3000:]}")
            try:
                if client.location_loaded():
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"the code location did not load in 120 s:\n{(tmp_path / 'dagster.log').read_text()[-3000:]}")
        yield client, data, second, server_ms
    finally:
        client.http.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _warehouse(data: Path):
    from quantbot_pipelines.warehouse import ParquetWarehouse

    return ParquetWarehouse(data / "warehouse")


def test_pipeline_through_the_webserver(dagster_dev):
    dagster, data, next_export, server_ms = dagster_dev

    # 1. the graph as the UI shows it
    nodes = dagster.gql("{ assetNodes { assetKey { path } isPartitioned partitionDefinition { dimensionTypes "
                        "{ name } } assetChecksOrError { ... on AssetChecks { checks { name } } } } }")["assetNodes"]
    graph = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    for name in ["telegram_staged_calls", "telegram_quarantine", "pair_tokens", "candle_ledger", *STAGES]:
        assert graph[name]["isPartitioned"], name
    assert "run_failures" in graph  # written by a sensor, still in the graph
    for name in ROLLUPS:
        assert not graph[name]["isPartitioned"], name
    assert [d["name"] for d in graph["simulation_results"]["partitionDefinition"]["dimensionTypes"]] == \
        ["day", "strategy"]
    checks = {c["name"] for c in graph["raw_candles"]["assetChecksOrError"]["checks"]}
    assert {"candles_consistent", "candle_coverage"} <= checks
    repo = dagster.gql("{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors { name sensorState "
                       "{ status } } schedules { name } } } } }")["repositoriesOrError"]["nodes"][0]
    sensors = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
    assert sensors["telegram_inbox_sensor"] == "RUNNING" and sensors["quantbot_automation"] == "RUNNING"
    assert [s["name"] for s in repo["schedules"]] == ["refresh_incomplete_windows"]

    # 2. the export staged before the server started: the sensor, which has not seen it, parses it once,
    #    finds no day changed and requests nothing downstream
    wh = _warehouse(data)
    calls = wh.read("telegram_calls")
    assert calls.height > 50 and calls.get_column("day").n_unique() > 5
    assert wh.read("token_analytics").height == calls.height
    assert wh.read("caller_leaderboard").height > 0
    dagster.wait_idle(["telegram_staged_calls"], after_ms=server_ms, timeout=180)
    assert dagster.materialized("telegram_calls", server_ms) == []

    # 3. a new export: exactly the days it touches, in every stage
    dropped_ms = int(time.time() * 1000)
    shutil.copytree(next_export, data / "inbox" / next_export.name)
    dagster.wait_idle(["telegram_staged_calls", "telegram_calls", "token_analytics", "simulation_results"],
                      after_ms=dropped_ms, timeout=420)
    after_calls = wh.read("telegram_calls")
    changed = _changed_days(calls, after_calls)
    assert changed, "the new export adds calls"
    assert set(dagster.materialized("telegram_calls", dropped_ms)) == changed
    assert set(dagster.materialized("raw_candles", dropped_ms)) == changed
    assert set(dagster.materialized("token_analytics", dropped_ms)) == changed
    assert {p.split("|")[0] for p in dagster.materialized("simulation_results", dropped_ms)} == changed
    assert dagster.failed_runs() == []

    # 4. a backfill over the sample's days, through GraphQL: every day re-run, nothing changes
    days = sorted({str(d) for d in after_calls.get_column("day").to_list()})
    before = {t: wh.read(t).sort(pl.all()) for t in ("raw_candles", "token_analytics")}
    started_ms = int(time.time() * 1000)
    launched = dagster.gql(
        "mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) { __typename "
        "... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }",
        p={"partitionsByAssets": [{"assetKey": {"path": [a]}, "partitions": {"range": {"start": days[0],
                                                                                       "end": days[-1]}}}
                                  for a in ("raw_candles", "candle_ledger", "token_analytics")],
           "title": "e2e backfill"})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    deadline, status = time.time() + 300, None
    while time.time() < deadline:
        status = dagster.gql("query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on "
                             "PartitionBackfill { status } } }",
                             id=launched["backfillId"])["partitionBackfillOrError"]["status"]
        if status not in ("REQUESTED", "CANCELING"):
            break
        time.sleep(2)
    assert status == "COMPLETED_SUCCESS", status
    assert set(dagster.materialized("token_analytics", started_ms)) >= set(days)
    for table, rows in before.items():
        assert wh.read(table).sort(pl.all()).equals(rows), f"{table} changed on a re-run"


def _changed_days(before: pl.DataFrame, after: pl.DataFrame) -> set[str]:
    cols = [c for c in before.columns if c not in ("source_file", "source_format")]
    a, b = before.select(cols), after.select(cols)
    diff = pl.concat([a.join(b, on=cols, how="anti", nulls_equal=True), b.join(a, on=cols, how="anti",
                                                                                nulls_equal=True)])
    return {str(d) for d in diff.get_column("day").to_list()}
