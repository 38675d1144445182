"""The whole pipeline over 90 days of calls (~5,000) on a persistent Dagster instance: wall time and the
share of it that is Dagster's own (everything outside the assets' compute).

Runs are in-process materializations on a SQLite instance in a temp DAGSTER_HOME, one run per stage over
the whole day range (single-run backfill policies), exactly what `make demo` does. Asset compute is the
`compute_s` each asset and asset check reports (time inside its own function: reading, computing,
writing); the overhead
share is 1 - sum(compute_s) / wall. Environment: BENCH_PIPELINE_DAYS (90), BENCH_PIPELINE_TOKENS (1900).

    python -m benchmarks.bench_pipeline
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAYS = int(os.environ.get("BENCH_PIPELINE_DAYS", "90"))
TOKENS = int(os.environ.get("BENCH_PIPELINE_TOKENS", "1900"))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="qb-bench-pipeline-"))
    os.environ["QUANTBOT_DATA_DIR"] = str(work / "data")
    os.environ["DAGSTER_HOME"] = str(work / "home")
    (work / "home").mkdir()
    shutil.copy(ROOT / "dagster.yaml", work / "home" / "dagster.yaml")
    sys.path.insert(0, str(ROOT))

    from dagster import DagsterInstance

    from assets import build_definitions
    from assets.runner import materialize_pipeline
    from benchmarks._report import table, write_section
    from quantbot_pipelines.sample import SampleSpec, write_sample_inbox
    from resources.settings import Settings

    start = dt.date(2025, 6, 1)
    spec = SampleSpec(start=start, end=start + dt.timedelta(days=DAYS - 1), tokens=TOKENS)
    settings = Settings.from_env()
    write_sample_inbox(settings.inbox, spec)
    defs = build_definitions(settings)
    try:
        with DagsterInstance.get() as instance:
            started = time.perf_counter()
            runs = materialize_pipeline(instance, defs, log=lambda _: None)
            wall = time.perf_counter() - started
            by_stage = []
            compute_total = 0.0
            for label, run_id in runs.items():
                records = instance.get_records_for_run(run_id, of_type=_event("ASSET_MATERIALIZATION")).records
                per_asset = {}
                for rec in records:  # a range run repeats its metadata on every partition's event
                    mat = rec.event_log_entry.asset_materialization
                    if "compute_s" in mat.metadata:  # a multi-asset step reports it on its first asset
                        per_asset[mat.asset_key.to_user_string()] = float(mat.metadata["compute_s"].value)
                for rec in instance.get_records_for_run(run_id, of_type=_event("ASSET_CHECK_EVALUATION")).records:
                    check = rec.event_log_entry.dagster_event.event_specific_data
                    per_asset[f"{check.asset_key.to_user_string()}:{check.check_name}"] = float(
                        check.metadata["compute_s"].value)
                stats = instance.get_run_stats(run_id)
                run_wall = (stats.end_time or 0) - (stats.launch_time or stats.start_time or 0)
                compute = sum(per_asset.values())
                compute_total += compute
                by_stage.append({"run": label, "run wall s": f"{run_wall:.2f}", "asset + check compute s": f"{compute:.2f}",
                                 "partitions": len(records)})
        calls = defs.resources["warehouse"].get().read("telegram_calls", columns=["day"]).height
    finally:
        shutil.rmtree(work, ignore_errors=True)

    share = max(0.0, 1 - compute_total / wall)
    body = (f"{DAYS} days, {calls:,} calls, {len(runs)} runs (one per stage over the whole range), synthetic "
            f"candles, embedded Parquet warehouse, SQLite instance.\n\n"
            f"| wall s | asset + check compute s | Dagster overhead share | goal |\n|---|---|---|---|\n"
            f"| {wall:.1f} | {compute_total:.1f} | {share:.3f} | < 0.30 |\n\n" + table(by_stage))
    write_section("pipeline", "Whole pipeline through the Dagster instance (bench_pipeline)", body)
    print(body)
    print(f"wall_s={wall:.1f} dagster_overhead_share={share:.3f}")


def _event(name: str):
    from dagster import DagsterEventType

    return DagsterEventType[name]


if __name__ == "__main__":
    main()
