"""PNG plots for the Dagster UI's metadata (matplotlib, Agg backend: no display needed).

The equity curve is the equal-sized, non-compounding book of docs/semantics.md#rollups: capital split equally
over the strategy's trades, each trade's net return booked at its exit time, so the curve ends at the
strategy's mean return.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from quantbot_pipelines.simulation import book_trades


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _time_axes(fig, ax, title: str, ylabel: str, xlabel: str = "time (UTC)") -> bytes:
    """Title, labels and grid of a plot over time, as a PNG."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def ath_distribution_plot(analytics: pl.DataFrame, caller_ids: list[str]) -> bytes:
    """ATH multiples (non-repeat calls with an entry) per caller: box plots, calls on top, log scale."""
    a = analytics.filter(
        (pl.col("status") == "ok")
        & ~pl.col("repeat").fill_null(False)
        & pl.col("caller_id").is_in(caller_ids)
    )
    data, labels = [], []
    for cid in caller_ids:
        rows = a.filter(pl.col("caller_id") == cid)
        vals = rows.get_column("ath_multiple").drop_nulls().to_numpy()
        name = rows.get_column("caller_name").drop_nulls()
        labels.append(f"{(name[-1] if name.len() else cid)[:18]}\n(n={len(vals)})")
        data.append(np.maximum(vals, 1e-3) if len(vals) else np.array([np.nan]))
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        ax.boxplot(data, showfliers=False, whis=(5, 95))
        rng = np.random.default_rng(0)
        for i, vals in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(vals)), vals, s=8, alpha=0.5)
        ax.set_yscale("log")
        ax.axhline(2.0, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
        ax.set_ylabel("ATH multiple (log)")
        ax.set_title("ATH multiple after entry, top callers")
        fig.tight_layout()
        return _png(fig)
    finally:
        plt.close(fig)


def equity_curve_plot(trades: pl.DataFrame, strategies: list[str]) -> bytes:
    """PNG (800x450) of the cumulative book return (%) over exit time, one line per strategy."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        t = book_trades(trades).filter(pl.col("exit_ts").is_not_null())
        drawn = 0
        for name in strategies:
            s = t.filter(pl.col("strategy") == name).sort("exit_ts", "net_return")
            if s.height == 0:
                continue
            curve = s.select("exit_ts", (pl.col("net_return").cum_sum() / s.height * 100).alias("book"))
            ax.step(curve["exit_ts"].to_list(), curve["book"].to_list(), where="post",
                    label=f"{name} ({s.height} trades)", linewidth=1.4)
            drawn += 1
        if not drawn:
            ax.text(0.5, 0.5, "no trades", ha="center", va="center", transform=ax.transAxes)
        ax.axhline(0, color="grey", linewidth=0.8)
        if drawn:
            ax.legend(fontsize=7, loc="best")
        return _time_axes(fig, ax, "Equal-size book, after fees and slippage", "cumulative return of the book, %",
                          "exit time (UTC)")
    finally:
        plt.close(fig)


def book_equity_plot(equity: pl.DataFrame, strategies: list[str], books: pl.DataFrame) -> bytes:
    """PNG (800x450) of the books' equity in USD over time (docs/semantics.md#bankroll), one line per strategy,
    the bankroll dashed."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        drawn = 0
        for name in strategies:
            curve = equity.filter(pl.col("strategy") == name).sort("ts")
            if curve.height == 0:
                continue
            row = books.filter(pl.col("strategy") == name).row(0, named=True)
            dd = row["book_max_drawdown"]
            ax.step(curve["ts"].to_list(), curve["equity"].to_list(), where="post", linewidth=1.4,
                    label=f"{name} ({row['book_trades']} taken, max DD {100 * (dd or 0):.0f}%)")
            drawn += 1
        if drawn:
            ax.axhline(float(books.get_column("bankroll_usd").max()), color="grey", linewidth=0.8, ls="--")
            ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, "no trades", ha="center", va="center", transform=ax.transAxes)
        return _time_axes(fig, ax, "Books following the calls: equity (cash + open positions at cost)",
                          "equity, USD")
    finally:
        plt.close(fig)
