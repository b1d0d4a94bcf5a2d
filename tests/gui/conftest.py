"""Fixtures for the GUI tests: offscreen Qt, private settings.

``make_window`` (windows that are always shut down) is in tests/conftest.py, shared with
tests/share and tests/e2e.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    """Settings and subject set-ups go to a temporary directory, never the user's."""
    monkeypatch.setenv("EMGFEEDBACK_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("EMGFEEDBACK_DB", str(tmp_path / "default.sqlite"))

