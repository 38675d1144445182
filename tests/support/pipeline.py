"""The code location's resources on a temporary folder: warehouse, inbox, strategies (a copy of strategies/)."""

from __future__ import annotations

import shutil
from pathlib import Path

from resources import (
    AlertResource,
    CandleSourceResource,
    StrategyFolderResource,
    TelegramInboxResource,
    WarehouseResource,
)
from resources.settings import REPO_ROOT, SETTINGS

INTERVALS = SETTINGS.intervals


def make_resources(root: Path, *, warehouse_url: str | None = None, strategies: bool = True) -> dict:
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    if strategies and not (root / "strategies").exists():
        shutil.copytree(REPO_ROOT / "strategies", root / "strategies")
    (root / "strategies").mkdir(exist_ok=True)
    return {
        "warehouse": WarehouseResource(url=warehouse_url or f"parquet://{root / 'warehouse'}"),
        "telegram_inbox": TelegramInboxResource(inbox=str(root / "inbox")),
        "candle_source": CandleSourceResource(kind="synthetic"),
        "strategies": StrategyFolderResource(folder=str(root / "strategies")),
        "alerts": AlertResource(),
    }
