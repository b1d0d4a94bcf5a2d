"""Regenerate docs/screenshots/signal-check-*.png (the window's check step, one per verdict).

    QT_QPA_PLATFORM=offscreen python docs/make_signal_check_screenshots.py [OUT_DIR]
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from emgfeedback.gui.check_step import save_verdict_screenshots  # noqa: E402

if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).parent / "screenshots"
    for path in save_verdict_screenshots(out):
        print(path)
