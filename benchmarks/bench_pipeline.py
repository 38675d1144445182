"""The whole pipeline on a persistent Dagster instance at several sizes: wall time per stage, peak memory,
warehouse bytes, how each stage grows with the number of calls, and the share of wall time that is Dagster's own.

Each size runs in its own fresh process (the sample inbox is written by another one first, so its memory does not
count), exactly what `make demo` does: in-process runs on a SQLite instance in a temp DAGSTER_HOME, one run per
stage over the whole day range. A stage's time is the `run_compute_s` its step reports (time inside its own
function: reading, computing, writing); Dagster's share is 1 - sum(run_compute_s) / wall. A stage's memory is
the peak RSS sampled every 50 ms while its run was in progress. The growth exponent of a stage is the
least-squares slope of log(stage seconds) over log(calls) across the sizes (1.0: linear).

    python -m benchmarks.bench_pipeline
    BENCH_PIPELINE_SIZES=90,180,360,360x37000 python -m benchmarks.bench_pipeline

A size is `DAYS` (tokens scaled as the 90-day sample's 1,900 tokens) or `DAYSxTOKENS`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = os.environ.get("BENCH_PIPELINE_SIZES", "90,180,360,360x37000")
START = dt.date(2025, 6, 1)
TOKENS_PER_DAY = 1900 / 90
# stages by the asset whose step reports run_compute_s (a multi-asset reports it on its first selected asset)
STAGES = {
    "telegram_exports": ["telegram_staged_calls"],
    "telegram_calls": ["telegram_calls"],
    "raw_candles": ["raw_candles"],
    "candle checks": ["raw_candles:candles_consistent", "raw_candles:candle_coverage"],
    "aggregated_candles": ["aggregated_candles/"],
    "token_analytics": ["token_analytics"],
    "simulation_results": ["simulation_results"],
    "leaderboards": ["caller_leaderboard", "token_leaderboard", "strategy_leaderboard",
                     "caller_strategy_leaderboard"],
}
PLOT = ROOT / "docs" / "img" / "pipeline_scale.png"


def _size(text: str) -> tuple[int, int]:
    days, _, tokens = text.strip().partition("x")
    return int(days), int(tokens) if tokens else round(int(days) * TOKENS_PER_DAY)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _stage_of(asset: str) -> str | None:
    for stage, prefixes in STAGES.items():
        if any(asset == p or (p.endswith("/") and asset.startswith(p)) for p in prefixes):
            return stage
    return None


def write_inbox(days: int, tokens: int, inbox: Path) -> None:
    from quantbot_pipelines.sample import SampleSpec, write_sample_inbox

    write_sample_inbox(inbox, SampleSpec(start=START, end=START + dt.timedelta(days=days - 1), tokens=tokens))


def run_one(work: Path) -> dict:
    """The pipeline once, in this process, over the inbox under `work`; figures as a dict."""
    os.environ["QUANTBOT_DATA_DIR"] = str(work / "data")
    os.environ["QUANTBOT_START_DATE"] = START.isoformat()
    os.environ["DAGSTER_HOME"] = str(work / "home")
    (work / "home").mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", work / "home" / "dagster.yaml")
    sys.path.insert(0, str(ROOT))

    from dagster import DagsterEventType, DagsterInstance

    from assets import build_definitions
    from assets.runner import materialize_pipeline
    from resources.settings import Settings

    defs = build_definitions(Settings.from_env())
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), _rss_mb()))
            stop.wait(0.05)

    ends: list[tuple[float, str]] = []
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with DagsterInstance.get() as instance:
        started = time.perf_counter()
        runs = materialize_pipeline(instance, defs, log=lambda line: ends.append((time.perf_counter(), line)))
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        compute: dict[str, float] = {}
        run_wall: dict[str, float] = {}
        for label, run_id in runs.items():
            seen: dict[str, float] = {}
            for kind in (DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION):
                for rec in instance.get_records_for_run(run_id, of_type=kind).records:
                    event = rec.event_log_entry.dagster_event.event_specific_data
                    if kind == DagsterEventType.ASSET_MATERIALIZATION:
                        event = event.materialization
                        name = event.asset_key.to_user_string()
                    else:
                        name = f"{event.asset_key.to_user_string()}:{event.check_name}"
                    if "run_compute_s" in event.metadata:  # the same on every partition of the run
                        seen[name] = float(event.metadata["run_compute_s"].value)
            for name, seconds in seen.items():
                stage = _stage_of(name) or name
                compute[stage] = compute.get(stage, 0.0) + seconds
            stats = instance.get_run_stats(run_id)
            run_wall[label] = (stats.end_time or 0) - (stats.launch_time or stats.start_time or 0)
    wh = defs.resources["warehouse"].get()
    calls = wh.read("telegram_calls", columns=["day"]).height
    # the peak while each run was in progress: runs end in order (the runner logs one line per run, after it)
    peaks, begin = {}, started
    for (end, _), label in zip([e for e in ends if " run " in e[1]], runs, strict=False):
        inside = [mb for t, mb in samples if begin <= t <= end]
        peaks[label] = max(inside) if inside else 0.0
        begin = end
    data = work / "data"
    bytes_by_table = {}
    for table_dir in sorted((data / "warehouse").iterdir()) if (data / "warehouse").exists() else []:
        bytes_by_table[table_dir.name] = sum(f.stat().st_size for f in table_dir.rglob("*") if f.is_file())
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the storage figures below
    src = defs.resources["candle_source"]
    windows = _window_minutes(wh.read("telegram_calls", columns=["day", "chain", "address", "call_ts"]),
                              src.pre_window_s, src.horizon_s + src.entry_slack_s)
    import pyarrow.parquet as pq

    raw_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in (data / "warehouse" / "raw_candles").rglob("*.parquet"))
    return {"calls": calls, "wall_s": wall, "compute_s": compute, "run_wall_s": run_wall,
            "peak_rss_mb": peak, "stage_peak_mb": peaks, "warehouse_bytes": bytes_by_table,
            "raw_candle_rows": raw_rows, **windows}


def _window_minutes(calls, pre_s: int, post_s: int) -> dict:
    """Minutes of candle windows: merged per (call day, token), as stored (each day partition holds its own
    windows whole), and merged per token across days (each minute once)."""
    import polars as pl

    w = calls.select("day", "chain", "address", s=(pl.col("call_ts").dt.epoch("s") - pre_s) // 60,
                     e=(pl.col("call_ts").dt.epoch("s") + post_s) // 60 + 1)

    def union(keys: list[str]) -> int:
        prev = pl.col("e").cum_max().shift(1).over(keys)
        blocks = (w.sort([*keys, "s"])
                  .with_columns(block=(prev.is_null() | (pl.col("s") > prev)).cum_sum().over(keys))
                  .group_by([*keys, "block"]).agg(n=pl.col("e").max() - pl.col("s").min()))
        return int(blocks.get_column("n").sum())

    return {"window_minutes_by_day": union(["day", "chain", "address"]),
            "window_minutes_union": union(["chain", "address"])}


def _slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-3)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((x - mx) ** 2 for x in lx)
    return sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / den if den else float("nan")


def _plot(results: list[dict], stages: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    calls = [r["calls"] for r in results]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for stage in stages:
        ax.plot(calls, [max(r["compute_s"].get(stage, 0.0), 1e-2) for r in results], marker="o", label=stage)
    ax.plot(calls, [r["wall_s"] for r in results], marker="s", color="black", lw=2, label="wall (end to end)")
    lo, hi = calls[0], calls[-1]
    base = results[0]["wall_s"]
    ax.plot([lo, hi], [base, base * hi / lo], ls="--", color="grey", label="linear from the smallest size")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("calls")
    ax.set_ylabel("seconds")
    ax.set_title("bench_pipeline: time per stage against calls (log-log)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--inbox":
        days, tokens, inbox = sys.argv[2].split(":")
        write_inbox(int(days), int(tokens), Path(inbox))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        work = Path(sys.argv[2])
        (work / "result.json").write_text(json.dumps(run_one(work)))
        return

    from benchmarks._report import table, write_section

    sizes = [_size(s) for s in SIZES.split(",") if s.strip()]
    results = []
    for days, tokens in sizes:
        work = Path(tempfile.mkdtemp(prefix="qb-bench-pipeline-"))
        try:
            inbox = work / "data" / "inbox"
            subprocess.run([sys.executable, "-m", "benchmarks.bench_pipeline", "--inbox",
                            f"{days}:{tokens}:{inbox}"], cwd=ROOT, check=True)
            subprocess.run([sys.executable, "-m", "benchmarks.bench_pipeline", "--one", str(work)], cwd=ROOT,
                           check=True)
            result = json.loads((work / "result.json").read_text())
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result |= {"days": days, "tokens": tokens}
        results.append(result)
        print(f"{days} days x {tokens} tokens: {result['calls']:,} calls, {result['wall_s']:.1f} s, "
              f"peak {result['peak_rss_mb'] / 1024:.2f} GB", flush=True)

    stages = [s for s in STAGES if any(s in r["compute_s"] for r in results)]
    exponents = {s: _slope([r["calls"] for r in results], [r["compute_s"].get(s, 0.0) for r in results])
                 for s in stages} if len(results) > 1 else {}
    wall_exp = _slope([r["calls"] for r in results], [r["wall_s"] for r in results]) if len(results) > 1 else 0.0
    # stages too small to time well (under 1 s at every size) are shown but left out of the worst exponent
    timed = [s for s in stages if max(r["compute_s"].get(s, 0.0) for r in results) >= 1.0]
    worst = max((exponents[s] for s in timed), default=0.0)
    big = results[-1]
    share = max(0.0, 1 - sum(big["compute_s"].values()) / big["wall_s"])

    rows = []
    for r in results:
        row = {"days": r["days"], "calls": f"{r['calls']:,}", "wall s": f"{r['wall_s']:.1f}"}
        row |= {f"{s} s": f"{r['compute_s'].get(s, 0.0):.1f}" for s in stages}
        row |= {"Dagster share": f"{max(0.0, 1 - sum(r['compute_s'].values()) / r['wall_s']):.3f}",
                "peak RSS GB": f"{r['peak_rss_mb'] / 1024:.2f}",
                "warehouse MB": f"{sum(r['warehouse_bytes'].values()) / 1e6:.0f}"}
        rows.append(row)
    exp_rows = [{"stage": s, "exponent": f"{exponents[s]:.2f}" if s in exponents else "",
                 "counted in worst": "yes" if s in timed else "no (< 1 s)"} for s in stages]
    exp_rows.append({"stage": "wall (end to end)", "exponent": f"{wall_exp:.2f}", "counted in worst": "no"})
    storage = [{"table": t, "MB": f"{b / 1e6:.1f}", "bytes per call": f"{b / big['calls']:,.0f}"}
               for t, b in sorted(big["warehouse_bytes"].items(), key=lambda kv: -kv[1])]
    overlap = big["window_minutes_by_day"] / max(big["window_minutes_union"], 1)
    stored = big["raw_candle_rows"] / max(big["window_minutes_by_day"], 1)
    peaks = [{"run": k, "peak RSS MB": f"{v:.0f}"} for k, v in big["stage_peak_mb"].items()]
    if len(results) > 1:
        _plot(results, stages)
    body = (
        "Sizes " + ", ".join(f"{d} days x {t:,} tokens" for d, t in sizes) + "; synthetic candles, embedded "
        "Parquet warehouse, SQLite instance, one fresh process per size (the sample inbox written by another).\n\n"
        + table(rows) + "\n\nGrowth exponents (least-squares slope of log stage seconds over log calls; 1.0 is "
        "linear; goal <= 1.1):\n\n" + table(exp_rows)
        + (f"\n\n![time per stage against calls](img/{PLOT.name})\n" if len(results) > 1 else "\n")
        + f"\nWarehouse at the largest size ({big['calls']:,} calls):\n\n" + table(storage)
        + f"\n\nraw_candles holds {big['raw_candle_rows']:,} one-minute candles, {stored:.3f} per minute of the "
        f"call days' merged windows (below 1: minutes without trades have no candle). Those windows cover "
        f"{overlap:.3f} times the minutes of each token's windows merged across days: the only duplication is "
        "where a token called on two days has overlapping windows, and each day's partition keeps its own "
        "windows whole."
        + "\n\nPeak RSS per run at the largest size (sampled every 50 ms):\n\n" + table(peaks) + "\n")
    write_section("pipeline", "Whole pipeline through the Dagster instance, by size (bench_pipeline)", body)
    print(body)
    print(f"calls={big['calls']} wall_s={big['wall_s']:.1f} peak_rss_gb={big['peak_rss_mb'] / 1024:.2f} "
          f"worst_exponent={worst:.2f} dagster_overhead_share={share:.3f}")


if __name__ == "__main__":
    main()
