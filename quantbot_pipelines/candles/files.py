"""Candles from your own files: one file per token, CSV or Parquet.

Layout: `<folder>/<chain>/<address>.parquet` or `<folder>/<chain>/<address>.csv` (chain as in telegram_calls:
solana, ethereum, bsc, base, ...; the address spelled as in telegram_calls: Solana case kept, EVM lower-case).
A file for one interval only may be named `<address>.<interval>.parquet|csv` (e.g. `<address>.5m.csv`); it is
preferred when that interval is asked. Columns:

| column          | type                                        | meaning                                   |
|-----------------|---------------------------------------------|-------------------------------------------|
| `open_ts`       | epoch seconds (int) or ISO 8601 time (UTC if no offset) | candle open time, aligned to the interval |
| `open`          | float                                       | open price, USD                           |
| `high`          | float                                       | high price, USD                           |
| `low`           | float                                       | low price, USD                            |
| `close`         | float                                       | close price, USD                          |
| `volume_usd`    | float, optional                             | traded volume, USD                        |
| `volume_tokens` | float, optional                             | traded volume, tokens (UI amount)         |

Candles must be at the interval the pipeline is configured for (1m by default). Rows that break the candle rules
(docs/semantics.md#valid-candles: an open time off the interval grid, a price that is missing, not finite or not
positive, high/low not around open and close, a negative volume in USD or tokens) are dropped and counted, and
the window is read again on the next run. A token without a file is recorded as token_unknown and looked for
again on the next run (reading a file costs nothing), so files added later are picked up. The source reports
no pool liquidity.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from quantbot_pipelines.candles.base import (
    CANDLE_COLUMNS,
    CandleRequest,
    CandleSource,
    FetchOutcome,
    FetchResult,
    clip_to_window,
)


class FileSource(CandleSource):
    name = "files"
    max_candles_per_request = None
    empty_retry_s = 0
    retry_empty_old = True
    invalid_retry_s = None  # reading files is free: a corrected file is read on the next run

    def __init__(self, folder):
        self.folder = Path(folder)
        self._cache: dict[Path, pl.DataFrame] = {}

    def __repr__(self) -> str:
        return f"FileSource({str(self.folder)!r})"

    def path_for(self, chain: str, address: str, interval: str) -> Path | None:
        base = self.folder / chain
        for name in (f"{address}.{interval}", address):
            for ext in ("parquet", "csv"):
                p = base / f"{name}.{ext}"
                if p.is_file():
                    return p
        return None

    def _read(self, path: Path) -> pl.DataFrame:
        if path not in self._cache:
            raw = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, try_parse_dates=False)
            ts = raw["open_ts"]
            if ts.dtype.is_temporal():
                epoch = (ts.dt.replace_time_zone("UTC") if getattr(ts.dtype, "time_zone", None) is None
                         and ts.dtype != pl.Date else ts).dt.epoch("s")
            elif ts.dtype.is_numeric():
                epoch = ts.cast(pl.Int64)
            else:  # ISO text; no offset means UTC
                epoch = ts.str.to_datetime(time_zone="UTC", strict=True).dt.epoch("s")
            frame = raw.with_columns(epoch.alias("open_ts"))
            # the volumes are optional: a file without one has it null (not reported)
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias(c)
                                       for c in ("volume_usd", "volume_tokens") if c not in frame.columns)
            self._cache = {path: frame.select([pl.col(c).cast(t, strict=False) for c, t in CANDLE_COLUMNS.items()])}
        return self._cache[path]

    def fetch(self, request: CandleRequest) -> FetchResult:
        path = self.path_for(request.chain, request.address, request.interval)
        if path is None:
            return FetchResult(request, FetchOutcome.TOKEN_UNKNOWN,
                               requests=1, detail=f"no file {request.chain}/{request.address}.parquet|csv in the folder")
        try:
            frame = self._read(path)
        except (OSError, pl.exceptions.PolarsError, KeyError) as e:
            return FetchResult(request, FetchOutcome.ERROR, requests=1, detail=f"{path.name}: {type(e).__name__}: {e}"[:300])
        frame = clip_to_window(frame, request)
        if frame.is_empty():
            return FetchResult(request, FetchOutcome.NO_TRADES, requests=1, detail=f"{path.name} has no candles in the window")
        return FetchResult(request, FetchOutcome.OK, frame, requests=1)
