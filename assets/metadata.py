"""Metadata helpers shared by the assets: previews and plots that read well in the Dagster UI."""

from __future__ import annotations

import functools
import time

import polars as pl
from dagster import AssetCheckResult, MetadataValue

from quantbot_pipelines.report import markdown_table, png_markdown


def preview(df: pl.DataFrame, columns: list[str] | None = None, rows: int = 10) -> MetadataValue:
    return MetadataValue.md(markdown_table(df, max_rows=rows, columns=columns))


def image(png: bytes, alt: str) -> MetadataValue:
    return MetadataValue.md(png_markdown(png, alt))


def day_list(days) -> MetadataValue:
    return MetadataValue.json([str(d) for d in days])


def timed(fn):
    """Adds `compute_s` (seconds in our own code) to the metadata an asset or asset check returns.

    Goes between `@asset`/`@asset_check` and the function; functools.wraps keeps the signature Dagster reads.
    The pipeline benchmark sets these against wall time to find Dagster's own share."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = round(time.perf_counter() - started, 4)
        if isinstance(result, AssetCheckResult):
            return result._replace(metadata={**result.metadata, "compute_s": MetadataValue.float(seconds)})
        result.metadata["compute_s"] = seconds
        return result

    return wrapper


def related(*assets: str) -> str:
    """A line of links to neighbouring assets, for descriptions (the UI renders them as markdown)."""
    return "\n\nRelated: " + " · ".join(f"[{a}](/assets/{a})" for a in assets)
