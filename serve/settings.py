"""The API process's settings, read once from the environment when the app is built (docs/api.md).

| variable | default | meaning |
|---|---|---|
| QUANTBOT_WAREHOUSE | parquet://$QUANTBOT_DATA_DIR/warehouse | the warehouse read (QUANTBOT_DATA_DIR default ./data) |
| QUANTBOT_WAREHOUSE_PASSWORD | (unset) | ClickHouse password |
| QUANTBOT_API_HOST, QUANTBOT_API_PORT | 127.0.0.1, 8000 | where `python -m serve` listens |
| QUANTBOT_API_KEYS | (unset: loopback clients only) | comma-separated API keys |
| QUANTBOT_API_MAX_LIMIT | 500 | the largest `limit` a list accepts |
| QUANTBOT_DAGSTER_URL | http://127.0.0.1:3000 | the Dagster webserver (status and runs) |
| QUANTBOT_DASHBOARD_URL | http://127.0.0.1:8000 | public base URL used in links |

Keys are kept only as SHA-256 digests and the password out of the repr, so no message or log can show them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from resources.settings import REPO_ROOT, SettingsError, mask_url, shown_url, warehouse_url_problem


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def is_loopback_host(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeSettings:
    warehouse_url: str  # may carry a password: shown through `warehouse_shown` only
    host: str = "127.0.0.1"
    port: int = 8000
    key_digests: tuple[bytes, ...] = field(default=(), repr=False)
    max_limit: int = 500
    dagster_url: str = "http://127.0.0.1:3000"
    dashboard_url: str = "http://127.0.0.1:8000"
    warehouse_password: str | None = field(default=None, repr=False)
    refresh_s: float = 2.0  # how often the read model looks whether the warehouse changed

    def __repr__(self) -> str:
        return (f"ServeSettings(warehouse={mask_url(self.warehouse_url)!r}, host={self.host!r}, port={self.port}, "
                f"keys={len(self.key_digests)}, max_limit={self.max_limit}, dagster_url={self.dagster_url!r}, "
                f"dashboard_url={self.dashboard_url!r})")

    __str__ = __repr__

    @property
    def keys_on(self) -> bool:
        return bool(self.key_digests)

    @property
    def warehouse_kind(self) -> str:
        scheme = self.warehouse_url.strip().partition("://")[0].lower()
        return {"parquet": "parquet", "chdb": "chdb"}.get(scheme, "clickhouse")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServeSettings:
        """Read and check the API's variables; SettingsError lists every problem, none quoting a secret."""
        env = os.environ if env is None else env
        problems: list[str] = []

        def get(name: str, default: str) -> str:
            value = env.get(name, "")
            return value.strip() if value.strip() else default

        data = Path(get("QUANTBOT_DATA_DIR", str(REPO_ROOT / "data")))
        warehouse = get("QUANTBOT_WAREHOUSE", f"parquet://{data / 'warehouse'}")
        problem = warehouse_url_problem(warehouse)
        if problem:
            problems.append(f"QUANTBOT_WAREHOUSE={shown_url(warehouse)}: {problem}")

        host = get("QUANTBOT_API_HOST", "127.0.0.1")
        port = _integer(problems, "QUANTBOT_API_PORT", get("QUANTBOT_API_PORT", "8000"), 1, 65535)
        max_limit = _integer(problems, "QUANTBOT_API_MAX_LIMIT", get("QUANTBOT_API_MAX_LIMIT", "500"), 1, 10_000)

        raw_keys = env.get("QUANTBOT_API_KEYS", "")
        keys = [k.strip() for k in raw_keys.split(",") if k.strip()]
        if raw_keys.strip() and not keys:
            problems.append("QUANTBOT_API_KEYS: no key in it (comma-separated keys, or unset for loopback only)")

        dagster_url = _http_url(problems, "QUANTBOT_DAGSTER_URL", get("QUANTBOT_DAGSTER_URL", "http://127.0.0.1:3000"))
        dashboard_url = _http_url(problems, "QUANTBOT_DASHBOARD_URL",
                                  get("QUANTBOT_DASHBOARD_URL", "http://127.0.0.1:8000"))
        if problems:
            raise SettingsError(problems)
        password = env.get("QUANTBOT_WAREHOUSE_PASSWORD") or None
        return cls(warehouse_url=warehouse, host=host, port=port,
                   key_digests=tuple(key_digest(k) for k in dict.fromkeys(keys)), max_limit=max_limit,
                   dagster_url=dagster_url.rstrip("/"), dashboard_url=dashboard_url.rstrip("/"),
                   warehouse_password=password)


def _integer(problems: list[str], name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name}={raw!r}: expected a whole number in [{low}, {high}]")
        return low
    if not low <= value <= high:
        problems.append(f"{name}={raw!r}: expected a whole number in [{low}, {high}]")
    return value


def _http_url(problems: list[str], name: str, raw: str) -> str:
    try:
        parts = urlsplit(raw)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        ok = False
    if not ok:
        problems.append(f"{name}={shown_url(raw)}: expected http(s)://host[:port]")
    return raw
