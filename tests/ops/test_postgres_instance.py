"""A partitioned materialization on a Dagster instance backed by the machine's real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import psycopg2
from dagster import AssetKey, DagsterInstance, materialize

from tests.ops.conftest import PG


def test_partitioned_runs_land_in_postgres(tmp_path, pg_home, pg_database, resources):
    from assets.partitions import RANGE_END, RANGE_START, telegram_exports_partitions
    from quantbot_pipelines.sample import write_sample_inbox
    from quantbot_pipelines.telegram.staging import inbox_exports
    from tests.support.pipeline import make_definitions

    home = pg_home
    sample = tmp_path / "sample"
    write_sample_inbox(sample)
    account = min(sample.iterdir())
    account.rename(resources["telegram_inbox"].path / account.name)
    (key,) = inbox_exports(resources["telegram_inbox"].path)

    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(telegram_exports_partitions.name, [key])
        assets = list(make_definitions(resources).assets)
        staged = materialize(assets, selection=["telegram_staged_calls", "telegram_quarantine", "pair_tokens"],
                             partition_key=key, instance=instance, resources=resources)
        (meta,) = [m.metadata for m in staged.asset_materializations_for_node("telegram_exports")
                   if m.asset_key == AssetKey("telegram_staged_calls")]
        days = meta["affected_days"].value
        assert days
        calls = materialize(assets, selection=["telegram_calls"], instance=instance,
                            resources=resources, tags={RANGE_START: days[0], RANGE_END: days[-1]})
        assert calls.success

    # a fresh instance object reads everything back from Postgres
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert {r.run_id for r in runs} == {staged.run_id, calls.run_id}
        assert all(r.is_success for r in runs)
        mats = instance.fetch_materializations(AssetKey("telegram_calls"), limit=1000).records
        first, last = dt.date.fromisoformat(days[0]), dt.date.fromisoformat(days[-1])
        every_day = [str(first + dt.timedelta(days=i)) for i in range((last - first).days + 1)]
        # one run over the range materializes each day in it, days without calls as empty partitions
        assert sorted({m.partition_key for m in mats}) == every_day
        assert len({m.run_id for m in mats}) == 1
        assert instance.get_dynamic_partitions(telegram_exports_partitions.name) == [key]
    conn = psycopg2.connect(dbname=pg_database, **PG)
    with conn, conn.cursor() as cur:
        cur.execute("select count(*) from runs")
        assert cur.fetchone()[0] == 2
    conn.close()
