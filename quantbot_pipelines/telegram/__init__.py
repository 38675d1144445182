"""Telegram Desktop exports (JSON and HTML) -> call rows. Plain Python, no Dagster.

Public API: `find_exports`, `ExportRef`, `parse_export`, `ParsedExport`, `finalize_calls`, and the
extraction helpers `extract_tokens`, `parse_card`.

Unreadable whole files: `parse_export` raises ValueError naming the file (empty file, not a JSON object,
HTML folder without any readable part); the caller records it. Everything smaller (a bad message, a missing
HTML part, a truncated tail) becomes a quarantine row and the rest of the export is still parsed.

Quarantine covers every message that could be a call (holds an address candidate, addresses.py and
docs/semantics.md#calls) and cannot be read: invalid_json, invalid_utf8, truncated, oversized (> 1 MiB:
Telegram caps messages at 4,096 characters), too_deep (> 256 levels), no_timezone, bad_date, missing_parts, bad_message. Messages
without a candidate are counted in `stats["messages"]` but not decoded, so their problems are not listed
(they cannot hold a call).

`ParsedExport.stats`: messages, service, calls, quarantined, chats, cards, orphan_cards (cards whose
message holds no call), bytes, seconds, by_reason.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

from quantbot_pipelines.telegram.calls import CallBuilder, ParsedExport, finalize_calls, zone
from quantbot_pipelines.telegram.cards import Card, parse_card
from quantbot_pipelines.telegram.exports import ExportRef, find_exports
from quantbot_pipelines.telegram.extract import Token, extract_tokens

__all__ = ["Card", "ExportRef", "ParsedExport", "Token", "extract_tokens", "finalize_calls", "find_exports",
           "parse_card", "parse_export"]


def parse_export(path, *, tz: str | None = None, export_id: str = "", bot_names=()) -> ParsedExport:
    """Parse one export: a JSON file (one chat or whole account), an HTML folder, or its messages.html.

    `tz`: IANA zone for times without offset (old exports); without it such calls are quarantined
    (`no_timezone`). `bot_names`: extra bot display names or ids (beyond Rick and Phanes) whose messages are
    cards, never calls.
    """
    path = Path(path)
    started = time.perf_counter()
    zi = zone(tz)
    # millions of short-lived dicts: the cyclic collector would rescan them again and again
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        builder = _parse(path, zi, export_id, bot_names)
        result = builder.result()
    finally:
        if gc_was_on:
            gc.enable()
    result.stats["seconds"] = time.perf_counter() - started
    return result


def _parse(path: Path, zi, export_id: str, bot_names) -> CallBuilder:
    if path.is_dir() or path.suffix.lower() in (".html", ".htm"):
        from quantbot_pipelines.telegram.html_export import parse_html_folder

        builder = CallBuilder(export_id=export_id, source_format="html", bot_names=bot_names)
        parse_html_folder(path if path.is_dir() else path.parent, builder, zi)
    else:
        from quantbot_pipelines.telegram.json_export import parse_json_file

        builder = CallBuilder(export_id=export_id, source_format="json", bot_names=bot_names)
        parse_json_file(path, builder, zi)
    return builder
