"""The firing-order timeline: per repetition, the target's onset relative to the compensator's.

Shown under the cue canvas in firing-order mode
(:class:`~emgfeedback.gui.feedback.FeedbackPanel`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from emgfeedback.gui import palette

if TYPE_CHECKING:
    from emgfeedback.gui.feedback import FeedbackModel


class OrderTimeline(QtWidgets.QWidget):
    """Per-repetition firing order: the target's onset relative to the compensator's."""

    def __init__(self, model: FeedbackModel, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.setMinimumHeight(120)
        # paintEvent fills the whole widget: no background of the parents under it.
        self.setAttribute(QtCore.Qt.WA_OpaquePaintEvent, True)
        self.max_rows = 8
        self.range_ms = 250.0

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt override
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.Antialiasing, True)
        rect = QtCore.QRectF(self.rect())
        p.fillRect(rect, QtGui.QColor(palette.PANEL))
        rows = self.model.order_rows[-self.max_rows:]
        f = QtGui.QFont(self.font())
        f.setPixelSize(12)
        p.setFont(f)
        p.setPen(QtGui.QColor(palette.MUTED))
        names = self.model.channel_names
        t = names[self.model.target] if self.model.target < len(names) else "target"
        c = names[self.model.compensator] if self.model.compensator < len(names) else "comp."
        p.drawText(rect.adjusted(6, 2, -6, 0), QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop,
                   f"Firing order: {t} onset relative to {c} (ms; ● {c} at 0)")
        top = rect.top() + 20
        row_h = max(12.0, (rect.height() - 24) / self.max_rows)
        label_w = 48.0
        verdict_w = 150.0
        axis_l = rect.left() + label_w
        axis_r = rect.right() - verdict_w
        zero = (axis_l + axis_r) / 2

        def xpos(ms: float) -> float:
            ms = max(-self.range_ms, min(self.range_ms, ms))
            return zero + ms / self.range_ms * (axis_r - axis_l) / 2

        p.setPen(QtGui.QPen(QtGui.QColor(palette.GRID), 1))
        p.drawLine(QtCore.QPointF(zero, top), QtCore.QPointF(zero, top + row_h * self.max_rows))
        if not rows:
            p.setPen(QtGui.QColor(palette.MUTED))
            p.drawText(QtCore.QRectF(rect.left(), top, rect.width(), row_h * 2),
                       QtCore.Qt.AlignCenter, "no repetitions yet")
        for i, row in enumerate(rows):
            y = top + i * row_h + row_h / 2
            p.setPen(QtGui.QColor(palette.TEXT))
            p.drawText(QtCore.QRectF(rect.left() + 4, y - row_h / 2, label_w, row_h),
                       QtCore.Qt.AlignVCenter, f"rep {row.rep}")
            p.setPen(QtCore.Qt.NoPen)
            p.setBrush(QtGui.QColor(palette.MUTED))
            p.drawEllipse(QtCore.QPointF(zero, y), 4, 4)
            if row.lag_ms is not None:
                colour = palette.MET if row.passed else palette.WORKING
                p.setPen(QtGui.QPen(QtGui.QColor(colour), 3))
                p.drawLine(QtCore.QPointF(zero, y), QtCore.QPointF(xpos(row.lag_ms), y))
                p.setPen(QtCore.Qt.NoPen)
                p.setBrush(QtGui.QColor(colour))
                p.drawRect(QtCore.QRectF(xpos(row.lag_ms) - 3, y - 6, 6, 12))
            verdict = {"right": "target first", "wrong": "compensator first",
                       "no_target": "no target onset"}.get(row.order, row.order)
            lag = f"{row.lag_ms:+.0f} ms " if row.lag_ms is not None else ""
            mark = "✓" if row.passed else "✗"
            p.setPen(QtGui.QColor(palette.TEXT))
            p.drawText(QtCore.QRectF(axis_r + 6, y - row_h / 2, verdict_w - 6, row_h),
                       QtCore.Qt.AlignVCenter, f"{mark} {lag}{verdict}")
        p.end()
