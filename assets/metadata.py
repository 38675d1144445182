"""Metadata that reads well in the Dagster UI: tables built from DataFrames, inline images, timings, links."""

from __future__ import annotations

import base64
import functools
import math
import time

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if abs(value) >= 1000 or value == int(value):
            return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"
        return f"{value:.4g}"
    return str(value).replace("\n", " ")


def table(df: pl.DataFrame, columns: list[str] | None = None, rows: int = 10) -> MetadataValue:
    """The first rows as a table entry, cells formatted for reading. The UI shows tables inline at any size
    (a markdown entry over 1,000 characters hides behind a button)."""
    view = (df.select(columns) if columns else df).head(rows)
    records = [TableRecord(dict(zip(view.columns, (_cell(v) for v in row), strict=True)))
               for row in view.iter_rows()]
    return MetadataValue.table(records, schema=TableSchema([TableColumn(c, "string") for c in view.columns]))


def image(png: bytes, alt: str) -> MetadataValue:
    """A PNG shown inline (a data URI: no file server needed)."""
    return MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def day_list(days) -> MetadataValue:
    return MetadataValue.json([str(d) for d in days])


def note_partition(context, partition_key: str, metadata: dict, asset_key=None) -> None:
    """A partition's own figures on its materialization (docs/semantics.md#figures-in-the-dagster-ui): in a run
    over a range, each day shows what that day holds (what a run returns is shown on every partition it wrote,
    so it only carries `run_totals`)."""
    step = getattr(context, "_step_execution_context", None)
    notes = getattr(step, "_metadata_accumulator", None)
    if notes is None or not hasattr(notes, "with_additional_asset_metadata"):
        context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=partition_key)
        return
    # the public call checks the key against every key of the run's range, each time: over a day x strategy
    # range (1,825 partitions for a year of five files) that is 21 s of the run. The keys given here come from
    # context.partition_keys, so the check adds nothing; the same accumulator is filled directly.
    key = AssetKey.from_coercible(asset_key) if asset_key is not None else context.assets_def.key
    if key not in context.assets_def.keys:
        raise ValueError(f"{key.to_user_string()} is not materialized by this step")
    step._metadata_accumulator = notes.with_additional_asset_metadata(
        asset_key=key, metadata=metadata, partition_key=partition_key)


def run_totals(context, **figures) -> dict:
    """Figures of the whole run, labelled as such (`run_` names and the range they cover), for the metadata
    every partition of the run carries next to its own."""
    keys = list(context.partition_keys) if context.has_partition_key_range or context.has_partition_key else []
    out: dict = {"run_partitions": len(keys)}
    if keys:
        out["run_range"] = keys[0] if len(keys) == 1 else f"{keys[0]} .. {keys[-1]}"
    return out | {f"run_{k}": v for k, v in figures.items()}


def timed(fn):
    """Adds `run_compute_s` (seconds in our own code) to the metadata an asset or asset check returns.

    Goes between `@asset`/`@asset_check` and the function; functools.wraps keeps the signature Dagster reads.
    The pipeline benchmark sets these against wall time to find Dagster's own share. A multi-asset's results
    (a tuple) carry it on the first."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = round(time.perf_counter() - started, 4)
        if isinstance(result, AssetCheckResult):
            return result._replace(metadata={**result.metadata, "run_compute_s": MetadataValue.float(seconds)})
        (result if isinstance(result, MaterializeResult) else result[0]).metadata["run_compute_s"] = seconds
        return result

    return wrapper


def related(*assets: str) -> str:
    """A line of links to neighbouring assets, for descriptions (the UI renders them as markdown)."""
    return "\n\nRelated: " + " · ".join(f"[{a}](/assets/{a})" for a in assets)
