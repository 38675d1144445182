"""Overfitting guards (docs/semantics.md#overfitting-guards): DSR and PBO against ffn 1.4 (a dev dependency),
the worked examples, a world without skill and one with, and the guards on the strategy board."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from quantbot_pipelines.schemas import STRATEGY_LEADERBOARD
from quantbot_pipelines.simulation import strategy_leaderboard
from quantbot_pipelines.validation.overfitting import (
    GUARD_SCHEMA,
    daily_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo,
    sharpe_ratios,
    sweep_guards,
    verdict,
)

ffn_core = pytest.importorskip("ffn.core")
scipy_stats = pytest.importorskip("scipy.stats")

D0 = dt.date(2025, 1, 1)


def _ffn_dsr(returns: np.ndarray, sharpes: np.ndarray) -> float:
    return float(ffn_core.calc_deflated_sharpe_ratio(pd.Series(returns), pd.Series(sharpes), nperiods=365,
                                                     annualized_trials=False))


def _fat_tailed(rng, t: int, n: int) -> np.ndarray:
    return rng.standard_t(4, size=(t, n)) * 0.08 + rng.normal(0.0, 0.01, n)


@pytest.mark.parametrize(("t", "n", "seed"), [(4, 3, 1), (30, 5, 2), (120, 20, 3), (365, 100, 4), (57, 2, 5)])
def test_dsr_equals_ffn(t, n, seed):
    m = _fat_tailed(np.random.default_rng(seed), t, n)
    sr = sharpe_ratios(m)
    expect = pd.DataFrame(m).mean() / pd.DataFrame(m).std(ddof=1)
    assert np.abs(sr - expect.to_numpy()).max() < 1e-12
    best = int(np.argmax(sr))
    assert deflated_sharpe_ratio(m[:, best], sr) == pytest.approx(_ffn_dsr(m[:, best], sr), abs=1e-12)
    # any column, not only the best, against the same trials
    assert deflated_sharpe_ratio(m[:, 0], sr) == pytest.approx(_ffn_dsr(m[:, 0], sr), abs=1e-12)


@pytest.mark.parametrize(("n", "v"), [(1, 0.3), (2, 0.04), (3, 0.237), (100, 0.01), (5000, 2.0), (7, 0.0)])
def test_expected_max_sharpe_equals_ffn(n, v):
    assert expected_max_sharpe(n, v) == pytest.approx(ffn_core.calc_expected_max_sharpe(n, math.sqrt(v)),
                                                      abs=1e-12)


@pytest.mark.parametrize(("t", "n", "blocks", "seed"), [(41, 5, 4, 1), (100, 10, 8, 2), (67, 30, 6, 3),
                                                        (250, 12, 10, 4), (130, 50, 12, 5), (40, 2, 2, 6)])
def test_pbo_equals_ffn(t, n, blocks, seed):
    m = _fat_tailed(np.random.default_rng(seed), t, n)
    ours = pbo(m, blocks)
    assert ours.days_used == blocks * (t // blocks) and ours.combinations == math.comb(blocks, blocks // 2)
    # ffn keeps the first days of a remainder, we keep the last: it gets the rows we use
    theirs = ffn_core.calc_prob_backtest_overfitting(pd.DataFrame(m[t - ours.days_used:]), n_blocks=blocks,
                                                     full_output=True)
    assert abs(ours.pbo - theirs["pbo"]) < 1e-12
    assert np.abs(ours.logits - theirs["logits"].to_numpy()).max() < 1e-12


def test_pbo_ties_equal_ffn():
    """Duplicated columns tie exactly in and out of sample: the first wins, the ranks are averaged."""
    rng = np.random.default_rng(7)
    base = np.round(rng.normal(0.0, 0.05, (48, 4)), 2)
    m = base[:, [0, 1, 1, 2, 3, 3, 3]]
    ours = pbo(m, 6)
    theirs = ffn_core.calc_prob_backtest_overfitting(pd.DataFrame(m), n_blocks=6, full_output=True)
    assert abs(ours.pbo - theirs["pbo"]) < 1e-12
    assert np.abs(ours.logits - theirs["logits"].to_numpy()).max() < 1e-12


def _reference_pbo(m: np.ndarray, blocks: int) -> tuple[float, np.ndarray]:
    """The doc's rule written out slice by slice (undefined Sharpe = -inf)."""
    size = m.shape[0] // blocks
    used = m[m.shape[0] - size * blocks:]
    parts = [used[i * size:(i + 1) * size] for i in range(blocks)]

    def sr(x):
        out = []
        for col in x.T:
            flat = col.max() - col.min() <= 4 * np.finfo(float).eps * max(abs(col.max()), abs(col.min()))
            out.append(-np.inf if flat else col.mean() / col.std(ddof=1))
        return np.array(out)

    logits = []
    for ins in itertools.combinations(range(blocks), blocks // 2):
        a = sr(np.concatenate([parts[i] for i in ins]))
        b = sr(np.concatenate([parts[i] for i in range(blocks) if i not in ins]))
        omega = scipy_stats.rankdata(b, method="average")[int(np.argmax(a))] / (m.shape[1] + 1)
        logits.append(math.log(omega / (1 - omega)))
    logits = np.array(logits)
    return float((logits <= 0).mean()), logits


def test_pbo_with_flat_halves_follows_the_rule():
    """A variant without trades on some days is flat there: lowest rank, never the pick (ffn gives NaN)."""
    rng = np.random.default_rng(8)
    m = rng.normal(0.0, 0.05, (60, 6))
    m[:, 2] = 0.0                 # never varies
    m[:30, 4] = 0.0               # flat in the first half of the days
    m[40:, 5] = 0.01              # flat in the last third
    ours = pbo(m, 6)
    want, logits = _reference_pbo(m, 6)
    assert ours.pbo == pytest.approx(want, abs=1e-12) and np.abs(ours.logits - logits).max() < 1e-12
    assert math.isnan(ffn_core.calc_prob_backtest_overfitting(pd.DataFrame(m), n_blocks=6))


def test_pbo_undefined_and_invalid():
    m = np.random.default_rng(9).normal(size=(31, 5))
    short = pbo(m, 16)
    assert short.pbo is None and "32 days" in short.reason and short.logits.size == 0
    one = pbo(m[:, :1], 4)
    assert one.pbo is None and "2 variants" in one.reason
    assert pbo(m, 4).days_used == 28   # the 3 oldest days are dropped
    for bad in (3, 0, 5.0):
        with pytest.raises(ValueError):
            pbo(m, bad)


def test_dsr_undefined():
    sr = np.array([0.1, 0.2, 0.3])
    assert deflated_sharpe_ratio(np.array([0.1, -0.1, 0.2]), sr) is None        # 3 days: no kurtosis
    assert deflated_sharpe_ratio(np.full(10, 0.02), sr) is None                  # no variation
    assert deflated_sharpe_ratio(np.array([0.1, -0.1, 0.2, 0.0]), np.array([0.3, np.nan])) is None
    assert sharpe_ratios(np.full((5, 1), 0.1))[0] != sharpe_ratios(np.full((5, 1), 0.1))[0]   # NaN
    assert np.isnan(sharpe_ratios(np.ones((1, 2)))).all()


# -- the worked examples of docs/semantics.md#overfitting-guards --------------------------------------------

def _trades(rows) -> pl.DataFrame:
    """rows: (day offset, strategy, net_return or None, exit_reason, repeat); one file unless a 6th field."""
    return pl.DataFrame({
        "day": [D0 + dt.timedelta(days=r[0]) for r in rows],
        "strategy_file": [r[5] if len(r) > 5 else "sweep" for r in rows],
        "strategy": [r[1] for r in rows], "net_return": [r[2] for r in rows],
        "exit_reason": [r[3] for r in rows], "repeat": [r[4] for r in rows],
        "caller_id": "c", "caller_name": "C", "window_complete": True,
        "call_ts": [dt.datetime.combine(D0 + dt.timedelta(days=r[0]), dt.time(12), dt.UTC) for r in rows],
        "exit_ts": [dt.datetime.combine(D0 + dt.timedelta(days=r[0]), dt.time(13), dt.UTC) for r in rows],
    }, schema_overrides={"net_return": pl.Float64, "repeat": pl.Boolean})


DSR_EXAMPLE = [
    (0, "A", 0.30, "take_profit", False), (0, "A", -0.10, "stop_loss", False), (1, "A", -0.05, "stop_loss", False),
    (2, "A", 0.20, "take_profit", False), (3, "A", 0.03, "time_exit", False),
    (0, "B", 0.04, "time_exit", False), (1, "B", 0.02, "time_exit", False), (2, "B", None, "no_entry", False),
    (3, "B", 0.06, "time_exit", False), (2, "B", 5.0, "take_profit", True),   # a repeat: left out
    (0, "C", -0.10, "stop_loss", False), (1, "C", 0.15, "take_profit", False), (2, "C", 0.05, "time_exit", False),
    (3, "C", -0.02, "time_exit", False),
]


def test_semantics_dsr_example():
    variants, days, m = daily_returns(_trades(DSR_EXAMPLE))
    assert variants == ["A", "B", "C"] and days == [D0 + dt.timedelta(days=i) for i in range(4)]
    assert m == pytest.approx(np.array([[0.10, 0.04, -0.10], [-0.05, 0.02, 0.15], [0.20, 0.0, 0.05],
                                        [0.03, 0.06, -0.02]]))
    sr = sharpe_ratios(m)
    assert m.mean(axis=0) == pytest.approx([0.07, 0.03, 0.02])
    assert m.std(axis=0, ddof=1) == pytest.approx([0.1061, 0.0258, 0.1061], abs=5e-5)
    assert sr == pytest.approx([0.6595, 1.1619, 0.1884], abs=5e-5)
    assert sr.var(ddof=1) == pytest.approx(0.2370, abs=5e-5)
    assert expected_max_sharpe(3, sr.var(ddof=1)) == pytest.approx(0.4152, abs=5e-5)
    assert pd.Series(m[:, 1]).skew() == pytest.approx(0.0, abs=1e-12)
    assert pd.Series(m[:, 1]).kurt() + 3 == pytest.approx(1.8)
    assert 1 + 0.2 * sr[1] ** 2 == pytest.approx(1.27)
    assert deflated_sharpe_ratio(m[:, 1], sr) == pytest.approx(0.874, abs=5e-4)
    (row,) = sweep_guards(_trades(DSR_EXAMPLE)).iter_rows(named=True)
    assert row["strategy"] == "B" and row["variants"] == 3 and row["days"] == 4 and row["pbo"] is None
    assert row["best_sharpe"] == pytest.approx(1.1619, abs=5e-5) and row["dsr"] == pytest.approx(0.874, abs=5e-4)
    assert row["verdict"] == ("Best of 3 variants: after allowing for 3 tries, the chance its edge is real is 87% "
                              "(DSR); too few days for the held-out test (needs at least 32 days for 16 blocks, "
                              "has 4): not significant yet.")


PBO_EXAMPLE = np.array([
    [0.50, 0.50, 0.50],
    [0.10, 0.02, -0.05], [0.06, 0.00, 0.01],
    [-0.04, 0.03, 0.02], [0.08, 0.01, 0.00],
    [-0.10, 0.02, 0.04], [0.02, -0.01, 0.03],
    [-0.06, 0.04, -0.02], [0.00, 0.00, 0.05],
])


def test_semantics_pbo_example():
    r = pbo(PBO_EXAMPLE, 4)
    assert r.days_used == 8 and r.combinations == 6
    lam = math.log(3)   # ω = 3/4
    assert r.logits == pytest.approx([0.0, lam, 0.0, -lam, lam, -lam], abs=1e-12)
    assert r.pbo == pytest.approx(4 / 6)
    blocks = PBO_EXAMPLE[1:].reshape(4, 2, 3)
    table = {  # in-sample blocks (1-based): (Sharpe in, Sharpe out)
        (1, 2): ([0.804, 1.162, -0.161], [-0.635, 0.564, 0.804]),
        (1, 3): ([0.231, 0.500, 0.186], [-0.081, 1.095, 0.419]),
        (1, 4): ([0.357, 0.783, -0.059], [-0.129, 0.732, 1.317]),
    }
    for ins, (sr_in, sr_out) in table.items():
        outs = [b for b in (1, 2, 3, 4) if b not in ins]
        assert sharpe_ratios(np.concatenate([blocks[b - 1] for b in ins])) == pytest.approx(sr_in, abs=5e-4)
        assert sharpe_ratios(np.concatenate([blocks[b - 1] for b in outs])) == pytest.approx(sr_out, abs=5e-4)


def test_verdicts_read_sensibly():
    assert verdict(100, 200, 0.12, 0.58, 16) == (
        "Best of 100 variants: after allowing for 100 tries, the chance its edge is real is 12% (DSR); the "
        "in-sample winner did no better than the median variant on held-out days in 58% of splits (PBO): "
        "likely an artefact of trying many.")
    assert verdict(100, 200, 0.999, 0.01, 16).endswith("(PBO): the edge looks real.")
    assert ">99%" in verdict(100, 200, 0.999, 0.01, 16)
    assert "which variant is best may be luck" in verdict(100, 200, 0.97, 0.45, 16)
    assert "not significant after so many tries" in verdict(100, 200, 0.6, 0.1, 16)
    assert "too few days (5)" in verdict(100, 5, None, None, 16) and "32 days" in verdict(100, 5, None, None, 16)


# -- worlds with and without skill ----------------------------------------------------------------------------

def _guards(m: np.ndarray) -> tuple[int, float, float]:
    sr = sharpe_ratios(m)
    best = int(np.argmax(sr))
    return best, deflated_sharpe_ratio(m[:, best], sr), pbo(m).pbo


def test_no_skill_world_is_flagged():
    """100 variants of pure noise over 200 days: the best is not significant and selection does not carry."""
    figures = [_guards(np.random.default_rng(seed).normal(0.0, 0.05, (200, 100)))[1:] for seed in range(8)]
    print("no skill (DSR, PBO) by seed:", [(round(d, 3), round(p, 3)) for d, p in figures])
    dsr0, pbo0 = figures[0]
    assert dsr0 < 0.95 and pbo0 >= 0.3          # seed 0: DSR 0.514, PBO 0.463
    assert all(d < 0.95 for d, _ in figures)
    assert 0.45 <= np.mean([p for _, p in figures]) <= 0.8


def test_planted_skill_is_found():
    """One variant with a real drift in every block: significant, and the in-sample pick holds out of sample."""
    m = np.random.default_rng(0).normal(0.0, 0.05, (200, 100))
    m[:, 37] += 0.025             # a daily Sharpe of 0.5 against noise of sd 0.05
    best, dsr, p = _guards(m)
    print(f"planted skill: DSR {dsr:.4f}, PBO {p:.4f}")
    assert best == 37 and dsr >= 0.95 and p <= 0.05   # DSR 0.9997, PBO 0.0019


# -- the guards on the strategy board -------------------------------------------------------------------------

def _sweep_world(days: int = 40) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for d in range(days):
        for k, drift in enumerate([0.0, 0.03, -0.01]):
            rows += [(d, f"sw[tp={k}]", float(drift + rng.normal(0, 0.05)), "time_exit", False)
                     for _ in range(2)]
        rows.append((d, "solo", float(rng.normal(0.1, 0.05)), "time_exit", False, "solo"))
    rows.append((0, "sw[tp=2]", 3.0, "take_profit", True))   # a repeat, in no figure
    return _trades(rows)


def test_sweep_guards_one_row_per_sweep_file():
    guards = sweep_guards(_sweep_world(), blocks=4)
    assert guards.schema == pl.Schema(GUARD_SCHEMA)
    (row,) = guards.iter_rows(named=True)
    assert row["strategy_file"] == "sweep" and row["strategy"] == "sw[tp=1]"
    assert row["variants"] == 3 and row["days"] == 40
    variants, _, m = daily_returns(_sweep_world().filter(pl.col("strategy_file") == "sweep"))
    sr = sharpe_ratios(m)
    assert row["dsr"] == pytest.approx(_ffn_dsr(m[:, variants.index("sw[tp=1]")], sr), abs=1e-12)
    assert row["pbo"] == pbo(m, 4).pbo
    assert sweep_guards(_sweep_world().head(0)).height == 0


def test_guard_columns_land_on_the_best_variant_only():
    trades = _sweep_world()
    plain = strategy_leaderboard(trades)
    board = strategy_leaderboard(trades, guards=sweep_guards(trades, blocks=4))
    assert board.columns == STRATEGY_LEADERBOARD.columns
    STRATEGY_LEADERBOARD.conform(board.to_arrow())
    guard_cols = ["sweep_variants", "sweep_days", "sweep_dsr", "sweep_pbo", "sweep_verdict"]
    assert board.drop(guard_cols).equals(plain.drop(guard_cols))
    assert plain.select(guard_cols).null_count().row(0) == (plain.height,) * 5
    set_rows = board.filter(pl.col("sweep_verdict").is_not_null())
    assert set_rows.get_column("strategy").to_list() == ["sw[tp=1]"]
    best = set_rows.row(0, named=True)
    assert best["sweep_variants"] == 3 and best["sweep_days"] == 40
    assert best["sweep_dsr"] is not None and best["sweep_pbo"] is not None
    assert best["sweep_verdict"].startswith("Best of 3 variants")
    others = board.filter(pl.col("strategy") != "sw[tp=1]")
    assert others.select(guard_cols).null_count().row(0) == (others.height,) * 5


def test_board_view_shows_the_guards():
    from quantbot_pipelines.views import strategy_board_view

    trades = _sweep_world()
    view = strategy_board_view(strategy_leaderboard(trades, guards=sweep_guards(trades, blocks=4)))
    assert view.columns[-3:] == ["DSR", "PBO", "sweep guard"]
    cells = {r["strategy"]: r for r in view.iter_rows(named=True)}
    assert cells["sw[tp=1]"]["DSR"].endswith("%") and cells["sw[tp=1]"]["sweep guard"].startswith("Best of 3")
    assert cells["solo"]["DSR"] == "" and cells["solo"]["PBO"] == "" and cells["solo"]["sweep guard"] == ""
    # the best variant by Sharpe is shown even when it ranks below the top by mean return
    top = strategy_board_view(strategy_leaderboard(trades, guards=sweep_guards(trades, blocks=4)), top=1)
    assert top.get_column("strategy").to_list() == ["solo", "sw[tp=1]"]
