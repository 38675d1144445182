"""The thin Dagster layer: one folder per stage.

Modules with Dagster-decorated functions do not use `from __future__ import annotations`: Dagster reads the
parameter annotations (AssetExecutionContext, Config classes) at definition time.
"""
