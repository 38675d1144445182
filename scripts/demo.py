"""`make demo`: the whole pipeline on the sample export, on the Dagster instance in $DAGSTER_HOME.

Runs go through that instance, so `make ui` shows every run and materialization afterwards.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
from dagster import DagsterInstance, materialize  # noqa: E402

import definitions  # noqa: E402
from assets.partitions import RANGE_END, RANGE_START, strategy_files, telegram_exports_partitions  # noqa: E402
from assets.telegram.sensors import day_ranges  # noqa: E402
from quantbot_pipelines.ingest import inbox_exports  # noqa: E402
from quantbot_pipelines.report import markdown_table  # noqa: E402
from quantbot_pipelines.sample import write_sample_inbox  # noqa: E402
from resources.settings import SETTINGS  # noqa: E402

ASSETS = list(definitions.defs.assets)
CHECKS = list(definitions.defs.asset_checks)
RESOURCES = definitions.defs.resources


def run(keys: list[str], *, partition_key: str | None = None, tags: dict | None = None, label: str) -> None:
    started = time.perf_counter()
    selection = keys
    result = materialize(ASSETS + CHECKS, selection=selection, partition_key=partition_key, tags=tags or {},
                         instance=INSTANCE, resources=RESOURCES, raise_on_error=True)
    print(f"  {label:<38} {time.perf_counter() - started:6.1f}s  run {result.run_id[:8]}")


def main() -> None:
    inbox = SETTINGS.inbox
    if not any(inbox.glob("*")) if inbox.exists() else True:
        written = write_sample_inbox(inbox)
        print(f"sample export written to {inbox} ({len(written)} exports)")
    exports = inbox_exports(inbox)
    INSTANCE.add_dynamic_partitions(telegram_exports_partitions.name,
                                    [k for k in exports if not INSTANCE.has_dynamic_partition(
                                        telegram_exports_partitions.name, k)])
    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}\nmaterializing:")
    for key in sorted(exports):
        run(["telegram_exports"], partition_key=key, label=f"telegram_exports[{key[:24]}]")

    wh = RESOURCES["warehouse"].get()
    from quantbot_pipelines.ingest import all_calls

    calls = all_calls(wh)
    days = sorted({str(d) for d in calls.get_column("day").to_list()})
    for first, last in day_ranges(days):
        rng = {RANGE_START: first, RANGE_END: last}
        run(["telegram_calls"], tags=rng, label=f"telegram_calls {first}..{last}")
    first, last = days[0], days[-1]
    rng = {RANGE_START: first, RANGE_END: last}
    run(["raw_candles"], tags=rng, label="raw_candles")
    intervals = SETTINGS.intervals
    run(["aggregated_candles"], tags={RANGE_START: f"{first}|{intervals[0]}", RANGE_END: f"{last}|{intervals[-1]}"},
        label="aggregated_candles")
    run(["token_analytics"], tags=rng, label="token_analytics")
    run(["caller_leaderboard", "token_leaderboard"], label="caller/token leaderboards")

    stems = sorted(RESOURCES["strategies"].files())
    INSTANCE.add_dynamic_partitions(strategy_files.name,
                                    [s for s in stems if not INSTANCE.has_dynamic_partition(strategy_files.name, s)])
    run(["simulation_results"], tags={RANGE_START: f"{first}|{stems[0]}", RANGE_END: f"{last}|{stems[-1]}"},
        label=f"simulation_results ({len(stems)} files)")
    run(["strategy_leaderboard", "caller_strategy_leaderboard"], label="strategy leaderboards")

    board = wh.read("caller_leaderboard").sort("rank", nulls_last=True)
    print(f"\n{calls.height} calls by {calls.get_column('caller_id').n_unique()} callers on {len(days)} days\n")
    print("Top callers (confidence-adjusted; see README):")
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
    INSTANCE = DagsterInstance.get()
    main()
