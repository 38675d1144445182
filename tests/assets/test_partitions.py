"""Where the day partitions start: QUANTBOT_START_DATE when set, else the first day the data holds (the first
telegram_calls partition in the warehouse, the first message of an export in the inbox), else today; and the
definitions load whatever the inbox and the warehouse hold."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey

from assets import build_definitions, partitions
from assets.partitions import CallDays, call_days_start
from quantbot_pipelines.sample import write_sample_inbox
from quantbot_pipelines.schemas import TELEGRAM_CALLS
from quantbot_pipelines.warehouse import ParquetWarehouse
from resources.settings import REPO_ROOT, Settings

TODAY = dt.datetime.now(dt.UTC).date()


def settings(root: Path, **env: str) -> Settings:
    return Settings.from_env({"QUANTBOT_DATA_DIR": str(root), **env})


def one_chat(path: Path, unixtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": "c", "type": "private_group", "id": 1, "messages": [
        {"id": 1, "type": "message", "date_unixtime": str(unixtime), "from": "Mia", "text": "hi"}]}))


def store_calls(url_root: Path, *days: dt.date) -> None:
    wh = ParquetWarehouse(url_root)
    for day in days:
        wh.write_partition(TELEGRAM_CALLS, {"day": day}, pl.from_arrow(TELEGRAM_CALLS.empty()))


def first_partition(defs) -> str:
    return defs.resolve_asset_graph().get(AssetKey(TELEGRAM_CALLS.name)).partitions_def.get_first_partition_key()


def test_without_any_data_the_partitions_start_today(tmp_path):
    assert call_days_start(settings(tmp_path)) == (TODAY, "no calls or exports yet")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "warehouse").mkdir()
    days = CallDays.from_settings(settings(tmp_path)).days
    assert days.get_partition_keys() == [TODAY.isoformat()]


def test_exports_in_the_inbox_json_and_html(tmp_path):
    write_sample_inbox(tmp_path / "inbox")
    html = tmp_path / "html_only"
    (html / "inbox").mkdir(parents=True)
    (tmp_path / "inbox" / "degen_calls_html").rename(html / "inbox" / "degen_calls_html")
    # the sample's first messages: 1 September 2025 (JSON: date_unixtime; HTML: 15:28 at UTC+03:00)
    assert call_days_start(settings(tmp_path)) == (dt.date(2025, 9, 1), "export account--result.json")
    assert call_days_start(settings(html)) == (dt.date(2025, 9, 1), "export degen_calls_html")
    one_chat(tmp_path / "inbox" / "older" / "result.json", int(dt.datetime(2025, 2, 3, 4, tzinfo=dt.UTC).timestamp()))
    start, source = call_days_start(settings(tmp_path))
    assert (start, source) == (dt.date(2025, 2, 3), "export older--result.json")
    assert first_partition(build_definitions(settings(tmp_path))) == "2025-02-03"


def test_calls_in_the_warehouse(tmp_path):
    store_calls(tmp_path / "warehouse", dt.date(2025, 5, 6), dt.date(2025, 5, 4))
    assert call_days_start(settings(tmp_path)) == (dt.date(2025, 5, 4), "telegram_calls in the warehouse")
    # an export older than every stored call moves the start back; a newer one does not move it
    one_chat(tmp_path / "inbox" / "new.json", int(dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp()))
    assert call_days_start(settings(tmp_path))[0] == dt.date(2025, 5, 4)
    one_chat(tmp_path / "inbox" / "old.json", int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()))
    assert call_days_start(settings(tmp_path)) == (dt.date(2025, 1, 1), "export old.json")
    # the warehouse named by QUANTBOT_WAREHOUSE, wherever it is
    other = tmp_path / "elsewhere"
    store_calls(other, dt.date(2024, 12, 24))
    assert call_days_start(settings(tmp_path, QUANTBOT_WAREHOUSE=f"parquet://{other}"))[0] == dt.date(2024, 12, 24)


def test_an_explicit_start_date_wins_and_nothing_is_read(tmp_path, monkeypatch):
    write_sample_inbox(tmp_path / "inbox")
    store_calls(tmp_path / "warehouse", dt.date(2025, 1, 1))

    def unread(*_a, **_k):
        raise AssertionError("the data is not looked at when QUANTBOT_START_DATE is set")

    monkeypatch.setattr(partitions, "inbox_first_days", unread)
    monkeypatch.setattr(partitions, "_warehouse_first_day", unread)
    s = settings(tmp_path, QUANTBOT_START_DATE="2025-08-25")
    assert call_days_start(s) == (dt.date(2025, 8, 25), "QUANTBOT_START_DATE")
    assert first_partition(build_definitions(s)) == "2025-08-25"


def test_a_corrupt_export_is_ignored_and_the_definitions_still_load(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "empty.json").write_bytes(b"")
    (inbox / "binary.json").write_bytes(b"\x00\xff\xfe" * 10000)
    (inbox / "cut.json").write_bytes(b'{"name": "x", "type": "private_group", "id": 1, "messages": [{"id": 1, "da')
    (inbox / "epoch.json").write_text('{"name": "x", "messages": [{"id": 1, "date_unixtime": "nan"}]}')
    (inbox / "html").mkdir()
    (inbox / "html" / "messages.html").write_bytes(b"<html>\xff\xfe" * 1000)
    assert call_days_start(settings(tmp_path)) == (TODAY, "no calls or exports yet")
    assert first_partition(build_definitions(settings(tmp_path))) == TODAY.isoformat()
    one_chat(inbox / "good.json", int(dt.datetime(2025, 7, 8, tzinfo=dt.UTC).timestamp()))
    assert call_days_start(settings(tmp_path)) == (dt.date(2025, 7, 8), "export good.json")


def test_stray_dates_are_kept_within_the_allowed_range(tmp_path):
    one_chat(tmp_path / "inbox" / "future.json", int(dt.datetime(2999, 1, 1, tzinfo=dt.UTC).timestamp()))
    assert call_days_start(settings(tmp_path))[0] == TODAY
    one_chat(tmp_path / "inbox" / "epoch.json", 0)
    assert call_days_start(settings(tmp_path))[0] == dt.date(2000, 1, 1)


def test_an_unreadable_inbox_or_warehouse_does_not_stop_the_load(tmp_path, monkeypatch):
    (tmp_path / "inbox").write_text("a file where the folder should be")
    # a ClickHouse server that is not there (refused) ...
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert call_days_start(settings(tmp_path, QUANTBOT_WAREHOUSE=f"http://127.0.0.1:{closed}/db"))[0] == TODAY
    # ... or that accepts and never answers: the listing gives up after its timeout
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    monkeypatch.setattr(partitions, "WAREHOUSE_LISTING_TIMEOUT_S", 0.5)
    one_chat(tmp_path / "ok" / "inbox" / "a.json", int(dt.datetime(2025, 3, 3, tzinfo=dt.UTC).timestamp()))
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/db"
        assert call_days_start(settings(tmp_path / "ok", QUANTBOT_WAREHOUSE=url)) == \
            (dt.date(2025, 3, 3), "export a.json")
    finally:
        silent.close()
    assert not [t for t in threading.enumerate() if t.name == "quantbot-first-day" and not t.daemon]


def test_chdb_is_listed_then_let_go_for_the_runs(tmp_path):
    pytest.importorskip("chdb")
    from quantbot_pipelines.warehouse.clickhouse import ClickHouseWarehouse

    folder = tmp_path / "chdb"
    wh = ClickHouseWarehouse(f"chdb://{folder}")
    wh.write_partition(TELEGRAM_CALLS, {"day": dt.date(2025, 4, 5)}, pl.from_arrow(TELEGRAM_CALLS.empty()))
    wh.close()
    s = settings(tmp_path, QUANTBOT_WAREHOUSE=f"chdb://{folder}")
    assert call_days_start(s) == (dt.date(2025, 4, 5), "telegram_calls in the warehouse")
    # chDB allows one process per folder: a run process must be able to open it after the load
    code = ("import sys; from quantbot_pipelines.warehouse.clickhouse import ClickHouseWarehouse as W; "
            "from quantbot_pipelines.schemas import TELEGRAM_CALLS as T; "
            f"print([str(p['day']) for p in W('chdb://{folder}').partitions(T)])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0 and "2025-04-05" in out.stdout, out.stderr[-2000:]
    # a chDB folder that does not exist yet is not created by the load
    assert call_days_start(settings(tmp_path, QUANTBOT_WAREHOUSE=f"chdb://{tmp_path / 'none'}"))[0] == TODAY
    assert not (tmp_path / "none").exists()
