"""Small renderers for reading results: markdown tables and inline PNG images (the Dagster UI renders both)."""

from __future__ import annotations

import base64
import math

import polars as pl


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if abs(value) >= 1000 or value == int(value):
            return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pl.DataFrame, max_rows: int = 20, columns: list[str] | None = None) -> str:
    """A markdown table of the first `max_rows` rows (all columns unless `columns`)."""
    view = df.select(columns) if columns else df
    lines = ["| " + " | ".join(view.columns) + " |", "|" + "---|" * len(view.columns)]
    for row in view.head(max_rows).iter_rows():
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if view.height > max_rows:
        lines.append(f"\n_{view.height - max_rows:,} more rows_")
    return "\n".join(lines)


def png_markdown(png: bytes, alt: str = "plot") -> str:
    """Markdown that shows a PNG inline (a data URI: no file server needed)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
