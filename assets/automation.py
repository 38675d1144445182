"""How the stage assets are declared: day stages run a range as one run, boards are rebuilt by the wave that
updated their inputs.

No automation conditions: downstream runs are requested by the follow-through sensor (assets/waves.py), one
range per step with the tags of the run that started the wave. Declarative automation requested a stage per
range of consecutive days, could not carry an export's tags to the runs it started, and above 100 updated
partitions of an asset it takes the tick's time for each of them, which breaks its since-conditions.
"""

from __future__ import annotations

from dagster import BackfillPolicy, asset


def day_stage(**asset_args):
    """`@asset` of a day-partitioned stage: a day range is one run (single-run backfills)."""
    return asset(backfill_policy=BackfillPolicy.single_run(), **asset_args)


def leaderboard(*, deps: list[str], description: str):
    """`@asset` of a board over every partition of its input; the waves rebuild it after its inputs."""
    return asset(deps=deps, group_name="leaderboards", kinds={"polars"}, description=description)
