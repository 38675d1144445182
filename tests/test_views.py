"""What the UI shows: boards formatted for reading, tables built from DataFrames, PNG plots."""

from __future__ import annotations

import io

import polars as pl
from dagster import MaterializeResult

from assets.metadata import table, timed
from assets.plots import ath_distribution_plot, equity_curve_plot
from quantbot_pipelines.analytics import caller_leaderboard
from quantbot_pipelines.simulation import caller_strategy_leaderboard, strategy_leaderboard
from quantbot_pipelines.views import CALLER_COLUMNS, caller_board_view, strategy_board_view
from tests.analytics.test_leaderboard import analytics, rows
from tests.simulation.test_rollups import ROWS, trades


def test_caller_board_is_readable():
    a = analytics(rows("steady", [2.5, 3, 1.2, 6, 2.2, 1.1]), rows("pipe|name", [1.1, 2.5], start=100))
    view = caller_board_view(caller_leaderboard(a, min_calls=5), top=20)
    assert view.columns == CALLER_COLUMNS and "median time to 2x" in view.columns
    assert view.row(0)[:9] == ("1", "Steady", "6", "67%", "17%", "0%", "2.35x", "2.67x", "0:20")
    assert "Pipe|Name" in view.get_column("caller").to_list()  # a table cell needs no escaping
    assert view.height == 2 and view.get_column("#").to_list()[1] == ""  # unranked below the minimum


def test_empty_caller_board_keeps_its_columns():
    board = caller_leaderboard(analytics(rows("x", [2.0], status="no_entry")))
    view = caller_board_view(board)
    assert view.height == 0 and view.columns == CALLER_COLUMNS


def test_strategy_boards_show_percent():
    view = strategy_board_view(strategy_leaderboard(trades(ROWS)))
    assert view.columns[:2] == ["rank", "strategy"]
    first = view.row(0, named=True)
    assert (first["rank"], first["mean"], first["worst"]) == ("1", "+23.3%", "-50.0%")
    callers = strategy_board_view(caller_strategy_leaderboard(trades(ROWS)), top=1)
    assert "caller" in callers.columns and callers.height == 1
    assert strategy_board_view(strategy_leaderboard(trades(ROWS)).head(0)).height == 0


def test_table_metadata_from_a_dataframe():
    df = pl.DataFrame({"a": [1.23456, 1234.5, None], "b": ["x\ny", "z", "w"]})
    value = table(df, rows=2)
    assert [c.name for c in value.schema.columns] == ["a", "b"]
    assert [r.data for r in value.records] == [{"a": "1.235", "b": "x y"}, {"a": "1,234", "b": "z"}]


def test_timed_adds_compute_seconds_to_the_first_result_of_a_step():
    single = timed(lambda: MaterializeResult(metadata={}))()
    assert single.metadata["run_compute_s"] >= 0
    first, second = timed(lambda: (MaterializeResult(asset_key="a", metadata={}),
                                   MaterializeResult(asset_key="b", metadata={})))()
    assert "run_compute_s" in first.metadata and "run_compute_s" not in second.metadata


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_ath_distribution_png():
    a = analytics(rows("steady", [2.5, 3, 1.2, 6, 2.2, 1.1]), rows("meh", [1.1, 1.3], start=100))
    png = ath_distribution_plot(a, ["steady", "meh", "nobody"])
    assert 2_000 < len(png) < 300_000 and _png_size(png) == (800, 450)
    from PIL import Image

    assert Image.open(io.BytesIO(png)).size == (800, 450)


def test_equity_curve_is_a_png_of_the_expected_size():
    assert _png_size(equity_curve_plot(trades(ROWS), ["a", "b", "missing"])) == (800, 450)
    assert equity_curve_plot(trades(ROWS).head(0), ["a"])[:4] == b"\x89PNG"


def test_money_and_prices_are_written_as_docs_semantics_reading_figures_says():
    from quantbot_pipelines.views import money, price, usd

    assert [usd(v) for v in (1_234_567.0, 12_345.0, 999.994, -2.5e9, None, float("nan"))] == [
        "$1.23M", "$12.3K", "$999.99", "-$2.50B", "", ""]
    assert [money(v) for v in (18246.4, -12.345, None)] == ["$18,246.40", "-$12.35", ""]
    assert [price(v) for v in (0.00000036123, 0.5, 1.23456, 1234.5678, 0.0, None, float("inf"))] == [
        "0.0000003612", "0.5", "1.2346", "1,234.57", "0", "", ""]
