"""A folder of files for users to download (the caller boards as CSV), linked from materializations."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120


def slugify(name: str) -> str:
    """A file name safe on any file system for any text (a chat id such as `name:My Chat/2`). Text that is
    already safe stays as it is; otherwise the slug gets a short hash of the text, so that two names that
    slugify alike (`a b`, `a/b`) still give two files."""
    slug = _UNSAFE.sub("-", name).strip("-.")[:MAX_NAME]
    if slug == name and slug:
        return slug
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else digest


class DownloadsResource(ConfigurableResource):
    path: str = Field(description="folder of downloadable files (default <QUANTBOT_DATA_DIR>/downloads)")

    def folder(self, sub: str | None = None) -> Path:
        """The folder (or its subfolder `sub`), created if missing."""
        p = Path(self.path) if sub is None else Path(self.path) / slugify(sub)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def write(self, name: str, data: bytes | str, *, sub: str | None = None, suffix: str = "") -> Path:
        """Write `data` to the file `slugify(name) + suffix`, atomically: a reader sees the old file or the new
        one, never a part. Returns the file's absolute path."""
        target = (self.folder(sub) / f"{slugify(name)}{suffix}").resolve()
        raw = data.encode() if isinstance(data, str) else data
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def prune(self, sub: str, keep: Iterable[Path], pattern: str = "*") -> list[Path]:
        """Delete the files of subfolder `sub` matching `pattern` that are not in `keep` (boards that are
        gone, such as a chat without calls any more); returns what was deleted."""
        kept = {Path(p).resolve() for p in keep}
        gone = [p for p in self.folder(sub).glob(pattern) if p.is_file() and p.resolve() not in kept]
        for p in gone:
            p.unlink(missing_ok=True)
        return gone
