"""A grab of the window (``--screenshot``) shows each trace at the height of its value.

The strips are copied one image pixel per device pixel. The first version assumed that the
painter's only transform after its world transform was the pixel ratio; at a pixel ratio
other than 1 (the live window's own application, high-DPI screens) a grab of the window
then drew every trace shifted by the view's offset in the window. The check runs in a
fresh process at 150 % scaling, as the screenshot script and `live --screenshot` do.
"""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = r"""
import numpy as np
from types import SimpleNamespace
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets
from emgfeedback.gui.app import application
from emgfeedback.gui.traces import TracePanel

app = application()
outer = QtWidgets.QWidget()
layout = QtWidgets.QVBoxLayout(outer)
layout.setContentsMargins(37, 53, 11, 7)          # the view sits well inside the window
panel = TracePanel(["a"], 1000.0, window_s=2.0)
layout.addWidget(panel.widget)
outer.resize(700, 400)
outer.show()
level = 50.0                                       # a constant trace: one row of colour
f = np.full((2000, 1), level)
for a in range(0, 2000, 50):
    panel.push(SimpleNamespace(first_index=a, filtered_uv=f[a:a + 50],
                               envelope_uv=f[a:a + 50]))
    panel.draw()
    app.processEvents()
image = outer.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB32)
dpr = image.devicePixelRatio()
ptr = image.constBits(); ptr.setsize(image.sizeInBytes())
px = np.frombuffer(ptr, np.uint32).reshape(image.height(), -1)
view, vb = panel.widget, panel.plots[0].getViewBox()
def at(x, y):                                      # a plot point, in the grab's pixels
    p = view.mapFromScene(vb.mapViewToScene(QtCore.QPointF(x, y)))
    p = view.viewport().mapTo(outer, p)
    return p.x() * dpr, p.y() * dpr
(x0, y_level), (x1, y_zero) = at(-1.5, level), at(-0.2, 0.0)
cols = slice(int(x0), int(x1))
bg = np.bincount(px[int(y_zero) - 3, cols].astype(np.int64) & 0xFFFFFF).argmax()
top_uv, bottom_uv = vb.viewRect().bottom(), vb.viewRect().top()  # y grows upwards
r0, r1 = int(at(-1.0, top_uv)[1]) + 3, int(at(-1.0, bottom_uv)[1]) - 3
rows = [r for r in range(r0, r1) if np.mean(px[r, cols] & 0xFFFFFF != bg) > 0.9]
print(dpr, y_level, y_zero, r0, r1, rows)
"""


def test_a_screenshot_draws_the_trace_at_its_value():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR="1.5")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    dpr, y_level, y_zero, r0, r1, rows = out.stdout.strip().splitlines()[-1].split(" ", 5)
    rows = eval(rows)  # noqa: S307 - a list of ints printed by the probe above
    assert int(r1) - int(r0) > 100  # the plot's rows, inside its frame
    assert float(dpr) >= 1.5  # 150 % (times the offscreen screen's own 100/96 dpi)
    # The rows painted across the plot are the trace's and the zero line's, where the
    # plot's own axes put +50 µV and 0 µV (before the fix: both 83 pixels lower).
    assert any(abs(r - float(y_level)) <= 3 for r in rows), (y_level, rows)
    assert all(min(abs(r - float(y_level)), abs(r - float(y_zero))) <= 3 for r in rows), \
        (y_level, y_zero, rows)
