"""Walk-forward over a year of calls: the planted-skill world of quantbot_pipelines/sample/skill.py (365 days,
~20,000 calls, 100 callers of which 15 skilled), token analytics and the 100-variant sweep
(strategies/sweep_tp_sl_time.yaml) simulated once, both stored in a Parquet warehouse by day as the pipeline
stores them, read back as the walk_forward step reads them, then 24 folds (60 train / 13 test / 13 step days)
chosen and scored and stitched. Goal: under 60 s in all; the split is simulation vs IO vs selection.

Side by side in the same run: the way a backtester is used for walk-forward (vectorbt, backtesting.py,
freqtrade): the sweep simulated again for every fold over the fold's calls. And the PBO of 100 variants over
16 blocks against ffn (benchmarks/bench_pbo_part.py). Figures go to docs/benchmarks.md; the last line is
`walk_forward_s=<s> pbo_s=<s>`.

    python -m benchmarks.bench_walk_forward
"""

from __future__ import annotations

import json
import os
import tempfile
import time

import polars as pl

from benchmarks._report import table, write_section
from benchmarks.bench_pbo_part import pbo_figures
from quantbot_pipelines.analytics import token_analytics
from quantbot_pipelines.sample import SkillWorldSpec, skill_world
from quantbot_pipelines.schemas import SIMULATION_RESULTS, TOKEN_ANALYTICS
from quantbot_pipelines.simulation import load_strategy_file, simulate
from quantbot_pipelines.simulation.pools import source_liquidity
from quantbot_pipelines.validation import FoldPlan, Rules, run_fold, stitch
from quantbot_pipelines.validation.walk_forward import ANALYTICS_COLUMNS, TRADE_COLUMNS, in_key_order
from quantbot_pipelines.warehouse.parquet import ParquetWarehouse
from resources.settings import REPO_ROOT

PLAN = FoldPlan(train_days=60, test_days=13, step_days=13)
KEY = ["chat_id", "message_id", "chain", "address"]
SWEEP = "sweep_tp_sl_time"
RESIM_FOLDS = int(os.environ.get("BENCH_WF_RESIM_FOLDS", "6"))  # folds re-simulated for the peer (scaled up)


def _calls(world, analytics: pl.DataFrame) -> pl.DataFrame:
    return (world.calls.join(analytics.select(*KEY, "window_complete"), on=KEY, how="left")
            .join(source_liquidity(world.ledger), on=["chain", "address"], how="left"))


def main() -> dict:
    started = time.perf_counter()
    world = skill_world(SkillWorldSpec.bench())
    gen_s = time.perf_counter() - started
    strategies = load_strategy_file(REPO_ROOT / "strategies" / f"{SWEEP}.yaml")
    by_name = {s.name: s for s in strategies}
    # numba's first call in a process loads its cache: warmed on a few calls, outside the timings
    few = world.calls.head(50)
    simulate(_calls(world, token_analytics(few, world.candles, coverage=world.ledger, now=world.now)),
             world.candles, strategies[:2])

    t = time.perf_counter()
    analytics = token_analytics(world.calls, world.candles, coverage=world.ledger, now=world.now)
    analytics_s = time.perf_counter() - t
    t = time.perf_counter()
    trades = simulate(_calls(world, analytics), world.candles, strategies).with_columns(
        pl.lit(SWEEP).alias("strategy_file"))
    simulation_s = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as root:
        wh = ParquetWarehouse(root)
        t = time.perf_counter()
        for (day,), rows in analytics.group_by("day"):
            wh.write_partition(TOKEN_ANALYTICS, {"day": day}, rows)
        for (day,), rows in trades.group_by("day"):
            wh.write_partition(SIMULATION_RESULTS, {"day": day, "strategy_file": SWEEP}, rows)
        write_s = time.perf_counter() - t
        d0, d1 = analytics.get_column("day").min(), analytics.get_column("day").max()
        folds = PLAN.folds(d0, d1)
        days = sorted({d for f in folds for d in f.train_days + f.test_days})
        t = time.perf_counter()
        a = wh.read(TOKEN_ANALYTICS, where=[("day", "in", days)], columns=ANALYTICS_COLUMNS)
        tr = wh.read(SIMULATION_RESULTS, where=[("day", "in", days), ("strategy_file", "in", [SWEEP])],
                     columns=TRADE_COLUMNS)
        a, tr = in_key_order(a, tr)
        read_s = time.perf_counter() - t
    t = time.perf_counter()
    results = [run_fold(f, a, tr, by_name, Rules()) for f in folds]
    rows = pl.concat([r.rows for r in results])
    out = stitch(PLAN, d0, rows, pl.concat([r.trades for r in results]), by_name)
    selection_s = time.perf_counter() - t
    walk_forward_s = analytics_s + simulation_s + write_s + read_s + selection_s

    # the peer: the sweep simulated again over each fold's calls (a sample of folds, scaled to all of them)
    calls = _calls(world, analytics)
    t = time.perf_counter()
    step = max(1, len(folds) // RESIM_FOLDS)
    sampled = folds[::step][:RESIM_FOLDS]
    for f in sampled:
        window = calls.filter(pl.col("day").is_between(f.train_start, f.test_days[-1]))
        simulate(window, world.candles, strategies)
    resim_s = (time.perf_counter() - t) * len(folds) / len(sampled)

    top = rows.filter(pl.col("policy") == "top_callers")
    chosen = [c for cs in top.get_column("callers").to_list() for c in json.loads(cs)]
    precision = sum(c in world.skilled for c in chosen) / max(1, len(chosen))
    s = out.summary.filter(pl.col("policy") == "top_callers").row(0, named=True)
    pbo = pbo_figures(variants=100, blocks=16, days=365)
    return {
        "calls": world.calls.height, "candles": world.candles.height, "trades": trades.height,
        "folds": len(folds), "generation_s": round(gen_s, 2), "analytics_s": round(analytics_s, 2),
        "simulation_s": round(simulation_s, 2), "io_write_s": round(write_s, 2), "io_read_s": round(read_s, 2),
        "selection_s": round(selection_s, 2), "walk_forward_s": round(walk_forward_s, 2),
        "resimulate_per_fold_s": round(resim_s, 1), "precision": round(precision, 3),
        "oos_mean_return": round(s["oos_mean_return"], 4), "all_callers_mean_return":
            round(s["all_callers_mean_return"], 4), "is_mean_return": round(s["is_mean_return"], 4),
        "random_percentile": s["random_percentile"], "persistence_rho": round(s["persistence_rho"], 3),
        "pbo_s": pbo["pbo_s"], "ffn_pbo_s": pbo["ffn_pbo_s"], "pbo_agree_abs_diff": pbo["agree_abs_diff"],
    }


def report(f: dict) -> None:
    body = f"""
The planted-skill world `SkillWorldSpec.bench()`: {f['calls']:,} calls over 365 days, {f['candles']:,} 1m
candles; the 100-variant sweep gives {f['trades']:,} trades; {f['folds']} folds of 60 / 13 / 13 days, rolling.

{table([
    {"part": "token analytics", "seconds": f["analytics_s"]},
    {"part": "simulation (100 strategies, once)", "seconds": f["simulation_s"]},
    {"part": "IO: write by day (Parquet)", "seconds": f["io_write_s"]},
    {"part": "IO: read the folds' days back (and put them in key order)", "seconds": f["io_read_s"]},
    {"part": f"selection: {f['folds']} folds (boards, choice, baselines, 1,000 random sets) + stitching",
     "seconds": f["selection_s"]},
    {"part": "**walk-forward in all**", "seconds": f"**{f['walk_forward_s']}**"},
    {"part": "peer: the sweep simulated again for every fold (a backtester's walk-forward)",
     "seconds": f["resimulate_per_fold_s"]},
])}

What the walk-forward found (top_callers): precision {f['precision']} (share of chosen callers that are
skilled; chance 0.15); out-of-sample mean return {f['oos_mean_return']:+.4f} a trade against
{f['all_callers_mean_return']:+.4f} following every caller and {f['is_mean_return']:+.4f} in sample; better
than {100 * f['random_percentile']:.1f} % of random caller sets; persistence rho {f['persistence_rho']}.

PBO of 100 variants x 16 blocks (12,870 combinations) over 365 days: {f['pbo_s']} s, against ffn's
`calc_prob_backtest_overfitting` {f['ffn_pbo_s']} s on the same matrix (largest difference
{f['pbo_agree_abs_diff']}). World generation ({f['generation_s']} s) is not counted.

Last line: `walk_forward_s={f['walk_forward_s']} pbo_s={f['pbo_s']}`
"""
    write_section("walk_forward", "Walk-forward and overfitting guards (bench_walk_forward)", body)


if __name__ == "__main__":
    figures = main()
    report(figures)
    for key, value in figures.items():
        print(f"{key}={value}")
    print(f"walk_forward_s={figures['walk_forward_s']} pbo_s={figures['pbo_s']}")
