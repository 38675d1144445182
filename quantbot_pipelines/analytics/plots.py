"""PNG plots for the Dagster UI (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io

import polars as pl


def ath_distribution_plot(analytics: pl.DataFrame, caller_ids: list[str]) -> bytes:
    """ATH multiples (non-repeat calls with an entry) per caller: box plots, calls on top, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

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
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
