"""Snapshot of the code location: what the UI shows (assets, partitions, lineage, checks, sensors, schedules).

A change to the graph shows up here as a diff; refresh with UPDATE_SNAPSHOTS=1 pytest tests/assets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dagster import AssetKey

SNAPSHOT = Path(__file__).resolve().parent.parent / "snapshots" / "definitions.json"


def describe() -> dict:
    import definitions

    defs = definitions.defs()
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        pdef = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": type(pdef).__name__ if pdef else None,
            "dimensions": [d.name for d in pdef.partitions_defs] if hasattr(pdef, "partitions_defs") else None,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "automation": node.automation_condition.get_label() if node.automation_condition else None,
            "backfill_policy": str(node.backfill_policy.policy_type.value) if node.backfill_policy else None,
            "pool": sorted(node.pools) if node.pools else None,
        }
    return {
        "assets": assets,
        "checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys),
        "sensors": sorted(s.name for s in defs.sensors),
        "schedules": sorted(s.name for s in defs.schedules),
        "resources": sorted(defs.resources),
    }


def test_definitions_match_snapshot():
    current = describe()
    if os.environ.get("UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_stage_asset_is_partitioned_and_rollups_are_not():
    assets = describe()["assets"]
    for name in ("telegram_calls", "raw_candles", "token_analytics"):
        assert assets[name]["partitions"] == "DailyPartitionsDefinition"
    from resources.settings import Settings

    for interval in Settings.from_env().intervals:
        assert assets[f"aggregated_candles/{interval}"]["partitions"] == "DailyPartitionsDefinition"
    assert assets["simulation_results"]["dimensions"] == ["day", "strategy"]
    for name in ("caller_leaderboard", "token_leaderboard", "strategy_leaderboard", "caller_strategy_leaderboard"):
        assert assets[name]["partitions"] is None
    assert assets["raw_candles"]["pool"] == ["candle_api"]
    # staging rewrites pair_tokens partitions as answers arrive: one staging at a time, never two rewriting one
    assert assets["pair_tokens"]["pool"] == ["pair_lookups"]


def test_every_pool_runs_one_step_at_a_time_on_both_instances():
    import yaml

    root = Path(__file__).resolve().parents[2]
    for config in ("dagster.yaml", "deploy/dagster.postgres.yaml"):
        pools = yaml.safe_load((root / config).read_text())["concurrency"]["pools"]
        assert pools == {"default_limit": 1}, config


def test_domain_library_imports_no_dagster():
    root = Path(__file__).resolve().parents[2] / "quantbot_pipelines"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "import dagster" in p.read_text() or "from dagster" in p.read_text()]
    assert offenders == []


def test_every_job_and_sensor_target_resolves():
    # what the webserver does on load, and `dagster definitions validate` does not: resolve sensor targets
    import definitions

    repo = definitions.defs().get_repository_def()
    jobs = {job.name for job in repo.get_all_jobs()}
    assert {"stage_telegram_export", "derive_telegram_calls"} <= jobs
    for sensor in repo.sensor_defs:
        assert sensor.targets is not None


def test_every_table_is_an_asset_of_its_own_name():
    import definitions
    from quantbot_pipelines.schemas import ALL_TABLES

    graph = definitions.defs().resolve_asset_graph()
    assets = {key.path[0] for key in graph.get_all_asset_keys()}  # aggregated_candles/<interval> -> one table
    assert assets == set(ALL_TABLES)


def test_lineage_runs_from_the_side_tables_to_the_boards():
    import definitions

    graph = definitions.defs().resolve_asset_graph()

    def upstream(name: str) -> set[str]:
        seen, todo = set(), [AssetKey(name)]
        while todo:
            for parent in graph.get(todo.pop()).parent_keys:
                if parent.to_user_string() not in seen:
                    seen.add(parent.to_user_string())
                    todo.append(parent)
        return seen

    for board in ("caller_leaderboard", "strategy_leaderboard", "caller_strategy_leaderboard"):
        assert {"telegram_quarantine", "telegram_staged_calls", "pair_tokens", "candle_ledger",
                "raw_candles"} <= upstream(board)


def test_settings_are_read_when_the_definitions_are_built_not_at_import():
    from assets import build_definitions
    from resources.settings import Settings

    defs = build_definitions(Settings.from_env({"QUANTBOT_INTERVALS": "5m,1h", "QUANTBOT_START_DATE": "2025-06-01"}))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {k for k in keys if k.startswith("aggregated_candles/")} == {"aggregated_candles/5m", "aggregated_candles/1h"}
    days = defs.resolve_asset_graph().get(AssetKey("telegram_calls")).partitions_def
    assert days.start.date().isoformat() == "2025-06-01"
