"""Shared fixtures of the serve tests: a warehouse the real pipeline wrote, and the API over it on loopback.

`served`: scripts/demo.py run once per session on a fresh Dagster home, data folder and four strategy files
(no sweep, so it stays quick); `env` is complete for other subprocesses on the same instance (`dagster dev`).
`api`: the app over that warehouse, served by uvicorn in a thread on a free loopback port; `start_api` starts
another one with other settings (keys on, another warehouse). A server thread's exception fails the test.
`world`: a copy of `served` for the tests that run the pipeline further (`dagster dev`, the bot's /backtest),
so that what they write never reaches the warehouse the other tests read; `dagster_ui` runs over it for the
serve tests and is stopped when they are done.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
STRATEGY_FILES = ("quick_2x.yaml", "trailing_30.yaml", "ladder_2x_5x_10x.yaml", "hold_48h.yaml")


@dataclass(frozen=True)
class Served:
    root: Path
    home: Path  # DAGSTER_HOME of the instance the demo ran on
    data: Path  # QUANTBOT_DATA_DIR
    warehouse_url: str
    strategies: Path
    env: dict  # the environment the demo ran with: reuse it for `dagster dev` or the bot


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago): Dagster unreachable."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def served(tmp_path_factory) -> Served:
    root = tmp_path_factory.mktemp("served")
    home, data, strategies = root / "home", root / "data", root / "strategies"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    strategies.mkdir()
    for name in STRATEGY_FILES:
        shutil.copy(REPO / "strategies" / name, strategies / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTBOT_")}
    env.update(DAGSTER_HOME=str(home), QUANTBOT_DATA_DIR=str(data), QUANTBOT_STRATEGIES=str(strategies),
               QUANTBOT_START_DATE="2025-08-25", QUANTBOT_WF_TRAIN_DAYS="14", QUANTBOT_WF_TEST_DAYS="7",
               QUANTBOT_WF_STEP_DAYS="7", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py")], cwd=REPO, env=env, check=False,
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        pytest.fail(f"scripts/demo.py failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return Served(root=root, home=home, data=data, warehouse_url=f"parquet://{data / 'warehouse'}",
                  strategies=strategies, env=env)


@pytest.fixture(scope="session")
def world(served, tmp_path_factory) -> Served:
    root = tmp_path_factory.mktemp("world")
    for part in ("home", "data", "strategies"):
        shutil.copytree(getattr(served, part) if part != "data" else served.data, root / part)
    env = {**served.env, "DAGSTER_HOME": str(root / "home"), "QUANTBOT_DATA_DIR": str(root / "data"),
           "QUANTBOT_STRATEGIES": str(root / "strategies")}
    return Served(root=root, home=root / "home", data=root / "data",
                  warehouse_url=f"parquet://{root / 'data' / 'warehouse'}", strategies=root / "strategies", env=env)


@pytest.fixture(scope="package")
def dagster_ui(world):
    """`dagster dev` over `world`, its sensors ticking every 2 s (the bot's tests watch the strategies sensor
    launch nothing); started by the first test that needs it, stopped after the last serve test."""
    from tests.support.dagster_ui import SENSOR_INTERVAL_S, dagster_dev

    env = {**world.env, "QUANTBOT_SENSOR_INTERVAL_S": SENSOR_INTERVAL_S}
    with dagster_dev(world.home, env, world.root / "dagster-dev.log") as ui:
        yield ui


class ServerThread:
    """uvicorn serving `app` in a thread; `url` once started; an exception in the thread is re-raised on stop."""

    def __init__(self, app, host: str = "127.0.0.1", port: int | None = None):
        import uvicorn

        self.host, self.port = host, port or free_port(host)
        self.server = uvicorn.Server(uvicorn.Config(app, host=self.host, port=self.port, log_level="warning",
                                                    lifespan="on", access_log=False))
        self.server.install_signal_handlers = lambda: None  # the test process keeps its own handlers
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"uvicorn:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            self.server.run()
        except BaseException as e:  # noqa: BLE001 - handed to the test in stop()
            self.error = e

    def start(self, timeout: float = 20) -> None:
        self.thread.start()
        deadline = time.time() + timeout
        while not self.server.started:
            if self.error or not self.thread.is_alive():
                raise RuntimeError(f"the API server did not start: {self.error!r}")
            if time.time() > deadline:
                raise RuntimeError(f"the API server did not start in {timeout:.0f} s")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        if self.thread.is_alive():
            raise RuntimeError("the API server did not stop in 20 s")
        if self.error:
            raise self.error


def serve_settings(warehouse_url: str, **env: str):
    from serve.settings import ServeSettings

    base = {"QUANTBOT_WAREHOUSE": warehouse_url, "QUANTBOT_DAGSTER_URL": closed_port_url()}
    return ServeSettings.from_env({**base, **env})


@contextmanager
def running_api(settings, *, host: str = "127.0.0.1", dagster=None) -> Iterator[str]:
    from serve.app import create_app

    server = ServerThread(create_app(settings, dagster=dagster), host=host)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def api(served) -> Iterator[str]:
    """Base URL (http://127.0.0.1:<port>) of the API over the served warehouse; keys off, Dagster down."""
    with running_api(serve_settings(served.warehouse_url)) as url:
        yield url


@pytest.fixture(scope="session")
def start_api(served) -> Callable:
    """`with start_api(QUANTBOT_API_KEYS="k1,k2") as url:` another API over the served warehouse, with
    these environment variables on top (QUANTBOT_WAREHOUSE can be overridden; `dagster=` a client)."""
    def start(*, host: str = "127.0.0.1", dagster=None, **env: str):
        return running_api(serve_settings(env.pop("QUANTBOT_WAREHOUSE", served.warehouse_url), **env),
                           host=host, dagster=dagster)
    return start


@pytest.fixture(scope="session")
def http(api) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def warehouse(served):
    from quantbot_pipelines.warehouse import open_warehouse

    return open_warehouse(served.warehouse_url)
