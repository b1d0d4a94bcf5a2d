"""Fixtures for the GUI tests: offscreen Qt, windows that are always closed."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    """Settings and subject set-ups go to a temporary directory, never the user's."""
    monkeypatch.setenv("EMGFEEDBACK_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("EMGFEEDBACK_DB", str(tmp_path / "default.sqlite"))


@pytest.fixture
def make_window(qtbot):
    """Build main windows on a source; they are shut down after the test."""
    from emgfeedback.gui.app import build_window

    windows = []

    def make(url: str, **kwargs):
        win = build_window(url, **kwargs)
        qtbot.addWidget(win)
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.shutdown()
