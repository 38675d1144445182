"""Metadata helpers shared by the assets: previews and plots that read well in the Dagster UI."""

from __future__ import annotations

import functools
import time

import polars as pl
from dagster import AssetCheckResult, MetadataValue, TableColumn, TableRecord, TableSchema

from quantbot_pipelines.report import markdown_table, png_markdown


def preview(df: pl.DataFrame, columns: list[str] | None = None, rows: int = 10) -> MetadataValue:
    """The first rows as a table entry (shown inline in the UI at any size), cells formatted for reading."""
    return inline_table(markdown_table(df, max_rows=rows, columns=columns), rows=rows)


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


def inline_table(markdown: str, rows: int = 10, drop: tuple[str, ...] = ()) -> MetadataValue:
    """The first rows of a markdown table as a table entry: the UI shows tables inline at any size, while a
    markdown entry over 1,000 characters hides behind a button. Cells keep the markdown's formatting."""
    lines = [ln for ln in markdown.splitlines() if ln.startswith("|")]
    if len(lines) < 2:
        return MetadataValue.md(markdown)

    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in line.strip().strip("|").split(" | ")]

    header = cells(lines[0])
    keep = [i for i, name in enumerate(header) if name not in drop]
    names = [header[i] or "#" for i in keep]
    records = [TableRecord({names[j]: row[i] for j, i in enumerate(keep) if i < len(row)})
               for row in (cells(ln) for ln in lines[2:2 + rows])]
    return MetadataValue.table(records, schema=TableSchema([TableColumn(n, "string") for n in names]))
