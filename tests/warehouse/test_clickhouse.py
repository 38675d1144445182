"""ClickHouse specifics: table layout, commit records, and the password kept out of errors and repr."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from quantbot_pipelines.schemas import AGGREGATED_CANDLES, RAW_CANDLES, TELEGRAM_CALLS
from quantbot_pipelines.warehouse.clickhouse import (
    ClickHouseWarehouse,
    WarehouseError,
    _write_ids,
    create_table_sql,
)
from tests.warehouse._data import candles, rows

D1, D2 = dt.date(2025, 3, 1), dt.date(2025, 3, 2)


@pytest.fixture
def ch(tmp_path):
    wh = ClickHouseWarehouse(f"chdb://{tmp_path / 'chdb'}")
    yield wh
    wh.close()


def _table(ch, name):
    return ch.client.query("SELECT engine, sorting_key, partition_key FROM system.tables "
                           "WHERE database = currentDatabase() AND name = {n:String}",
                           parameters={"n": name}).result_rows[0]


def test_tables_are_created_with_the_candle_layout(ch):
    ch.write_partition(RAW_CANDLES, {"day": D1}, candles(D1, 10))
    ch.write_partition(AGGREGATED_CANDLES, {"day": D1, "interval": "1m"}, candles(D1, 10))
    ch.write_partition(TELEGRAM_CALLS, {"day": D1}, rows(TELEGRAM_CALLS, 3, {"day": D1}))
    assert _table(ch, "raw_candles") == (
        "MergeTree", "chain, address, interval, open_ts, day", "toYYYYMM(open_ts)")
    assert _table(ch, "aggregated_candles")[1] == "chain, address, interval, open_ts, day"
    assert _table(ch, "telegram_calls")[:2] == ("MergeTree", "day, chat_id, message_id, chain, address")
    types = dict(ch.client.query("SELECT name, type FROM system.columns WHERE table = 'raw_candles'").result_rows)
    assert types["open_ts"] == "DateTime64(0, 'UTC')" and types["day"] == "Date32"
    assert types["volume_usd"] == "Nullable(Float64)" and types["_qb_version"] == "UInt64"


def _stamped(table: pa.Table, part: str, version: int) -> pa.Table:
    """Rows as a writer inserts them, before its commit record."""
    n = table.num_rows
    table = table.append_column("_qb_partition", pa.array([part] * n))
    return table.append_column("_qb_version", pa.array(np.full(n, version, dtype=np.uint64)))


def _whole(got: pl.DataFrame, expected: pa.Table) -> None:
    key = ["day", *RAW_CANDLES.key]
    assert_frame_equal(got.sort(key), pl.from_arrow(expected).sort(key))


def test_rows_of_a_write_never_committed_change_nothing_and_are_reclaimed(ch):
    committed = candles(D1, 1000, price=1.0)
    ch.write_partition(RAW_CANDLES, {"day": D1}, committed)
    # a writer that died after inserting its rows (the same keys, a newer write id) and before its commit
    ch.client.insert_arrow("raw_candles", _stamped(candles(D1, 1500, price=9.0), "day=2025-03-01", _write_ids.next()))
    assert ch.stored_rows(RAW_CANDLES) == 2500
    ch.optimize(RAW_CANDLES)  # merges everything: no row of the committed write may go
    _whole(ch.read(RAW_CANDLES), committed)
    assert ch.read(RAW_CANDLES, where=[("close", "<", 5.0)]).height == 1000
    # young, so possibly a writer still running: kept; superseded by a later commit, it goes
    assert ch.stored_rows(RAW_CANDLES) == 2500
    ch.delete_partition(RAW_CANDLES, {"day": D1})
    ch.optimize(RAW_CANDLES)
    assert ch.stored_rows(RAW_CANDLES) == 0 and ch.partitions(RAW_CANDLES) == []


def test_a_dead_writers_rows_are_reclaimed_once_old(ch):
    ch.write_partition(RAW_CANDLES, {"day": D1}, candles(D1, 100, price=1.0))
    old_id = _write_ids.next() - 2 * 3600 * 10**9  # write ids are nanosecond clocks: two hours ago
    ch.client.insert_arrow("raw_candles", _stamped(candles(D2, 50), "day=2025-03-02", old_id))
    ch.write_partition(RAW_CANDLES, {"day": D1}, candles(D1, 100, price=2.0))
    ch.optimize(RAW_CANDLES)
    assert ch.stored_rows(RAW_CANDLES) == 100 and ch.partitions(RAW_CANDLES) == [{"day": D1}]


def test_a_superseded_version_stays_stored_for_the_grace_period(tmp_path):
    wh = ClickHouseWarehouse(f"chdb://{tmp_path / 'chdb'}", sync_cleanup=True, cleanup_grace_s=0.5)
    try:
        wh.write_partition(RAW_CANDLES, {"day": D1}, candles(D1, 300, price=1.0))
        wh.write_partition(RAW_CANDLES, {"day": D1}, candles(D1, 200, price=2.0))
        assert wh.stored_rows(RAW_CANDLES) == 500  # a reader may still be reading the 300
        time.sleep(0.6)
        wh.write_partition(RAW_CANDLES, {"day": D2}, candles(D2, 10))  # any write cleans up the table
        assert wh.stored_rows(RAW_CANDLES) == 210
    finally:
        wh.close()


class _Racing(ClickHouseWarehouse):
    """Runs `between` once, after a read resolved what is committed and before it selects the rows."""

    between = None

    def _resolve(self, spec, part_preds):
        resolved = super()._resolve(spec, part_preds)
        if self.between is not None:
            between, self.between = self.between, None
            between()
        return resolved


def test_a_write_after_a_read_resolved_leaves_it_the_whole_old_version(tmp_path):
    wh = _Racing(f"chdb://{tmp_path / 'chdb'}", sync_cleanup=True)
    try:
        old, new = candles(D1, 800, price=1.0), candles(D1, 300, price=2.0)
        wh.write_partition(RAW_CANDLES, {"day": D1}, old)
        wh.between = lambda: wh.write_partition(RAW_CANDLES, {"day": D1}, new)
        _whole(wh.read(RAW_CANDLES), old)
        _whole(wh.read(RAW_CANDLES), new)
    finally:
        wh.close()


@pytest.mark.parametrize("filtered", [False, True])
def test_a_read_whose_rows_are_removed_under_it_reads_again(tmp_path, caplog, filtered):
    wh = _Racing(f"chdb://{tmp_path / 'chdb'}", sync_cleanup=True)
    try:
        old, new = candles(D1, 800, price=1.0), candles(D1, 300, price=2.0)
        wh.write_partition(RAW_CANDLES, {"day": D1}, old)

        def rewrite_and_reclaim():
            wh.write_partition(RAW_CANDLES, {"day": D1}, new)
            wh.optimize(RAW_CANDLES)  # no grace: deletes the version the read resolved

        wh.between = rewrite_and_reclaim
        with caplog.at_level(logging.INFO, logger="quantbot_pipelines.warehouse.clickhouse"):
            got = wh.read(RAW_CANDLES, where=[("close", ">", 0.0)] if filtered else None)
        _whole(got, new)
        assert "reading again" in caplog.text and "has 0 of the 800 rows" in caplog.text
    finally:
        wh.close()


def test_a_partition_that_lost_committed_rows_fails_to_read(ch):
    ch.write_partition(RAW_CANDLES, {"day": D1}, candles(D1, 1000, tokens=10))
    ch.write_partition(RAW_CANDLES, {"day": D2}, candles(D2, 500, tokens=10))
    lost = ch.read(RAW_CANDLES, where=[("day", "=", D1)])["address"][0]
    ch.client.command("DELETE FROM raw_candles WHERE address = {a:String}", parameters={"a": lost},
                      settings={"lightweight_deletes_sync": 2})  # not through the warehouse
    for where in (None, [("day", "=", D1)], [("close", ">", 0.0)]):
        with pytest.raises(WarehouseError, match=r"partition day=2025-03-01 has 900 of the 1,000 rows"):
            ch.read(RAW_CANDLES, where=where)
    assert ch.read(RAW_CANDLES, where=[("day", "=", D2)]).height == 500  # the other partition reads
    ch.write_partition(RAW_CANDLES, {"day": D1}, candles(D1, 1000, tokens=10))  # a rewrite repairs it
    assert ch.read(RAW_CANDLES).height == 1500


def test_candle_tables_of_the_replacing_engine_are_migrated(tmp_path):
    folder = f"chdb://{tmp_path / 'chdb'}"
    old = ClickHouseWarehouse(folder)
    c = old.client
    c.command(create_table_sql(RAW_CANDLES).replace("ENGINE = MergeTree", "ENGINE = ReplacingMergeTree(_qb_version)"))
    april = dt.date(2025, 4, 30)  # its candles run into May: three monthly partitions in all
    expected = {}
    for day, n in ((D1, 700), (april, 3000)):
        for price in (1.0, 2.0):  # a superseded version, then the committed one
            version = _write_ids.next()
            data = candles(day, n, tokens=1, price=price)
            c.insert_arrow("raw_candles", _stamped(data, f"day={day}", version))
            old._commit(RAW_CANDLES, f"day={day}", version, n, deleted=False)
        expected[day] = data
    c.insert_arrow("raw_candles", _stamped(candles(D1, 50, price=9.0), "day=2025-03-01", _write_ids.next()))
    # what a migration killed half-way leaves behind (with chDB no other process can be running it)
    c.command("CREATE TABLE raw_candles__qb_migrating (x UInt8) ENGINE = MergeTree ORDER BY x")
    assert _table(old, "raw_candles")[0] == "ReplacingMergeTree"
    parts = c.query("SELECT uniq(partition_id) FROM system.parts WHERE table = 'raw_candles' AND active").result_rows
    assert parts == [(3,)]
    old.close()

    wh = ClickHouseWarehouse(folder)
    try:
        _whole(wh.read(RAW_CANDLES, where=[("day", "=", D1)]), expected[D1])
        _whole(wh.read(RAW_CANDLES, where=[("day", "=", april)]), expected[april])
        assert _table(wh, "raw_candles") == (
            "MergeTree", "chain, address, interval, open_ts, day", "toYYYYMM(open_ts)")
        left = wh.client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows
        assert sorted(r[0] for r in left) == ["_qb_partitions", "raw_candles"]
        assert wh.stored_rows(RAW_CANDLES) == 2 * (700 + 3000) + 50  # every row stored moved over
        wh.optimize(RAW_CANDLES)
        # the superseded versions go, and so does the orphan: its writer had the folder before this process
        assert wh.stored_rows(RAW_CANDLES) == 3700
    finally:
        wh.close()


def test_a_second_warehouse_on_the_same_folder_sees_the_commits(ch, tmp_path):
    ch.write_partition(RAW_CANDLES, {"day": D1}, candles(D1, 30))
    ch.close()
    again = ClickHouseWarehouse(f"chdb://{tmp_path / 'chdb'}")
    try:
        assert again.read(RAW_CANDLES).height == 30
        assert again.partitions(RAW_CANDLES) == [{"day": D1}]
    finally:
        again.close()


class _EchoPassword(BaseHTTPRequestHandler):
    """A server that rejects every request, quoting the password it was sent (as careless servers do)."""

    seen: ClassVar[list[str]] = []

    def _reply(self):
        auth = self.headers.get("Authorization", "")
        password = base64.b64decode(auth.split()[-1]).decode().partition(":")[2] if auth else ""
        password = password or self.headers.get("X-ClickHouse-Key", "")
        self.seen.append(password)
        body = f"Code: 516. DB::Exception: default: Authentication failed: password {password} is incorrect".encode()
        self.send_response(500)
        self.send_header("X-ClickHouse-Exception-Code", "516")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoPassword)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("in_dsn", [False, True])
def test_the_password_never_shows(echo_server, in_dsn):
    secret = "s3cr3t-Pa55"
    _EchoPassword.seen.clear()
    if in_dsn:
        wh = ClickHouseWarehouse(f"http://quant:{secret}@127.0.0.1:{echo_server}/quantbot")
    else:
        wh = ClickHouseWarehouse(f"http://quant@127.0.0.1:{echo_server}/quantbot", password=secret)
    assert secret not in repr(wh) and "quant" in repr(wh)
    with pytest.raises(WarehouseError) as err:
        wh.read(RAW_CANDLES)
    assert secret in _EchoPassword.seen  # the password did reach the server...
    assert "Authentication failed" in str(err.value)
    text = str(err.value) + repr(err.value) + str(err.value.__cause__) + str(err.value.__context__)
    assert secret not in text  # ...and is in no error
    assert err.value.__cause__ is None
    wh.close()


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="chdb://"):
        ClickHouseWarehouse("tcp://127.0.0.1:9000")
