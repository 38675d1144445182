"""Memory stays that of a day, not of the range: the pipeline over 30 days in a fresh process, each run's peak
RSS sampled (the benchmark's own measurement, benchmarks/bench_pipeline.py), against the peak of the staging runs
before it (imports, the instance, the definitions).

Bound: no run rises more than 450 MB above that baseline. Measured on the 2-core machine over 30 days with
1,064 calls (more than this test's ~400): +175 MB for the day run and +240 MB for the simulation run with the
strategy boards; a stage that kept every day's candles of the range would hold ~1 GB more there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BOUND_MB = 450


def test_no_run_over_30_days_holds_more_than_a_bounded_amount(tmp_path):
    bench = [sys.executable, "-m", "benchmarks.bench_pipeline"]
    subprocess.run([*bench, "--inbox", f"30:150:{tmp_path / 'data' / 'inbox'}"], cwd=REPO, check=True)
    subprocess.run([*bench, "--one", str(tmp_path)], cwd=REPO, check=True, capture_output=True)
    result = json.loads((tmp_path / "result.json").read_text())
    peaks = result["stage_peak_mb"]
    staging = [mb for label, mb in peaks.items() if "telegram_staged_calls" in label]
    later = {label: mb for label, mb in peaks.items() if "telegram_staged_calls" not in label}
    assert result["calls"] > 300 and staging and len(later) == 2, peaks
    baseline = max(staging)
    for label, mb in later.items():
        assert mb - baseline < BOUND_MB, f"{label}: {mb - baseline:.0f} MB above the {baseline:.0f} MB baseline"
