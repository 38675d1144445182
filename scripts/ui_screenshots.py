"""Screenshots of the Dagster UI on the demo instance, for the docs (not part of the tests).

    make demo && .venv/bin/python scripts/ui_screenshots.py [out_dir]

Starts `dagster dev` on $DAGSTER_HOME (default ./.dagster_home) and a free loopback port, then has headless
Chromium (Debian: `apt-get install -y chromium`) save PNGs of the asset graph and of the leaderboard pages.
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

ROOT = Path(__file__).resolve().parent.parent
PAGES = {
    "asset_graph": "/asset-groups",
    "caller_leaderboard": "/assets/caller_leaderboard?view=events",
    "strategy_leaderboard": "/assets/strategy_leaderboard?view=events",
    "telegram_calls_partitions": "/assets/telegram_calls?view=partitions",
    "runs": "/runs",
}


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    sys.exit("headless Chromium is needed: sudo apt-get install -y chromium")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", str(ROOT / ".dagster_home"))
    server = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        # the UI greets a new local instance with a community dialog; mark it seen as a user's click would
        httpx.post(f"{base}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=30)
        for name, path in PAGES.items():
            target = out / f"{name}.png"
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--hide-scrollbars", "--window-size=1600,1000", "--virtual-time-budget=20000",
                            f"--screenshot={target}", base + path],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            print(f"{target}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
