"""`dagster dev` (webserver and daemon) over a given DAGSTER_HOME and environment, on a free loopback port:
started, waited on until the code location is loaded, and stopped (its whole process group) at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
LOCATION_LOADED = ("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                   "locationOrLoadError { __typename ... on PythonError { message } } } } } }")


# the strategies sensor ticks several times while a backtest runs (the bot's tests see it launch nothing)
SENSOR_INTERVAL_S = "2"


class DagsterDevError(RuntimeError):
    """dagster dev exited, or its code location failed or did not load in time."""


@dataclass(frozen=True)
class DagsterUI:
    url: str
    log: Path
    pid: int

    def gql(self, query: str, **variables) -> dict:
        answer = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables},
                            timeout=60).json()
        if answer.get("errors"):
            raise AssertionError(answer["errors"])
        return answer["data"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loaded(url: str) -> bool:
    answer = httpx.post(f"{url}/graphql", json={"query": LOCATION_LOADED}, timeout=10).json()
    entries = (answer.get("data") or {}).get("workspaceOrError", {}).get("locationEntries") or []
    for entry in entries:
        error = entry.get("locationOrLoadError") or {}
        if error.get("__typename") == "PythonError":
            raise DagsterDevError(f"code location failed to load: {error.get('message')}")
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


@contextmanager
def dagster_dev(home: Path, env: dict[str, str], log: Path, *, timeout: float = 120) -> Iterator[DagsterUI]:
    """`dagster dev` on DAGSTER_HOME=`home` with `env`, its output in `log`; yields once the location
    loaded."""
    port = _free_port()
    out = open(log, "w")  # noqa: SIM115 (closed in finally)
    command = [str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
               "-w", str(REPO / "workspace.yaml")]
    proc = subprocess.Popen(command, cwd=REPO, env={**env, "DAGSTER_HOME": str(home)}, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    ui = DagsterUI(url=f"http://127.0.0.1:{port}", log=log, pid=proc.pid)
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise DagsterDevError(f"dagster dev exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if _loaded(ui.url):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.time() > deadline:
                raise DagsterDevError(f"the code location did not load in {timeout:.0f} s:\n"
                                      f"{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield ui
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        out.close()
