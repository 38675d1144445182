"""The sample inbox, written once per test session (it is deterministic and takes ~0.1 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantbot_pipelines.sample import build_sample, write_sample_inbox


@pytest.fixture(scope="session")
def sample_inbox(tmp_path_factory) -> Path:
    inbox = tmp_path_factory.mktemp("inbox")
    write_sample_inbox(inbox)
    return inbox


@pytest.fixture(scope="session")
def sample():
    return build_sample()
