"""The trace strips (issue 16): a frame's few new columns, painted in plain Python, are
the pixels the vectorised pass paints, and a column keeps every bin's peak."""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.gui.trace_strip import _paint_few, column_spans, paint_columns

COLOURS = {"bg": np.full(40, 1, np.uint32), "peak": np.full(40, 2, np.uint32),
           "env": np.uint32(3)}
COLOURS["bg"][20] = 4  # the zero row
COLOURS["peak"][20] = 5


def _signal(n_pts: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_peak = np.sort(rng.normal(0.0, 30.0, (n_pts, 2)), axis=1).ravel()
    y_env = np.abs(rng.normal(0.0, 30.0, n_pts))
    y_peak[: 2 * 7] = np.nan  # no data yet at the window's start
    y_env[:7] = np.nan
    y_peak[2 * 40:2 * 46] = np.nan  # a gap in the stream
    y_env[40:46] = np.nan
    y_peak[2 * 60 + 1] = 500.0  # a peak far above the range: clipped at the top row
    return y_peak, y_env


@pytest.mark.parametrize("px_per_bin", [0.43, 1.0, 1.0417, 2.6])
def test_few_columns_in_python_are_the_vectorised_pixels(px_per_bin):
    n_pts, base = 90, 1000
    y_peak, y_env = _signal(n_pts, 1)
    first = int(np.ceil(base * px_per_bin)) - 3
    columns = np.arange(first, first + int(n_pts * px_per_bin) + 6)
    width = len(columns)
    vector = np.zeros((40, width), np.uint32)
    paint_columns(vector, columns % width,
                  column_spans(columns, px_per_bin, base, y_peak, y_env), 50.0, COLOURS)
    plain = np.zeros((40, width), np.uint32)
    _paint_few(plain, columns.tolist(), px_per_bin, base, y_peak, y_env, 50.0, COLOURS)
    assert np.array_equal(vector, plain)
    assert np.isin(vector, [1, 2, 3, 4, 5]).all()  # every column painted, nothing else


@pytest.mark.parametrize("px_per_bin", [0.43, 1.0417])
def test_every_bin_peak_reaches_its_row_and_gaps_stay_blank(px_per_bin):
    n_pts, base, height, range_uv = 90, 0, 40, 50.0
    y_peak, y_env = _signal(n_pts, 2)
    columns = np.arange(int(np.ceil(n_pts * px_per_bin)))
    top, bottom, _, _ = column_spans(columns, px_per_bin, base, y_peak, y_env)
    shown_top = np.fmax.reduce(np.where(np.isfinite(top), top, -np.inf))
    assert shown_top == 500.0  # the highest maximum of all bins is in some column
    for a in range(7, n_pts):  # every bin with data: its max and min inside a column
        if np.isnan(y_peak[2 * a]):
            continue
        cols = columns[(np.ceil(columns / px_per_bin) <= a)
                       & (a <= np.ceil((columns + 1) / px_per_bin) - 1)]
        assert len(cols) >= 1
        assert np.nanmax(top[cols]) >= y_peak[2 * a + 1]
        assert np.nanmin(bottom[cols]) <= y_peak[2 * a]
    px = np.zeros((height, len(columns)), np.uint32)
    paint_columns(px, columns, column_spans(columns, px_per_bin, base, y_peak, y_env),
                  range_uv, COLOURS)
    gap = columns[(columns / px_per_bin >= 41) & ((columns + 1) / px_per_bin <= 45)]
    assert len(gap) >= 1 and np.isin(px[:, gap], [1, 4]).all()  # background and zero row
    spike = columns[np.isclose(top, 500.0)]
    assert (px[0, spike] == 2).all()  # clipped at the top row, not dropped


def _screen(app, widget) -> np.ndarray:
    from pyqtgraph.Qt import QtGui

    image = app.primaryScreen().grabWindow(int(widget.winId())).toImage()
    image = image.convertToFormat(QtGui.QImage.Format_RGB32)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    return np.frombuffer(ptr, np.uint32).reshape(image.height(), -1).copy()


def test_the_fast_frames_show_what_the_whole_scene_shows(qtbot):
    """Frames drawn by the view's fast path (plots only) against a repaint of the whole
    scene: nothing outside the plots is touched (axis labels intact), and inside them the
    same traces (the tick marks, redrawn over the strips, may differ by a shade)."""
    from types import SimpleNamespace

    from pyqtgraph.Qt import QtWidgets

    from emgfeedback.gui.traces import TracePanel

    app = QtWidgets.QApplication.instance()
    panel = TracePanel(["a", "b"], 1000.0, window_s=2.0)
    qtbot.addWidget(panel.widget)
    panel.widget.resize(700, 400)
    panel.widget.show()
    qtbot.waitExposed(panel.widget)
    rng = np.random.default_rng(5)
    f = rng.normal(0.0, 5.0, (3000, 2))
    f[2500, 0] = 80.0

    def push(a: int, b: int) -> None:
        panel.push(SimpleNamespace(first_index=a, filtered_uv=f[a:b],
                                   envelope_uv=np.abs(f[a:b]) * 2))

    push(0, 1000)
    panel._last_range_check = -1e9
    panel.draw()
    app.processEvents()
    painted = []
    view = panel.widget
    original = view._paint_fast
    view._paint_fast = lambda region: painted.append(1) or original(region)
    for a in range(1000, 3000, 23):  # frames of 23 samples, each drawn
        push(a, min(a + 23, 3000))
        panel.draw()
        app.processEvents()
        app.processEvents()
    assert len(painted) > 60  # the frames went the fast way
    fast = _screen(app, view)
    view.viewport().update()  # the whole viewport: the scene draws it
    app.processEvents()
    app.processEvents()
    whole = _screen(app, view)
    inside = np.zeros(fast.shape, bool)
    for _item, _t, rect, _axes in view.fast_plots:
        inside[rect.top():rect.bottom() + 1, rect.left():rect.right() + 1] = True
    assert inside.sum() > 0.3 * inside.size
    assert np.array_equal(fast[~inside], whole[~inside])
    assert np.mean(fast[inside] == whole[inside]) > 0.99
