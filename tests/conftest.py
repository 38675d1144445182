"""Test settings: keep the code location's defaults away from the developer's ./data while tests import it."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QUANTBOT_DATA_DIR", str(Path(__file__).resolve().parent / ".data-unused"))
# a fixed first day partition: unset, it would follow whatever data the folders of a test hold
os.environ.setdefault("QUANTBOT_START_DATE", "2024-01-01")


import pytest


@pytest.fixture
def resources(tmp_path: Path) -> dict:
    from tests.support.pipeline import make_resources

    return make_resources(tmp_path)
