"""Write the sample Telegram exports.

    python scripts/make_sample_export.py <out_dir> [--seed N] [--large-json-mb N] [--large-html-mb N]

<out_dir> receives the small deterministic sample (alpha_gems/result.json, account/result.json,
degen_calls_html/); with --large-* also large_json/result.json and/or large_html/ of about N MB each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from quantbot_pipelines.sample import SampleSpec, write_large_html, write_large_json, write_sample_inbox


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write realistic sample Telegram exports (JSON and HTML).")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=SampleSpec().seed)
    ap.add_argument("--large-json-mb", type=int, default=0, help="also write a whole-account JSON of N MB")
    ap.add_argument("--large-html-mb", type=int, default=0, help="also write an HTML export of N MB")
    args = ap.parse_args(argv)
    for path in write_sample_inbox(args.out_dir, SampleSpec(seed=args.seed)):
        print(f"sample   {path}")
    for flag, mb, writer, target in (
        ("json", args.large_json_mb, write_large_json, "large_json/result.json"),
        ("html", args.large_html_mb, write_large_html, "large_html"),
    ):
        if mb > 0:
            started = time.perf_counter()
            n = writer(args.out_dir / target, mb, seed=args.seed)
            secs = time.perf_counter() - started
            rate = n / 1e6 / secs
            print(f"large    {args.out_dir / target}  {n / 1e6:.0f} MB in {secs:.1f}s ({rate:.0f} MB/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
