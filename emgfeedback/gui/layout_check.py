"""Checks of the live window's layout: what a person would see as clipped or overlapping.

Used by the window-size tests and by ``docs/make_screenshots.py`` (which refuses to save a
picture with a layout problem). Every check returns a list of human-readable problems
(empty when all is well); geometry is in the window's logical pixels.
"""

from __future__ import annotations

import time
from itertools import combinations

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

#: Pixels two rectangles may share before they count as overlapping (anti-aliased edges).
TOLERANCE_PX = 1.0


def _overlap(a: QtCore.QRectF, b: QtCore.QRectF) -> bool:
    r = a.intersected(b)
    return r.width() > TOLERANCE_PX and r.height() > TOLERANCE_PX


def _window_rect(widget: QtWidgets.QWidget, root: QtWidgets.QWidget) -> QtCore.QRectF:
    top_left = widget.mapTo(root, QtCore.QPoint(0, 0))
    return QtCore.QRectF(QtCore.QRect(top_left, widget.size()))


def toolbar_problems(win: QtWidgets.QMainWindow) -> list[str]:
    """Toolbar actions that can be neither seen whole nor reached through the overflow menu."""
    problems = []
    window = QtCore.QRectF(win.rect()).adjusted(-TOLERANCE_PX, -TOLERANCE_PX,
                                                TOLERANCE_PX, TOLERANCE_PX)
    for bar in win.findChildren(QtWidgets.QToolBar):
        if not bar.isVisible():
            continue
        ext = bar.findChild(QtWidgets.QToolButton, "qt_toolbar_ext_button")
        ext_ok = ext is not None and ext.isVisible() and ext.width() >= 16 and \
            window.contains(_window_rect(ext, win))
        for action in bar.actions():
            if action.isSeparator() or not action.isVisible():
                continue
            widget = bar.widgetForAction(action)
            name = action.text() or (type(widget).__name__ if widget else "?")
            if widget is not None and widget.isVisible():
                rect = _window_rect(widget, win)
                if not window.contains(rect) or \
                        not QtCore.QRectF(bar.rect()).contains(_window_rect(widget, bar)):
                    problems.append(f"toolbar: {name!r} is clipped at {rect.getRect()}")
            elif not ext_ok:
                problems.append(f"toolbar: {name!r} is hidden and there is no usable "
                                "overflow button")
    return problems


def label_problems(win: QtWidgets.QWidget) -> list[str]:
    """Visible labels that overlap each other, are cut off, or run outside the window."""
    problems = []
    window = QtCore.QRectF(win.rect())
    labels = [w for w in win.findChildren(QtWidgets.QLabel) if w.isVisible() and w.text()]
    rects = {}
    for label in labels:
        rect = _window_rect(label, win)
        rects[label] = rect
        text = label.text()
        if not window.contains(rect):
            problems.append(f"label {text!r} runs outside the window: {rect.getRect()}")
        if not label.wordWrap() and "\n" not in text:
            need = label.fontMetrics().horizontalAdvance(text)
            have = label.contentsRect().width()
            if need > have + 1:
                problems.append(f"label {text!r} is cut: needs {need} px, has {have}")
        elif label.wordWrap():
            need_h = label.heightForWidth(label.width())
            if need_h > label.height() + 1:
                problems.append(f"label {text!r} is cut: needs {need_h} px high, "
                                f"has {label.height()}")
    for a, b in combinations(labels, 2):
        if a.isAncestorOf(b) or b.isAncestorOf(a):
            continue
        if _overlap(rects[a], rects[b]):
            problems.append(f"labels {a.text()!r} and {b.text()!r} overlap")
    return problems


def canvas_problems(canvas) -> list[str]:
    """Texts, bars and badges of a :class:`~emgfeedback.gui.cue_canvas.CueCanvas` that
    overlap or leave the canvas (from its last paint)."""
    problems = []
    area = QtCore.QRectF(canvas.rect()).adjusted(-TOLERANCE_PX, -TOLERANCE_PX,
                                                 TOLERANCE_PX, TOLERANCE_PX)
    items = dict(canvas.drawn)
    for name, (rect, text) in items.items():
        if not area.contains(rect):
            problems.append(f"canvas: {name} {text!r} leaves the canvas: {rect.getRect()}")
    for (na, (ra, ta)), (nb, (rb, tb)) in combinations(items.items(), 2):
        if _overlap(ra, rb):
            problems.append(f"canvas: {na} {ta!r} overlaps {nb} {tb!r}")
    return problems


def axis_label_problems(plots) -> list[str]:
    """Tick labels of stacked plots' y axes that overlap (within or across plots)."""
    image = QtGui.QImage(8, 8, QtGui.QImage.Format_ARGB32)
    painter = QtGui.QPainter(image)
    boxes = []
    try:
        for i, plot in enumerate(plots):
            axis = plot.getAxis("left")
            specs = axis.generateDrawSpecs(painter)
            if specs is None:
                continue
            for rect, _flags, text in specs[2]:
                boxes.append((i, text, axis.mapRectToScene(QtCore.QRectF(rect))))
    finally:
        painter.end()
    return [f"y tick {ta!r} (plot {ia}) overlaps {tb!r} (plot {ib})"
            for (ia, ta, ra), (ib, tb, rb) in combinations(boxes, 2) if _overlap(ra, rb)]


def table_problems(table: QtWidgets.QTableWidget) -> list[str]:
    """Cells whose text does not fit their cell (cut or elided)."""
    problems = []
    fm = table.fontMetrics()
    for r in range(table.rowCount()):
        for c in range(table.columnCount()):
            item = table.item(r, c)
            if item is None or not item.text():
                continue
            width = table.columnWidth(c) - 8  # the cell's text margins
            need = fm.boundingRect(QtCore.QRect(0, 0, max(1, width), 100000),
                                   int(QtCore.Qt.TextWordWrap), item.text())
            if need.width() > width + 1 or need.height() > table.rowHeight(r):
                problems.append(f"table cell ({r}, {c}) {item.text()!r} is cut: needs "
                                f"{need.width()}x{need.height()}, has {width}x"
                                f"{table.rowHeight(r)}")
    return problems


def window_problems(win) -> list[str]:
    """Every check on a live :class:`~emgfeedback.gui.main_window.MainWindow`."""
    problems = toolbar_problems(win) + label_problems(win)
    problems += canvas_problems(win.feedback.canvas)
    problems += axis_label_problems(win.traces.plots)
    problems += table_problems(win.protocol_panel.table)
    if win.client.isVisible():
        problems += canvas_problems(win.client.canvas)
    return problems


def run_until(win, moment, within_s: float, min_frames: int = 30) -> bool:
    """Run a started window's frames until ``moment(win)`` is true, then freeze the display.

    The check runs after every frame, so the picture (or the layout) is the one of the
    first frame at which the moment is true; the frame timer is stopped there (acquisition
    goes on in the background, the window no longer changes) and the status bar is
    refreshed for that frame.

    Parameters
    ----------
    win : MainWindow
        Shown, and started with :meth:`~emgfeedback.gui.main_window.MainWindow.start`.
    moment : callable
        ``f(win) -> bool``.
    within_s : float
        Give up after this much *stream* time (sample index / rate), seconds.
    min_frames : int
        Frames drawn before the moment may be taken (the latency figures settle).

    Returns
    -------
    bool
        True when the moment came; False when the stream ran past ``within_s``, ended, or
        produced nothing for a generous wall-clock guard (``3 x within_s + 60`` s).
    """
    loop = QtCore.QEventLoop()
    outcome = {"ok": False}
    fs_hz = win.session.fs_hz
    original = win.frame

    def frame() -> None:
        original()
        if win.frames > min_frames and moment(win):
            outcome["ok"] = True
        elif not (win.model.end_index > within_s * fs_hz or win.session.engine.finished):
            return
        win.timer.stop()
        loop.quit()

    win.timer.timeout.disconnect()
    win.timer.timeout.connect(frame)
    guard = QtCore.QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(loop.quit)
    guard.start(int((3 * within_s + 60) * 1000))
    if not win.timer.isActive():
        win.timer.start()
    loop.exec_()
    guard.stop()
    win.timer.stop()
    win.timer.timeout.disconnect()
    win.timer.timeout.connect(original)
    win._refresh_status(time.monotonic())  # the status bar of the frozen frame
    return outcome["ok"]
