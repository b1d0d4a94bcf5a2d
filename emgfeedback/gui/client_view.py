"""The client's view: full screen, only the cue, readable from two metres; optional sound.

The sound (see :mod:`emgfeedback.sound`) follows the same model as the view, so what is
heard always agrees with what is shown, whether or not the view is open.
"""

from __future__ import annotations

from pyqtgraph.Qt import QtCore, QtWidgets

from emgfeedback.gui.feedback import CueCanvas, FeedbackModel
from emgfeedback.sound import MODES as SOUND_MODES
from emgfeedback.sound import SoundFeedback, SoundPlayer


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
        self.sound = SoundFeedback(SoundPlayer())

    @property
    def sound_mode(self) -> str:
        return self.sound.mode

    @property
    def sound_enabled(self) -> bool:
        return self.sound.mode != "off"

    @property
    def sound_problem(self) -> str | None:
        """One line saying why no sound can play (None when it can)."""
        return self.sound.player.problem

    def set_sound_mode(self, mode: str, mapping: str | None = None) -> None:
        """``"off"``, ``"chime"``, ``"tone"`` or ``"eyes-closed"`` (see :mod:`emgfeedback.sound`).

        Never raises for a missing audio library or device: the mode is kept and the
        output stays silent (:attr:`sound_problem` says why).
        """
        if mapping is not None:
            self.sound.mapping = mapping
        self.sound.set_mode(mode)

    def next_sound_mode(self) -> str:
        """Step off -> chime -> tone -> eyes-closed -> off; returns the new mode."""
        i = SOUND_MODES.index(self.sound.mode)
        self.set_sound_mode(SOUND_MODES[(i + 1) % len(SOUND_MODES)])
        return self.sound.mode

    def refresh(self) -> None:
        """Per frame: sound (whether or not the view is shown), then the cue if visible."""
        self.sound.update(self.model)
        if self.isVisible():
            self.canvas.refresh()

    def stop_sound(self) -> None:
        """Silence everything (the session ends)."""
        self.sound.close()

    def keyPressEvent(self, ev) -> None:  # noqa: N802 - Qt override
        if ev.key() == QtCore.Qt.Key_Escape:
            self.close()
        elif ev.key() == QtCore.Qt.Key_F11:
            self.showNormal() if self.isFullScreen() else self.showFullScreen()
        else:
            super().keyPressEvent(ev)
