"""The code location on a temporary folder: settings, resources (warehouse, inbox, strategies: a copy of
strategies/) and the definitions built from them, without touching the process environment."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import Definitions

from assets import build_definitions
from resources import (
    AlertResource,
    CandleSourceResource,
    DownloadsResource,
    PairResolverResource,
    StrategyFolderResource,
    TelegramInboxResource,
    WarehouseResource,
)
from resources.settings import REPO_ROOT, Settings

DEFAULTS = Settings.from_env({})
INTERVALS = DEFAULTS.intervals


def make_resources(root: Path, *, warehouse_url: str | None = None, strategies: bool = True) -> dict:
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    if strategies and not (root / "strategies").exists():
        shutil.copytree(REPO_ROOT / "strategies", root / "strategies")
    (root / "strategies").mkdir(exist_ok=True)
    return {
        "warehouse": WarehouseResource(url=warehouse_url or f"parquet://{root / 'warehouse'}"),
        "telegram_inbox": TelegramInboxResource(inbox=str(root / "inbox")),
        "candle_source": CandleSourceResource(kind="synthetic", refine_interval="15s"),
        "pair_resolver": PairResolverResource(),
        "strategies": StrategyFolderResource(folder=str(root / "strategies")),
        "alerts": AlertResource(),
        "downloads": DownloadsResource(path=str(root / "downloads")),
    }


# the day partitions' start, fixed: unset, it would follow the data under ./data, not the test's folders
START_DATE = "2024-01-01"
# walk-forward folds that fit the sample's six weeks of calls (as `make demo` sets them): 4 folds
SAMPLE_FOLDS = {"QUANTBOT_WF_TRAIN_DAYS": "14", "QUANTBOT_WF_TEST_DAYS": "7", "QUANTBOT_WF_STEP_DAYS": "7"}


def make_definitions(resources: dict, env: dict[str, str] | None = None) -> Definitions:
    """The definitions as the code location builds them, from `env` (default: no variables set but the
    start of the day partitions)."""
    return build_definitions(Settings.from_env({"QUANTBOT_START_DATE": START_DATE, **SAMPLE_FOLDS, **(env or {})}),
                             resources=resources)
