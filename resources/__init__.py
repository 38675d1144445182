"""The thin Dagster layer's resources, configured from Settings (resources/settings.py)."""

from __future__ import annotations

from dagster import EnvVar

from resources.alerts import AlertResource
from resources.candles import CandleSourceResource
from resources.downloads import DownloadsResource
from resources.pairs import PairResolverResource
from resources.settings import Settings, SettingsError
from resources.strategies import StrategyFolderResource
from resources.telegram import TelegramInboxResource
from resources.warehouse import WarehouseResource


def build_resources(settings: Settings) -> dict:
    def secret(name: str):
        # EnvVar keeps the value out of the UI and run config; unset means "not configured"
        return EnvVar(name) if name in settings.secrets_set else None

    return {
        # a URL with a password in it is read from the variable when a run starts (stored as its name only)
        "warehouse": WarehouseResource(url=settings.from_secret_env("QUANTBOT_WAREHOUSE", settings.warehouse_url),
                                       password=secret("QUANTBOT_WAREHOUSE_PASSWORD")),
        "telegram_inbox": TelegramInboxResource(inbox=str(settings.inbox), timezone=settings.export_tz),
        "candle_source": CandleSourceResource(
            kind=settings.candle_source, birdeye_api_keys=secret("BIRDEYE_API_KEYS"),
            birdeye_requests_per_second=settings.birdeye_rps, folder=str(settings.candle_dir),
            refine_interval=settings.refine_interval),
        "pair_resolver": PairResolverResource(kind=settings.pair_resolver),
        "strategies": StrategyFolderResource(folder=str(settings.strategies_dir), max_variants=settings.max_variants),
        "alerts": AlertResource(webhook_url=secret("QUANTBOT_ALERT_WEBHOOK_URL"),
                                telegram_token=secret("QUANTBOT_ALERT_TELEGRAM_TOKEN"),
                                telegram_chat=settings.alert_telegram_chat),
        "downloads": DownloadsResource(path=str(settings.data_dir / "downloads")),
    }


__all__ = [
    "AlertResource",
    "CandleSourceResource",
    "DownloadsResource",
    "PairResolverResource",
    "Settings",
    "SettingsError",
    "StrategyFolderResource",
    "TelegramInboxResource",
    "WarehouseResource",
    "build_resources",
]
