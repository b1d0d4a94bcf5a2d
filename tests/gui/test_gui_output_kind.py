"""The status bar says which output kind each channel is (RAW, RECT, ENV, µV)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("url, text", [
    ("sim://?scenario=drill&channels=2&seed=1", "output RAW"),
    ("sim://?scenario=drill&channels=2&seed=1&board=uno-myoware2-env", "output ENV"),
])
def test_the_status_bar_names_the_output_kind(make_window, url, text):
    win = make_window(url, window_s=5.0)
    chip = win.status.output
    assert chip.text() == text
    assert ("ENV (sensor envelope" in chip.toolTip()) == text.endswith("ENV")


def _run_frames(qtbot, win, n_samples: int) -> None:
    win.start()
    start = win.session.engine.snapshot().end_index if win.session.engine.snapshot() else 0
    qtbot.waitUntil(lambda: (win.session.engine.snapshot() is not None
                             and win.session.engine.snapshot().end_index > start + n_samples
                             and win.frames > 5), timeout=60_000)


@pytest.mark.parametrize("names, paired", [
    (("glute med L", "glute med R"), True),   # the same placement, left and right
    (("glute med R", "TFL R"), False),        # two muscles of one side: never compared
])
def test_free_symmetry_pairs_only_the_same_placement(qtbot, make_window, names, paired):
    from emgfeedback.runtime.live_session import ChannelSetup

    win = make_window("sim://?scenario=asymmetry&channels=2&seed=1", window_s=5.0,
                      mode="symmetry", channels=[ChannelSetup(n) for n in names])
    win.show()
    _run_frames(qtbot, win, 4000)
    index = win.model.symmetry_index_pct
    assert (index == index) is paired  # NaN (no figure) exactly when there is no pair
