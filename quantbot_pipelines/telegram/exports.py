"""Finding exports in the inbox: JSON files and HTML export folders, with cheap change fingerprints."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_SKIP_DIRS = {"css", "js", "images", "photos", "files", "video_files", "voice_messages", "round_video_messages",
              "stickers", "profile_pictures", "stories", "__pycache__"}
MAX_KEY = 120


@dataclass(frozen=True)
class ExportRef:
    path: Path         # a result.json file, or an HTML export folder
    format: str        # json or html
    key: str           # stable id from the path relative to the inbox ([A-Za-z0-9._-], <= 120 chars)
    fingerprint: str   # sizes + mtimes: changes when the export changes or grows; never reads contents
    size: int          # bytes


def export_key(rel: str) -> str:
    """Readable, unique partition key: the relative path with '/' -> '--'; a hash when anything was lost."""
    safe = _UNSAFE.sub("_", rel.replace("/", "--"))
    if safe == rel.replace("/", "--") and "--" not in rel and len(safe) <= MAX_KEY:
        return safe
    digest = hashlib.sha1(rel.encode()).hexdigest()[:10]
    return f"{safe[:MAX_KEY - 11]}-{digest}"


# Raised when what the readers produce from the same file changes (new columns, new rules): exports staged by
# an older reader then look changed, and the inbox sensor stages them again.
READER_VERSION = 2


def _fingerprint(stats: list[tuple[str, int, int]]) -> str:
    if len(stats) == 1:
        return f"r{READER_VERSION}:{stats[0][1]}-{stats[0][2]}"
    return f"r{READER_VERSION}:" + hashlib.sha1(repr(sorted(stats)).encode()).hexdigest()[:16]


def find_exports(inbox: Path) -> list[ExportRef]:
    """Every `*.json` file under `inbox` and every folder holding messages*.html, sorted by key."""
    from quantbot_pipelines.telegram.html_export import html_parts

    inbox = Path(inbox)
    refs: list[ExportRef] = []
    if not inbox.is_dir():
        return refs
    html_dirs: set[Path] = set()
    for p in sorted(inbox.rglob("*")):
        rel_parts = p.relative_to(inbox).parts
        if any(part.startswith(".") or part in _SKIP_DIRS for part in rel_parts[:-1]) or p.name.startswith("."):
            continue
        if p.suffix.lower() == ".json" and p.is_file():
            st = p.stat()
            rel = p.relative_to(inbox).as_posix()
            refs.append(ExportRef(p, "json", export_key(rel), _fingerprint([(p.name, st.st_size, st.st_mtime_ns)]),
                                  st.st_size))
        elif p.name.startswith("messages") and p.suffix == ".html" and p.parent not in html_dirs:
            html_dirs.add(p.parent)
    for folder in html_dirs:
        parts = html_parts(folder)
        if not parts:
            continue
        stats = [(q.name, q.stat().st_size, q.stat().st_mtime_ns) for q in parts]
        rel = folder.relative_to(inbox).as_posix()
        key = export_key(rel) if rel != "." else "html-export"
        refs.append(ExportRef(folder, "html", key, _fingerprint(stats), sum(s for _, s, _ in stats)))
    refs.sort(key=lambda r: r.key)
    return refs
