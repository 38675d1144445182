"""The read model without HTTP: frames equal to the warehouse's rows, kept while the warehouse stays the same
and read again when it changes, candles rolled up as the pipeline rolls them, and the same answers over a
ClickHouse (chDB) warehouse as over Parquet."""

from __future__ import annotations

import time

import polars as pl
import pytest

from quantbot_pipelines.warehouse import ParquetWarehouse
from serve.reader import BadRequest, Reader, page, roll_up, split_names

SMALL_TABLES = ("telegram_calls", "token_analytics", "caller_boards", "caller_leaderboard",
                "caller_strategy_leaderboard", "strategy_leaderboard", "portfolio_books", "token_leaderboard",
                "telegram_staged_calls", "telegram_quarantine")


def copy_tables(source, target, tables, where=None) -> None:
    """Copy tables partition by partition (all of them, or those `where(table, partition)` keeps)."""
    for table in tables:
        for part in source.partitions(table):
            if where and not where(table, part):
                continue
            rows = source.read(table, where=[(k, "=", v) for k, v in part.items()])
            target.write_partition(table, part, rows)


@pytest.fixture(scope="module")
def reader(served) -> Reader:
    return Reader(served.warehouse_url)


def test_frames_are_the_tables(reader, warehouse):
    boards = warehouse.read("caller_boards")
    got = reader.callers(window="30d")
    want = boards.filter((pl.col("window") == "30d") & (pl.col("scope") == "all")).sort("rank")
    assert got.drop("caller_url").equals(want)
    chat = boards.filter(pl.col("scope") != "all").get_column("scope")[0]
    assert reader.callers(window="all", chat=chat).height == boards.filter(
        (pl.col("window") == "all") & (pl.col("scope") == chat)).height
    assert reader.calls().height == warehouse.read("telegram_calls").height
    assert reader.strategies().drop("strategy_url").sort("strategy").equals(
        warehouse.read("strategy_leaderboard").sort("strategy"))
    assert reader.health()["calls"] == warehouse.read("telegram_calls").height


def test_frames_are_kept_while_nothing_changes(reader):
    first = reader.calls_frame()
    loads = reader.loads
    reader._checked = -1e9  # look at the warehouse again now
    assert reader.calls_frame() is first and reader.loads == loads


def test_a_change_is_read_again(served, tmp_path):
    source = ParquetWarehouse(served.data / "warehouse")
    target = ParquetWarehouse(tmp_path / "wh")
    copy_tables(source, target, SMALL_TABLES)
    reader = Reader(target, refresh_s=0.05)
    before = reader.callers(window="all")
    calls_before = reader.health()["calls"]
    # a new board: the top caller's score and name change
    boards = target.read("caller_boards").with_columns(
        pl.when((pl.col("rank") == 1) & (pl.col("window") == "all") & (pl.col("scope") == "all"))
        .then(pl.lit("Renamed")).otherwise(pl.col("caller_name")).alias("caller_name"))
    target.write_partition("caller_boards", {}, boards)
    # and a call on a day the warehouse did not hold
    calls = target.read("telegram_calls")
    extra = calls.sort("call_ts").tail(1).with_columns(pl.col("day").dt.offset_by("30d"), pl.col("call_ts").dt.offset_by("30d"),
                                       pl.lit(999_999).cast(pl.Int64).alias("message_id"))
    target.write_partition("telegram_calls", {"day": extra.get_column("day")[0]}, extra)
    time.sleep(0.1)
    after = reader.callers(window="all")
    assert before.get_column("caller_name")[0] != "Renamed" and after.get_column("caller_name")[0] == "Renamed"
    assert reader.health()["calls"] == calls_before + 1
    assert reader.health()["data_as_of"] == extra.get_column("call_ts")[0]


def test_paging_and_sorting():
    frame = pl.DataFrame({"a": [3, None, 1, 2], "b": ["x", "y", "z", "w"]})
    cut, total = page(frame, sort="a", order="desc", default_sort=[], limit=2, offset=0)
    assert total == 4 and cut.get_column("a").to_list() == [3, 2]
    cut, _ = page(frame, sort="a", order="asc", default_sort=[], limit=10, offset=0)
    assert cut.get_column("a").to_list() == [1, 2, 3, None]  # nulls last either way
    cut, total = page(frame, sort=None, order=None, default_sort=["b"], limit=10, offset=10)
    assert total == 4 and cut.is_empty()
    with pytest.raises(BadRequest, match="unknown sort field"):
        page(frame, sort="c", order=None, default_sort=[], limit=1, offset=0)


def test_strategy_names_split_outside_brackets():
    assert split_names(["a,b"]) == ["a", "b"]
    assert split_names(["sweep[tp=2,sl=0.5],quick_2x"]) == ["sweep[tp=2,sl=0.5]", "quick_2x"]
    assert split_names(["x[a=1,b=2;c]", "y"]) == ["x[a=1,b=2;c]", "y"]
    assert split_names([" a , ,b "]) == ["a", "b"]


def test_roll_up_is_the_aggregated_table(warehouse):
    """Where an interval is not stored, candles are rolled up from 1m as aggregated_candles rolls them."""
    part = next(p for p in warehouse.partitions("aggregated_candles") if p["interval"] == "15m")
    agg = warehouse.read("aggregated_candles", where=[("day", "=", part["day"]), ("interval", "=", "15m")])
    chain, address = agg.row(0, named=True)["chain"], agg.row(0, named=True)["address"]
    agg = agg.filter((pl.col("chain") == chain) & (pl.col("address") == address)).sort("open_ts")
    raw = warehouse.read("raw_candles", where=[("day", "=", part["day"]), ("chain", "=", chain),
                                               ("address", "=", address), ("interval", "=", "1m")])
    rolled = roll_up(raw.select("open_ts", "open", "high", "low", "close", "volume_usd"), 900)
    want = agg.select("open_ts", "open", "high", "low", "close", "volume_usd")
    assert rolled.get_column("open_ts").to_list() == want.get_column("open_ts").to_list()
    for c in ("open", "high", "low", "close"):
        assert rolled.get_column(c).to_list() == pytest.approx(want.get_column(c).to_list(), rel=1e-12)
    assert rolled.get_column("volume_usd").to_list() == pytest.approx(want.get_column("volume_usd").to_list(),
                                                                      rel=1e-9)


def test_bad_interval(reader, warehouse):
    row = warehouse.read("telegram_calls").row(0, named=True)
    with pytest.raises(BadRequest):
        reader.call(row["chat_id"], row["message_id"], interval="3m")


def test_same_answers_over_chdb(served, reader, warehouse, tmp_path):
    """A ClickHouse (chDB) warehouse holding the same rows answers the board and a call's page alike."""
    pytest.importorskip("chdb")
    from quantbot_pipelines.warehouse.clickhouse import ClickHouseWarehouse

    a = warehouse.read("token_analytics").filter(pl.col("status") == "ok").sort("candles", descending=True).row(
        0, named=True)
    ch = ClickHouseWarehouse(f"chdb://{tmp_path / 'chdb'}")
    try:
        copy_tables(warehouse, ch, ("telegram_calls", "token_analytics", "caller_boards", "strategy_leaderboard"))
        copy_tables(warehouse, ch, ("raw_candles", "aggregated_candles", "simulation_results"),
                    where=lambda table, part: part["day"] == a["day"])
        other = Reader(ch, refresh_s=0.0)
        assert other.kind == "chdb"
        assert other.callers(window="all").equals(reader.callers(window="all"))
        assert other.strategies().sort("strategy").equals(reader.strategies().sort("strategy"))
        for interval in ("1m", "5m", "1h"):
            assert other.call(a["chat_id"], a["message_id"], interval=interval, address=a["address"]) == \
                reader.call(a["chat_id"], a["message_id"], interval=interval, address=a["address"])
        # a write is seen: the commit registry's fingerprint moves
        loads = other.loads
        other.callers(window="all")
        assert other.loads == loads
        board = ch.read("caller_boards").with_columns(pl.lit("Changed").alias("caller_name"))
        ch.write_partition("caller_boards", {}, board)
        assert set(other.callers(window="all").get_column("caller_name")) == {"Changed"}
    finally:
        ch.close()


def test_quarantine_and_exports(served, tmp_path):
    """Quarantined messages: raw cut at 2,000 characters, raw_bytes left out, counted per export."""
    import datetime as dt

    source = ParquetWarehouse(served.data / "warehouse")
    target = ParquetWarehouse(tmp_path / "wh")
    copy_tables(source, target, ("telegram_staged_calls", "telegram_quarantine"))
    export = source.partitions("telegram_staged_calls")[0]["export_id"]
    rows = pl.DataFrame({"export_id": [export] * 2, "seq": [0, 1], "source_file": ["result.json"] * 2,
                         "chat_name": ["A", None], "message_id": [7, None],
                         "message_ts": [dt.datetime(2025, 9, 3, tzinfo=dt.UTC), None],
                         "reason": ["invalid_json", "truncated"], "detail": ["bad", None],
                         "raw": ["x" * 5000, "y"], "raw_bytes": [5000, 1]})
    target.write_partition("telegram_quarantine", {"export_id": export}, rows)
    target.write_partition("telegram_quarantine", {"export_id": "only-bad"}, rows.head(1).with_columns(
        pl.lit("only-bad").alias("export_id")))
    reader = Reader(target)
    got = reader.quarantine()
    assert got.height == 3 and "raw_bytes" not in got.columns
    assert sorted(got.get_column("raw").str.len_chars().to_list()) == [1, 2000, 2000]
    assert reader.quarantine(export=export, reason="truncated").get_column("seq").to_list() == [1]
    exports = {r["export_id"]: r for r in reader.exports().iter_rows(named=True)}
    assert exports[export]["quarantined"] == 2 and exports[export]["calls"] > 0
    assert exports["only-bad"] == {"export_id": "only-bad", "calls": 0, "days": 0, "first_day": None,
                                   "last_day": None, "quarantined": 1}


def test_settings_from_env():
    from resources.settings import SettingsError
    from serve.settings import ServeSettings

    s = ServeSettings.from_env({"QUANTBOT_DATA_DIR": "/srv/qb"})
    assert s.warehouse_url == "parquet:///srv/qb/warehouse" and s.warehouse_kind == "parquet"
    assert (s.host, s.port, s.max_limit, s.keys_on) == ("127.0.0.1", 8000, 500, False)
    assert s.dagster_url == "http://127.0.0.1:3000" and s.dashboard_url == "http://127.0.0.1:8000"
    s = ServeSettings.from_env({"QUANTBOT_WAREHOUSE": "https://reader:pw-in-url@ch.example:8443/qb",
                                "QUANTBOT_WAREHOUSE_PASSWORD": "pw-apart", "QUANTBOT_API_KEYS": "k-one, k-two,",
                                "QUANTBOT_API_MAX_LIMIT": "200", "QUANTBOT_DAGSTER_URL": "http://dagster:3000/"})
    assert s.keys_on and len(s.key_digests) == 2 and s.max_limit == 200 and s.warehouse_kind == "clickhouse"
    assert s.dagster_url == "http://dagster:3000"
    for secret in ("pw-in-url", "pw-apart", "k-one", "k-two"):
        assert secret not in repr(s) and secret not in str(s)
    with pytest.raises(SettingsError) as e:
        ServeSettings.from_env({"QUANTBOT_WAREHOUSE": "mysql://u:hidden-pw@h/x", "QUANTBOT_API_PORT": "0",
                                "QUANTBOT_API_MAX_LIMIT": "lots", "QUANTBOT_API_KEYS": " , ",
                                "QUANTBOT_DAGSTER_URL": "dagster:3000"})
    text = str(e.value)
    for name in ("QUANTBOT_WAREHOUSE", "QUANTBOT_API_PORT", "QUANTBOT_API_MAX_LIMIT", "QUANTBOT_API_KEYS",
                 "QUANTBOT_DAGSTER_URL"):
        assert name in text
    assert "hidden-pw" not in text
