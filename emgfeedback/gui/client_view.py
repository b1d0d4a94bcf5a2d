"""The client's view: full screen, only the cue, readable from two metres; optional chime."""

from __future__ import annotations

import io
import math
import tempfile
import wave
from pathlib import Path

import numpy as np
from pyqtgraph.Qt import QtCore, QtWidgets

from emgfeedback.gui.feedback import CueCanvas, FeedbackModel


def chime_wav(fs_hz: int = 22050, duration_s: float = 0.6, pitch_hz: float = 660.0) -> bytes:
    """A soft two-partial chime with a slow decay, as WAV bytes (16-bit mono)."""
    t = np.arange(int(fs_hz * duration_s)) / fs_hz
    env = np.exp(-t * 5.0) * np.minimum(1.0, t / 0.01)
    x = 0.35 * env * (np.sin(2 * math.pi * pitch_hz * t)
                      + 0.4 * np.sin(2 * math.pi * 1.5 * pitch_hz * t))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(fs_hz)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return buf.getvalue()


class Chime:
    """Plays the chime through QtMultimedia when it and an audio device exist; else nothing."""

    def __init__(self) -> None:
        self.available = False
        self._effect = None
        try:
            from pyqtgraph.Qt import QtMultimedia  # noqa: F401 - optional
        except Exception:  # noqa: BLE001 - no multimedia module or no audio libraries
            return
        try:
            from PyQt5.QtMultimedia import QSoundEffect

            path = Path(tempfile.gettempdir()) / "emgfeedback-chime.wav"
            path.write_bytes(chime_wav())
            effect = QSoundEffect()
            effect.setSource(QtCore.QUrl.fromLocalFile(str(path)))
            effect.setVolume(0.5)
            self._effect = effect
            self.available = True
        except Exception:  # noqa: BLE001 - degrade silently to no sound
            self._effect = None

    def play(self) -> None:
        if self._effect is not None:
            try:
                self._effect.play()
            except Exception:  # noqa: BLE001 - sound is optional
                pass


class ClientView(QtWidgets.QWidget):
    """A separate top-level window with the large cue (F11 toggles full screen, Esc closes)."""

    def __init__(self, model: FeedbackModel, parent=None) -> None:
        super().__init__(parent, QtCore.Qt.Window)
        self.setWindowTitle("emgfeedback — client view")
        self.model = model
        self.canvas = CueCanvas(model, large=True)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas)
        self.sound_enabled = False
        self.chime: Chime | None = None
        self._was_met = False
        self._last_reward = model.reward_at

    def enable_sound(self, enabled: bool) -> None:
        self.sound_enabled = enabled
        if enabled and self.chime is None:
            self.chime = Chime()

    def refresh(self) -> None:
        if not self.isVisible():
            return
        m = self.model
        if self.sound_enabled and self.chime is not None:
            if (m.met and not self._was_met) or m.reward_at != self._last_reward:
                self.chime.play()
        self._was_met = m.met
        self._last_reward = m.reward_at
        self.canvas.refresh()

    def keyPressEvent(self, ev) -> None:  # noqa: N802 - Qt override
        if ev.key() == QtCore.Qt.Key_Escape:
            self.close()
        elif ev.key() == QtCore.Qt.Key_F11:
            self.showNormal() if self.isFullScreen() else self.showFullScreen()
        else:
            super().keyPressEvent(ev)
