"""The Dagster GraphQL client against a real `dagster dev` over a copy of the served instance, and against webservers
that are not there or do not answer."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from serve.dagster_api import DagsterClient, DagsterUnavailable
from tests.serve.conftest import closed_port_url
from tests.support.loopback import LoopbackServer


@pytest.fixture(scope="module")
def instance(world):
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(world.home)) as inst:
        yield inst


def test_latest_materializations_name_every_materialized_asset(dagster_ui, instance):
    from dagster import AssetKey

    # read from the instance first: a run finishing in between only makes the client's answer newer
    stored = {}
    for key in instance.get_asset_keys():
        records = instance.fetch_materializations(AssetKey(key.path), limit=1).records
        if records:
            stored[key.to_user_string()] = records[0]
    assert {"telegram_calls", "simulation_results", "strategy_leaderboard"} <= set(stored)
    latest = {a["asset"]: a for a in DagsterClient(dagster_ui.url).latest_materializations()}
    assert set(stored) <= set(latest)
    for asset, record in stored.items():
        assert latest[asset]["last_materialized"] >= record.timestamp - 1e-3, asset
        if latest[asset]["last_materialized"] - record.timestamp < 1e-3:
            assert latest[asset]["run_id"] == record.run_id, asset
            assert latest[asset]["partition"] == record.partition_key, asset


def test_runs_and_failures_are_the_instances(dagster_ui, instance):
    from dagster import DagsterRunStatus, RunsFilter

    client = DagsterClient(dagster_ui.url)
    runs = client.recent_runs(limit=5)
    assert runs and len(runs) <= 5
    assert [r["start_time"] for r in runs] == sorted((r["start_time"] for r in runs), reverse=True)
    for r in runs:
        stored = instance.get_run_by_id(r["run_id"])
        assert stored is not None and stored.job_name == r["job"]
        # hidden tags (".dagster/...") are not shown over GraphQL
        assert {k: v for k, v in stored.tags.items() if not k.startswith(".")} == r["tags"]
        assert client.run(r["run_id"])["run_id"] == r["run_id"]
    assert client.failed_runs() == instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    with pytest.raises(DagsterUnavailable, match="RunNotFoundError"):
        client.run("00000000-0000-0000-0000-000000000000")
    with pytest.raises(DagsterUnavailable, match="GraphQL error"):
        client.query("{ noSuchField }")


def test_nothing_listening_is_unavailable_at_once():
    url = closed_port_url().replace("http://", "http://admin:s3cret-pass@")
    client = DagsterClient(url, timeout=5)
    for ask in (client.latest_materializations, client.recent_runs, client.failed_runs):
        started = time.perf_counter()
        with pytest.raises(DagsterUnavailable) as caught:
            ask()
        assert time.perf_counter() - started < 2.0
        assert "s3cret" not in str(caught.value) and "127.0.0.1" not in str(caught.value)
    assert "s3cret" not in repr(client)


def test_a_webserver_that_does_not_answer_times_out():
    release = threading.Event()

    class Silent(BaseHTTPRequestHandler):
        def do_POST(self):
            release.wait(10)

        def log_message(self, *args):
            pass

    with LoopbackServer(Silent) as server:
        client = DagsterClient(server.url, timeout=0.5)
        started = time.perf_counter()
        with pytest.raises(DagsterUnavailable, match="did not answer within 0.5 s"):
            client.failed_runs()
        assert time.perf_counter() - started < 3.0
        release.set()


def test_an_error_page_is_unavailable():
    class Broken(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(502)
            self.end_headers()
            self.wfile.write(b"bad gateway")

        def log_message(self, *args):
            pass

    with LoopbackServer(Broken) as server, pytest.raises(DagsterUnavailable, match="HTTP 502"):
        DagsterClient(server.url).recent_runs()
