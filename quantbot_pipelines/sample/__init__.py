"""Realistic Telegram exports for the demo, the tests and the ingest benchmark.

`write_sample_inbox` writes a small deterministic sample in both export formats; `write_large_json` and
`write_large_html` stream exports of hundreds of MB with the same shape for benchmarks. `skill_world` builds
stored frames (calls, candles, ledger) of callers with planted skill, for known-answer tests.
"""

from quantbot_pipelines.sample.base58 import b58decode, b58encode
from quantbot_pipelines.sample.inbox import EXPORT_OF_CHAT, write_sample, write_sample_inbox
from quantbot_pipelines.sample.large import write_large_html, write_large_json
from quantbot_pipelines.sample.skill import SkillWorld, SkillWorldSpec, TokenOdds, skill_world
from quantbot_pipelines.sample.world import Sample, SampleSpec, build_sample

__all__ = [
    "EXPORT_OF_CHAT",
    "Sample",
    "SampleSpec",
    "SkillWorld",
    "SkillWorldSpec",
    "TokenOdds",
    "b58decode",
    "b58encode",
    "build_sample",
    "skill_world",
    "write_large_html",
    "write_large_json",
    "write_sample",
    "write_sample_inbox",
]
