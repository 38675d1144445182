"""Settings.from_env: every variable checked once; one error naming each bad variable, its value (never a
secret's) and what is allowed; storage URLs without a place to store refused, also by the resource itself."""

from __future__ import annotations

import pytest

from resources import settings as settings_module


def load(**env: str):
    return settings_module.Settings.from_env(env)


def error_of(**env: str) -> ValueError:
    with pytest.raises(ValueError) as err:
        load(**env)
    assert type(err.value).__name__ == "SettingsError", f"{type(err.value).__name__}: {err.value}"
    return err.value


def test_the_defaults_are_valid():
    s = load()
    assert s.birdeye_rps == 15 and s.sensor_interval_s == 30 and s.min_coverage == 0.8
    assert s.intervals == ("5m", "15m", "1h", "4h", "1d")
    assert s.warehouse_url.startswith("parquet://") and s.max_variants == 10_000
    # unset, the day partitions start where the data does (assets/partitions.py, tests/assets/test_partitions.py)
    assert s.start_date is None


def test_an_explicit_start_date_is_kept():
    assert load(QUANTBOT_START_DATE=" 2025-08-25 ").start_date == "2025-08-25"


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("QUANTBOT_BIRDEYE_RPS", "nan", "a finite number in (0, 1000]"),
    ("QUANTBOT_BIRDEYE_RPS", "inf", "a finite number in (0, 1000]"),
    ("QUANTBOT_BIRDEYE_RPS", "0", "a finite number in (0, 1000]"),
    ("QUANTBOT_BIRDEYE_RPS", "fast", "a finite number in (0, 1000]"),
    ("QUANTBOT_SENSOR_INTERVAL_S", "abc", "a whole number in [1, 86400]"),
    ("QUANTBOT_SENSOR_INTERVAL_S", "0", "a whole number in [1, 86400]"),
    ("QUANTBOT_SENSOR_INTERVAL_S", "30.5", "a whole number in [1, 86400]"),
    ("QUANTBOT_MIN_COVERAGE", "1.5", "a finite number in [0, 1]"),
    ("QUANTBOT_MIN_COVERAGE", "nan", "a finite number in [0, 1]"),
    ("QUANTBOT_MAX_VARIANTS", "0", "a whole number in [1, 1000000]"),
    ("QUANTBOT_MAX_VARIANTS", "ten", "a whole number in [1, 1000000]"),
    ("QUANTBOT_START_DATE", "2024-13-01", "an ISO date YYYY-MM-DD"),
    ("QUANTBOT_START_DATE", "01/02/2024", "an ISO date YYYY-MM-DD"),
    ("QUANTBOT_START_DATE", "2999-01-01", "to today"),
    ("QUANTBOT_CANDLE_SOURCE", "birdeyes", "one of synthetic, birdeye, geckoterminal, files"),
    ("QUANTBOT_PAIR_RESOLVER", "dex", "one of offline, dexscreener, geckoterminal"),
    ("QUANTBOT_INTERVALS", "5m,5x", "N followed by m, h or d"),
    ("QUANTBOT_INTERVALS", "7m", "dividing a day evenly"),
    ("QUANTBOT_INTERVALS", "1w", "from 1m to 1d"),
    ("QUANTBOT_INTERVALS", "5m,5m", "none repeated"),
    ("QUANTBOT_INTERVALS", ",", "comma-separated list"),
    ("QUANTBOT_EXPORT_TZ", "Mars/Olympus", "an IANA time zone name"),
    ("QUANTBOT_CELERY_BROKER", "localhost", "a Celery URL scheme://"),
    ("QUANTBOT_DASHBOARD_URL", "dash.example.org", "an http(s)://host[:port] URL"),
    ("QUANTBOT_DASHBOARD_URL", "ftp://dash.example.org", "an http(s)://host[:port] URL"),
])
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(name, value, allowed):
    msg = str(error_of(**{name: value}))
    assert f"{name}={value!r}" in msg and allowed in msg, msg


@pytest.mark.parametrize(("url", "needs"), [
    ("chdb://", "a folder for the chDB engine's data"),
    ("chdb:///", "a folder for the chDB engine's data"),
    ("parquet://", "a folder for Parquet tables"),
    ("http://", "a ClickHouse server's host name"),
    ("https://:8123/db", "a ClickHouse server's host name"),
    ("https://host:port/db", "numeric port"),
    ("ftp://host/x", "expected parquet://<dir>, chdb://<dir> or http(s)://"),
    ("data/warehouse", "expected parquet://<dir>, chdb://<dir> or http(s)://"),
])
def test_a_storage_url_without_a_place_to_store_is_refused(url, needs):
    msg = str(error_of(QUANTBOT_WAREHOUSE=url))
    assert "QUANTBOT_WAREHOUSE=" in msg and needs in msg, msg


@pytest.mark.parametrize("url", ["chdb://", "parquet://", "parquet://  ", "http://", "https://:8123/db"])
def test_the_warehouse_resource_refuses_them_too(url):
    # the resource may be configured directly (tests, another code location), not through Settings
    from resources.warehouse import WarehouseResource

    with pytest.raises(ValueError, match="warehouse url .*: expected"):
        WarehouseResource(url=url).get()


def test_every_problem_is_listed_in_one_error():
    err = error_of(QUANTBOT_BIRDEYE_RPS="nan", QUANTBOT_INTERVALS="5x", QUANTBOT_WAREHOUSE="chdb://",
                   QUANTBOT_SENSOR_INTERVAL_S="soon")
    assert len(err.problems) == 4
    msg = str(err)
    for name in ("QUANTBOT_BIRDEYE_RPS", "QUANTBOT_INTERVALS", "QUANTBOT_WAREHOUSE", "QUANTBOT_SENSOR_INTERVAL_S"):
        assert name in msg, msg


def test_errors_never_show_a_secret():
    err = error_of(QUANTBOT_WAREHOUSE="https://reader:Pw-in-url-31@:8123/db",
                   QUANTBOT_ALERT_WEBHOOK_URL="hooks.example/Hook-tok-32",
                   BIRDEYE_API_KEYS=" , ",
                   QUANTBOT_CELERY_BROKER="amqp:/qb:Amqp-pw-33@host",
                   QUANTBOT_CANDLE_SOURCE="birdeye")
    msg = str(err)
    for secret in ("Pw-in-url-31", "Hook-tok-32", "Amqp-pw-33"):
        assert secret not in msg, msg
    assert "reader:***@" in msg and "QUANTBOT_ALERT_WEBHOOK_URL=(value not shown" in msg
    assert "BIRDEYE_API_KEYS=(value not shown" in msg and "needs BIRDEYE_API_KEYS" in msg


def test_a_password_in_a_url_is_not_kept_and_is_read_through_the_variable():
    from dagster import EnvVar

    from resources import build_resources

    s = load(QUANTBOT_WAREHOUSE="https://reader:Pw-kept-41@ch.example:8443/qb",
             QUANTBOT_CELERY_BROKER="pyamqp://qb:Pw-kept-42@mq.example:5672//")
    assert "Pw-kept" not in repr(s)
    assert s.warehouse_url == "https://reader:***@ch.example:8443/qb"
    assert {"QUANTBOT_WAREHOUSE", "QUANTBOT_CELERY_BROKER"} <= s.secrets_set
    assert build_resources(s)["warehouse"].url == EnvVar("QUANTBOT_WAREHOUSE")
    assert s.executor_value("QUANTBOT_CELERY_BROKER", s.celery_broker) == {"env": "QUANTBOT_CELERY_BROKER"}
    assert s.executor_value("QUANTBOT_CELERY_BACKEND", s.celery_backend) == "rpc://"
    # without a password the URL is kept as given (and shown in the UI as such)
    plain = load(QUANTBOT_WAREHOUSE="https://reader@ch.example:8443/qb")
    assert build_resources(plain)["warehouse"].url == "https://reader@ch.example:8443/qb"
    # the Celery workers' own configuration gets the URLs as given
    assert settings_module.celery_urls({"QUANTBOT_CELERY_BROKER": "pyamqp://qb:Pw-kept-42@mq.example:5672//"})[0] \
        == "pyamqp://qb:Pw-kept-42@mq.example:5672//"


def test_the_variant_cap_reaches_the_strategy_folder():
    from resources import build_resources

    assert build_resources(load(QUANTBOT_MAX_VARIANTS="50"))["strategies"].max_variants == 50
    assert build_resources(load())["strategies"].max_variants == 10_000


def test_a_warehouse_url_read_from_the_variable_also_opens_outside_a_run(monkeypatch):
    # scripts (the demo) call resources["warehouse"].get() directly: the EnvVar is read, not its name used
    from resources import build_resources

    url = "https://reader:Pw-direct-51@ch.example:8443/qb"  # the client connects on first use, not here
    monkeypatch.setenv("QUANTBOT_WAREHOUSE", url)
    wh = build_resources(load(QUANTBOT_WAREHOUSE=url))["warehouse"].get()
    assert repr(wh) == "ClickHouseWarehouse('https://reader:***@ch.example:8443/qb')"
