"""The bankroll: every strategy of every file in strategies/ as a book following its calls in time order.

Rules: docs/semantics.md#bankroll, implemented in quantbot_pipelines/simulation/portfolio.py. Three tables, one
step: `portfolio_results` (every call: taken or why not, stake, cost, proceeds), `portfolio_books` (each
strategy's equity, drawdown, CAGR, Sharpe, Sortino, exposure) and `portfolio_equity` (each book's equity
curve, which the dashboard draws); all by strategy file in storage.
"""


import time

import polars as pl
from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from assets.metadata import image, related, table
from assets.plots import book_equity_plot
from quantbot_pipelines.schemas import (
    PORTFOLIO_BOOKS,
    PORTFOLIO_EQUITY,
    PORTFOLIO_RESULTS,
    SIMULATION_RESULTS,
)
from quantbot_pipelines.simulation import StrategyError
from quantbot_pipelines.simulation.portfolio import run_books, skip_counts
from resources.strategies import StrategyFolderResource
from resources.warehouse import WarehouseResource

# what a book reads of each trade (not the caller names, texts or windows)
BOOK_COLUMNS = ["strategy_file", "strategy", "chat_id", "message_id", "chain", "address", "caller_id", "call_ts",
                "repeat", "entry_ts", "entry_price", "exit_ts", "exit_reason", "fills", "net_multiple", "size_usd",
                "impact", "pool_usd", "liquidity_source"]
BOOK_VIEW = ["strategy", "book_return", "final_equity_usd", "book_max_drawdown", "book_cagr", "book_sharpe",
             "book_sortino", "book_exposure", "book_trades", "book_skipped"]


@multi_asset(
    name="portfolio",
    specs=[
        AssetSpec(PORTFOLIO_RESULTS.name, deps=[SIMULATION_RESULTS.name], group_name="leaderboards",
                  kinds={"numba", "parquet"},
                  description="A bankroll following every call of each strategy in time order "
                              "(docs/semantics.md#bankroll): each call taken or skipped with the reason (no cash, "
                              "too many open, already holding), the stake, what it cost and brought."
                              + related("portfolio_books", "simulation_results")),
        AssetSpec(PORTFOLIO_BOOKS.name, deps=[SIMULATION_RESULTS.name], group_name="leaderboards",
                  kinds={"polars"},
                  description="Each strategy's book: final equity, return, max drawdown, CAGR, daily Sharpe and "
                              "Sortino, exposure, calls taken and skipped; equity plots in the metadata."
                              + related("portfolio_results", "strategy_leaderboard")),
        AssetSpec(PORTFOLIO_EQUITY.name, deps=[SIMULATION_RESULTS.name], group_name="leaderboards",
                  kinds={"parquet"},
                  description="Each strategy's book equity over time (docs/semantics.md#book-equity-curve): the "
                              "curve the book's drawdown is measured on, at the low and high of 1,000 time "
                              "buckets." + related("portfolio_books")),
    ],
)
def portfolio(context: AssetExecutionContext, warehouse: WarehouseResource, strategies: StrategyFolderResource):
    started = time.perf_counter()
    wh = warehouse.get()
    books, curves, decisions = [], [], []
    for stem in sorted(strategies.files()):
        try:
            variants = strategies.load(strategies.file(stem))
        except StrategyError as exc:
            context.log.warning(f"{stem}: not run as a book: {exc}")
            continue
        trades = wh.read(SIMULATION_RESULTS, where=[("strategy_file", "=", stem)], columns=BOOK_COLUMNS)
        out = run_books(trades, variants)
        wh.write_partition(PORTFOLIO_RESULTS, {"strategy_file": stem}, out.results)
        sizing = {s.name: s.book.sizing for s in variants}
        rows = (out.summary.join(skip_counts(out.results), on="strategy", how="left")
                .with_columns(pl.lit(stem).alias("strategy_file"),
                              pl.col("strategy").replace_strict(sizing, default=None).alias("sizing")))
        wh.write_partition(PORTFOLIO_BOOKS, {"strategy_file": stem}, rows.select(PORTFOLIO_BOOKS.columns))
        wh.write_partition(PORTFOLIO_EQUITY, {"strategy_file": stem},
                           out.equity.rename({"equity": "equity_usd"}).with_columns(pl.lit(stem).alias("strategy_file")))
        books.append(rows.select(PORTFOLIO_BOOKS.columns))
        curves.append(out.equity)
        decisions.append(out.results.group_by("decision").len())
    board = pl.concat(books) if books else pl.from_arrow(PORTFOLIO_BOOKS.empty())
    seconds = round(time.perf_counter() - started, 3)
    taken = (pl.concat(decisions).group_by("decision").agg(pl.col("len").sum()).sort("decision")
             if decisions else pl.DataFrame({"decision": [], "len": []}))
    best = board.sort("book_return", descending=True, nulls_last=True)
    meta_results = {
        "calls": int(taken.get_column("len").sum()) if taken.height else 0,
        "decisions": MetadataValue.json(dict(taken.iter_rows())),
        "run_compute_s": seconds,
    }
    meta_books = {
        "strategies": board.height,
        "books": table(best, BOOK_VIEW, rows=20),
    }
    top = best.head(5).get_column("strategy").to_list()
    if top:
        meta_books["equity_curves"] = image(book_equity_plot(pl.concat(curves), top, board),
                                            "equity of the best books")
    yield MaterializeResult(asset_key=PORTFOLIO_RESULTS.name, metadata=meta_results)
    yield MaterializeResult(asset_key=PORTFOLIO_BOOKS.name, metadata=meta_books)
    points = int(sum(c.height for c in curves))
    yield MaterializeResult(asset_key=PORTFOLIO_EQUITY.name, metadata={"strategies": board.height, "points": points})
