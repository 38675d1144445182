"""PNG plots of the walk-forward for the Dagster UI (docs/semantics.md#walk-forward, #caller-persistence)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl

from assets.plots import _png, _time_axes


def folds_plot(folds: pl.DataFrame, policy: str) -> bytes:
    """Per fold: the choice in sample and out of sample, every caller, and the random callers' 5-95 % band."""
    f = folds.filter(pl.col("policy") == policy).sort("fold_index")
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        x = list(range(f.height))
        pct = [None if v is None else 100 * v for v in f.get_column("oos_mean_return").to_list()]
        lo = [None if v is None else 100 * v for v in f.get_column("random_p05").to_list()]
        hi = [None if v is None else 100 * v for v in f.get_column("random_p95").to_list()]
        band = [(i, a, b) for i, a, b in zip(x, lo, hi, strict=True) if a is not None and b is not None]
        if band:
            ax.fill_between([i for i, _, _ in band], [a for _, a, _ in band], [b for _, _, b in band],
                            color="grey", alpha=0.2, label="random callers, 5-95 %")
        for column, label, style in (("is_mean_return", "chosen, in sample", "o--"),
                                     ("all_callers_mean_return", "every caller, out of sample", "s:")):
            vals = [None if v is None else 100 * v for v in f.get_column(column).to_list()]
            ax.plot(x, [float("nan") if v is None else v for v in vals], style, label=label, lw=1)
        ax.plot(x, [float("nan") if v is None else v for v in pct], "o-", label="chosen, out of sample", lw=1.6)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(x, [k[:10] for k in f.get_column("fold").to_list()], rotation=45, fontsize=7)
        ax.set_xlabel("fold (first test day)")
        ax.set_ylabel("mean net return a trade, %")
        ax.set_title(f"Walk-forward ({policy}): chosen on the train days, traded on the test days")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        return _png(fig)
    finally:
        plt.close(fig)


def stitched_equity_plot(equity: pl.DataFrame, start: float | None) -> bytes:
    """The top_callers book, fold after fold, each fold's segment in its own colour."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        if equity.height == 0:
            ax.text(0.5, 0.5, "no trades out of sample yet", ha="center", va="center", transform=ax.transAxes)
        for key in equity.get_column("fold").unique(maintain_order=True).to_list():
            seg = equity.filter(pl.col("fold") == key).sort("ts")
            ax.step(seg["ts"].to_list(), seg["equity"].to_list(), where="post", lw=1.4)
        if start:
            ax.axhline(start, color="grey", lw=0.8, ls="--")
        return _time_axes(fig, ax, "Following the walk-forward choice: the book's equity, re-chosen every fold",
                          "equity, USD")
    finally:
        plt.close(fig)


def persistence_plot(folds: pl.DataFrame) -> bytes:
    """Rank correlation of caller scores between each fold's train and test days, with its interval."""
    f = folds.filter(pl.col("policy") == folds.get_column("policy")[0]).sort("fold_index") if folds.height else folds
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        rows = [r for r in f.iter_rows(named=True) if r["persistence_rho"] is not None]
        if rows:
            x = list(range(len(rows)))
            rho = [r["persistence_rho"] for r in rows]
            err = [[r - r_lo for r, r_lo in zip(rho, (r["persistence_low"] for r in rows), strict=True)],
                   [r_hi - r for r, r_hi in zip(rho, (r["persistence_high"] for r in rows), strict=True)]]
            ax.errorbar(x, rho, yerr=err, fmt="o", capsize=3)
            ax.set_xticks(x, [f"{r['fold'][:10]}\n(n={r['persistence_callers']})" for r in rows], fontsize=7)
        else:
            ax.text(0.5, 0.5, "too few callers ranked on both windows", ha="center", va="center",
                    transform=ax.transAxes)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("Spearman rho, train vs test scores")
        ax.set_title("Caller persistence: does a past rank predict the next window's? (90 % interval)")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return _png(fig)
    finally:
        plt.close(fig)
