"""ClickHouse specifics: table layout, commit records, and the password kept out of errors and repr."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pytest

from quantbot_pipelines.schemas import AGGREGATED_CANDLES, RAW_CANDLES, TELEGRAM_CALLS
from quantbot_pipelines.warehouse.clickhouse import ClickHouseWarehouse, WarehouseError, _write_ids
from tests.warehouse._data import candles, rows

D1 = dt.date(2025, 3, 1)


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
        "ReplacingMergeTree", "chain, address, interval, open_ts, day", "toYYYYMM(open_ts)")
    assert _table(ch, "aggregated_candles")[1] == "chain, address, interval, open_ts, day"
    assert _table(ch, "telegram_calls")[:2] == ("MergeTree", "day, chat_id, message_id, chain, address")
    types = dict(ch.client.query("SELECT name, type FROM system.columns WHERE table = 'raw_candles'").result_rows)
    assert types["open_ts"] == "DateTime64(0, 'UTC')" and types["day"] == "Date32"
    assert types["volume_usd"] == "Nullable(Float64)" and types["_qb_version"] == "UInt64"


def test_uncommitted_rows_stay_invisible_and_the_next_write_removes_them(ch):
    ch.write_partition(RAW_CANDLES, {"day": D1}, candles(D1, 100, price=1.0))
    # a writer that died after inserting its rows and before its commit record
    # (other tokens than the committed rows: same-key rows could be collapsed by a merge, see the module doc)
    orphan = candles(D1, 50, price=9.0)
    orphan = orphan.set_column(2, "address", pa.array([f"orphan{i}" for i in range(50)]))
    orphan = orphan.append_column("_qb_partition", pa.array(["day=2025-03-01"] * 50))
    orphan = orphan.append_column("_qb_version", pa.array(np.full(50, _write_ids.next(), dtype=np.uint64)))
    ch.client.insert_arrow("raw_candles", orphan)
    assert ch.stored_rows(RAW_CANDLES) == 150
    assert ch.read(RAW_CANDLES)["close"].unique().to_list() == [1.0]
    assert ch.read(RAW_CANDLES).height == 100
    ch.delete_partition(RAW_CANDLES, {"day": D1})
    ch.optimize(RAW_CANDLES)
    assert ch.stored_rows(RAW_CANDLES) == 0 and ch.partitions(RAW_CANDLES) == []


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
