"""The caller_boards asset in a real Dagster run: the table in the warehouse, one CSV per board in the
downloads folder with the table's rows, and the materialization linking to each file
(docs/semantics.md#caller-stats)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from dagster import materialize

from assets.analytics.assets import caller_boards
from quantbot_pipelines.analytics import board_list
from quantbot_pipelines.analytics import caller_boards as build_caller_boards
from quantbot_pipelines.schemas import CALLER_BOARDS, TOKEN_ANALYTICS
from resources.downloads import DownloadsResource, slugify
from resources.warehouse import WarehouseResource

END = dt.date(2025, 3, 31)
_SCHEMA = pl.from_arrow(TOKEN_ANALYTICS.empty()).schema
_BOARD_SCHEMA = pl.from_arrow(CALLER_BOARDS.empty()).schema


def _analytics() -> pl.DataFrame:
    """Three callers over two chats (one with an id no file system takes as a name), on days 0 to 40 back."""
    rows = []
    plan = [("u1", "-100123", [5.0, 2.2, 1.5, 12.0, 3.0], [1.0, 0.05, 0.8, 0.5, 1.0]),
            ("u2", "name:Gems / Alpha", [1.2, 2.5, 0.6, 2.1], [1.0, 1.0, 0.3, 1.0]),
            ("u3", "-100123", [30.0, 1.1, 4.0], [1.0, 0.9, 1.0])]
    i = 0
    for caller, chat, xs, lows in plan:
        for j, (x, low) in enumerate(zip(xs, lows, strict=True)):
            day = END - dt.timedelta(days=10 * j)
            rows.append({"day": day, "chat_id": chat, "message_id": i, "caller_id": caller,
                         "caller_name": caller.upper(), "chain": "solana", "address": f"t{i}",
                         "call_ts": dt.datetime.combine(day, dt.time(9), dt.UTC), "first_call": True,
                         "repeat": False, "status": "ok", "entry_price": 1.0, "ath_multiple": x,
                         "time_to_2x_s": 600 if x >= 2 else None, "time_to_5x_s": 900 if x >= 5 else None,
                         "time_to_10x_s": 1200 if x >= 10 else None, "drawdown_before_2x": -0.2,
                         "window_complete": True, "candles": 100, "call_price": 1.0, "call_price_source": "card",
                         "x_from_call": x, "time_to_peak_s": 300 * (j + 1), "low_from_call": low})
            i += 1
    df = pl.DataFrame(rows)
    missing = [pl.lit(None, _SCHEMA[c]).alias(c) for c in _SCHEMA if c not in df.columns]
    return df.with_columns(missing).select(_SCHEMA.names()).cast(dict(_SCHEMA))


def _run(tmp_path: Path, config: dict | None = None):
    warehouse = WarehouseResource(url=f"parquet://{tmp_path / 'warehouse'}")
    downloads = DownloadsResource(path=str(tmp_path / "downloads"))
    wh = warehouse.get()
    a = _analytics()
    for (day,), rows in a.group_by("day"):
        wh.write_partition(TOKEN_ANALYTICS, {"day": day}, rows)
    result = materialize([caller_boards], resources={"warehouse": warehouse, "downloads": downloads},
                         run_config={"ops": {"caller_boards": {"config": config or {}}}})
    assert result.success
    meta = result.asset_materializations_for_node("caller_boards")[0].metadata
    return a, wh, downloads, meta


def test_table_csv_files_and_their_links(tmp_path):
    stale = tmp_path / "downloads" / "caller_boards" / "7d-chat-gone.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("window\n")
    a, wh, _, meta = _run(tmp_path, {"min_calls": 2})
    table = wh.read(CALLER_BOARDS)
    want = build_caller_boards(a, min_calls=2)
    assert table.sort("window", "scope", "rank").equals(want.sort("window", "scope", "rank"))
    assert set(table.get_column("scope")) == {"all", "-100123", "name:Gems / Alpha"}

    boards = board_list(a)
    files = meta["csv_files"].value
    assert meta["boards"].value == boards.height == len(files) == 12  # 4 windows x (all + 2 chats)
    assert meta["rows"].value == table.height
    folder = Path(meta["downloads"].value)
    assert folder == (tmp_path / "downloads" / "caller_boards").resolve()
    assert sorted(p.name for p in folder.glob("*.csv")) == sorted(Path(p).name for p in files.values())
    assert not stale.exists()  # a board that is gone leaves no file
    for window, scope in boards.select("window", "scope").iter_rows():
        path = Path(files[f"{window}/{scope}"])
        assert path.parent == folder and path.is_file()
        csv = pl.read_csv(path, schema=_BOARD_SCHEMA)
        rows = table.filter((pl.col("window") == window) & (pl.col("scope") == scope)).sort("rank")
        assert csv.equals(rows), (window, scope)
    for window in ("7d", "30d", "90d", "all"):
        assert Path(meta[f"csv_{window}"].value) == Path(files[f"{window}/all"])
        shown = meta[f"top_{window}"].records
        ranked = table.filter((pl.col("window") == window) & (pl.col("scope") == "all")).sort("rank")
        assert [r.data["caller"] for r in shown] == ranked.get_column("caller_name").to_list()
    top = meta["top_all"].records[0].data
    assert set(top) >= {"#", "caller", "calls", "median X", "2x", "rugs", "points", "score"}
    assert "run_compute_s" in meta


def test_config_filters_and_points(tmp_path):
    config = {"min_calls": 3, "min_x": 2.5, "rug_level": 0.01, "windows": ["all"],
              "points": {"2x": 1, "10x": 4}, "rug_points": -7, "miss_points": 0}
    _, wh, _, meta = _run(tmp_path, config)
    table = wh.read(CALLER_BOARDS)
    mine = table.filter(pl.col("scope") == "all")
    # u2 has 4 calls but a median X of 1.65; u1's 0.05 low is no rug at a 1 % level
    assert mine.get_column("caller_id").to_list() == ["u1", "u3"]
    u1 = mine.row(0, named=True)
    assert (u1["rugs"], u1["points"]) == (0, 1 + 1 + 0 + 4 + 1)
    assert meta["boards"].value == 3 and set(meta["csv_files"].value) == {"all/all", "all/-100123",
                                                                           "all/name:Gems / Alpha"}


def test_downloads_resource_writes_atomically_with_safe_names(tmp_path):
    d = DownloadsResource(path=str(tmp_path / "dl"))
    assert slugify("-100123") != slugify("100123") and slugify("7d-all") == "7d-all"
    names = ["name:Gems / Alpha", "name:Gems - Alpha", "../../etc/passwd", "", "a" * 500, "ü"]
    slugs = [slugify(n) for n in names]
    assert len(set(slugs)) == len(slugs)
    for s in slugs:
        assert s and len(s) <= 130 and "/" not in s and not s.startswith(".")
    p = d.write("../../etc/passwd", "x,y\n1,2\n", sub="boards", suffix=".csv")
    assert p.parent == (tmp_path / "dl" / "boards").resolve() and p.read_text() == "x,y\n1,2\n"
    d.write("../../etc/passwd", b"new", sub="boards", suffix=".csv")
    assert p.read_bytes() == b"new"
    assert [q.name for q in p.parent.iterdir()] == [p.name]  # no temp file left behind
    other = d.write("other", "o", sub="boards", suffix=".csv")
    assert d.prune("boards", [other], "*.csv") == [p] and not p.exists() and other.exists()


def test_build_resources_registers_the_downloads_folder(tmp_path):
    from resources import build_resources
    from resources.settings import Settings

    res = build_resources(Settings.from_env({"QUANTBOT_DATA_DIR": str(tmp_path)}))
    assert isinstance(res["downloads"], DownloadsResource)
    assert Path(res["downloads"].path) == tmp_path / "downloads"


@pytest.mark.parametrize("bad", [{"points": {"one": 1}}, {"rug_level": 1.5}, {"windows": ["week"]}])
def test_bad_config_fails_the_run(tmp_path, bad):
    warehouse = WarehouseResource(url=f"parquet://{tmp_path / 'warehouse'}")
    warehouse.get().write_partition(TOKEN_ANALYTICS, {"day": END}, _analytics().filter(pl.col("day") == END))
    with pytest.raises(Exception, match="ladder level|rug_level|window"):
        materialize([caller_boards], resources={"warehouse": warehouse,
                                                "downloads": DownloadsResource(path=str(tmp_path / "dl"))},
                    run_config={"ops": {"caller_boards": {"config": bad}}})
