"""Every environment variable the code location reads, read here and nowhere else, and checked here once.

`Settings.from_env()` is called once, when the definitions are built (`definitions.py`); nothing reads the
environment at import. Every variable is validated then: a bad value stops the code location from loading
with one `SettingsError` that lists every problem, each naming the variable, the value (never for a secret)
and what is allowed. Secrets are not kept here: only whether they are set, so that the resources can ask for
them through Dagster's `EnvVar` (their values stay out of run config, Dagster's storage and the UI). A URL
that carries a password (QUANTBOT_WAREHOUSE, QUANTBOT_CELERY_BROKER, QUANTBOT_CELERY_BACKEND) is kept with the
password masked (`user:***@host`), and counts as a secret: the resource or executor reads the variable itself.

| variable | default | allowed |
|---|---|---|
| QUANTBOT_DATA_DIR | ./data | root of the embedded warehouse, inbox and caches |
| QUANTBOT_INBOX | $QUANTBOT_DATA_DIR/inbox | folder the inbox sensor watches for Telegram exports (a missing folder or a file is reported by the sensor) |
| QUANTBOT_WAREHOUSE | parquet://$QUANTBOT_DATA_DIR/warehouse | parquet://<dir> or chdb://<dir> (a folder is required: chdb:// alone would keep rows in memory only), or http(s)://[user[:password]@]host[:port][/db] (a host is required) |
| QUANTBOT_WAREHOUSE_PASSWORD | (unset) | ClickHouse password, read through EnvVar (never logged) |
| QUANTBOT_EXPORT_TZ | (unset) | an IANA zone (Europe/Berlin) for exports whose times carry no offset |
| QUANTBOT_START_DATE | (unset: the first day the data holds) | first day partition: an ISO date YYYY-MM-DD from 2000-01-01 to today (UTC); unset, the earliest day of the calls in the warehouse and of the exports in the inbox, else today (assets/partitions.py, call_days_start) |
| QUANTBOT_CANDLE_SOURCE | synthetic | synthetic, birdeye (needs BIRDEYE_API_KEYS), geckoterminal or files |
| BIRDEYE_API_KEYS | (unset) | comma-separated Birdeye keys, read through EnvVar (never logged) |
| QUANTBOT_BIRDEYE_RPS | 15 | requests per second per Birdeye key (your plan's limit): a number in (0, 1000] |
| QUANTBOT_PAIR_RESOLVER | offline | pair (pool) address -> token lookups: offline (none), dexscreener or geckoterminal |
| QUANTBOT_CANDLE_DIR | $QUANTBOT_DATA_DIR/candles | folder of the files candle source |
| QUANTBOT_REFINE_INTERVAL | 15s with the synthetic source, else off | off, 1s, 15s or 30s: finer candles fetched once for each minute where a stop and a take-profit were both crossed, to settle which came first (docs/semantics.md#order-bounds; Birdeye: Solana from 2025-05-02, and credits) |
| QUANTBOT_INTERVALS | 5m,15m,1h,4h,1d | aggregated candle intervals (a partition dimension): N followed by m, h or d, from 1m to 1d, each dividing a day, no repeats |
| QUANTBOT_STRATEGIES | ./strategies | folder of strategy YAML files |
| QUANTBOT_MAX_VARIANTS | 10000 | most strategies one strategy file (a sweep) may expand to: a whole number in [1, 1000000] |
| QUANTBOT_WF_TRAIN_DAYS, QUANTBOT_WF_TEST_DAYS, QUANTBOT_WF_STEP_DAYS | 60, 14, 14 | walk-forward folds: train, test and step lengths in days, whole numbers in [1, 3650] (docs/semantics.md#walk-forward) |
| QUANTBOT_WF_MODE | rolling | rolling (train on the last QUANTBOT_WF_TRAIN_DAYS days) or anchored (train on every day from the first) |
| QUANTBOT_SENSOR_INTERVAL_S | 30 | how often the inbox and strategy sensors look (the follow-through sensor: half of it): whole seconds in [1, 86400] |
| QUANTBOT_MIN_COVERAGE | 0.8 | share of a day's calls with candles below which the coverage check warns: a number in [0, 1] |
| QUANTBOT_ALERT_WEBHOOK_URL | (unset) | run-failure alerts: an http(s) URL, read through EnvVar (never logged) |
| QUANTBOT_ALERT_TELEGRAM_TOKEN, QUANTBOT_ALERT_TELEGRAM_CHAT | (unset) | run-failure alerts through a Telegram bot; the token through EnvVar (never logged) |
| QUANTBOT_CELERY_BROKER | pyamqp://guest:guest@127.0.0.1:5672// | Celery broker of the Celery code location: scheme://..., a password in it is read through the variable |
| QUANTBOT_CELERY_BACKEND | rpc:// | Celery result backend: scheme://..., a password in it is read through the variable |
| QUANTBOT_DASHBOARD_URL | http://127.0.0.1:8000 | where the dashboard (`make serve`) is reached: each asset's description in the Dagster UI links to its page there |
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent

# read through EnvVar by the resources; Settings records only which of them are set
SECRETS = ("QUANTBOT_WAREHOUSE_PASSWORD", "BIRDEYE_API_KEYS", "QUANTBOT_ALERT_WEBHOOK_URL",
           "QUANTBOT_ALERT_TELEGRAM_TOKEN")
# URLs that may carry a password: kept masked, and counted as secrets (in `secrets_set`) when they do
SECRET_URLS = ("QUANTBOT_WAREHOUSE", "QUANTBOT_CELERY_BROKER", "QUANTBOT_CELERY_BACKEND")

CANDLE_SOURCES = ("synthetic", "birdeye", "geckoterminal", "files")
PAIR_RESOLVERS = ("offline", "dexscreener", "geckoterminal")
DEFAULT_INTERVALS = "5m,15m,1h,4h,1d"
DEFAULT_CELERY_BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
DEFAULT_CELERY_BACKEND = "rpc://"
DEFAULT_MAX_VARIANTS = 10_000  # the strategy loader's default (quantbot_pipelines/simulation/strategy.py)
EARLIEST_START = dt.date(2000, 1, 1)
WALK_FORWARD_MODES = ("rolling", "anchored")


class SettingsError(ValueError):
    """One or more environment variables are invalid; `problems` holds one line per variable."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid settings ({len(self.problems)} problem{'s' if len(problems) > 1 else ''}):\n"
                         f"{lines}")


def mask_url(url: str) -> str:
    """`url` with the password of its user part replaced by ***; other parts as given."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hostport}{slash}{tail}"


def url_has_password(url: str) -> bool:
    return mask_url(url) != url


def shown_url(url: str) -> str:
    """How a URL that may carry a password is quoted in an error: masked, or not at all when it has an `@`
    that masking did not find (then it may hold a password in a shape this module does not parse)."""
    masked = mask_url(url)
    return repr(masked) if masked != url or "@" not in url else "(value not shown: it may hold a password)"


def warehouse_url_problem(url: str) -> str | None:
    """What is wrong with a warehouse URL (None if nothing): the scheme, and a path or a host it needs.
    Also used where a WarehouseResource opens its URL (resources/warehouse.py), however it was configured."""
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("parquet", "chdb", "http", "https"):
        return "expected parquet://<dir>, chdb://<dir> or http(s)://[user@]host[:port]/database"
    if scheme in ("parquet", "chdb"):
        path = rest.strip()
        if path in ("", "/", ":memory:") or path.startswith("?"):
            what = "Parquet tables" if scheme == "parquet" else "the chDB engine's data"
            consequence = ("tables would be written into the working directory" if scheme == "parquet"
                           else "an in-memory engine would lose every row when the process ends")
            return f"expected {scheme}://<dir>, a folder for {what} ({consequence})"
        return None
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError:
        return f"expected {scheme}://[user@]host[:port]/database with a numeric port"
    if not parts.hostname:
        return f"expected {scheme}://[user@]host[:port]/database: a ClickHouse server's host name"
    return None


REFINE_INTERVALS = ("off", "1s", "15s", "30s")
DEFAULT_DASHBOARD_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    inbox: Path
    warehouse_url: str  # masked when it carries a password; then "QUANTBOT_WAREHOUSE" is in secrets_set
    export_tz: str | None
    start_date: str | None  # QUANTBOT_START_DATE; None: the day partitions start where the data does
    candle_source: str
    pair_resolver: str
    birdeye_rps: float
    candle_dir: Path
    strategies_dir: Path
    intervals: tuple[str, ...]
    refine_interval: str  # "" = off
    sensor_interval_s: int
    min_coverage: float
    alert_telegram_chat: str | None
    celery_broker: str  # masked when it carries a password (see secrets_set)
    celery_backend: str  # masked when it carries a password (see secrets_set)
    secrets_set: frozenset[str]
    max_variants: int = DEFAULT_MAX_VARIANTS
    walk_forward: tuple[int, int, int, str] = (60, 14, 14, "rolling")  # train, test, step days; mode
    dashboard_url: str = DEFAULT_DASHBOARD_URL  # where the assets' descriptions link to (serve/)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """The settings of `env` (default: the process environment), every variable checked; raises
        SettingsError listing every invalid one."""
        env = dict(os.environ if env is None else env)
        check = _Checker(env)
        data = check.path("QUANTBOT_DATA_DIR", REPO_ROOT / "data")
        warehouse = check.warehouse("QUANTBOT_WAREHOUSE", f"parquet://{data / 'warehouse'}")
        broker = check.celery_url("QUANTBOT_CELERY_BROKER", DEFAULT_CELERY_BROKER)
        backend = check.celery_url("QUANTBOT_CELERY_BACKEND", DEFAULT_CELERY_BACKEND)
        candle_source = check.choice("QUANTBOT_CANDLE_SOURCE", "synthetic", CANDLE_SOURCES)
        secrets = {name for name in SECRETS if env.get(name, "").strip()}
        secrets |= {name for name in SECRET_URLS if env.get(name, "").strip() and url_has_password(env[name])}

        def kept(name: str, url: str) -> str:
            # masked only when the variable gave a password: the built-in broker default (guest:guest on the
            # local RabbitMQ) is public, and the executor needs it whole
            return mask_url(url) if name in secrets else url

        if not check.secret_list("BIRDEYE_API_KEYS"):
            secrets.discard("BIRDEYE_API_KEYS")
        check.secret_url("QUANTBOT_ALERT_WEBHOOK_URL")
        if candle_source == "birdeye" and "BIRDEYE_API_KEYS" not in secrets:
            check.problems.append("QUANTBOT_CANDLE_SOURCE='birdeye' needs BIRDEYE_API_KEYS (comma-separated keys)")
        settings = cls(
            data_dir=data,
            inbox=check.path("QUANTBOT_INBOX", data / "inbox"),
            warehouse_url=kept("QUANTBOT_WAREHOUSE", warehouse),
            export_tz=check.timezone("QUANTBOT_EXPORT_TZ"),
            start_date=check.date("QUANTBOT_START_DATE", None),
            candle_source=candle_source,
            pair_resolver=check.choice("QUANTBOT_PAIR_RESOLVER", "offline", PAIR_RESOLVERS),
            birdeye_rps=check.number("QUANTBOT_BIRDEYE_RPS", 15.0, low=0, high=1000, low_open=True),
            candle_dir=check.path("QUANTBOT_CANDLE_DIR", data / "candles"),
            strategies_dir=check.path("QUANTBOT_STRATEGIES", REPO_ROOT / "strategies"),
            intervals=check.intervals("QUANTBOT_INTERVALS", DEFAULT_INTERVALS),
            refine_interval=check.choice("QUANTBOT_REFINE_INTERVAL", "15s" if candle_source == "synthetic" else "off",
                                         REFINE_INTERVALS).replace("off", ""),
            sensor_interval_s=check.integer("QUANTBOT_SENSOR_INTERVAL_S", 30, low=1, high=86400),
            min_coverage=check.number("QUANTBOT_MIN_COVERAGE", 0.8, low=0, high=1),
            alert_telegram_chat=env.get("QUANTBOT_ALERT_TELEGRAM_CHAT", "").strip() or None,
            celery_broker=kept("QUANTBOT_CELERY_BROKER", broker),
            celery_backend=kept("QUANTBOT_CELERY_BACKEND", backend),
            secrets_set=frozenset(secrets),
            max_variants=check.integer("QUANTBOT_MAX_VARIANTS", DEFAULT_MAX_VARIANTS, low=1, high=1_000_000),
            walk_forward=(check.integer("QUANTBOT_WF_TRAIN_DAYS", 60, low=1, high=3650),
                          check.integer("QUANTBOT_WF_TEST_DAYS", 14, low=1, high=3650),
                          check.integer("QUANTBOT_WF_STEP_DAYS", 14, low=1, high=3650),
                          check.choice("QUANTBOT_WF_MODE", "rolling", WALK_FORWARD_MODES)),
            dashboard_url=check.web_url("QUANTBOT_DASHBOARD_URL", DEFAULT_DASHBOARD_URL),
        )
        if check.problems:
            raise SettingsError(check.problems)
        return settings

    def from_secret_env(self, name: str, value: str):
        """`value`, or the variable itself when it holds a secret: Dagster's EnvVar for a resource field
        (resolved when the run starts, stored as the variable's name)."""
        if name in self.secrets_set:
            from dagster import EnvVar

            return EnvVar(name)
        return value

    def executor_value(self, name: str, value: str) -> str | dict[str, str]:
        """`value`, or {"env": name} when the variable holds a secret: executor config reads it at run time."""
        return {"env": name} if name in self.secrets_set else value


def celery_urls(env: dict[str, str] | None = None) -> tuple[str, str]:
    """(broker, backend) as given, passwords included, for the Celery workers' own configuration
    (deploy/celery/dagster_celery_config.py); checked like every other setting."""
    env = dict(os.environ if env is None else env)
    check = _Checker(env)
    broker = check.celery_url("QUANTBOT_CELERY_BROKER", DEFAULT_CELERY_BROKER)
    backend = check.celery_url("QUANTBOT_CELERY_BACKEND", DEFAULT_CELERY_BACKEND)
    if check.problems:
        raise SettingsError(check.problems)
    return broker, backend


_INTERVAL = re.compile(r"([1-9][0-9]{0,4})([mhd])")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


class _Checker:
    """Reads one variable at a time; a bad value becomes a line in `problems` and the default stands in,
    so that every problem of the environment is found in one pass."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return value if value is not None and value.strip() else None

    def _bad(self, name: str, value: str, allowed: str, *, secret: bool = False) -> None:
        shown = "(value not shown: it is a secret)" if secret else repr(value)
        self.problems.append(f"{name}={shown}: expected {allowed}")

    def path(self, name: str, default: Path) -> Path:
        raw = self._raw(name)
        if raw is None:
            return Path(default).resolve()
        if "\x00" in raw:
            self._bad(name, raw, "a file system path")
            return Path(default).resolve()
        return Path(raw.strip()).expanduser().resolve()

    def number(self, name: str, default: float, *, low: float, high: float, low_open: bool = False) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        lo = f"({low:g}" if low_open else f"[{low:g}"
        allowed = f"a finite number in {lo}, {high:g}]"
        try:
            value = float(raw)
        except ValueError:
            self._bad(name, raw, allowed)
            return default
        if not math.isfinite(value) or not (value > low if low_open else value >= low) or value > high:
            self._bad(name, raw, allowed)
            return default
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        allowed = f"a whole number in [{low}, {high}]"
        text = raw.strip().replace("_", "")
        if not re.fullmatch(r"[+-]?[0-9]{1,12}", text):
            self._bad(name, raw, allowed)
            return default
        value = int(text)
        if not low <= value <= high:
            self._bad(name, raw, allowed)
            return default
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value not in allowed:
            self._bad(name, raw, f"one of {', '.join(allowed)}")
            return default
        return value

    def date(self, name: str, default: str | None) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return default
        today = dt.datetime.now(dt.UTC).date()
        allowed = f"an ISO date YYYY-MM-DD from {EARLIEST_START} to today ({today}, UTC)"
        value = raw.strip()
        try:
            day = dt.date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else None
        except ValueError:
            day = None
        if day is None or not EARLIEST_START <= day <= today:
            self._bad(name, raw, allowed)
            return default
        return day.isoformat()

    def timezone(self, name: str) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return None
        import zoneinfo

        value = raw.strip()
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            self._bad(name, raw, "an IANA time zone name such as Europe/Berlin or UTC")
            return None
        return value

    def intervals(self, name: str, default: str) -> tuple[str, ...]:
        raw = self._raw(name) or default
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        allowed = ("a comma-separated list of intervals, each N followed by m, h or d (5m, 1h, 1d), from 1m to 1d, "
                   "dividing a day evenly, none repeated")
        seconds = []
        for part in parts:
            m = _INTERVAL.fullmatch(part)
            step = int(m.group(1)) * _UNIT_S[m.group(2)] if m else 0
            if not m or not 60 <= step <= 86400 or 86400 % step:
                self._bad(name, raw, allowed + f" ({part!r} is not)")
                return tuple(p.strip() for p in default.split(","))
            seconds.append(step)
        if not parts or len(set(seconds)) != len(seconds):
            self._bad(name, raw, allowed)
            return tuple(p.strip() for p in default.split(","))
        return tuple(parts)

    def warehouse(self, name: str, default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.strip()
        problem = warehouse_url_problem(value)
        if problem:
            # the URL may carry a password: shown masked
            self.problems.append(f"{name}={shown_url(value)}: {problem}")
            return default
        return value

    def celery_url(self, name: str, default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.strip()
        if not _URL_SCHEME.match(value):
            self.problems.append(f"{name}={shown_url(value)}: expected a Celery URL scheme://... "
                                 f"(pyamqp://user:password@host:5672//, redis://host:6379/0, rpc://)")
            return default
        return value

    def secret_list(self, name: str) -> bool:
        """Whether the variable holds at least one item (a set variable holding none is a problem)."""
        raw = self._raw(name)
        if raw is None:
            return False
        if not any(k.strip() for k in raw.split(",")):
            self._bad(name, raw, "one key or more, comma-separated", secret=True)
            return False
        return True

    def web_url(self, name: str, default: str) -> str:
        """A public http(s)://host[:port][/path] base (links are made from it, so no credentials in it)."""
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.strip().rstrip("/")
        try:
            parts = urlsplit(value)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.password
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            ok = False
        if not ok:
            self.problems.append(f"{name}={shown_url(value)}: expected an http(s)://host[:port] URL without a "
                                 f"password")
            return default
        return value

    def secret_url(self, name: str) -> None:
        raw = self._raw(name)
        if raw is None:
            return
        try:
            parts = urlsplit(raw.strip())
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            ok = False
        if not ok:
            self._bad(name, raw, "an http(s)://host/... URL", secret=True)
