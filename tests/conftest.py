"""Shared test configuration: headless Qt, data paths."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """Folder of the real recordings excerpted for tests (see tests/data/SOURCES.md)."""
    return DATA_DIR
