"""``emgfeedback demo --seconds 3 --screenshot FILE`` headless."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np


def test_demo_writes_a_non_blank_screenshot(tmp_path, qtbot):
    from pyqtgraph.Qt import QtGui

    png = tmp_path / "demo.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    subprocess.run([sys.executable, "-m", "emgfeedback", "demo", "--seconds", "3",
                    "--screenshot", str(png)], check=True, env=env, timeout=120,
                   capture_output=True)
    img = QtGui.QImage(str(png))
    assert not img.isNull() and img.width() > 800 and img.height() > 500
    img = img.convertToFormat(QtGui.QImage.Format_Grayscale8)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    px = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())
    assert px.std() > 10  # not a blank or single-colour window
    assert len(np.unique(px)) > 50
