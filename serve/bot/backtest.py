"""/backtest: a strategy file checked by the library's loader, written into the strategies folder, and its
wave launched through Dagster's GraphQL API the way the strategies sensor launches it
(assets/simulation/sensors.py).

The run carries the sensor's tags: the 2-D partition range "<first day>|<stem>".."<last day>|<stem>",
`quantbot/strategy=<stem>` and the wave id of this version of the file, so the sensor, seeing the file and
that run, requests no second one. While the file is written and the run launched, a LAUNCHING marker beside it
keeps the sensor off the file (the window between the two steps).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from quantbot_pipelines.schemas import STRATEGY_FILE_TABLES
from quantbot_pipelines.simulation.strategy import (
    MAX_FILE_BYTES,
    StrategyError,
    load_strategy_file,
    strategy_file_fingerprint,
)
from serve.dagster_api import DagsterClient

# as in assets/simulation/sensors.py and assets/partitions.py (serve never imports Dagster, so not from there;
# tests/serve/bot checks they agree)
JOB = "simulate_strategies"
STRATEGY_WAVE = [t.name for t in STRATEGY_FILE_TABLES]
PARTITIONS_DEF = "strategies"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
STRATEGY_TAG, WAVE_TAG = "quantbot/strategy", "quantbot/wave"
LAUNCHING = ".{stem}.launching"
DAY_ASSET = "telegram_calls"  # its partition keys are the call days a range may span

STEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class BacktestError(Exception):
    """The file cannot be backtested; the message is for the chat."""


def wave_id(seed: str) -> str:
    """assets/waves.py: wave_id."""
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Launched:
    run_id: str
    stem: str
    names: list[str]  # the strategies of the file (a sweep: every variant)
    written: bool  # False when the folder held this very file already


def stem_of(file_name: str) -> str:
    name = Path(file_name or "").name
    stem, suffix = (name[:-5], ".yaml") if name.endswith(".yaml") else (name[:-4], ".yml") \
        if name.endswith(".yml") else (name, "")
    if not STEM.match(stem) or stem.endswith("."):
        raise BacktestError(f"{name!r} is not a strategy file name: letters, digits, _ . - and .yaml at "
                            "the end")
    if suffix == ".yml":
        raise BacktestError(f"{name!r}: strategy files end in .yaml")
    return stem


def check(stem: str, data: bytes, folder: Path) -> list[str]:
    """The strategies of the file, checked by the library's loader as the pipeline will read it; also that its
    names are not another file's. BacktestError carries the loader's message."""
    if len(data) > MAX_FILE_BYTES:
        raise BacktestError(f"{stem}.yaml: field '(file)': expected at most {MAX_FILE_BYTES} bytes, "
                            f"got {len(data)}")
    with tempfile.TemporaryDirectory(prefix="quantbot-backtest-") as tmp:
        path = Path(tmp) / f"{stem}.yaml"
        path.write_bytes(data)
        try:
            names = [s.name for s in load_strategy_file(path)]
        except StrategyError as exc:
            raise BacktestError(str(exc).replace(str(path), f"{stem}.yaml")) from None
    for other in sorted(folder.glob("*.yaml")):
        if other.stem == stem:
            continue
        try:
            taken = {s.name for s in load_strategy_file(other)}
        except StrategyError:
            continue  # the sensor skips a bad file; it holds no names
        clash = sorted(taken & set(names))
        if clash:
            raise BacktestError(f"{stem}.yaml: the strategy name {clash[0]!r} is already in {other.name}; "
                                "give the strategy another name")
    return names


def day_range(dagster: DagsterClient, first: str, last: str) -> tuple[str, str]:
    """[first, last] call day clipped to the day partitions (the sensor's clip_days does the same)."""
    data = dagster.query("query($k: AssetKeyInput!) { assetNodeOrError(assetKey: $k) { __typename "
                         "... on AssetNode { partitionKeys } } }", timeout=dagster.launch_timeout,
                         k={"path": [DAY_ASSET]})
    keys = (data.get("assetNodeOrError") or {}).get("partitionKeys") or []
    inside = [k for k in keys if first <= k <= last]
    if not inside:
        raise BacktestError(f"no call day between {first} and {last} is a day partition of the pipeline")
    return inside[0], inside[-1]


def launch(dagster: DagsterClient, folder: Path, stem: str, data: bytes, days: tuple[str, str]) -> Launched:
    """Write the file (unless the folder holds it already), add its partition and launch its wave."""
    names = check(stem, data, folder)
    path = folder / f"{stem}.yaml"
    if path.exists() and path.read_bytes() != data:
        raise BacktestError(f"a different {stem}.yaml is in the strategies folder already: rename your file "
                            "(or change the one in the folder)")
    first, last = day_range(dagster, *days)
    marker = folder / LAUNCHING.format(stem=stem)
    marker.touch()
    try:
        written = not path.exists()
        if written:
            tmp = folder / f".{stem}.yaml.part"
            tmp.write_bytes(data)
            os.replace(tmp, path)  # whole, or not at all: the sensor never reads half a file
        fingerprint = strategy_file_fingerprint(path)
        dagster.add_dynamic_partition(PARTITIONS_DEF, stem)
        tags = {RANGE_START: f"{first}|{stem}", RANGE_END: f"{last}|{stem}", STRATEGY_TAG: stem,
                WAVE_TAG: wave_id(f"strategy:{stem}:{fingerprint}")}
        run_id = dagster.launch_run(JOB, tags, assets=STRATEGY_WAVE)
    finally:
        marker.unlink(missing_ok=True)
    return Launched(run_id=run_id, stem=stem, names=names, written=written)
