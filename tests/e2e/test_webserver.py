"""End to end through the real webserver and daemon (`dagster dev`), the way a user meets the pipeline.

1. the asset graph over GraphQL: stage assets, rollups, partitions, checks, sensors, schedule;
2. an export already through the pipeline (scripts/demo.py on the same instance): the fresh sensors start from
   what the instance has and request no run;
3. a new export: one wave of at most three runs (staging, one day range, one simulation range), each tagged
   with the export, materializes the range of days it touches through the leaderboards, nothing else;
4. a backfill over the sample's days, launched through GraphQL, re-materializes the stages: same rows.
Everything started here is stopped at the end, also on failure.
"""

from __future__ import annotations

import datetime as dt
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

    def materializations(self, asset: str, after_ms: int = 0) -> list[dict]:
        data = self.gql("query($p: [String!]!, $after: String) { assetOrError(assetKey: {path: $p}) { ... on Asset "
                        "{ assetMaterializations(afterTimestampMillis: $after, limit: 5000) { partition runId } } } }",
                        p=[asset], after=str(after_ms))
        node = data["assetOrError"]
        return node.get("assetMaterializations", []) if node else []

    def materialized(self, asset: str, after_ms: int = 0) -> list[str]:
        return [m["partition"] for m in self.materializations(asset, after_ms)]

    def runs(self, *, after_ms: int = 0, tags: dict[str, str] | None = None) -> list[dict]:
        """Runs created after `after_ms`, with their tags as a dict; only those carrying `tags` if given."""
        data = self.gql("query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results { runId jobName "
                        "status tags { key value } } } } }",
                        f={"createdAfter": after_ms / 1000,
                           "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]})
        return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in data["runsOrError"]["results"]]

    def wait_ticks(self, sensors: list[str], after_ms: int, ticks: int, timeout: float) -> None:
        """Until each sensor ticked `ticks` times after `after_ms`; a failed tick fails the test with its error."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            repo = self.gql("{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors { name "
                            "sensorState { ticks(limit: 20) { timestamp status error { message } } } } } } } }")
            seen = {}
            for sensor in repo["repositoriesOrError"]["nodes"][0]["sensors"]:
                recent = [t for t in sensor["sensorState"]["ticks"] if t["timestamp"] * 1000 > after_ms]
                failed = [t["error"]["message"] for t in recent if t["status"] == "FAILURE" and t["error"]]
                assert not failed, f"{sensor['name']} tick failed: {failed[0]}"
                seen[sensor["name"]] = len([t for t in recent if t["status"] in ("SKIPPED", "SUCCESS")])
            if all(seen.get(s, 0) >= ticks for s in sensors):
                return
            time.sleep(2)
        pytest.fail(f"sensors did not tick {ticks} times in {timeout:.0f}s: {seen}")

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
    for name in ("telegram_inbox_sensor", "strategies_sensor", "follow_through_sensor"):
        assert sensors[name] == "RUNNING", name
    assert [s["name"] for s in repo["schedules"]] == ["refresh_incomplete_windows"]

    # 2. the export and the strategy file were through every stage before the server started: the sensors,
    #    fresh (empty cursors), find the same fingerprints in the instance's metadata and request no run
    wh = _warehouse(data)
    calls = wh.read("telegram_calls")
    assert calls.height > 50 and calls.get_column("day").n_unique() > 5
    assert wh.read("token_analytics").height == calls.height
    assert wh.read("caller_leaderboard").height > 0
    dagster.wait_ticks(["telegram_inbox_sensor", "strategies_sensor", "follow_through_sensor"], after_ms=server_ms,
                       ticks=2, timeout=180)
    assert [r["jobName"] for r in dagster.runs(after_ms=server_ms)] == []

    # 3. a new export: the range of days it touches, in every stage (days in between are derived again, unchanged)
    dropped_ms = int(time.time() * 1000)
    shutil.copytree(next_export, data / "inbox" / next_export.name)
    dagster.wait_idle(["telegram_staged_calls", "telegram_calls", "token_analytics", "simulation_results", *ROLLUPS],
                      after_ms=dropped_ms, timeout=420)
    after_calls = wh.read("telegram_calls")
    changed = _changed_days(calls, after_calls)
    assert changed, "the new export adds calls"
    first, last = (dt.date.fromisoformat(d) for d in (min(changed), max(changed)))
    touched = {str(first + dt.timedelta(days=i)) for i in range((last - first).days + 1)}
    assert set(dagster.materialized("telegram_calls", dropped_ms)) == touched
    assert set(dagster.materialized("raw_candles", dropped_ms)) == touched
    assert set(dagster.materialized("token_analytics", dropped_ms)) == touched
    assert {p.split("|")[0] for p in dagster.materialized("simulation_results", dropped_ms)} == touched
    assert dagster.failed_runs() == []
    # one wave: every run since the drop carries the export's tag and one wave id, and filtering the runs list
    # by that tag shows all of them; at most three runs (staging, one day range, one simulation range), however
    # many days the export touches
    wave = dagster.runs(after_ms=dropped_ms)
    print(f"runs of the new export's wave: {len(wave)} ({sorted(r['jobName'] for r in wave)})")
    (staging,) = [r for r in wave if r["jobName"] == "stage_telegram_export"]
    export = staging["tags"]["dagster/partition"]
    assert {(r["tags"].get("quantbot/export"), r["tags"].get("quantbot/wave")) for r in wave} == \
        {(export, staging["tags"]["quantbot/wave"])}
    assert sorted(r["jobName"] for r in wave) == ["derive_call_days", "simulate_strategies", "stage_telegram_export"]
    wave_runs = {r["runId"] for r in wave}
    assert {r["runId"] for r in dagster.runs(tags={"quantbot/export": export})} == wave_runs
    for asset in ["telegram_staged_calls", *STAGES, *ROLLUPS]:
        assert {m["runId"] for m in dagster.materializations(asset, dropped_ms)} <= wave_runs, asset

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
