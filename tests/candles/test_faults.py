"""Fault matrix of the candle clients against a hostile loopback server (tests/candles/fake_market.py): one test
per row. Each says what the user sees (the ledger's status and detail, the candles stored) and checks that
nothing paid for is lost (every readable answer's valid candles are stored) and nothing is paid twice (a window
answered is not asked again, in the run or the next). Backoffs and deadlines are small so the file runs in
seconds; the seeded random storm is marked `faults` (QUANTBOT_FAULT_TRIALS bounds its trials)."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time

import pyarrow as pa
import pytest

from quantbot_pipelines.analytics import candle_problems
from quantbot_pipelines.candles import (
    AnswerJournal,
    BirdeyeSource,
    CandleSourceAuthError,
    GeckoTerminalSource,
)
from quantbot_pipelines.candles.pairs import DexScreenerPairs, GeckoTerminalPairs, PairStatus
from quantbot_pipelines.candles.step import CandleDays
from quantbot_pipelines.candles.validate import stored_candle_problems
from quantbot_pipelines.schemas import CANDLE_LEDGER, RAW_CANDLES, TELEGRAM_CALLS
from quantbot_pipelines.warehouse import ParquetWarehouse
from tests.candles.fake_market import FakeMarket, expected_open_times
from tests.support.threads import fault_trials

KEY = "test-key-SECRET-123"
DAY = dt.date(2025, 3, 1)
T0 = int(dt.datetime(2025, 3, 1, 12, 0, 30, tzinfo=dt.UTC).timestamp())
LATER = T0 + 10 * 86400
WINDOW = ((T0 - 3600) // 60 * 60, (T0 + 172800) // 60 * 60 + 60)
PAIR = "CskBX6spMAx4SGeknMUSQTCKukPxX99yu1N3iP1XCbDh"
MINT = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
SMALL = {"timeout_s": 0.5, "max_attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.02,
         "attempt_timeout_s": 0.6, "request_budget_s": 5.0, "retry_after_cap_s": 0.05}
SPOILED = {"nan": "non_finite", "nan_literal": "non_finite", "inf": "non_finite", "zero": "non_positive_price",
           "negative": "non_positive_price", "negvol": "negative_volume", "highlow": "high_below_open_or_close",
           "offgrid": "off_grid"}


@pytest.fixture
def market():
    with FakeMarket(keys=(KEY,)) as m:
        m.drip_every = 0.2
        yield m


def birdeye(market, **kw) -> BirdeyeSource:
    return BirdeyeSource([KEY], base_url=market.url, **({"requests_per_second": 1000.0, "max_concurrency": 4}
                                                         | SMALL | kw))


def gecko(market, **kw) -> GeckoTerminalSource:
    return GeckoTerminalSource(base_url=market.url, **({"requests_per_minute": 60000.0} | SMALL | kw))


class Day:
    """One call day in a Parquet warehouse, run through the candle step as the asset runs it."""

    def __init__(self, tmp_path, tokens: list[str], chain: str = "solana"):
        self.wh = ParquetWarehouse(tmp_path / "wh")
        rows = [{"day": DAY, "chat_id": "c", "message_id": i, "call_ts": dt.datetime.fromtimestamp(T0, dt.UTC),
                 "chain": chain, "address": a, "first_call": True, "repeat": False, "edited": False}
                for i, a in enumerate(tokens)]
        self.wh.write_partition(TELEGRAM_CALLS, {"day": DAY}, TELEGRAM_CALLS.conform(pa.Table.from_pylist(rows)))

    def run(self, source):
        CandleDays(self.wh, source, now=LATER).run([DAY])
        return {r["address"]: r for r in self.wh.read(CANDLE_LEDGER).iter_rows(named=True)}

    def candles(self, address: str) -> list[int]:
        c = self.wh.read(RAW_CANDLES, where=[("address", "=", address)])
        return c["open_ts"].dt.epoch("s").to_list()


def asked(market, address: str) -> int:
    return len([r for r in market.requests if address in r["path"] or r["params"].get("address") == address])


def assert_stored_all(day: Day, address: str, skip_first: bool = False) -> None:
    want = expected_open_times(address, *WINDOW)
    assert day.candles(address) == (want[1:] if skip_first else want)


def http_date(offset_s: float) -> str:
    return email.utils.formatdate(time.time() + offset_s, usegmt=True)


# -- 429 storms ---------------------------------------------------------------------------------------------

RETRY_AFTER = {"delta": "0.02", "fraction": ".01", "zero": "0", "date_past": None, "date_soon": None,
               "garbage": "soon", "negative": "-3", "huge": "1000000000", "empty": "", "overflow": "1e999",
               "nan": "nan"}


@pytest.mark.parametrize("form", list(RETRY_AFTER))
def test_429_storm_with_every_retry_after_form(tmp_path, market, form):
    header = RETRY_AFTER[form] if form not in ("date_past", "date_soon") else \
        http_date(-60 if form == "date_past" else 0.5)
    market.faults["Tstorm"] = [f"429:{header}"] * 2
    day = Day(tmp_path, ["Tstorm"])
    t = time.perf_counter()
    led = day.run(birdeye(market, retry_after_cap_s=0.05 if form != "date_soon" else 1.0))
    # what the user sees: the window answered on the third request, waits within the cap
    assert (led["Tstorm"]["status"], led["Tstorm"]["requests"]) == ("ok", 3)
    assert time.perf_counter() - t < (3.0 if form == "date_soon" else 1.5)
    assert_stored_all(day, "Tstorm")
    assert market.paid["Tstorm"] == 1
    day.run(birdeye(market))
    assert asked(market, "Tstorm") == 3  # never again


def test_429_storm_longer_than_the_attempts_is_an_error_asked_again(tmp_path, market):
    market.faults["Tstorm"] = ["429:1000000000"] * 3
    day = Day(tmp_path, ["Tstorm", "Tcalm"])
    led = day.run(birdeye(market))
    assert led["Tstorm"]["status"] == "error" and led["Tstorm"]["detail"] == "HTTP 429 after 3 attempts"
    assert led["Tcalm"]["status"] == "ok" and day.candles("Tstorm") == []
    led = day.run(birdeye(market))  # a 429 is no answer: asked again, and only it
    assert led["Tstorm"]["status"] == "ok" and asked(market, "Tstorm") == 4 and asked(market, "Tcalm") == 1
    assert_stored_all(day, "Tstorm")


def test_pacer_hold_of_a_429_storm_is_bounded_by_the_budget(tmp_path, market):
    market.faults["Tstorm"] = ["429:1000000000"] * 20
    day = Day(tmp_path, ["Tstorm"])
    t = time.perf_counter()
    led = day.run(birdeye(market, max_attempts=20, retry_after_cap_s=0.3, request_budget_s=1.0))
    assert time.perf_counter() - t < 1.5
    assert led["Tstorm"]["status"] == "error" and "would pass the 1 s budget" in led["Tstorm"]["detail"]


# -- 5xx, truncated, slow, not JSON --------------------------------------------------------------------------

def test_5xx_bursts(tmp_path, market):
    market.faults["Tshort"] = ["500", "502"]
    market.faults["Tlong"] = ["503", "500", "502"]
    day = Day(tmp_path, ["Tshort", "Tlong"])
    led = day.run(birdeye(market))
    assert (led["Tshort"]["status"], led["Tshort"]["requests"]) == ("ok", 3)
    assert (led["Tlong"]["status"], led["Tlong"]["detail"]) == ("error", "HTTP 502 after 3 attempts")
    led = day.run(birdeye(market))
    assert led["Tlong"]["status"] == "ok" and asked(market, "Tshort") == 3 and asked(market, "Tlong") == 4
    assert_stored_all(day, "Tshort") and assert_stored_all(day, "Tlong")


def test_truncated_bodies_are_retried(tmp_path, market):
    market.faults["Tcut"] = ["truncated"]
    market.faults["Tcut3"] = ["truncated"] * 3
    day = Day(tmp_path, ["Tcut", "Tcut3"])
    led = day.run(birdeye(market))
    assert (led["Tcut"]["status"], led["Tcut"]["requests"]) == ("ok", 2)
    assert led["Tcut3"]["status"] == "error" and led["Tcut3"]["detail"] == "RemoteProtocolError after 3 attempts"
    assert_stored_all(day, "Tcut")
    assert market.paid["Tcut"] == 1


def test_slow_drip_beyond_the_deadline(tmp_path, market):
    market.faults["Tdrip"] = ["drip:200"]  # 40 s of body at one byte every 0.2 s
    day = Day(tmp_path, ["Tdrip"])
    t = time.perf_counter()
    led = day.run(birdeye(market))
    assert time.perf_counter() - t < 0.6 + 1.0  # cut at the 0.6 s deadline, then answered
    assert (led["Tdrip"]["status"], led["Tdrip"]["requests"]) == ("ok", 2)
    assert_stored_all(day, "Tdrip")


def test_html_with_200_is_retried(tmp_path, market):
    market.faults["Thtml"] = ["html"]
    market.faults["Thtml3"] = ["html"] * 3
    day = Day(tmp_path, ["Thtml", "Thtml3"])
    led = day.run(birdeye(market))
    assert (led["Thtml"]["status"], led["Thtml"]["requests"]) == ("ok", 2)
    assert led["Thtml3"]["status"] == "error" and \
        led["Thtml3"]["detail"] == "malformed answer (JSONDecodeError) after 3 attempts"
    assert_stored_all(day, "Thtml")


# -- answers whose candles are wrong ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["null", "string", "bool"])
def test_wrong_types_where_numbers_are(tmp_path, market, kind):
    market.faults["Ttype"] = [f"candles:{kind}"]
    day = Day(tmp_path, ["Ttype"])
    led = day.run(birdeye(market))
    row = led["Ttype"]
    # the answer is kept (it was paid for), the candle that is no number is not, and the window is not complete
    assert (row["status"], row["invalid_candles"], row["requests"]) == ("invalid", 1, 1)
    assert row["detail"] == "1 invalid candle dropped (not_a_number 1)"
    assert_stored_all(day, "Ttype", skip_first=True)
    day.run(birdeye(market))
    assert asked(market, "Ttype") == 1  # not asked again before its retry_after


def test_numbers_spelled_as_strings_are_numbers(tmp_path, market):
    market.faults["Tstr"] = ["candles:numstring"]
    day = Day(tmp_path, ["Tstr"])
    assert day.run(birdeye(market))["Tstr"]["status"] == "ok"
    assert_stored_all(day, "Tstr")


def test_an_answer_of_the_wrong_shape_is_retried(tmp_path, market):
    market.faults["Tshape"] = ["wrongtype", "badshape"]
    day = Day(tmp_path, ["Tshape"])
    row = day.run(birdeye(market))["Tshape"]
    assert (row["status"], row["requests"]) == ("ok", 3)


@pytest.mark.parametrize("kind", list(SPOILED))
def test_nan_negative_and_off_grid_candles(tmp_path, market, kind):
    market.faults["Tbad"] = [f"candles:{kind}"]
    day = Day(tmp_path, ["Tbad"])
    row = day.run(birdeye(market))["Tbad"]
    assert (row["status"], row["invalid_candles"], row["requests"]) == ("invalid", 1, 1)
    assert row["detail"] == f"1 invalid candle dropped ({SPOILED[kind]} 1)"
    assert_stored_all(day, "Tbad", skip_first=True)
    stored = day.wh.read(RAW_CANDLES)
    assert not any(candle_problems(stored, now=LATER).values()) and not any(stored_candle_problems(stored).values())
    day.run(birdeye(market))
    assert asked(market, "Tbad") == 1


# -- a refused key -------------------------------------------------------------------------------------------

def test_401_mid_run(tmp_path, market):
    tokens = [f"T{i}" for i in range(8)]
    market.revoke_after = 4
    day = Day(tmp_path, tokens)
    with pytest.raises(CandleSourceAuthError) as err:
        day.run(birdeye(market, max_concurrency=2))
    assert "HTTP 401" in str(err.value) and KEY not in str(err.value)
    kept = {a.row["address"] for a in AnswerJournal(day.wh).read()}
    assert len(kept) >= 4
    market.revoke_after, market.keys = None, {KEY}
    led = day.run(birdeye(market))
    assert {r["status"] for r in led.values()} == {"ok"}
    for a in tokens:  # the kept ones are not asked again; the refused ones once more
        assert market.paid[a] == 1
        assert_stored_all(day, a)
    assert sum(asked(market, a) for a in tokens) == len(tokens) + market.status_counts[401]


# -- GeckoTerminal (sync client) -----------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["429:soon", "429:1000000000", "truncated", "html", "drip:200", "500"])
def test_geckoterminal_transient_page_faults(tmp_path, market, fault):
    market.ohlcv_faults["0xg"] = [fault]
    day = Day(tmp_path, ["0xg"], chain="ethereum")
    row = day.run(gecko(market))["0xg"]
    assert row["status"] == "ok" and row["requests"] == 1 + 3 + 1  # lookup, three pages, one retry
    assert_stored_all(day, "0xg")


@pytest.mark.parametrize("kind", ["nan", "null", "string", "negvol", "offgrid"])
def test_geckoterminal_spoiled_candles(tmp_path, market, kind):
    market.ohlcv_faults["0xs"] = [f"candles:{kind}"]
    day = Day(tmp_path, ["0xs"], chain="ethereum")
    row = day.run(gecko(market))["0xs"]
    reason = {"null": "not_a_number", "string": "not_a_number"}.get(kind) or SPOILED[kind]
    assert (row["status"], row["invalid_candles"]) == ("invalid", 1) and f"({reason} 1)" in row["detail"]
    want = expected_open_times("0xs", *WINDOW)
    assert day.candles("0xs") == want[:-1]  # the page's newest candle was spoiled


# -- pair look-ups -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["429:soon", "429:-1", "429:1000000000", "truncated", "html", "drip:200"])
@pytest.mark.parametrize("make", [DexScreenerPairs, GeckoTerminalPairs])
def test_pair_lookup_faults(market, make, fault):
    market.pairs[PAIR] = (MINT, None)
    market.faults[PAIR] = [fault]
    r = make(base_url=market.url, requests_per_minute=60000.0, **SMALL)
    (a,) = r.resolve_many([("solana", PAIR)])
    assert (a.status, a.token_address, a.requests) == (PairStatus.RESOLVED, MINT, 2)


# -- a seeded storm of everything at once ---------------------------------------------------------------------

FAULTS = ["500", "503", "429:0.01", "429:soon", "429:1000000000", "truncated", "html", "malformed", "drip:60",
          *(f"candles:{k}" for k in (*SPOILED, "null", "string", "numstring"))]


@pytest.mark.faults
def test_random_storm_keeps_every_valid_candle_and_pays_once(tmp_path):
    """Trials of 24 tokens, each with a random script of faults; two runs. Whatever the mix: every stored candle
    is valid, every valid candle of every readable answer is stored, no window with a readable answer is asked
    for again, and only windows without one (errors) are asked in the second run."""
    for trial in range(fault_trials(3)):
        rng = random.Random(trial)
        with FakeMarket(keys=(KEY,)) as market:
            market.drip_every = 0.05
            tokens = [f"R{trial}x{i:02d}" for i in range(24)]
            for t in tokens:
                market.faults[t] = rng.sample(FAULTS, rng.randint(0, 4))
            day = Day(tmp_path / str(trial), tokens)
            # a whole answer well inside the attempt deadline even on a busy machine (a deadline that cuts an
            # answer the server already sent would make it paid twice; 1 s was cut once on a loaded 2-core
            # machine), the drip (3 s) still past it
            led = day.run(birdeye(market, attempt_timeout_s=2.0, max_attempts=3))
            first = {a: asked(market, a) for a in tokens}
            led2 = day.run(birdeye(market, attempt_timeout_s=2.0, max_attempts=3))
            stored = day.wh.read(RAW_CANDLES)
            assert not any(candle_problems(stored, now=LATER).values()), trial
            assert not any(stored_candle_problems(stored).values()), trial
            for a in tokens:
                status = led[a]["status"]
                if status == "error":  # no readable answer came: asked again, once more
                    assert market.paid[a] <= 1 and asked(market, a) > first[a], (trial, a)
                else:
                    assert market.paid[a] == 1 and asked(market, a) == first[a], (trial, a, status)
                    spoiled = led[a]["invalid_candles"]
                    assert (status == "invalid") == (spoiled > 0)
                    assert day.candles(a) == expected_open_times(a, *WINDOW)[spoiled:], (trial, a)
                if led2[a]["status"] in ("ok", "invalid"):
                    assert market.paid[a] == 1, (trial, a)
