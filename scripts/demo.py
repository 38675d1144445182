"""`make demo`: the whole pipeline on the sample export, on the Dagster instance in $DAGSTER_HOME.

Runs go through that instance, so `make ui` shows every run and materialization afterwards.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dagster import DagsterInstance

import definitions
from assets.runner import materialize_pipeline
from quantbot_pipelines.ingest import all_calls
from quantbot_pipelines.report import markdown_table
from quantbot_pipelines.sample import write_sample_inbox
from resources.settings import SETTINGS


def main(instance: DagsterInstance) -> None:
    inbox = SETTINGS.inbox
    if not inbox.exists() or not any(inbox.iterdir()):
        written = write_sample_inbox(inbox)
        print(f"sample exports written to {inbox} ({len(written)} exports)")
    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}\nwarehouse {SETTINGS.warehouse_url}\nmaterializing:")
    started = time.perf_counter()
    resources = definitions.defs.resources
    materialize_pipeline(instance, resources, intervals=SETTINGS.intervals)
    print(f"  {'all stages':<40} {time.perf_counter() - started:6.1f}s")

    wh = resources["warehouse"].get()
    calls = all_calls(wh)
    print(f"\n{calls.height} calls by {calls.get_column('caller_id').n_unique()} callers on "
          f"{calls.get_column('day').n_unique()} days\n")
    board = wh.read("caller_leaderboard").sort("rank", nulls_last=True)
    print("Top callers (confidence-adjusted score; see README):")
    print(markdown_table(board, max_rows=8, columns=["rank", "caller_name", "calls", "hit_rate_2x", "hit_rate_10x",
                                                     "median_ath_multiple", "mean_ath_multiple", "score"]))
    strategies = wh.read("strategy_leaderboard").sort("rank", nulls_last=True)
    print("\nTop exit strategies (equal-sized book, after fees and slippage):")
    print(markdown_table(strategies, max_rows=8, columns=["rank", "strategy", "trades", "win_rate", "mean_return",
                                                          "median_return", "profit_factor", "worst_trade"]))
    print(f"\nOpen the Dagster UI on this instance (every run above is there):\n  make ui"
          f"   # = DAGSTER_HOME={os.environ['DAGSTER_HOME']} dagster dev -h 127.0.0.1 -p 3000\n"
          f"then browse http://127.0.0.1:3000")


if __name__ == "__main__":
    if "DAGSTER_HOME" not in os.environ:
        sys.exit("set DAGSTER_HOME (make demo does)")
    with DagsterInstance.get() as inst:
        main(inst)
