"""Waves: what one change (an export, a strategy file, the daily refresh, a run started by hand) sets off.

A wave is a short chain of runs, each over a whole range, so its length does not grow with the days touched:
the export's staging run, then one run over [first, last] affected day through every day stage and the caller
and token boards, then one run of simulation_results over those days x every strategy file with the strategy
boards. Every run of a wave carries the `quantbot/*` tags of the run that started it (`quantbot/export`,
`quantbot/strategy` or `quantbot/refresh`, and `quantbot/wave`), so filtering the runs list by one tag shows the
wave through to the leaderboards.

The follow-through sensor requests each next step: it reads the runs that succeeded since its cursor and asks
for what is downstream of what they materialized, with their tags. It follows runs started by hand too (a
backfill of telegram_calls or of the candle step), so downstream follows whoever ran upstream. Declarative
automation cannot do this: it cannot carry per-export tags, requests a stage per input range, and above 100
updated partitions of an asset it stops telling partitions apart (DAGSTER_MAX_PARTITIONS_FOR_DA_TIMESTAMP_FETCH).
"""

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable

from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterRun,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TimeWindowPartitionsDefinition,
    define_asset_job,
    sensor,
)

from assets.partitions import (
    RANGE_END,
    RANGE_START,
    day_ranges,
    fold_changes,
    range_tags,
    strategy_files,
    walk_forward_folds,
)
from assets.validation import fold_plan
from assets.validation.assets import call_day_span
from quantbot_pipelines.schemas import TELEGRAM_CALLS, TELEGRAM_STAGED_CALLS
from quantbot_pipelines.validation import FoldPlan
from resources.settings import Settings
from resources.warehouse import WarehouseResource

WAVE, EXPORT, STRATEGY, REFRESH = "quantbot/wave", "quantbot/export", "quantbot/strategy", "quantbot/refresh"
PREFIX = "quantbot/"
STAGED = AssetKey(TELEGRAM_STAGED_CALLS.name)

# the two ranges of a wave after staging; every leaderboard is in the simulation job, so boards whose inputs
# were all brought up to date by some run can always follow in a run of their own
call_days_job = define_asset_job(
    "derive_call_days",
    selection=AssetSelection.assets(TELEGRAM_CALLS.name).downstream()
    - AssetSelection.groups("simulation").downstream(),
    description="A range of call days through every day stage (calls, candles, aggregates, token analytics) "
                "and the caller and token leaderboards, in one run.")
simulation_job = define_asset_job(
    "simulate_strategies",
    selection=AssetSelection.groups("simulation", "leaderboards"),
    description="simulation_results over a range of call days x strategy files, and the leaderboards.")
# with the leaderboards: a simulation run by hand leaves both the boards and the folds to follow, in one run
validation_job = define_asset_job(
    "validate_walk_forward",
    selection=AssetSelection.groups("validation", "leaderboards"),
    description="The walk-forward folds a change touched, the stitched summary of every fold, and the "
                "leaderboards still to bring up to date.")

EXPORTS, DAYS, DAY_X_STRATEGY, FOLDS, NONE = "exports", "days", "day_x_strategy", "folds", "none"


def wave_id(seed: str) -> str:
    """Short, stable id of a wave (ids of files and runs can be long; run tags should stay small)."""
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def kind(pdef: PartitionsDefinition | None) -> str:
    if pdef is None:
        return NONE
    if isinstance(pdef, MultiPartitionsDefinition):
        return DAY_X_STRATEGY
    if isinstance(pdef, TimeWindowPartitionsDefinition):
        return DAYS
    if getattr(pdef, "name", None) == walk_forward_folds.name:
        return FOLDS
    return EXPORTS


def _runnable(graph, key: AssetKey) -> bool:
    return graph.has(key) and graph.get(key).is_executable and graph.get(key).is_materializable


def next_stage(graph, done: Iterable[AssetKey]) -> tuple[str, set[AssetKey]]:
    """What to run after a run that materialized `done`: (kind, assets).

    Stale are the assets downstream of `done` that it did not materialize, and everything downstream of those
    (also assets in `done` itself: a run of token_analytics and telegram_calls without the candles left
    token_analytics on old candles). The next run takes the first partitioned kind of the stale assets in
    pipeline order (days before day x strategy) and the unpartitioned boards whose stale inputs are all in it.
    """
    done = {k for k in done if graph.has(k)}
    frontier = {c for k in done for c in graph.get(k).child_keys} - done
    stale, todo = set(), list(frontier)
    while todo:
        key = todo.pop()
        if key not in stale and _runnable(graph, key):
            stale.add(key)
            todo.extend(graph.get(key).child_keys)
    by_kind: dict[str, set[AssetKey]] = {}
    for key in stale:
        by_kind.setdefault(kind(graph.get(key).partitions_def), set()).add(key)
    part_kind = next((k for k in (DAYS, DAY_X_STRATEGY, FOLDS) if by_kind.get(k)), NONE)
    part = by_kind.get(part_kind, set()) if part_kind != NONE else set()
    later = stale - part - by_kind.get(NONE, set())
    boards = {k for k in by_kind.get(NONE, set()) if not (graph.get(k).parent_keys & later)}
    return part_kind, part | boards


def day_partitions(graph) -> PartitionsDefinition:
    return graph.get(AssetKey(TELEGRAM_CALLS.name)).partitions_def


def clip_days(days: Iterable[str], pdef: PartitionsDefinition, warn: Callable[[str], None],
              what: str) -> list[str]:
    """The days that are partitions of `pdef`, sorted; the others are named in a warning, as ranges."""
    days = sorted(set(days))
    first, last = pdef.get_first_partition_key(), pdef.get_last_partition_key()
    inside = [d for d in days if first is not None and first <= d <= last]
    outside = sorted(set(days) - set(inside))
    if outside:
        listed = ", ".join(a if a == b else f"{a}..{b}" for a, b in day_ranges(outside))
        warn(f"{what}: {len(outside)} day(s) outside the day partitions ({first}..{last}) left out: {listed}")
    return inside


def strategy_range(instance, first: str, last: str) -> dict[str, str] | None:
    """Range tags over days [first, last] x every strategy file, or None without strategy files."""
    # a range over a dynamic dimension follows the instance's order of its keys
    stems = instance.get_dynamic_partitions(strategy_files.name)
    if not stems:
        return None
    return range_tags(f"{first}|{stems[0]}", f"{last}|{stems[-1]}")


def wave_tags(run: DagsterRun) -> dict[str, str]:
    tags = {k: v for k, v in run.tags.items() if k.startswith(PREFIX)}
    tags.setdefault(WAVE, wave_id(f"run:{run.run_id}"))  # a run started by hand starts a wave of its own
    return tags


def _run_assets(context: SensorEvaluationContext, run: DagsterRun) -> set[AssetKey]:
    if run.asset_selection:
        return set(run.asset_selection)
    repo = context.repository_def
    if repo is not None and not run.job_name.startswith("__") and repo.has_job(run.job_name):
        return set(repo.get_job(run.job_name).asset_layer.selected_asset_keys)
    records = context.instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    return {r.asset_key for r in records if r.asset_key}


def _run_days(run: DagsterRun) -> list[str]:
    """Every day of the run's partition range (the day of "day|stem" keys)."""
    if RANGE_START in run.tags and RANGE_END in run.tags:
        first, last = (dt.date.fromisoformat(run.tags[t].split("|")[0]) for t in (RANGE_START, RANGE_END))
        return [str(first + dt.timedelta(days=i)) for i in range((last - first).days + 1)]
    return [run.tags["dagster/partition"].split("|")[0]] if "dagster/partition" in run.tags else []


def _staged_days(context: SensorEvaluationContext, run: DagsterRun) -> list[str]:
    """The `affected_days` that the run's staged exports recorded."""
    days: set[str] = set()
    for record in context.instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
        if record.asset_key == STAGED and record.asset_materialization:
            meta = record.asset_materialization.metadata
            days |= set(meta["affected_days"].value if "affected_days" in meta else [])
    return sorted(days)


class FoldSync:
    """The walk-forward folds of one tick: the plan's folds over the call days the warehouse holds (read once,
    when a run first needs them), and the partition requests that make the instance's fold keys those."""

    def __init__(self, plan: FoldPlan, warehouse: WarehouseResource, instance):
        self.plan, self.warehouse, self.instance = plan, warehouse, instance
        self._folds: list | None = None
        self.requests: list = []

    def folds(self) -> list:
        if self._folds is None:
            span = call_day_span(self.warehouse.get())
            self._folds = self.plan.folds(*span) if span else []
            add, delete = fold_changes(self.instance.get_dynamic_partitions(walk_forward_folds.name),
                                       [f.key for f in self._folds])
            if delete:
                self.requests.append(DeleteDynamicPartitionsRequest(walk_forward_folds.name, delete))
            if add:
                self.requests.append(AddDynamicPartitionsRequest(walk_forward_folds.name, add))
        return self._folds

    def touched(self, days: list[str]) -> list[str]:
        """The folds whose train or test window holds one of `days` (every fold without days)."""
        folds = self.folds()
        if days:
            folds = self.plan.folds_touching(folds, {dt.date.fromisoformat(d) for d in days})
        return [f.key for f in folds]


def follow(context: SensorEvaluationContext, run: DagsterRun, folds: FoldSync | None = None) -> RunRequest | None:
    """The one run that follows a successful `run`, or None when nothing downstream of it is left."""
    graph = context.repository_def.asset_graph
    done = {k for k in _run_assets(context, run) if graph.has(k)}
    if not done:
        return None
    next_kind, keys = next_stage(graph, done)
    if not keys:
        return None
    tags = wave_tags(run)
    done_kinds = {kind(graph.get(k).partitions_def) for k in done}
    if EXPORTS in done_kinds and "dagster/partition" in run.tags:
        tags.setdefault(EXPORT, run.tags["dagster/partition"])
    if next_kind in (DAYS, DAY_X_STRATEGY):
        days = _staged_days(context, run) if EXPORTS in done_kinds else _run_days(run)
        days = clip_days(days, day_partitions(graph), context.log.warning, f"after run {run.run_id[:8]}")
        if not days:
            return None
        # one range over the days touched: days without calls in between are derived empty, and the wave's
        # length stays the same however many days it touches
        first, last = days[0], days[-1]
        if next_kind == DAYS:
            tags.update(range_tags(first, last))
        else:
            ranged = strategy_range(context.instance, first, last)
            if ranged is None:
                context.log.info(f"after run {run.run_id[:8]}: no strategy files, nothing to simulate")
                return None
            tags.update(ranged)
    if next_kind == FOLDS:
        touched = folds.touched(_run_days(run)) if folds is not None else []
        if touched:
            tags.update(range_tags(touched[0], touched[-1]))
        else:
            # no fold over the call days yet: only the boards, if any are left
            context.log.info(f"after run {run.run_id[:8]}: no walk-forward fold over the call days yet")
            validation = AssetSelection.groups("validation").resolve(graph)
            keys = {k for k in keys if k not in validation}
            if not keys:
                return None
            next_kind = NONE
    job = {DAYS: call_days_job, DAY_X_STRATEGY: simulation_job, FOLDS: validation_job}.get(next_kind, simulation_job)
    return RunRequest(run_key=f"follow:{run.run_id}", job_name=job.name,
                      asset_selection=sorted(keys, key=lambda k: k.to_user_string()), tags=tags)


PAGE = 100  # successful runs read per tick; more are read on the next tick


def follow_requests(context: SensorEvaluationContext, folds: FoldSync | None = None) -> SensorResult:
    instance = context.instance
    if not context.cursor:
        # a fresh sensor starts after the runs the instance already has: they were followed already (or were
        # whole passes, like `make demo`), and re-requesting them would redo the instance's history
        latest = instance.fetch_run_status_changes(DagsterEventType.RUN_SUCCESS, limit=1)
        return SensorResult(cursor=json.dumps({"after": latest.cursor if latest.records else None}),
                            skip_reason=SkipReason("following runs that succeed from now on"))
    after = json.loads(context.cursor).get("after")
    page = instance.fetch_run_status_changes(DagsterEventType.RUN_SUCCESS, limit=PAGE, cursor=after,
                                             ascending=True)
    ids = [r.event_log_entry.run_id for r in page.records]
    runs = {r.run_id: r for r in instance.get_runs(RunsFilter(run_ids=ids))} if ids else {}
    requests = [req for run_id in ids if run_id in runs and (req := follow(context, runs[run_id], folds))]
    return SensorResult(run_requests=requests,
                        # applied before the run requests: a run over new folds finds their partitions
                        dynamic_partitions_requests=folds.requests if folds is not None else None,
                        cursor=json.dumps({"after": page.cursor if page.records else after}),
                        skip_reason=None if requests else SkipReason(f"{len(ids)} run(s) succeeded, none "
                                                                    "with anything downstream left"))


def follow_through_sensor(settings: Settings) -> SensorDefinition:
    plan = fold_plan(settings)

    def follow_tick(context: SensorEvaluationContext, warehouse: WarehouseResource) -> SensorResult:
        return follow_requests(context, FoldSync(plan, warehouse, context.instance))

    return sensor(
        name="follow_through_sensor",
        jobs=[call_days_job, simulation_job, validation_job],
        minimum_interval_seconds=max(5, settings.sensor_interval_s // 2),
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests the next step after every successful run (one range per step, with the run's "
                    "quantbot/* tags): staging -> call days -> simulation and leaderboards -> the walk-forward "
                    "folds those days touch.",
    )(follow_tick)
