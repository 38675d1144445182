"""The candles step of one day in a process of its own, for test_journal's kill -9 trial:
`python -m tests.candles.journal_child <warehouse folder> <base url> <now> <day>`, the key in QB_TEST_KEY."""

from __future__ import annotations

import datetime as dt
import os
import sys

from quantbot_pipelines.candles import BirdeyeSource
from quantbot_pipelines.candles.step import CandleDays
from quantbot_pipelines.warehouse import ParquetWarehouse


def main(root: str, url: str, now: str, day: str) -> None:
    source = BirdeyeSource([os.environ["QB_TEST_KEY"]], base_url=url, requests_per_second=1000.0, max_concurrency=1,
                           timeout_s=30.0, attempt_timeout_s=60.0, max_attempts=2, backoff_base_s=0.01,
                           backoff_max_s=0.02)
    CandleDays(ParquetWarehouse(root), source, now=int(now)).run([dt.date.fromisoformat(day)])


if __name__ == "__main__":
    main(*sys.argv[1:5])
