"""Nothing paid for is asked twice, whatever stops a run: every answer is journaled (candle_answers) the moment it
arrives, the next run stores it without a request, and the journal lets go of it only once its day is written.
Interrupted by a refused key, or by kill -9 in the middle of a day, the re-run ends with the same raw_candles and
candle_ledger as a run that was never interrupted, and no window answered before the interruption is asked again."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from quantbot_pipelines.candles import (
    AnswerJournal,
    BirdeyeSource,
    CandleRequest,
    CandleSourceAuthError,
    SyntheticMarket,
)
from quantbot_pipelines.candles.collect import answer_of
from quantbot_pipelines.candles.step import CandleDays
from quantbot_pipelines.schemas import CANDLE_ANSWERS, CANDLE_LEDGER, RAW_CANDLES, TELEGRAM_CALLS
from quantbot_pipelines.warehouse import ParquetWarehouse
from tests.candles.fake_market import FakeMarket, expected_open_times
from tests.support.threads import fault_trials

KEY = "test-key-SECRET-123"
DAY = dt.date(2025, 3, 1)
T0 = int(dt.datetime(2025, 3, 1, 12, 0, 30, tzinfo=dt.UTC).timestamp())
LATER = T0 + 10 * 86400
REPO = Path(__file__).resolve().parents[2]


def write_calls(wh, day: dt.date, tokens: list[str], at: int, chat: str = "c") -> None:
    rows = [{"day": day, "chat_id": chat, "message_id": i, "call_ts": dt.datetime.fromtimestamp(at + 7 * i, dt.UTC),
             "chain": "solana", "address": a, "first_call": True, "repeat": False, "edited": False,
             "first_call_ts": dt.datetime.fromtimestamp(at + 7 * i, dt.UTC)} for i, a in enumerate(tokens)]
    wh.write_partition(TELEGRAM_CALLS, {"day": day}, TELEGRAM_CALLS.conform(pa.Table.from_pylist(rows)))


def birdeye(market, **kw) -> BirdeyeSource:
    opts = {"requests_per_second": 1000.0, "max_concurrency": 3, "timeout_s": 2.0, "max_attempts": 2,
            "backoff_base_s": 0.01, "backoff_max_s": 0.02} | kw
    return BirdeyeSource([KEY], base_url=market.url, **opts)


def tables(wh) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (wh.read(RAW_CANDLES).sort("day", "chain", "address", "open_ts"),
            wh.read(CANDLE_LEDGER).sort("day", "chain", "address", "start_ts"))


def uninterrupted(tmp_path, days_tokens: dict) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The tables of the same days run once, without interruption, against a market of their own."""
    wh = ParquetWarehouse(tmp_path / "reference")
    for day, (tokens, at) in days_tokens.items():
        write_calls(wh, day, tokens, at)
    with FakeMarket(keys=(KEY,)) as m:
        CandleDays(wh, birdeye(m), now=LATER).run(sorted(days_tokens))
        n = len(m.ohlcv_requests())
    return (*tables(wh), n)


def windows_asked(market) -> list[tuple]:
    return [(r["params"]["address"], r["params"]["time_from"], r["params"]["time_to"])
            for r in market.ohlcv_requests()]


def test_a_key_refused_mid_day_loses_nothing_paid(tmp_path):
    tokens = [f"Tok{i:02d}" for i in range(12)]
    wh = ParquetWarehouse(tmp_path / "wh")
    write_calls(wh, DAY, tokens, T0)
    with FakeMarket(keys=(KEY,)) as market:
        market.revoke_after = 5  # the key is revoked after five answers
        with pytest.raises(CandleSourceAuthError):
            CandleDays(wh, birdeye(market), now=LATER).run([DAY])
        refused = market.status_counts[401]
        answered_before = len(AnswerJournal(wh).read())
        assert answered_before >= 5 and 1 <= refused <= 3  # the answers in flight when it came are kept too
        assert wh.read(RAW_CANDLES).is_empty() and wh.read(CANDLE_LEDGER).is_empty()  # the day was not written

        market.revoke_after = None
        market.keys = {KEY}  # the key is fixed
        step = CandleDays(wh, birdeye(market), now=LATER)
        step.run([DAY])
        asked = windows_asked(market)
        # every window once, plus the requests the revoked key was refused
        assert len(asked) == len(set(asked)) + refused and len(set(asked)) == len(tokens)
        assert step.recovered == answered_before and step.batches[DAY].stats["requests"] == len(tokens) - answered_before
    assert AnswerJournal(wh).read() == [] and wh.partitions(CANDLE_ANSWERS) == []
    candles, ledger, n = uninterrupted(tmp_path, {DAY: (tokens, T0)})
    assert n == len(tokens)
    got_candles, got_ledger = tables(wh)
    assert got_candles.equals(candles) and got_ledger.equals(ledger)


def _child(wh_root: Path, url: str) -> subprocess.Popen:
    env = {**os.environ, "QB_TEST_KEY": KEY, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "tests.candles.journal_child", str(wh_root), url, str(LATER),
                             DAY.isoformat()], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"the child ended early: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError("the child never got there")
        time.sleep(0.02)


@pytest.mark.faults
def test_kill_9_mid_day_loses_nothing_paid(tmp_path):
    """The step in a process of its own, killed (SIGKILL) while a request is in flight after `after` answers;
    the re-run asks only the windows not answered before. Trials: QUANTBOT_FAULT_TRIALS (default 2)."""
    tokens = [f"Kill{i:02d}" for i in range(8)]
    reference = uninterrupted(tmp_path, {DAY: (tokens, T0)})
    for trial in range(fault_trials(2)):
        after = (3, 6, 1, 7, 5, 2)[trial % 6]
        root = tmp_path / f"wh{trial}"
        wh = ParquetWarehouse(root)
        write_calls(wh, DAY, tokens, T0)
        with FakeMarket(keys=(KEY,)) as market:
            market.hold_after = after  # request after+1 is held: the child is killed while it waits
            proc = _child(root, market.url)
            try:
                _wait_for(lambda wh=wh, after=after, market=market: len(wh.partitions(CANDLE_ANSWERS)) == after
                          and len(market.ohlcv_requests()) == after + 1, proc)
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                market.release.set()
            assert proc.returncode == -signal.SIGKILL
            assert wh.read(RAW_CANDLES).is_empty()  # killed before the day was written: all in the journal
            market.hold_after = None
            step = CandleDays(wh, birdeye(market), now=LATER)
            step.run([DAY])
            asked = windows_asked(market)
            # every window once, and the one in flight at the kill a second time
            assert len(asked) == len(set(asked)) + 1 and len(set(asked)) == len(tokens), trial
            assert step.recovered == after and step.batches[DAY].stats["requests"] == len(tokens) - after
        got = tables(wh)
        assert got[0].equals(reference[0]) and got[1].equals(reference[1]), trial
        assert wh.partitions(CANDLE_ANSWERS) == []


def test_answers_of_other_days_spare_requests_and_wait_for_their_day(tmp_path):
    """A run for day 2 after a crash on day 1 uses day 1's journaled answers (no request for what they cover) but
    leaves them in the journal: they are day 1's rows, written when day 1 runs."""
    wh = ParquetWarehouse(tmp_path / "wh")
    d2 = DAY + dt.timedelta(days=1)
    write_calls(wh, DAY, ["Shared", "Solo", "Zlast"], T0)
    write_calls(wh, d2, ["Shared"], T0 + 3600)  # day 2's window overlaps day 1's by 47 h
    day1_end = (T0 + 172800) // 60 * 60 + 60
    with FakeMarket(keys=(KEY,)) as market:
        market.revoke_after = 2  # day 1 gets Shared and Solo answered, then Zlast is refused
        with pytest.raises(CandleSourceAuthError):
            CandleDays(wh, birdeye(market, max_concurrency=1), now=LATER).run([DAY])
        assert sorted(a.row["address"] for a in AnswerJournal(wh).read()) == ["Shared", "Solo"]
        market.revoke_after, market.keys = None, {KEY}
        n = len(market.ohlcv_requests())
        step = CandleDays(wh, birdeye(market), now=LATER)
        step.run([d2])
        tail = market.ohlcv_requests()[n:]
        # only day 2's hour past day 1's window is asked
        assert [(r["params"]["address"], int(r["params"]["time_from"])) for r in tail] == [("Shared", day1_end)]
        assert step.pending == 2 and step.recovered == 0 and len(AnswerJournal(wh).read()) == 2
        day2 = wh.read(RAW_CANDLES, where=[("day", "=", d2)]).with_columns(pl.col("open_ts").dt.epoch("s"))
        assert day2.filter(pl.col("open_ts") < day1_end).height == \
            len(expected_open_times("Shared", (T0 + 3600 - 3600) // 60 * 60, day1_end))  # day 1's answer serves
        step = CandleDays(wh, birdeye(market), now=LATER)
        step.run([DAY])
        assert step.recovered == 2 and AnswerJournal(wh).read() == []
        assert sorted(wh.read(CANDLE_LEDGER, where=[("day", "=", DAY)])["address"]) == ["Shared", "Solo", "Zlast"]
        asked = windows_asked(market)
        assert len(asked) == len(set(asked)) + 1  # the one request refused, nothing else twice


def test_the_journal_reads_back_what_it_was_given(tmp_path):
    src = SyntheticMarket(seed=7)
    journal = AnswerJournal(ParquetWarehouse(tmp_path / "wh"))
    reqs = [CandleRequest("solana", f"T{i}", "1m", T0 - 30, T0 - 30 + 86400, anchor_ts=T0) for i in range(30)]
    answers = [answer_of(src.fetch(r), day=DAY, source=src, now=LATER) for r in reqs]
    assert {a.row["status"] for a in answers} == {"ok", "no_trades"}  # the market has dead tokens too
    for a in answers:
        journal.add(a)
    back = {a.answer_id: a for a in journal.read("synthetic")}
    assert len(back) == len(answers)
    for a in answers:
        b = back[a.answer_id]
        assert b.row == a.row and b.candles.equals(a.candles) and b.credits == a.credits
    # the pool's liquidity and the volume in tokens travel with the answer
    assert all(a.row["pool_liquidity_usd"] == src.pool_liquidity_usd("solana", a.row["address"])
               for a in answers)
    assert all(a.candles["volume_tokens"].null_count() == 0 for a in answers if a.candles.height)
    journal.forget(list(back.values()))
    assert journal.read() == [] and not any((tmp_path / "wh" / CANDLE_ANSWERS.name).iterdir())
