"""Every environment variable the code location reads, read here and nowhere else.

`Settings.from_env()` is called once, when the definitions are built (`definitions.py`); nothing reads the
environment at import. Secrets are not kept here: only whether they are set, so that the resources can ask
for them through Dagster's `EnvVar` (their values stay out of run config and the UI).

| variable | default | meaning |
|---|---|---|
| QUANTBOT_DATA_DIR | ./data | root of the embedded warehouse, inbox and caches |
| QUANTBOT_INBOX | $QUANTBOT_DATA_DIR/inbox | folder the inbox sensor watches for Telegram exports |
| QUANTBOT_WAREHOUSE | parquet://$QUANTBOT_DATA_DIR/warehouse | parquet://<dir>, chdb:///<dir> or http(s)://user@host:8123/db |
| QUANTBOT_WAREHOUSE_PASSWORD | (unset) | ClickHouse password, read through EnvVar (never logged) |
| QUANTBOT_EXPORT_TZ | (unset) | IANA zone for exports whose times carry no offset |
| QUANTBOT_START_DATE | 2024-01-01 | first day partition |
| QUANTBOT_CANDLE_SOURCE | synthetic | synthetic, birdeye, geckoterminal or files |
| BIRDEYE_API_KEYS | (unset) | comma-separated Birdeye keys, read through EnvVar (never logged) |
| QUANTBOT_BIRDEYE_RPS | 15 | requests per second per Birdeye key (your plan's limit) |
| QUANTBOT_PAIR_RESOLVER | offline | pair (pool) address -> token lookups: offline (none), dexscreener or geckoterminal |
| QUANTBOT_CANDLE_DIR | $QUANTBOT_DATA_DIR/candles | folder of the files candle source |
| QUANTBOT_INTERVALS | 5m,15m,1h,4h,1d | aggregated candle intervals (a partition dimension) |
| QUANTBOT_STRATEGIES | ./strategies | folder of strategy YAML files |
| QUANTBOT_SENSOR_INTERVAL_S | 30 | how often the inbox and strategy sensors look (automation: half of it) |
| QUANTBOT_MIN_COVERAGE | 0.8 | share of a day's calls with candles below which the coverage check warns |
| QUANTBOT_ALERT_WEBHOOK_URL, QUANTBOT_ALERT_TELEGRAM_TOKEN, QUANTBOT_ALERT_TELEGRAM_CHAT | (unset) | run-failure alerts |
| QUANTBOT_CELERY_BROKER | pyamqp://guest:guest@127.0.0.1:5672// | Celery broker of the Celery code location |
| QUANTBOT_CELERY_BACKEND | rpc:// | Celery result backend |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# read through EnvVar by the resources; Settings records only which of them are set
SECRETS = ("QUANTBOT_WAREHOUSE_PASSWORD", "BIRDEYE_API_KEYS", "QUANTBOT_ALERT_WEBHOOK_URL",
           "QUANTBOT_ALERT_TELEGRAM_TOKEN")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    inbox: Path
    warehouse_url: str
    export_tz: str | None
    start_date: str
    candle_source: str
    pair_resolver: str
    birdeye_rps: float
    candle_dir: Path
    strategies_dir: Path
    intervals: tuple[str, ...]
    sensor_interval_s: int
    min_coverage: float
    alert_telegram_chat: str | None
    celery_broker: str
    celery_backend: str
    secrets_set: frozenset[str]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data = Path(env.get("QUANTBOT_DATA_DIR") or REPO_ROOT / "data").resolve()
        return cls(
            data_dir=data,
            inbox=Path(env.get("QUANTBOT_INBOX") or data / "inbox").resolve(),
            warehouse_url=env.get("QUANTBOT_WAREHOUSE") or f"parquet://{data / 'warehouse'}",
            export_tz=env.get("QUANTBOT_EXPORT_TZ") or None,
            start_date=env.get("QUANTBOT_START_DATE") or "2024-01-01",
            candle_source=env.get("QUANTBOT_CANDLE_SOURCE") or "synthetic",
            pair_resolver=env.get("QUANTBOT_PAIR_RESOLVER") or "offline",
            birdeye_rps=float(env.get("QUANTBOT_BIRDEYE_RPS") or 15),
            candle_dir=Path(env.get("QUANTBOT_CANDLE_DIR") or data / "candles").resolve(),
            strategies_dir=Path(env.get("QUANTBOT_STRATEGIES") or REPO_ROOT / "strategies").resolve(),
            intervals=tuple(i.strip() for i in (env.get("QUANTBOT_INTERVALS") or "5m,15m,1h,4h,1d").split(",")
                            if i.strip()),
            sensor_interval_s=int(env.get("QUANTBOT_SENSOR_INTERVAL_S") or 30),
            min_coverage=float(env.get("QUANTBOT_MIN_COVERAGE") or 0.8),
            alert_telegram_chat=env.get("QUANTBOT_ALERT_TELEGRAM_CHAT") or None,
            celery_broker=env.get("QUANTBOT_CELERY_BROKER") or "pyamqp://guest:guest@127.0.0.1:5672//",
            celery_backend=env.get("QUANTBOT_CELERY_BACKEND") or "rpc://",
            secrets_set=frozenset(name for name in SECRETS if env.get(name)),
        )
