"""Equity curves of strategies as a PNG for the Dagster UI (matplotlib, Agg backend: no display needed).

The curve is the equal-sized, non-compounding book of docs/semantics.md#rollups:
capital split equally over the strategy's trades (non-repeat calls with an entry), each trade's net return
booked at its exit time, so the curve ends at the strategy's total_return.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl

from quantbot_pipelines.simulation.rollups import _trades_only


def equity_curve_plot(trades: pl.DataFrame, strategies: list[str]) -> bytes:
    """PNG (800x450) of the cumulative book return (%) over exit time, one line per strategy."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        t = _trades_only(trades).filter(pl.col("exit_ts").is_not_null())
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
        ax.set_title("Equal-size book, after fees and slippage")
        ax.set_xlabel("exit time (UTC)")
        ax.set_ylabel("cumulative return of the book, %")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=7, loc="best")
        fig.autofmt_xdate()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return buf.getvalue()
    finally:
        plt.close(fig)
