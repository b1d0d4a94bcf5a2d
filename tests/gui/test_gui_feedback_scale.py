"""Feedback bars never invert a comparison (issue 12, item 6).

The canvas is painted offscreen, grabbed to a QImage, and each bar's height is measured by
counting the pixels of its fill colour: the taller bar must be the larger level.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from emgfeedback.gui import palette
from emgfeedback.gui.feedback import (
    SCALE_HALF_LIFE_S,
    SCALE_HOLD_S,
    CueCanvas,
    FeedbackModel,
    goal_label_rect,
    scale_caption,
)
from emgfeedback.protocol.runner import Cue

FS_HZ = 1000.0


def _pixels(canvas) -> np.ndarray:
    from pyqtgraph.Qt import QtGui

    img = canvas.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB32)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    px = np.frombuffer(ptr, np.uint32).reshape(img.height(), img.bytesPerLine() // 4)
    return (px[:, :img.width()] & 0xFFFFFF).copy()


def bar_heights(canvas, colours=(palette.WORKING, palette.MET)) -> list[int]:
    """Height in pixels of each bar, left to right, measured by the fill colours."""
    from pyqtgraph.Qt import QtGui

    px = _pixels(canvas)
    want = [QtGui.QColor(c).rgb() & 0xFFFFFF for c in colours]
    mask = np.isin(px, want)
    cols = np.flatnonzero(mask.sum(axis=0) > 0)
    assert cols.size, "no bar pixels found"
    # split the columns that hold fill pixels into runs: one run per bar
    runs = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    heights = []
    for run in runs:
        rows = np.flatnonzero(mask[:, run].any(axis=1))
        heights.append(int(rows.max() - rows.min() + 1))
    return heights


@pytest.fixture
def canvas(qtbot):
    model = FeedbackModel(["glute med R", "TFL R"], FS_HZ)
    model.set_mode("dissociation")
    c = CueCanvas(model)
    qtbot.addWidget(c)
    c.resize(420, 420)
    return c


def test_the_larger_level_is_the_taller_bar_after_a_spike_on_one_channel(canvas):
    """The reported case: a 76 µV glute med bar drawn shorter than a 26 µV TFL bar."""
    m = canvas.model
    m.update_levels(np.array([180.0, 12.0]), 100)  # a spike on glute med
    m.update_levels(np.array([76.0, 26.0]), 400)
    glute, tfl = bar_heights(canvas)
    assert glute > tfl
    assert glute / tfl == pytest.approx(76.0 / 26.0, rel=0.1)  # one µV scale: proportional
    assert {b.scale_uv for b in m.bars} == {m.scale_uv}


def test_the_scale_forgets_a_spike_after_a_few_seconds_of_stream_time(canvas):
    m = canvas.model
    m.update_levels(np.array([400.0, 20.0]), 0)
    m.update_levels(np.array([30.0, 20.0]), int(0.5 * FS_HZ))
    short_after = bar_heights(canvas)
    assert m.scale_uv == 500.0  # held: no jump while the spike is recent
    # Stream time, not the clock: the peak has decayed after hold + a few half-lives.
    later = int((0.5 + SCALE_HOLD_S + 6 * SCALE_HALF_LIFE_S) * FS_HZ)
    m.update_levels(np.array([30.0, 20.0]), later)
    assert m.scale_uv == 50.0
    long_after = bar_heights(canvas)
    assert long_after[0] > 5 * short_after[0]
    assert long_after[0] > long_after[1]


def test_protocol_dissociation_bars_share_the_scale_and_goal_labels_stay_inside(canvas):
    m = canvas.model
    m.set_protocol_channels({"glute_med": 0, "tfl": 1})
    goals = [{"type": "dissociation", "channels": ["glute_med", "tfl"], "level_uv": 24.0,
              "off_level_uv": 16.0, "during": "work"}]
    m.apply_cues([Cue(0, "phase_start", 1, "dissociation", "Lift: glute med up, TFL quiet",
                      {"goals": goals, "reps": 10})])
    for levels in ([60.0, 20.0], [20.0, 60.0], [5.0, 90.0], [90.0, 1.0]):
        m.update_levels(np.array(levels), 1000)
        heights = bar_heights(canvas)
        assert (heights[0] > heights[1]) == (levels[0] > levels[1]), (levels, heights)
    assert m.scale_uv >= 1.6 * 24.0


def test_symmetry_view_draws_both_sides_on_one_scale(qtbot):
    m = FeedbackModel(["erector L", "erector R"], FS_HZ)
    m.set_mode("symmetry")
    c = CueCanvas(m)
    qtbot.addWidget(c)
    c.resize(420, 420)
    m.update_levels(np.array([150.0, 5.0]), 0)
    m.update_levels(np.array([40.0, 60.0]), 200)
    # horizontal bars: measure widths with the two side colours
    from pyqtgraph.Qt import QtGui

    px = _pixels(c)
    widths = [int((px == (QtGui.QColor(col).rgb() & 0xFFFFFF)).any(axis=0).sum())
              for col in (palette.WORKING, palette.OKABE_ITO["sky"])]
    assert widths[1] > widths[0]
    assert widths[1] / widths[0] == pytest.approx(60.0 / 40.0, rel=0.1)


def test_goal_label_is_placed_inside_the_column_at_every_line_height():
    from pyqtgraph.Qt import QtCore

    col = QtCore.QRectF(10, 50, 80, 300)
    for direction in ("above", "below"):
        for frac in np.linspace(0.0, 1.0, 21):
            y = col.bottom() - frac * col.height()
            r = goal_label_rect(col, y, 60, 20, direction, 3)
            assert r.top() >= col.top() and r.bottom() <= col.bottom(), (direction, frac)
            # beside the line, never across it, whenever there is room on one side
            assert r.bottom() <= y or r.top() >= y


def test_the_scale_is_said_on_screen():
    assert scale_caption(200.0, 2) == "one scale for all bars: 0–200 µV"
    assert scale_caption(50.0, 1) == "scale 0–50 µV"
    m = FeedbackModel(["a", "b"], FS_HZ)
    m.update_levels(np.array([3.0, 4.0]), 0)
    assert m.scale_uv == 10.0 and not math.isnan(m.bars[0].scale_uv)
