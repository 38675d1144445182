"""Overfitting guards for a sweep: the Deflated Sharpe Ratio of its best variant and the Probability of
Backtest Overfitting by combinatorially symmetric cross-validation (docs/semantics.md#overfitting-guards).

With 100 variants tried on the same calls, the best one looks good even when none has an edge. The DSR
(Bailey & López de Prado 2014) asks whether the best Sharpe clears the one expected of the best of N
zero-skill trials; the PBO (Bailey, Borwein, López de Prado & Zhu 2017) asks how often the in-sample winner
ends up at or below the median variant on held-out days.

Everything works on the variants' daily return series (T days x N variants, per-day Sharpe ratios, not
annualised). The figures agree with ffn 1.4.1 (`calc_deflated_sharpe_ratio`, `calc_prob_backtest_overfitting`)
on data where every Sharpe is defined; where one is not, the rules of the doc apply (ffn returns NaN).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import polars as pl

from quantbot_pipelines.simulation.rollups import book_trades

EULER_GAMMA = 0.5772156649015329
SIGNIFICANT_DSR = 0.95
LOW_PBO = 0.2
_NORMAL = NormalDist()
# combinations per batch of the CSCV: bounds the C x N working arrays (a few MB each)
_BATCH = 4096

GUARD_SCHEMA = {"strategy_file": pl.String, "strategy": pl.String, "variants": pl.Int64, "days": pl.Int64,
                "best_sharpe": pl.Float64, "expected_max_sharpe": pl.Float64, "dsr": pl.Float64,
                "pbo": pl.Float64, "verdict": pl.String}


@dataclass(frozen=True)
class PBOResult:
    """pbo: share of the combinations whose logit is <= 0 (None when undefined, with `reason`); logits in the
    order of itertools.combinations(range(blocks), blocks // 2) for the in-sample blocks."""
    pbo: float | None
    logits: np.ndarray = field(repr=False)
    combinations: int
    blocks: int
    days_used: int
    reason: str | None = None


def daily_returns(trades: pl.DataFrame) -> tuple[list[str], list[dt.date], np.ndarray]:
    """(variants in the board's order, days, T x N matrix) of ONE strategy file's simulation_results rows.

    A cell is the variant's mean net_return over its counted trades of that UTC call day (the day's
    equal-sized book), 0 on a day where only other variants traded. The days are those with a counted
    trade of any variant, oldest first."""
    if "day" not in trades.columns:
        trades = trades.with_columns(pl.col("call_ts").dt.convert_time_zone("UTC").dt.date().alias("day"))
    universe = trades.filter(~pl.col("repeat").fill_null(False)).select("strategy").unique()
    counted = book_trades(trades)
    # the board's order: mean return high first, then name; variants without a trade last
    order = (universe.join(counted.group_by("strategy").agg(pl.col("net_return").mean().alias("_mean")),
                           on="strategy", how="left")
             .sort(["_mean", "strategy"], descending=[True, False], nulls_last=True))
    variants = order.get_column("strategy").to_list()
    days = counted.get_column("day").unique().sort().to_list()
    matrix = np.zeros((len(days), len(variants)))
    if days:
        # summed in numpy in a fixed row order: a parallel group_by sums in varying order, and variants that
        # trade identically must tie exactly, not by rounding noise
        keys = [c for c in ("day", "strategy", "chat_id", "message_id", "chain", "address") if c in counted.columns]
        cells = (counted.sort(keys)
                 .join(pl.DataFrame({"day": days}, schema={"day": counted.schema["day"]})
                       .with_row_index("d"), on="day", maintain_order="left")
                 .join(pl.DataFrame({"strategy": variants}, schema={"strategy": pl.String})
                       .with_row_index("v"), on="strategy", maintain_order="left"))
        d, v = cells.get_column("d").to_numpy(), cells.get_column("v").to_numpy()
        sums, counts = np.zeros_like(matrix), np.zeros_like(matrix)
        np.add.at(sums, (d, v), cells.get_column("net_return").to_numpy())
        np.add.at(counts, (d, v), 1.0)
        np.divide(sums, counts, out=matrix, where=counts > 0)
    return variants, days, matrix


def _no_variation(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """All values equal, up to rounding: the range within 4 ulp of the larger magnitude (as ffn tests it)."""
    return (hi - lo) <= 4 * np.finfo(float).eps * np.maximum(np.abs(hi), np.abs(lo))


def sharpe_ratios(matrix: np.ndarray) -> np.ndarray:
    """Per-period Sharpe of each column: mean / sample sd (ddof 1); NaN with fewer than 2 rows or when the
    column does not vary."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim == 1:
        m = m[:, None]
    if m.shape[0] < 2:
        return np.full(m.shape[1], np.nan)
    sd = m.std(axis=0, ddof=1)
    flat = _no_variation(m.max(axis=0), m.min(axis=0)) | ~(sd > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, np.nan, m.mean(axis=0) / np.where(flat, 1.0, sd))


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR0 = sqrt(V) x ((1 - γ) Φ^-1(1 - 1/N) + γ Φ^-1(1 - 1/(N e))): the expected best Sharpe of N
    zero-skill trials whose Sharpe ratios have variance V. 0 for one trial or no dispersion."""
    if n_trials < 1:
        raise ValueError("n_trials must be at least 1")
    if n_trials == 1 or not variance > 0:
        return 0.0
    return math.sqrt(variance) * ((1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n_trials)
                                  + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n_trials * math.e)))


def _skew_kurt(x: np.ndarray) -> tuple[float, float]:
    """Bias-corrected sample skewness G1 and kurtosis G2 + 3 (pandas' .skew() and .kurt() + 3)."""
    n = x.size
    d = x - x.mean()
    m2, m3, m4 = (d**2).mean(), (d**3).mean(), (d**4).mean()
    skew = math.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5
    excess = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * m4 / m2**2 - 3 * (n - 1))
    return float(skew), float(excess + 3.0)


def deflated_sharpe_ratio(returns_of_best: np.ndarray, trial_sharpes: np.ndarray) -> float | None:
    """DSR = Φ((SR* - SR0) sqrt(T - 1) / sqrt(1 - skew SR* + (kurt - 1)/4 SR*^2)) of the best variant's
    per-period returns against the Sharpe ratios of all N trials (itself included).

    N counts every trial; V is the sample variance (ddof 1) of the defined Sharpe ratios (a trial whose
    returns never vary adds no dispersion). None with fewer than 4 periods (the kurtosis needs 4), a best
    series without variation, fewer than 2 defined trial Sharpes, or a non-positive denominator."""
    r = np.asarray(returns_of_best, dtype=float)
    trials = np.asarray(trial_sharpes, dtype=float)
    defined = trials[np.isfinite(trials)]
    if r.size < 4 or defined.size < 2:
        return None
    sr = float(sharpe_ratios(r)[0])
    if not math.isfinite(sr):
        return None
    sr0 = expected_max_sharpe(trials.size, float(defined.var(ddof=1)))
    skew, kurt = _skew_kurt(r)
    adj = 1 - skew * sr + (kurt - 1) / 4 * sr**2
    if not adj > 0:
        return None
    return _NORMAL.cdf((sr - sr0) * math.sqrt(r.size - 1) / math.sqrt(adj))


def _half_sharpes(mask: np.ndarray, sums: np.ndarray, squares: np.ndarray, total: np.ndarray,
                  total_sq: np.ndarray, shift: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sharpe ratios (combinations x variants) of the in-sample halves (`mask` rows) and their complements
    from the per-block sums of the shifted returns."""
    out = []
    s_in, q_in = mask @ sums, mask @ squares
    for s, q in ((s_in, q_in), (total - s_in, total_sq - q_in)):
        var = (q - s * s / n) / (n - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(var > 0, (s / n + shift) / np.sqrt(var), -np.inf))
    return out[0], out[1]


def _flat_halves(mask: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which (combination, variant) halves do not vary; only variants with a flat block can have one."""
    flat_in = np.zeros((mask.shape[0], hi.shape[1]), dtype=bool)
    flat_out = flat_in.copy()
    cols = np.flatnonzero(_no_variation(hi, lo).any(axis=0))
    if cols.size:
        chosen = mask.astype(bool)[:, :, None]
        h, lw = hi[None, :, cols], lo[None, :, cols]
        for sel, dest in ((chosen, flat_in), (~chosen, flat_out)):
            dest[:, cols] = _no_variation(np.where(sel, h, -np.inf).max(axis=1),
                                          np.where(sel, lw, np.inf).min(axis=1))
    return flat_in, flat_out


def pbo(matrix: np.ndarray, blocks: int = 16) -> PBOResult:
    """Probability of Backtest Overfitting by CSCV over `blocks` contiguous day blocks.

    Uses the last blocks x floor(T / blocks) rows (the oldest remainder is dropped). For each choice of half
    the blocks as in-sample: the in-sample best column (ties: the first) gets its out-of-sample rank r
    among the N columns (1 = worst, ties averaged), ω = r / (N + 1), logit λ = ln(ω / (1 - ω)); PBO = share
    of λ <= 0. A half of a column without variation has an undefined Sharpe, taken as -inf: never the
    in-sample pick while another column is defined, and the lowest out-of-sample rank (shared by all such
    columns). None, with a reason, when T < 2 x blocks or N < 2."""
    if not isinstance(blocks, (int, np.integer)) or blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be an even integer >= 2, got {blocks!r}")
    blocks = int(blocks)
    m = np.asarray(matrix, dtype=float)
    t, n_var = m.shape
    size = t // blocks
    n_comb = math.comb(blocks, blocks // 2)
    empty = np.empty(0)
    if n_var < 2:
        return PBOResult(None, empty, n_comb, blocks, 0, f"needs at least 2 variants, has {n_var}")
    if t < 2 * blocks:
        return PBOResult(None, empty, n_comb, blocks, 0,
                         f"needs at least {2 * blocks} days for {blocks} blocks, has {t}")
    used = m[t - size * blocks:]
    # shifting each column by its mean keeps the sums of squares well conditioned; the Sharpe adds it back
    shift = used.mean(axis=0)
    cube = (used - shift).reshape(blocks, size, n_var)
    sums, squares = cube.sum(axis=1), (cube * cube).sum(axis=1)
    total, total_sq = sums.sum(axis=0), squares.sum(axis=0)
    hi, lo = used.reshape(blocks, size, n_var).max(axis=1), used.reshape(blocks, size, n_var).min(axis=1)
    half = size * blocks // 2
    combos = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(blocks), blocks // 2)),
                         dtype=np.int64, count=n_comb * (blocks // 2)).reshape(n_comb, blocks // 2)
    logits = np.empty(n_comb)
    for start in range(0, n_comb, _BATCH):
        part = combos[start:start + _BATCH]
        mask = np.zeros((part.shape[0], blocks))
        np.put_along_axis(mask, part, 1.0, axis=1)
        sr_in, sr_out = _half_sharpes(mask, sums, squares, total, total_sq, shift, half)
        flat_in, flat_out = _flat_halves(mask, hi, lo)
        sr_in[flat_in], sr_out[flat_out] = -np.inf, -np.inf
        winner = np.argmax(sr_in, axis=1)
        w = np.take_along_axis(sr_out, winner[:, None], axis=1)
        rank = (sr_out < w).sum(axis=1) + ((sr_out == w).sum(axis=1) + 1) / 2
        omega = rank / (n_var + 1.0)
        logits[start:start + part.shape[0]] = np.log(omega / (1.0 - omega))
    return PBOResult(float((logits <= 0.0).mean()), logits, n_comb, blocks, size * blocks)


def _pct(p: float) -> str:
    if p > 0.995 and p < 1:
        return ">99%"
    if 0 < p < 0.005:
        return "<1%"
    return f"{p:.0%}"


def verdict(variants: int, days: int, dsr: float | None, pbo_value: float | None, blocks: int,
            pbo_reason: str | None = None) -> str:
    """One plain sentence on the best variant of a sweep (docs/semantics.md#overfitting-guards)."""
    head = f"Best of {variants} variants"
    if dsr is None and pbo_value is None:
        return (f"{head}: too few days ({days}) to tell an edge from luck; the guards need at least "
                f"{2 * blocks} days of results.")
    if dsr is None:
        return (f"{head}: its Sharpe ratio is undefined over the {days} days, so the chance of a real edge "
                f"cannot be told; the in-sample winner did no better than the median variant on held-out days "
                f"in {_pct(pbo_value)} of splits (PBO).")
    real = f"after allowing for {variants} tries, the chance its edge is real is {_pct(dsr)} (DSR)"
    if pbo_value is None:
        why = pbo_reason or f"needs at least {2 * blocks} days"
        tail = "promising, not yet confirmed" if dsr >= SIGNIFICANT_DSR else "not significant yet"
        return f"{head}: {real}; too few days for the held-out test ({why}): {tail}."
    held = (f"the in-sample winner did no better than the median variant on held-out days in "
            f"{_pct(pbo_value)} of splits (PBO)")
    if dsr >= SIGNIFICANT_DSR and pbo_value < LOW_PBO:
        tail = "the edge looks real."
    elif dsr >= SIGNIFICANT_DSR:
        tail = "the sweep looks profitable, but which variant is best may be luck."
    elif pbo_value < 0.5:
        tail = "the ranking holds up on held-out days, but the edge is not significant after so many tries."
    else:
        tail = "likely an artefact of trying many."
    return f"{head}: {real}; {held}: {tail}"


def sweep_guards(trades: pl.DataFrame, blocks: int = 16) -> pl.DataFrame:
    """One row per strategy file with more than one variant: its best variant (highest daily Sharpe; ties in
    the board's order), variants, days, best_sharpe, expected_max_sharpe, dsr, pbo and a verdict."""
    if blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be an even integer >= 2, got {blocks!r}")
    rows = []
    if trades.height:
        for (file,), part in sorted(trades.group_by("strategy_file"), key=lambda kv: kv[0]):
            variants, days, matrix = daily_returns(part)
            if len(variants) < 2:
                continue
            sharpes = sharpe_ratios(matrix)
            defined = np.isfinite(sharpes)
            best = int(np.argmax(np.where(defined, sharpes, -np.inf)))
            dsr = deflated_sharpe_ratio(matrix[:, best], sharpes)
            sr0 = (expected_max_sharpe(len(variants), float(sharpes[defined].var(ddof=1)))
                   if defined.sum() >= 2 else None)
            guard = pbo(matrix, blocks)
            rows.append({"strategy_file": file, "strategy": variants[best], "variants": len(variants),
                         "days": len(days), "best_sharpe": float(sharpes[best]) if defined[best] else None,
                         "expected_max_sharpe": sr0, "dsr": dsr, "pbo": guard.pbo,
                         "verdict": verdict(len(variants), len(days), dsr, guard.pbo, blocks, guard.reason)})
    return pl.DataFrame(rows, schema=GUARD_SCHEMA)
