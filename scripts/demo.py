"""`make demo`: the whole pipeline on the sample export, on the Dagster instance in $DAGSTER_HOME.

Runs go through that instance, so `make ui` shows every run and materialization afterwards.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import warnings

from dagster import BetaWarning, DagsterInstance, PreviewWarning

warnings.filterwarnings("ignore", category=BetaWarning)  # single-run backfills: the point, not news
warnings.filterwarnings("ignore", category=PreviewWarning)

import polars as pl

from assets import build_definitions
from assets.runner import materialize_pipeline
from quantbot_pipelines.sample import write_sample_inbox
from quantbot_pipelines.telegram.staging import all_calls
from quantbot_pipelines.views import caller_board_view, strategy_board_view, walk_forward_view
from resources.settings import Settings

# the strategy board's columns the terminal has room for (the UI shows them all)
DEMO_STRATEGY_COLUMNS = ["rank", "strategy", "trades", "win rate", "mean", "mean low .. high", "median", "worst",
                         "best", "book", "book max DD", "book rank", "DSR", "PBO"]


def show(board: pl.DataFrame) -> None:
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=40, tbl_hide_column_data_types=True,
                   tbl_hide_dataframe_shape=True):
        print(board)


def main(instance: DagsterInstance) -> None:
    settings = Settings.from_env()
    inbox = settings.inbox
    if not inbox.exists() or not any(inbox.iterdir()):
        written = write_sample_inbox(inbox)
        print(f"sample exports written to {inbox} ({len(written)} exports)")
    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}\nwarehouse {settings.warehouse_url}\nmaterializing:")
    started = time.perf_counter()
    defs = build_definitions(settings)
    resources = defs.resources
    materialize_pipeline(instance, defs)
    print(f"  {'all stages':<40} {time.perf_counter() - started:6.1f}s")

    wh = resources["warehouse"].get()
    calls = all_calls(wh)
    print(f"\n{calls.height} calls by {calls.get_column('caller_id').n_unique()} callers on "
          f"{calls.get_column('day').n_unique()} days\n")
    print("Top callers (confidence-adjusted score: docs/semantics.md#leaderboard-scores):")
    show(caller_board_view(wh.read("caller_leaderboard"), top=8))
    print("\nTop exit strategies (mean net return = an equal-sized book, after fees and slippage; low .. high: the "
          "same-candle order's range; book: a $2,000 bankroll following the calls, docs/semantics.md#bankroll):")
    strategy_board = wh.read("strategy_leaderboard")
    show(strategy_board_view(strategy_board, top=8).select(DEMO_STRATEGY_COLUMNS))
    for r in strategy_board.filter(pl.col("sweep_verdict").is_not_null()).iter_rows(named=True):
        print(f"  {r['strategy']} (DSR, PBO: docs/semantics.md#overfitting-guards): {r['sweep_verdict']}")
    folds = wh.read("walk_forward")
    if folds.height:
        names = dict(wh.read("caller_leaderboard").select("caller_id", "caller_name").iter_rows())
        print("\nWalk-forward (docs/semantics.md#walk-forward): chosen on each fold's train days, traded on its "
              "test days; every caller and random callers on the same days:")
        show(walk_forward_view(folds, names))
        for r in wh.read("walk_forward_summary").iter_rows(named=True):
            print(f"  {r['policy']}: {r['verdict']}")
    print(f"\nRead the answers in the dashboard (callers, calls with their candles, strategies; the API beside "
          f"it):\n  make serve   # then browse {settings.dashboard_url}/  (API docs: {settings.dashboard_url}/docs)\n"
          f"Run, watch and trace the pipeline in the Dagster UI on this instance (every run above is there):\n"
          f"  make ui      # dagster dev on DAGSTER_HOME={os.environ['DAGSTER_HOME']}; Ctrl-C stops all of it\n"
          f"then browse http://127.0.0.1:3000 (the sensors start from what this instance holds: nothing is "
          f"run again)")


if __name__ == "__main__":
    if "DAGSTER_HOME" not in os.environ:
        sys.exit("set DAGSTER_HOME (make demo does)")
    with DagsterInstance.get() as inst:
        main(inst)
