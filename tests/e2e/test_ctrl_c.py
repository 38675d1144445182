"""`make ui` stops as a whole: Ctrl-C (SIGINT to the terminal's process group), a SIGINT to make alone (an
IDE's stop button, `kill -INT`) and a SIGTERM to make (a supervisor) each leave no process behind (make,
scripts/ui.py, dagster dev, webserver, daemon, code server, run workers) within STOP_BOUND_S, with a run in
flight. See scripts/ui.py for why make and dagster dev alone do not."""

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
import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
# scripts/ui.py escalates to SIGTERM after 10 s and to SIGKILL after 15 s; polling and a loaded machine on top
STOP_BOUND_S = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tree:
    """Every process `make ui` started: its descendants and whatever shares their sessions (dagster dev runs in
    a session of its own; processes whose parent exited are no one's descendants any more)."""

    def __init__(self, root: subprocess.Popen):
        self.root = root
        self.seen: dict[int, psutil.Process] = {}

    def scan(self) -> dict[int, psutil.Process]:
        try:
            kids = psutil.Process(self.root.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            kids = []
        sessions = {self.root.pid}
        for p in [*kids, *self.seen.values()]:
            try:
                sessions.add(os.getsid(p.pid))
            except OSError:
                pass
        for p in psutil.process_iter():
            try:
                if os.getsid(p.pid) in sessions and p.pid not in self.seen:
                    self.seen[p.pid] = p
            except (OSError, psutil.Error):
                pass
        return self.seen

    def alive(self) -> list[psutil.Process]:
        out = []
        for p in self.scan().values():
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except psutil.NoSuchProcess:
                pass
        return out

    @staticmethod
    def describe(procs) -> str:
        lines = []
        for p in procs:
            try:
                lines.append(f"{p.pid} {' '.join(p.cmdline())[:140]}")
            except psutil.Error:
                lines.append(f"{p.pid} (gone)")
        return "\n".join(lines)


@pytest.fixture
def ui_dirs(tmp_path):
    from quantbot_pipelines.sample import write_sample_inbox

    (tmp_path / "home").mkdir()
    (tmp_path / "strategies").mkdir()
    shutil.copy(REPO / "strategies" / "quick_2x.yaml", tmp_path / "strategies")
    write_sample_inbox(tmp_path / "data" / "inbox")
    return tmp_path


def _location_loaded(http: httpx.Client) -> bool:
    answer = http.post("/graphql", json={"query": "{ workspaceOrError { ... on Workspace { locationEntries { "
                                                  "loadStatus locationOrLoadError { __typename "
                                                  "... on PythonError { message } } } } } }"}).json()
    entries = answer["data"]["workspaceOrError"]["locationEntries"]
    for e in entries:
        error = e["locationOrLoadError"] or {}
        assert error.get("__typename") != "PythonError", f"the code location did not load: {error['message']}"
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


@pytest.mark.parametrize("how", ["ctrl_c", "sigint_to_make", "sigterm_to_make"])
def test_make_ui_stops_with_everything_it_started(ui_dirs, how):
    port = _free_port()
    env = dict(os.environ, DAGSTER_HOME=str(ui_dirs / "home"), QUANTBOT_DATA_DIR=str(ui_dirs / "data"),
               QUANTBOT_STRATEGIES=str(ui_dirs / "strategies"), QUANTBOT_SENSOR_INTERVAL_S="2")
    log = open(ui_dirs / "ui.log", "w")  # noqa: SIM115 (closed in finally)
    # as `make ui` in a terminal: its own process group, which Ctrl-C signals as a whole; `-o` keeps make from
    # reinstalling the virtualenv, PY runs the interpreter of this test
    make = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", f"PY={sys.executable}", f"UI_PORT={port}",
                             "ui"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    tree = Tree(make)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def output() -> str:
        log.flush()
        return (ui_dirs / "ui.log").read_text()[-4000:]

    try:
        deadline = time.time() + 90
        while True:
            assert make.poll() is None, f"make ui exited ({make.returncode}):\n{output()}"
            assert time.time() < deadline, f"the UI did not load in 90 s:\n{output()}"
            try:
                if http.get("/server_info").status_code == 200 and _location_loaded(http):
                    break
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                pass
            time.sleep(0.5)
        # the sensors stage the sample's exports at their first ticks: stop while such a run is in flight
        deadline = time.time() + 30
        while time.time() < deadline:
            if any("spawn_main" in Tree.describe([p]) for p in tree.alive()):
                time.sleep(1)
                break
            time.sleep(0.2)
        before = tree.alive()
        assert len(before) >= 6, Tree.describe(before)  # make, ui.py, dagster dev, webserver, daemon, code server

        started = time.monotonic()
        if how == "ctrl_c":
            os.killpg(make.pid, signal.SIGINT)
        else:
            os.kill(make.pid, signal.SIGINT if how == "sigint_to_make" else signal.SIGTERM)
        left = tree.alive()
        while left and time.monotonic() - started < STOP_BOUND_S:
            time.sleep(0.2)
            left = tree.alive()
        took = time.monotonic() - started
        assert not left, (f"still running {took:.0f} s after {how}:\n{Tree.describe(left)}\n\n"
                          f"processes before:\n{Tree.describe(before)}\n\n{output()}")
        assert "ui: stopped in" in output(), output()
        print(f"{how}: {len(tree.seen)} processes gone in {took:.1f} s")
    finally:
        http.close()
        for p in tree.alive():
            try:
                p.kill()
            except psutil.Error:
                pass
        log.close()
