"""A toolbar whose overflow button ("»") is large enough to see and click.

When the window is narrower than the toolbar, Qt hides the actions that do not fit and
shows an extension button that opens them as a menu. The style's default room for that
button (12 px) is too small to find, and with the window's style sheet it was drawn
partly outside the window: "Save set-up" looked clipped away. :func:`roomy_overflow`
reserves :data:`OVERFLOW_BUTTON_PX` for it.
"""

from __future__ import annotations

from pyqtgraph.Qt import QtWidgets

#: Width reserved for the toolbar's overflow button, logical pixels.
OVERFLOW_BUTTON_PX = 28


class _OverflowStyle(QtWidgets.QProxyStyle):
    def pixelMetric(self, metric, option=None, widget=None):  # noqa: N802 - Qt override
        if metric == QtWidgets.QStyle.PM_ToolBarExtensionExtent:
            return OVERFLOW_BUTTON_PX
        return super().pixelMetric(metric, option, widget)


def roomy_overflow(bar: QtWidgets.QToolBar) -> QtWidgets.QToolBar:
    """Give ``bar`` an overflow button :data:`OVERFLOW_BUTTON_PX` wide; returns ``bar``."""
    style = _OverflowStyle(QtWidgets.QApplication.style().objectName())
    style.setParent(bar)
    bar.setStyle(style)
    return bar
