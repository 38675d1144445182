"""Telegram ingest throughput and memory: `python -m benchmarks.bench_ingest`.

Builds a whole-account JSON export (~500 MB) and an HTML export (~200 MB) with the sample generator in a
temp dir, then in a fresh process each: `parse_export` of the JSON, `parse_export` of the HTML, and the
bare `orjson.loads(open(f, 'rb').read())` of the same JSON with the garbage collector off (the fastest
plain whole-file load, the yardstick). Both sides are measured the same way: the warm figure is the best of
WARM runs in that process; the cold figure (the first parse in a fresh process: numba cache loading and first
calls included, what a user's first run pays) is reported apart. Peak memory is that child's ru_maxrss.

Scale: env BENCH_INGEST_JSON_MB / BENCH_INGEST_HTML_MB (defaults 500 / 200), or `--json-mb N --html-mb N`.
Goals: >= 150 MB/s JSON, JSON parse at most 2x the bare orjson load, peak RSS < 1 GB, >= 35 MB/s HTML.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._report import table, write_section

MB = 1_000_000
WARM = 3  # warm runs after the first, each side


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child_parse(path: str, conn) -> None:
    """In its own process: time parse_export + extraction; report rows and this process's peak RSS."""
    try:
        from quantbot_pipelines.telegram import parse_export

        base = _rss_mb()
        times = []
        for _ in range(1 + WARM):
            parsed = None  # the last result is freed before the next parse, as in a real run
            started = time.perf_counter()
            parsed = parse_export(Path(path), export_id="bench")
            times.append(time.perf_counter() - started)
        conn.send(
            {
                "ok": True,
                "seconds": min(times[1:]),
                "cold_seconds": times[0],
                "calls": parsed.calls.num_rows,
                "quarantined": parsed.quarantine.num_rows,
                "messages": parsed.stats.get("messages"),
                "base_rss_mb": base,
                "peak_rss_mb": _rss_mb(),
            }
        )
    except BaseException as exc:  # noqa: BLE001 - the parent reports the exact error
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})


def _child_orjson(path: str, conn) -> None:
    """The yardstick: the fastest plain whole-file load, collector paused (first load apart, then best of WARM)."""
    import gc

    import orjson

    gc.disable()
    times = []
    for _ in range(1 + WARM):
        started = time.perf_counter()
        with open(path, "rb") as f:
            doc = orjson.loads(f.read())
        times.append(time.perf_counter() - started)
        del doc
    conn.send({"ok": True, "seconds": min(times[1:]), "cold_seconds": times[0], "peak_rss_mb": _rss_mb()})


def _in_child(target, path: Path) -> dict:
    ctx = mp.get_context("spawn")  # a clean interpreter: nothing inherited inflates its peak RSS
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(str(path), child))
    proc.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:  # killed (e.g. out of memory) before it could answer
        proc.join()
        return {"ok": False, "error": f"child process died with exit code {proc.exitcode}"}
    proc.join()
    return result


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.html")) if path.is_dir() else path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json-mb", type=int, default=int(os.environ.get("BENCH_INGEST_JSON_MB", "500")))
    ap.add_argument("--html-mb", type=int, default=int(os.environ.get("BENCH_INGEST_HTML_MB", "200")))
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]  # the machine may be shared: note how busy it was

    from quantbot_pipelines.sample import write_large_html, write_large_json

    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        json_path, html_dir = Path(tmp) / "account" / "result.json", Path(tmp) / "html_export"
        started = time.perf_counter()
        write_large_json(json_path, args.json_mb)
        gen_json = time.perf_counter() - started
        started = time.perf_counter()
        write_large_html(html_dir, args.html_mb)
        gen_html = time.perf_counter() - started
        json_mb, html_mb = _size(json_path) / MB, _size(html_dir) / MB
        n_html = len(list(html_dir.glob("messages*.html")))
        print(
            f"generated JSON {json_mb:.0f} MB in {gen_json:.1f}s ({json_mb / gen_json:.0f} MB/s), "
            f"HTML {html_mb:.0f} MB in {n_html} files in {gen_html:.1f}s ({html_mb / gen_html:.0f} MB/s)"
        )

        bare = _in_child(_child_orjson, json_path)
        print(
            f"orjson.loads (gc off): warm {bare['seconds']:.2f}s = {json_mb / bare['seconds']:.0f} MB/s, "
            f"peak RSS {bare['peak_rss_mb']:.0f} MB"
        )
        pj = _in_child(_child_parse, json_path)
        ph = _in_child(_child_parse, html_dir)

    failed = [(name, r) for name, r in (("JSON", pj), ("HTML", ph)) if not r["ok"]]
    for name, r in failed:
        print(
            f"parse_export failed on the {name} export: {r['error']}\n{r.get('trace', '')}", file=sys.stderr
        )
    if failed:
        write_section(
            "ingest",
            "Telegram ingest",
            "Run failed: " + "; ".join(f"{name}: `{r['error']}`" for name, r in failed),
        )
        print(f"FAILED {' '.join(name for name, _ in failed)}")
        return 1

    json_mb_s, html_mb_s = json_mb / pj["seconds"], html_mb / ph["seconds"]
    ratio = pj["seconds"] / bare["seconds"]
    cold_ratio = pj["cold_seconds"] / bare["cold_seconds"]
    rows = [
        {
            "what": "parse_export, whole-account JSON",
            "MB": f"{json_mb:.0f}",
            "warm s": f"{pj['seconds']:.2f}",
            "cold s": f"{pj['cold_seconds']:.2f}",
            "warm MB/s": f"{json_mb_s:.0f}",
            "peak RSS MB": f"{pj['peak_rss_mb']:.0f}",
            "RSS after imports MB": f"{pj['base_rss_mb']:.0f}",
            "messages": pj["messages"],
            "calls": pj["calls"],
            "quarantined": pj["quarantined"],
        },
        {
            "what": f"parse_export, HTML ({n_html} files)",
            "MB": f"{html_mb:.0f}",
            "warm s": f"{ph['seconds']:.2f}",
            "cold s": f"{ph['cold_seconds']:.2f}",
            "warm MB/s": f"{html_mb_s:.0f}",
            "peak RSS MB": f"{ph['peak_rss_mb']:.0f}",
            "RSS after imports MB": f"{ph['base_rss_mb']:.0f}",
            "messages": ph["messages"],
            "calls": ph["calls"],
            "quarantined": ph["quarantined"],
        },
        {
            "what": "orjson.loads(read()), gc off",
            "MB": f"{json_mb:.0f}",
            "warm s": f"{bare['seconds']:.2f}",
            "cold s": f"{bare['cold_seconds']:.2f}",
            "warm MB/s": f"{json_mb / bare['seconds']:.0f}",
            "peak RSS MB": f"{bare['peak_rss_mb']:.0f}",
            "RSS after imports MB": "",
            "messages": "",
            "calls": "",
            "quarantined": "",
        },
    ]
    goals = [
        ("JSON >= 150 MB/s", json_mb_s >= 150),
        ("JSON parse <= 2x bare orjson load (warm)", ratio <= 2),
        ("JSON peak RSS < 1 GB", pj["peak_rss_mb"] < 1024),
        ("HTML >= 35 MB/s", html_mb_s >= 35),
    ]
    body = (
        "Exports generated by `quantbot_pipelines.sample` (`write_large_json`, `write_large_html`): "
        "~70% chat, ~15% calls, ~10% Rick/Phanes cards, ~5% service messages. "
        "Each measurement runs in a fresh spawned process; "
        "peak RSS is that process's `ru_maxrss`, imports included. Times include reading the files "
        f"(page cache warm: just written). Load average (1 min) at start: {load_before:.1f} "
        f"on {os.cpu_count()} cores.\n\n"
        + table(rows)
        + f"\n\nWarm runs: best of {WARM} after the first, each side. JSON parse / bare orjson load: warm "
        f"{ratio:.2f}x; cold (first run in a fresh process) {cold_ratio:.2f}x.\n\n"
        + "\n".join(f"- {g}: {'met' if ok else 'NOT met'}" for g, ok in goals)
        + "\n"
    )
    write_section("ingest", "Telegram ingest", body)
    print(table(rows))
    print(
        f"json_mb_s={json_mb_s:.1f} html_mb_s={html_mb_s:.1f} json_vs_orjson={ratio:.2f} "
        f"cold_json_vs_orjson={cold_ratio:.2f} "
        f"peak_rss_mb={pj['peak_rss_mb']:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
