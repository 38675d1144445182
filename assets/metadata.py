"""Metadata helpers shared by the assets: previews and plots that read well in the Dagster UI."""

from __future__ import annotations

import polars as pl
from dagster import MetadataValue

from quantbot_pipelines.report import markdown_table, png_markdown


def preview(df: pl.DataFrame, columns: list[str] | None = None, rows: int = 10) -> MetadataValue:
    return MetadataValue.md(markdown_table(df, max_rows=rows, columns=columns))


def image(png: bytes, alt: str) -> MetadataValue:
    return MetadataValue.md(png_markdown(png, alt))


def day_list(days) -> MetadataValue:
    return MetadataValue.json([str(d) for d in days])
