"""Walk-forward: per fold, what the boards chose on the train days and what it made on the test days; then every
fold stitched. Rules: docs/semantics.md#walk-forward and #caller-persistence, implemented in
quantbot_pipelines/validation.

`walk_forward` is partitioned by fold (a dynamic partition per test window, registered by the follow-through
sensor and the pipeline runner from the call days the warehouse holds); a fold is recomputed when a run
changes any of its days. `walk_forward_summary` stitches the folds of the current plan.
"""

import dataclasses
import datetime as dt
import json
import time

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from pydantic import Field

from assets.metadata import image, note_partition, related, run_totals, table
from assets.partitions import walk_forward_folds
from assets.validation.plots import folds_plot, persistence_plot, stitched_equity_plot
from quantbot_pipelines.schemas import (
    SIMULATION_RESULTS,
    TELEGRAM_CALLS,
    TOKEN_ANALYTICS,
    WALK_FORWARD,
    WALK_FORWARD_SUMMARY,
    WALK_FORWARD_TRADES,
)
from quantbot_pipelines.simulation import StrategyError
from quantbot_pipelines.validation import POLICIES, FoldPlan, Rules, run_fold, stitch
from quantbot_pipelines.validation.walk_forward import ANALYTICS_COLUMNS, TRADE_COLUMNS, in_key_order
from quantbot_pipelines.views import walk_forward_view
from resources.strategies import StrategyFolderResource
from resources.warehouse import WarehouseResource

FOLD_PLAN = "fold_plan"
EVERY_FOLD = "every_fold_computed"  # the plan, in the walk_forward asset's definition metadata (the runner reads it)

SUMMARY_VIEW = ["policy", "folds_with_choice", "oos_trades", "oos_mean_return", "is_mean_return", "decay",
                "all_callers_mean_return", "hold_mean_return", "random_percentile", "book_return",
                "book_max_drawdown", "persistence_rho", "persistence_low", "persistence_high"]


class WalkForwardConfig(Config):
    top_n: int = Field(default=5, description="callers chosen in each fold (best ranks of the train board)")
    min_calls: int = Field(default=5, description="the caller board's minimum calls, on each window")
    rank_strategies_by: str = Field(default="mean_return",
                                    description="mean_return (the strategy board's figure) or book_return")
    draws: int = Field(default=1000, description="random caller sets per fold (the random baseline)")
    persistence_min_calls: int = Field(default=3, description="calls a caller needs in both windows to count "
                                                              "in the persistence figure")

    def rules(self) -> Rules:
        return Rules(top_n=self.top_n, min_calls=self.min_calls, rank_strategies_by=self.rank_strategies_by,
                     draws=self.draws, persistence_min_calls=self.persistence_min_calls)


def call_day_span(wh) -> tuple[dt.date, dt.date] | None:
    """First and last call day the warehouse holds (None without calls): the span the folds are laid over."""
    days = wh.read(TELEGRAM_CALLS, columns=["day"]).get_column("day")
    return (days.min(), days.max()) if len(days) else None


def fold_keys(wh, plan: FoldPlan) -> list[str]:
    """The folds of the plan over the call days in the warehouse, oldest first."""
    span = call_day_span(wh)
    return [f.key for f in plan.folds(*span)] if span else []


def _strategies(strategies: StrategyFolderResource, log) -> dict:
    out = {}
    for stem in sorted(strategies.files()):
        try:
            out |= {s.name: s for s in strategies.load(strategies.file(stem))}
        except StrategyError as exc:
            log.warning(f"{stem}: left out of the walk-forward: {exc}")
    return out


def caller_names(analytics: pl.DataFrame) -> dict[str, str]:
    """caller_id -> the last name the caller used (by call time), for the views."""
    named = analytics.filter(pl.col("caller_name").is_not_null()).sort("call_ts")
    return dict(named.group_by("caller_id").agg(pl.col("caller_name").last()).iter_rows())


def _fold_figures(rows: pl.DataFrame, names: dict[str, str]) -> dict:
    top = rows.filter(pl.col("policy") == "top_callers").row(0, named=True) if rows.height else {}
    chosen = json.loads(top["callers"]) if top.get("callers") else []
    views = [walk_forward_view(rows, names, p).select(pl.lit(p).alias("policy"), pl.all()) for p in POLICIES]
    return {
        "callers": MetadataValue.json([names.get(c) or c for c in chosen]),
        "strategy": top.get("strategy") or "",
        "in_sample_mean_return": top.get("is_mean_return"),
        "out_of_sample_mean_return": top.get("oos_mean_return"),
        "out_of_sample_trades": top.get("oos_trades") or 0,
        "every_caller_mean_return": top.get("all_callers_mean_return"),
        "random_percentile": top.get("random_percentile"),
        "persistence_rho": top.get("persistence_rho"),
        "choice": table(pl.concat(views), rows=2),
    }


def walk_forward(plan: FoldPlan):
    @multi_asset(
        name="walk_forward",
        specs=[
            AssetSpec(WALK_FORWARD.name, group_name="validation", kinds={"polars", "parquet"},
                      metadata={FOLD_PLAN: MetadataValue.json(dataclasses.asdict(plan))},
                      deps=[AssetDep(SIMULATION_RESULTS.name, partition_mapping=AllPartitionMapping()),
                            AssetDep(TOKEN_ANALYTICS.name, partition_mapping=AllPartitionMapping())],
                      description="One partition per fold (its test window): the callers and the strategy the "
                                  "boards would have chosen on the train days, what they made on the test days, "
                                  "in-sample against out-of-sample, every caller, holding and random callers, and "
                                  "caller persistence. docs/semantics.md#walk-forward."
                                  + related("walk_forward_summary", "caller_leaderboard", "strategy_leaderboard")),
            AssetSpec(WALK_FORWARD_TRADES.name, group_name="validation", kinds={"parquet"},
                      deps=[AssetDep(SIMULATION_RESULTS.name, partition_mapping=AllPartitionMapping())],
                      description="The trades each fold's choice made on its test days."
                                  + related("walk_forward", "simulation_results")),
        ],
        partitions_def=walk_forward_folds,
        backfill_policy=BackfillPolicy.single_run(),
    )
    def _walk_forward(context: AssetExecutionContext, config: WalkForwardConfig, warehouse: WarehouseResource,
                      strategies: StrategyFolderResource):
        started = time.perf_counter()
        wh = warehouse.get()
        span = call_day_span(wh)
        rules = config.rules()
        by_name = _strategies(strategies, context.log)
        folds = []
        for key in context.partition_keys:
            try:
                folds.append(plan.fold_of(key, span[0]) if span else None)
            except ValueError:
                folds.append(None)
        days = sorted({d for f in folds if f for d in f.train_days + f.test_days})
        analytics = wh.read(TOKEN_ANALYTICS, where=[("day", "in", days)], columns=ANALYTICS_COLUMNS) if days \
            else pl.from_arrow(TOKEN_ANALYTICS.empty()).select(ANALYTICS_COLUMNS)
        trades = wh.read(SIMULATION_RESULTS, where=[("day", "in", days), ("strategy_file", "in",
                                                                        sorted(strategies.files()))],
                         columns=TRADE_COLUMNS) if days else pl.from_arrow(
            SIMULATION_RESULTS.empty()).select(TRADE_COLUMNS)
        # one row order whatever days were read: a fold's figures come out the same in any run
        analytics, trades = in_key_order(analytics, trades)
        read_s = time.perf_counter() - started
        names = caller_names(analytics)
        chosen = 0
        for key, fold in zip(context.partition_keys, folds, strict=True):
            if fold is None:
                # a key of an older plan (the settings or the first call day changed): kept empty
                context.log.warning(f"fold {key} is not a fold of {plan} over the calls held: written empty")
                rows, kept = pl.from_arrow(WALK_FORWARD.empty()), pl.from_arrow(WALK_FORWARD_TRADES.empty())
            else:
                result = run_fold(fold, analytics, trades, by_name, rules, mode=plan.mode)
                rows, kept = result.rows, result.trades
            wh.write_partition(WALK_FORWARD, {"fold": key}, rows)
            wh.write_partition(WALK_FORWARD_TRADES, {"fold": key}, kept)
            chosen += int((rows.get_column("callers") != "[]").sum()) if rows.height else 0
            note_partition(context, key, _fold_figures(rows, names), asset_key=WALK_FORWARD.name)
            note_partition(context, key, {"trades": kept.height}, asset_key=WALK_FORWARD_TRADES.name)
        seconds = round(time.perf_counter() - started, 3)
        totals = run_totals(context, folds=len(folds), days_read=len(days), read_s=round(read_s, 3),
                            compute_s=seconds)
        yield MaterializeResult(asset_key=WALK_FORWARD.name, metadata={**totals, "run_compute_s": seconds})
        yield MaterializeResult(asset_key=WALK_FORWARD_TRADES.name, metadata=totals)

    return _walk_forward


def walk_forward_summary(plan: FoldPlan):
    @asset(
        name=WALK_FORWARD_SUMMARY.name,
        deps=[WALK_FORWARD.name, WALK_FORWARD_TRADES.name],
        group_name="validation",
        kinds={"polars"},
        description="Every fold stitched: what following the walk-forward choice made out of sample, beside its "
                    "in-sample figure, every caller, holding and random callers; the book re-chosen every fold; "
                    "caller persistence. docs/semantics.md#walk-forward." + related("walk_forward"),
        check_specs=[AssetCheckSpec(EVERY_FOLD, asset=WALK_FORWARD_SUMMARY.name,
                                    description="Every fold of the plan over the call days held has been computed "
                                                "(a missing fold is left out of the stitched figures).")],
    )
    def _summary(context: AssetExecutionContext, warehouse: WarehouseResource,
                 strategies: StrategyFolderResource) -> MaterializeResult:
        started = time.perf_counter()
        wh = warehouse.get()
        span = call_day_span(wh)
        keys = [f.key for f in plan.folds(*span)] if span else []
        folds = wh.read(WALK_FORWARD, where=[("fold", "in", keys)]) if keys else pl.from_arrow(WALK_FORWARD.empty())
        trades = (wh.read(WALK_FORWARD_TRADES, where=[("fold", "in", keys)]) if keys
                  else pl.from_arrow(WALK_FORWARD_TRADES.empty()))
        missing = sorted(set(keys) - set(folds.get_column("fold").to_list()))
        if missing:
            context.log.warning(f"{len(missing)} fold(s) not computed yet, left out: {', '.join(missing[:5])}")
        out = stitch(plan, span[0], folds, trades, _strategies(strategies, context.log)) if span and folds.height \
            else None
        summary = out.summary if out else pl.from_arrow(WALK_FORWARD_SUMMARY.empty())
        wh.write_partition(WALK_FORWARD_SUMMARY, {}, summary)
        top = summary.filter(pl.col("policy") == "top_callers")
        meta = {
            "plan": f"train {plan.train_days} d, test {plan.test_days} d, step {plan.step_days} d, {plan.mode}",
            "folds": len(keys), "folds_missing": len(missing),
            "summary": table(summary, SUMMARY_VIEW, rows=2),
            "verdict": MetadataValue.md("\n\n".join(f"**{r['policy']}**: {r['verdict']}"
                                                    for r in summary.iter_rows(named=True)) or "no folds yet"),
            "run_compute_s": round(time.perf_counter() - started, 3),
        }
        if top.height:
            r = top.row(0, named=True)
            meta |= {"out_of_sample_mean_return": r["oos_mean_return"], "in_sample_mean_return": r["is_mean_return"],
                     "random_percentile": r["random_percentile"], "persistence_rho": r["persistence_rho"]}
        if out is not None:
            names = caller_names(wh.read(TOKEN_ANALYTICS, columns=["caller_id", "caller_name", "call_ts"]))
            meta["folds_table"] = table(walk_forward_view(out.folds, names), rows=len(keys))
            meta["folds_plot"] = image(folds_plot(out.folds, "top_callers"), "walk-forward folds")
            meta["equity"] = image(stitched_equity_plot(out.equity, top.get_column("book_start_usd")[0]
                                                        if top.height else None), "stitched equity")
            meta["persistence"] = image(persistence_plot(out.folds), "caller persistence")
        check = AssetCheckResult(check_name=EVERY_FOLD, passed=not missing, severity=AssetCheckSeverity.WARN,
                                 metadata={"folds": len(keys), "missing": MetadataValue.json(missing)})
        return MaterializeResult(metadata=meta, check_results=[check])

    return _summary
