"""The client's view: full screen, only the cue, readable from two metres; optional sound."""

from __future__ import annotations

import io
import math
import tempfile
import wave
from pathlib import Path

import numpy as np
from pyqtgraph.Qt import QtCore, QtWidgets

from emgfeedback.gui.feedback import CueCanvas, FeedbackModel
from emgfeedback.gui.sound import ToneOutput, tone_pitch_hz

#: The Sound button cycles through these (off by default).
SOUND_MODES = ("off", "chime", "tone")


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
        self.sound_mode = "off"
        self.chime: Chime | None = None
        self.tone: ToneOutput | None = None
        self._was_met = False
        self._last_reward = model.reward_at

    @property
    def sound_enabled(self) -> bool:
        return self.sound_mode != "off"

    def enable_sound(self, enabled: bool) -> None:
        """Chime on (True) or all sound off (False)."""
        self.set_sound_mode("chime" if enabled else "off")

    def set_sound_mode(self, mode: str) -> None:
        """``"off"``, ``"chime"`` (on reaching the goal) or ``"tone"`` (follows activation).

        Never raises for a missing audio library or device: the mode is kept and the
        output stays silent (``chime.available`` / ``tone.available`` say so).
        """
        if mode not in SOUND_MODES:
            raise ValueError(f"sound mode must be one of {SOUND_MODES}, got {mode!r}")
        self.sound_mode = mode
        if mode == "chime" and self.chime is None:
            self.chime = Chime()
        if mode == "tone":
            if self.tone is None:
                self.tone = ToneOutput()
            self.tone.start()
        elif self.tone is not None:
            self.tone.stop()

    def next_sound_mode(self) -> str:
        """Step off -> chime -> tone -> off; returns the new mode."""
        i = SOUND_MODES.index(self.sound_mode)
        self.set_sound_mode(SOUND_MODES[(i + 1) % len(SOUND_MODES)])
        return self.sound_mode

    def target_pitch_hz(self) -> float | None:
        """The tone's pitch for the target channel's bar (None: no level or goal)."""
        m = self.model
        bars = [b for b in m.bars if b.direction]
        bar = next((b for b in bars if b.channel == m.target), bars[0] if bars else None)
        return None if bar is None else tone_pitch_hz(bar.level_uv, bar.goal_uv)

    def refresh(self) -> None:
        """Per frame: sound (whether or not the view is shown), then the cue if visible."""
        m = self.model
        if self.sound_mode == "chime" and self.chime is not None:
            if (m.met and not self._was_met) or m.reward_at != self._last_reward:
                self.chime.play()
        elif self.sound_mode == "tone" and self.tone is not None:
            self.tone.feed(self.target_pitch_hz())
        self._was_met = m.met
        self._last_reward = m.reward_at
        if self.isVisible():
            self.canvas.refresh()

    def stop_sound(self) -> None:
        """Silence everything (the session ends)."""
        if self.tone is not None:
            self.tone.stop()

    def keyPressEvent(self, ev) -> None:  # noqa: N802 - Qt override
        if ev.key() == QtCore.Qt.Key_Escape:
            self.close()
        elif ev.key() == QtCore.Qt.Key_F11:
            self.showNormal() if self.isFullScreen() else self.showFullScreen()
        else:
            super().keyPressEvent(ev)
