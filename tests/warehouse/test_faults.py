"""The warehouse under faults: readers racing writers (threads, processes), writers killed with SIGKILL.

Every check is on what was read (row counts and content against the versions written), so each test can
fail. Trials are seeded and bounded by `fault_trials`; QUANTBOT_FAULT_TRIALS=<n> runs n of each (a race
trial is a round of rewrites: 100 of a small Parquet partition, 2 of a big candle partition).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from functools import cache
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from quantbot_pipelines.schemas import RAW_CANDLES
from quantbot_pipelines.warehouse import ParquetWarehouse
from tests.support.threads import Workers, fault_trials
from tests.warehouse._data import candles

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]
D1, D2, D3 = dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)
KEY = ["day", *RAW_CANDLES.key]


def _shape(df: pl.DataFrame) -> tuple[int, tuple[float, ...]]:
    return df.height, tuple(sorted(df["close"].unique().to_list()))


def _run(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, text=True, **kwargs)


START_TIMEOUT_S, LINE_TIMEOUT_S = 60.0, 15.0  # seconds; a whole write takes under 2


def _kill_mid_write(proc: subprocess.Popen, rng: random.Random, *, start: str = "wrote") -> None:
    """SIGKILL `proc` at a random point of a write, after 2-4 whole ones.

    The writer prints "ready", then "wrote" after each write, and may print other lines. A window opens at
    each `start` line (for "wrote": the next write begins) and the kill lands in it, up to the longest
    stretch from a `start` line to the following "wrote" seen so far.
    """
    lines: queue.Queue = queue.Queue()

    def pump():  # lines read in a thread, so that a writer that stops printing cannot hang the test
        for raw in iter(proc.stdout.readline, ""):
            lines.put(raw.strip())
        lines.put("")

    threading.Thread(target=pump, name="writer-lines", daemon=True).start()
    assert lines.get(timeout=START_TIMEOUT_S) == "ready"
    opened, stretches, writes = time.monotonic(), [], rng.randint(2, 4)
    while True:
        try:
            line = lines.get(timeout=LINE_TIMEOUT_S)
        except queue.Empty:
            # no `start` line comes (chDB's watcher thread can starve behind back-to-back writes); the writer
            # writes without a pause, so a kill now still lands inside a write
            assert stretches, "the writer printed nothing for a whole write"
            break
        now = time.monotonic()
        assert line, "the writer stopped"
        if line == "wrote":
            if opened is not None:
                stretches.append(now - opened)
            opened = now if start == "wrote" else None
        elif line == start:
            opened = now
        if line == start and len(stretches) >= writes:
            break
    time.sleep(rng.uniform(0, max(stretches)))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _race(wh, versions: list[pa.Table], writes: int, *, filtered: bool, maintain=None) -> tuple[int, list[str]]:
    """Rewrite one partition `writes` times while threads read it (and `maintain` runs in a loop).

    Returns (reads, bad reads): a read is bad if it raised or is not one of `versions`, whole.
    """
    tok = versions[0].column("address")[0].as_py()
    full = {_shape(pl.from_arrow(v)) for v in versions}
    one = {_shape(pl.from_arrow(v).filter(pl.col("address") == tok)) for v in versions}
    wh.write_partition(RAW_CANDLES, {"day": D1}, versions[0])
    bad: list[str] = []

    def check(where, allowed):
        def read_once():
            try:
                got = _shape(wh.read(RAW_CANDLES, where=where, columns=["close"]))
            except Exception as e:  # noqa: BLE001 - an error is a bad read; counted, then the test fails
                bad.append(f"{type(e).__name__}: {e}"[:300])
            else:
                if got not in allowed:
                    bad.append(f"read {got[0]} rows of closes {got[1]}; versions are {sorted(allowed)}")
        return read_once

    with Workers() as w:
        counts = [w.loop(check(None, full))]
        if filtered:
            counts.append(w.loop(check([("address", "=", tok), ("close", ">", 0.0)], one)))
        if maintain is not None:
            w.loop(maintain)
        for i in range(writes):
            wh.write_partition(RAW_CANDLES, {"day": D1}, versions[(i + 1) % len(versions)])
    reads = sum(c.result() for c in counts)
    print(f"{wh!r}: {len(bad)} bad of {reads} reads during {writes} rewrites")
    return reads, bad


# -- Parquet -------------------------------------------------------------------------------------------------
def test_parquet_readers_race_a_writer_in_threads(tmp_path):
    # small partitions are replaced most often; small row groups make the filtered read prune some
    wh = ParquetWarehouse(tmp_path, row_group_size=2_000)
    versions = [candles(D1, 20_000, price=1.0), candles(D1, 7_000, price=2.0)]
    rounds = fault_trials(4)
    reads, bad = _race(wh, versions, 100 * rounds, filtered=True)
    assert not bad, f"{len(bad)} bad of {reads} reads: {bad[:3]}"
    assert reads >= 25 * rounds


READER = """
import json, sys, time
from pathlib import Path
from quantbot_pipelines.warehouse import ParquetWarehouse
wh, stop, allowed = ParquetWarehouse(sys.argv[1]), Path(sys.argv[2]), {(n, tuple(c)) for n, c in json.loads(sys.argv[3])}
reads, bad = 0, []
while not stop.exists():
    try:
        df = wh.read('raw_candles', columns=['close'])
        got = (df.height, sorted(df['close'].unique().to_list()))
        if df.height and (got[0], tuple(got[1])) not in allowed:
            bad.append(f'read {got}')
    except Exception as e:
        bad.append(f'{type(e).__name__}: {e}'[:300])
    reads += 1
print(json.dumps({'reads': reads, 'bad': bad}))
sys.exit(1 if bad else 0)
"""

WRITER = """
import sys, datetime as dt
from quantbot_pipelines.warehouse import ParquetWarehouse
from tests.warehouse._data import candles
wh, day = ParquetWarehouse(sys.argv[1]), dt.date(2025, 3, 1)
versions = [candles(day, 20_000, price=1.0), candles(day, 7_000, price=2.0)]
for i in range(int(sys.argv[2])):
    wh.write_partition('raw_candles', {'day': day}, versions[i % 2])
"""


def test_parquet_reader_process_races_a_writer_process(tmp_path):
    root, stop = tmp_path / "wh", tmp_path / "stop"
    allowed = [[20_000, [1.0]], [7_000, [2.0]]]
    reader = _run(READER, str(root), str(stop), json.dumps(allowed), stdout=subprocess.PIPE)
    rounds = fault_trials(4)
    writer = _run(WRITER, str(root), str(150 * rounds))
    try:
        assert writer.wait(timeout=120) == 0
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    report = json.loads(out)  # the reader reports even when it saw bad reads (then it exits 1)
    print(f"parquet reader process: {len(report['bad'])} bad of {report['reads']} reads")
    assert reader.returncode == 0 and not report["bad"], f"{len(report['bad'])} bad of {report['reads']}: {report['bad'][:3]}"
    assert report["reads"] >= 25 * rounds


@cache
def _parquet_version(day: dt.date, price: float) -> pl.DataFrame:
    n = {1.0: 90_000, 2.0: 30_000, 3.0: 160_000}[price]
    return pl.from_arrow(candles(day, n, tokens=40, seed=int(price), price=price)).sort(KEY)


KILLED_WRITER = """
import random, sys, datetime as dt
from quantbot_pipelines.warehouse import ParquetWarehouse
from tests.warehouse._data import candles
wh, rng = ParquetWarehouse(sys.argv[1], row_group_size=20_000), random.Random(int(sys.argv[2]))
days = [dt.date(2025, 3, d) for d in (1, 2, 3)]
sizes = {1.0: 90_000, 2.0: 30_000, 3.0: 160_000}
data = {(d, p): candles(d, n, tokens=40, seed=int(p), price=p) for d in days for p, n in sizes.items()}
print('ready', flush=True)
while True:
    day, price = rng.choice(days), rng.choice(list(sizes))
    wh.write_partition('raw_candles', {'day': day}, data[(day, price)])
    print('wrote', flush=True)
"""


def test_parquet_writer_killed_at_random_points(tmp_path):
    root = tmp_path / "wh"
    rng = random.Random(20250301)
    trials, mid_write = fault_trials(5), 0
    for trial in range(trials):
        _kill_mid_write(_run(KILLED_WRITER, str(root), str(trial), stdout=subprocess.PIPE), rng)
        wh = ParquetWarehouse(root)
        for part in wh.partitions(RAW_CANDLES):
            got = wh.read(RAW_CANDLES, where=[("day", "=", part["day"])]).sort(KEY)
            prices = got["close"].unique().to_list()
            assert len(prices) == 1, (trial, part, got.height, prices)
            assert_frame_equal(got, _parquet_version(part["day"], prices[0]))
        leftovers = list(root.rglob(".data.parquet.*.tmp"))
        mid_write += bool(leftovers)
        # a crashed writer's temporary file is swept by a later write of its partition once it is old
        old = time.time() - 2 * 3600
        for f in leftovers:
            os.utime(f, (old, old))
            day = dt.date.fromisoformat(f.parent.name.partition("=")[2])
            wh.write_partition(RAW_CANDLES, {"day": day}, _parquet_version(day, 2.0))
        assert not list(root.rglob(".data.parquet.*.tmp"))
    print(f"parquet kill trials: {trials}, killed mid-write: {mid_write}")


# -- ClickHouse (chDB) ---------------------------------------------------------------------------------------
@pytest.fixture
def ch_folder(tmp_path):
    return tmp_path / "chdb"


# ClickHouse writes a big insert as blocks, each a part committed on its own: blocks of 100k rows make the
# partitions here (0.3M-1M rows) multi-part inserts like those of bigger ones
BLOCKS = {"min_insert_block_size_rows": 100_000}


def _blocks(table: pa.Table) -> pa.Table:
    return pa.Table.from_batches(table.to_batches(max_chunksize=100_000))


def _open_ch(folder, **kwargs):
    from quantbot_pipelines.warehouse.clickhouse import ClickHouseWarehouse

    return ClickHouseWarehouse(f"chdb://{folder}", settings=BLOCKS, **kwargs)


def test_clickhouse_readers_race_a_writer_in_threads(ch_folder, caplog):
    wh = _open_ch(ch_folder)
    try:
        # the keys of the smaller version are a subset of the larger one's: same-key rows in both versions
        versions = [_blocks(candles(D1, n, tokens=200, price=p)) for n, p in ((1_000_000, 1.0), (600_000, 2.0))]
        # and merges and clean-ups all along: optimize() deletes every superseded version at once, so
        # readers still on one find it gone and read again
        with caplog.at_level(logging.INFO, logger="quantbot_pipelines.warehouse.clickhouse"):
            rounds = fault_trials(3)
            reads, bad = _race(wh, versions, 2 * rounds, filtered=True,
                               maintain=lambda: (wh.optimize(RAW_CANDLES), time.sleep(0.1)))
    finally:
        wh.close()
    print(f"chdb readers read again {caplog.text.count('reading again')} times")
    assert not bad, f"{len(bad)} bad of {reads} reads: {bad[:3]}"
    assert reads >= 4 * rounds


CH_SIZES = {1.0: 800_000, 2.0: 500_000, 3.0: 300_000}


@cache
def _ch_version(price: float) -> pl.DataFrame:
    return pl.from_arrow(candles(D1, CH_SIZES[price], tokens=100, price=price)).sort(KEY)


CH_WRITER = """
import sys, threading, time, datetime as dt
from quantbot_pipelines.warehouse.clickhouse import ClickHouseWarehouse
from tests.warehouse._data import candles
from tests.warehouse.test_faults import BLOCKS, CH_SIZES, _blocks
wh, day = ClickHouseWarehouse(f'chdb://{sys.argv[1]}', settings=BLOCKS), dt.date(2025, 3, 1)
data = [_blocks(candles(day, n, tokens=100, price=p)) for p, n in CH_SIZES.items()]
writes = {'begun': 0, 'told': 0}


def watch():
    # prints "part" when the first part of a write is stored: from there on the insert is half done
    last = None
    while True:
        n = wh.client.query('SELECT count() FROM raw_candles').result_rows[0][0]
        if last is not None and n > last and writes['told'] < writes['begun']:
            writes['told'] = writes['begun']
            print('part', flush=True)
        last = n
        time.sleep(0.002)


wh.partitions('raw_candles')
threading.Thread(target=watch, daemon=True).start()
print('ready', flush=True)
i = int(sys.argv[2])
while True:
    writes['begun'] += 1
    wh.write_partition('raw_candles', {'day': day}, data[i % 3])
    print('wrote', flush=True)
    i += 1
"""


def test_clickhouse_writer_killed_mid_insert(ch_folder):
    """A big candle write killed at a random point; the folder opened again afterwards (chDB: one process a time)."""
    rng = random.Random(7)
    trials, outcomes = fault_trials(3), []
    for trial in range(trials):
        _kill_mid_write(_run(CH_WRITER, str(ch_folder), str(trial), stdout=subprocess.PIPE), rng, start="part")
        wh = _open_ch(ch_folder)
        try:
            committed = wh.client.query("SELECT max(version), argMax(rows, version) FROM _qb_partitions "
                                        "WHERE tbl = 'raw_candles'").result_rows
            version, rows = committed[0] if committed else (0, 0)
            orphans = wh.client.query("SELECT count() FROM raw_candles WHERE _qb_version > {v:UInt64}",
                                      parameters={"v": version}).result_rows[0][0]
            for step in ("read", "after optimize"):
                got = wh.read(RAW_CANDLES).sort(KEY)
                prices = got["close"].unique().to_list()
                assert got.height == rows and len(prices) == 1, (trial, step, got.height, rows, prices)
                assert_frame_equal(got, _ch_version(prices[0]))
                wh.optimize(RAW_CANDLES)
            outcomes.append((rows, orphans))
            assert wh.stored_rows(RAW_CANDLES) == rows  # the killed write's rows are reclaimed
        finally:
            wh.close()
    mid_insert = sum(orphans > 0 for _, orphans in outcomes)
    print(f"chdb kill trials: {trials}, killed mid-insert: {mid_insert}, (committed, orphan rows): {outcomes}")
