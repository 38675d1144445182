"""The PBO's speed: CSCV of VARIANTS x DAYS daily returns (seeded, fat-tailed) over BLOCKS day blocks, ours
against ffn's `calc_prob_backtest_overfitting` (ffn >= 1.4, a dev dependency) on the same matrix, in one
process.

Ours: best of 5 after a warm-up; ffn: best of BENCH_PBO_FFN_RUNS (default 1; it takes seconds). The two must
agree (PBO and every logit, to 1e-9). Goal: 100 variants x 16 blocks (12,870 combinations) well under 5 s.

    python -m benchmarks.bench_pbo_part
    BENCH_PBO_VARIANTS=30 BENCH_PBO_BLOCKS=12 python -m benchmarks.bench_pbo_part    # small, while developing
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from benchmarks.bench_portfolio_part import _best
from quantbot_pipelines.validation.overfitting import pbo

VARIANTS = int(os.environ.get("BENCH_PBO_VARIANTS", "100"))
BLOCKS = int(os.environ.get("BENCH_PBO_BLOCKS", "16"))
DAYS = int(os.environ.get("BENCH_PBO_DAYS", "365"))
FFN_RUNS = int(os.environ.get("BENCH_PBO_FFN_RUNS", "1"))


def returns_matrix(variants: int, days: int, seed: int) -> np.ndarray:
    """Daily returns of a sweep without skill: Student-t(4) noise around small per-variant drifts."""
    rng = np.random.default_rng(seed)
    return rng.standard_t(4, size=(days, variants)) * 0.08 + rng.normal(0.0, 0.005, variants)


def pbo_figures(variants: int = VARIANTS, blocks: int = BLOCKS, days: int = DAYS, seed: int = 0,
                ffn_runs: int = FFN_RUNS) -> dict:
    """Seconds of ours and of ffn on the same matrix, the speed-up, the PBO and how far apart the two are."""
    from ffn.core import calc_prob_backtest_overfitting

    m = returns_matrix(variants, days, seed)
    pbo(m[: 2 * blocks, :2], blocks)  # warm-up outside the timing
    ours_s, ours = _best(lambda: pbo(m, blocks), repeat=5)
    used = pd.DataFrame(m[days - ours.days_used:])  # ffn keeps the first days of a remainder; we the last
    ffn_s, theirs = _best(lambda: calc_prob_backtest_overfitting(used, n_blocks=blocks, full_output=True),
                          repeat=ffn_runs)
    diff = max(abs(ours.pbo - theirs["pbo"]), float(np.abs(ours.logits - theirs["logits"].to_numpy()).max()))
    if not diff < 1e-9:
        raise AssertionError(f"ours and ffn disagree by {diff}")
    return {"variants": variants, "blocks": blocks, "days": days, "days_used": ours.days_used,
            "combinations": ours.combinations, "pbo_s": round(ours_s, 4), "ffn_pbo_s": round(ffn_s, 3),
            "speedup": round(ffn_s / ours_s), "pbo": round(ours.pbo, 4), "agree_abs_diff": diff}


if __name__ == "__main__":
    for key, value in pbo_figures().items():
        print(f"{key}={value}")
