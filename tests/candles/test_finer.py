"""Finer candles of single minutes, for ambiguous candles (docs/semantics.md#order-bounds): the synthetic
market's split of a minute, and fetching through a ledger of their own, never twice."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from quantbot_pipelines.candles.finer import fetch_minutes, finer_interval
from quantbot_pipelines.candles.synthetic import SyntheticMarket
from quantbot_pipelines.schemas import INTRABAR_ANSWERS, INTRABAR_CANDLES, INTRABAR_LEDGER
from quantbot_pipelines.warehouse import ParquetWarehouse

ANCHOR = 1_735_689_600 + 3_600
DAY = dt.date(2025, 1, 1)


def traded_minutes(market: SyntheticMarket, address: str, n: int) -> list[int]:
    one = market.candles("solana", address, ANCHOR, ANCHOR + 6 * 3600, ANCHOR)
    return one.get_column("open_ts").to_list()[: 10 * n : 10]  # apart: each minute its own window


@pytest.mark.parametrize("interval", ["15s", "1s", "30s"])
def test_finer_candles_roll_up_to_the_minute(interval):
    market = SyntheticMarket(7)
    one = market.candles("solana", "Tok1", ANCHOR, ANCHOR + 3 * 3600, ANCHOR)
    fine = market.candles("solana", "Tok1", ANCHOR, ANCHOR + 3 * 3600, ANCHOR, interval)
    step = int(interval[:-1])
    rolled = (fine.with_columns((pl.col("open_ts") // 60 * 60).alias("m")).group_by("m", maintain_order=True)
              .agg(pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
                   pl.col("volume_usd").sum(), pl.len().alias("n")))
    assert rolled.height == one.height > 100
    assert (rolled["n"] == 60 // step).all()
    for col in ("open", "high", "low", "close", "volume_usd"):
        np.testing.assert_allclose(rolled[col].to_numpy(), one[col].to_numpy(), rtol=1e-12)
    if step < 30:
        # the high and the low sit in different finer candles: the order inside the minute is known
        per = fine.with_columns((pl.col("open_ts") // 60).alias("m"))
        hi_at = per.sort("high", descending=True).group_by("m").agg(pl.col("open_ts").first())
        lo_at = per.sort("low").group_by("m").agg(pl.col("open_ts").first())
        both = hi_at.join(lo_at, on="m")
        assert (both["open_ts"] != both["open_ts_right"]).mean() > 0.99


def test_a_minute_is_fetched_once_and_the_day_keeps_every_minute(tmp_path):
    wh = ParquetWarehouse(tmp_path / "wh")
    market = SyntheticMarket(7)
    mins = traded_minutes(market, "Tok1", 5)
    minutes = pl.DataFrame({"chain": ["solana"] * 3, "address": ["Tok1"] * 3,
                            "call_ts": [dt.datetime.fromtimestamp(t, dt.UTC) for t in mins[:3]],
                            "first_call_ts": [dt.datetime.fromtimestamp(ANCHOR, dt.UTC)] * 3})
    now = ANCHOR + 10 * 86400
    first = fetch_minutes(wh, market, minutes, day=DAY, interval="15s", now=now)
    assert first.requests == 3 and first.candles.height == 12
    assert wh.read(INTRABAR_ANSWERS).height == 0  # stored, so the journal let them go
    again = fetch_minutes(wh, market, minutes, day=DAY, interval="15s", now=now)
    assert again.requests == 0 and again.candles.height == 12
    more = minutes.with_columns(pl.Series("call_ts", [dt.datetime.fromtimestamp(t, dt.UTC) for t in mins[2:5]]))
    third = fetch_minutes(wh, market, more, day=DAY, interval="15s", now=now)
    assert third.requests == 2  # only the two minutes the day did not hold
    stored = wh.read(INTRABAR_CANDLES, where=[("day", "=", DAY)])
    assert stored.height == 20 and stored.select("open_ts").n_unique() == 20
    assert wh.read(INTRABAR_LEDGER, where=[("day", "=", DAY)]).height == 5
    # the finer candles match the source's own
    t0 = mins[0]
    want = market.candles("solana", "Tok1", t0, t0 + 60, ANCHOR, "15s")
    got = stored.filter(pl.col("open_ts").dt.epoch("s") < t0 + 60, pl.col("open_ts").dt.epoch("s") >= t0)
    np.testing.assert_allclose(got.sort("open_ts")["high"].to_numpy(), want["high"].to_numpy())


def test_only_seconds_dividing_a_minute_refine():
    assert finer_interval("15S") == "15s"
    for bad in ("1m", "7s", "45s"):
        with pytest.raises(ValueError):
            finer_interval(bad)
