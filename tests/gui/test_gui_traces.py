"""The trace panel's drawing: what reaches the pixels (offscreen Qt, no session).

The panel draws each plot with one item from in-place polygon buffers; these tests paint
it and read the image back: a one-sample spike still reaches the top of its plot, a gap in
the stream leaves the plot empty there, and the line goes on after it.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from emgfeedback.gui.traces import TracePanel, finite_runs

FS = 1000.0


def test_finite_runs_are_the_stretches_between_nans():
    nan = np.nan
    assert finite_runs(np.array([1.0, 2.0, 3.0])) == [(0, 3)]
    assert finite_runs(np.array([nan, nan, 1.0, 2.0])) == [(2, 4)]
    assert finite_runs(np.array([1.0, nan, 2.0, 3.0, nan])) == [(0, 1), (2, 4)]
    assert finite_runs(np.array([nan, nan])) == []
    assert finite_runs(np.array([])) == []


def _block(first: int, filtered_uv: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(first_index=first, filtered_uv=filtered_uv,
                           envelope_uv=np.abs(filtered_uv))


def _painted_columns(panel: TracePanel, plot: int) -> tuple[np.ndarray, int, int]:
    """Per x pixel of one plot's view box: the topmost row (from its top) with a trace's
    colour in it (its height where there is none); ``(rows, top, height)``."""
    from pyqtgraph.Qt import QtGui

    image = panel.widget.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB32)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    px = np.frombuffer(ptr, np.uint32).reshape(image.height(), image.bytesPerLine() // 4)
    vb = panel.plots[plot].vb
    rect = vb.mapRectToScene(vb.boundingRect())
    rect = panel.widget.mapFromScene(rect).boundingRect()
    top, left = rect.top() + 1, rect.left() + 1
    height, width = rect.height() - 2, rect.width() - 2
    area = px[top:top + height, left:left + width]
    rgb = np.stack([(area >> s) & 0xFF for s in (16, 8, 0)]).astype(int)
    # The traces are in colour; the background, zero line and axis ticks are grey.
    ink = rgb.max(axis=0) - rgb.min(axis=0) > 30
    rows = np.where(ink.any(axis=0), ink.argmax(axis=0), height)
    return rows, top, height


@pytest.fixture
def panel(qtbot):
    panel = TracePanel(["a", "b"], FS, window_s=2.0)
    qtbot.addWidget(panel.widget)
    panel.widget.resize(700, 400)
    panel.widget.show()
    qtbot.waitExposed(panel.widget)
    return panel


def test_a_one_sample_spike_reaches_the_top_and_a_gap_leaves_the_plot_empty(panel):
    rng = np.random.default_rng(3)
    n = int(2 * FS)
    first = rng.normal(0.0, 2.0, (n // 2, 2))
    first[300, 0] = 90.0  # one sample (1 ms), far above the 20 µV range of the noise
    panel.push(_block(0, first))
    # a jump in the stream: 400 samples (0.4 s) that never arrived, then more data
    panel.push(_block(n // 2 + 400, rng.normal(0.0, 2.0, (n // 2 - 400, 2))))
    panel._last_range_check = -1e9  # take the y ranges now
    panel.draw()
    rows, _top, height = _painted_columns(panel, 0)
    width = len(rows)
    # x: seconds before the newest sample (index n - 1), over the plot's x range
    x0, x1 = panel.plots[0].vb.viewRange()[0]

    def col(index: int) -> int:
        return int(round(((index - n) / FS - x0) / (x1 - x0) * width))

    spike = rows[max(0, col(300) - 3):col(300) + 4]
    assert spike.min() < 0.2 * height  # the spike's column reaches near the plot's top
    gap = rows[col(n // 2) + 3:col(n // 2 + 400) - 3]
    assert len(gap) > 50 and np.all(gap == height)  # nothing drawn where no data came
    after = rows[col(n // 2 + 400) + 3:col(n) - 3]
    assert np.all(after < height)  # the line goes on after the gap
    before = rows[max(0, col(0)) + 3:col(n // 2) - 3]
    assert len(before) > 50 and np.mean(before < height) > 0.95
