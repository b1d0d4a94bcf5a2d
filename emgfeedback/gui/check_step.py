"""The window's signal check step before a protocol or a recording starts (#20).

:class:`CheckStep` shows each channel's electrode placement as a small drawing (from
:mod:`emgfeedback.analysis.placements`, i.e. ``hardware/WIRING.md``), then records a rest
and an optional test contraction from the running session, with the verdicts updated live
while it records, and a grade per channel at the end. The user can skip it. Below a
protocol's ``min_signal_grade`` the start needs an explicit "accept the poor signal".

:func:`gate` puts the step in front of an action of the main window; the grade is stored
with the session being recorded (``signal_check`` results, see
:mod:`emgfeedback.runtime.signal_check_run`).
"""

from __future__ import annotations

from collections import deque

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from emgfeedback.analysis.signal_check import CONTRACTION_S, REST_S
from emgfeedback.gui import palette

#: Colour and symbol per grade (never colour alone).
GRADE_STYLE = {
    "good": (palette.OK, "✓"),
    "usable": (palette.OKABE_ITO["orange"], "!"),
    "not usable": (palette.WARN, "✗"),
}
#: How often the live verdicts are recomputed while recording the rest, seconds.
LIVE_EVERY_S = 1.0


class PlacementPicture(QtWidgets.QWidget):
    """A small drawing of one placement: two landmarks, the line between them, the
    electrode pair at its place (and angle), and where the reference goes."""

    def __init__(self, placement, parent=None) -> None:
        super().__init__(parent)
        self.placement = placement
        self.setMinimumSize(300, 92)
        self.setToolTip(placement.where if placement else "no placement in WIRING.md")

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt override
        return QtCore.QSize(320, 92)

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt override
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.Antialiasing)
        w, h = self.width(), self.height()
        p.fillRect(0, 0, w, h, QtGui.QColor(palette.PANEL))
        pl = self.placement
        font = p.font()
        font.setPointSizeF(max(font.pointSizeF() * 0.85, 7.0))
        p.setFont(font)
        if pl is None:
            p.setPen(QtGui.QColor(palette.MUTED))
            p.drawText(QtCore.QRectF(6, 6, w - 12, h - 12), QtCore.Qt.TextWordWrap,
                       "No placement for this name in hardware/WIRING.md: electrodes on the "
                       "muscle belly along the fibres, 20 mm apart; reference on bone.")
            return
        x0, x1, y = 18.0, w - 18.0, 34.0
        pen = QtGui.QPen(QtGui.QColor(palette.MUTED), 2, QtCore.Qt.DashLine)
        p.setPen(pen)
        p.drawLine(QtCore.QPointF(x0, y), QtCore.QPointF(x1, y))
        p.setBrush(QtGui.QColor(palette.TEXT))
        p.setPen(QtCore.Qt.NoPen)
        for x in (x0, x1):
            p.drawEllipse(QtCore.QPointF(x, y), 4, 4)
        p.setPen(QtGui.QColor(palette.TEXT))
        p.drawText(QtCore.QRectF(2, 2, w / 2, 18), QtCore.Qt.AlignLeft, pl.start)
        p.drawText(QtCore.QRectF(w / 2, 2, w / 2 - 2, 18), QtCore.Qt.AlignRight, pl.end)
        cx = x0 + (x1 - x0) * min(max(pl.at, 0.06), 0.94)
        angle = 50.0 if "50°" in pl.orientation else (90.0 if "vertical" in pl.orientation
                                                       else 0.0)
        p.save()
        p.translate(cx, y)
        p.rotate(-angle)
        p.setBrush(QtGui.QColor(palette.WORKING))
        p.setPen(QtGui.QPen(QtGui.QColor(palette.TEXT), 1))
        for dx in (-9.0, 9.0):
            p.drawEllipse(QtCore.QPointF(dx, 0), 7, 7)
        p.restore()
        p.setBrush(QtGui.QColor(palette.MET))
        p.drawEllipse(QtCore.QPointF(x0 + 6, y + 30), 7, 7)
        p.setPen(QtGui.QColor(palette.TEXT))
        p.drawText(QtCore.QRectF(x0 + 2, y + 24, 12, 12), QtCore.Qt.AlignCenter, "R")
        p.drawText(QtCore.QRectF(x0 + 18, y + 22, w - x0 - 20, 36), QtCore.Qt.TextWordWrap,
                   f"{pl.orientation}; reference: {pl.reference}")


class ChannelRow(QtWidgets.QFrame):
    """One channel: its placement picture, name, grade and verdicts."""

    def __init__(self, name: str, placement_text: str, parent=None) -> None:
        super().__init__(parent)
        from emgfeedback.analysis.placements import placement_for

        self.setObjectName("panel")
        self.placement = placement_for(name, placement_text)
        self.picture = PlacementPicture(self.placement)
        self.name = QtWidgets.QLabel(f"<b>{_esc(name)}</b>" + (
            f" — {_esc(self.placement.muscle)}" if self.placement else ""))
        self.grade = QtWidgets.QLabel("not checked yet")
        self.verdicts = QtWidgets.QLabel("")
        self.verdicts.setWordWrap(True)
        self.verdicts.setTextFormat(QtCore.Qt.RichText)
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.name)
        right.addWidget(self.grade)
        right.addWidget(self.verdicts, 1)
        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(self.picture)
        lay.addLayout(right, 1)

    def show_result(self, channel: dict, live: bool = False) -> None:
        """Show a channel's grade and reasons (``live``: while still recording)."""
        colour, mark = GRADE_STYLE[channel["grade"]]
        word = channel["grade"].upper()
        self.grade.setText(f'<span style="color:{colour}; font-weight:bold">{mark} {word}'
                           f'</span>' + (" <i>(so far, at rest)</i>" if live else ""))
        lines = []
        for r in channel["reasons"]:
            if r["severity"] == "info":
                if r["code"] == "output":
                    lines.append(f'<span style="color:{palette.MUTED}">· {_esc(r["verdict"])}'
                                 "</span>")
                continue
            c = palette.WARN if r["severity"] == "fail" else GRADE_STYLE["usable"][0]
            lines.append(f'<span style="color:{c}">{GRADE_STYLE[_grade(r)][1]} '
                         f'{_esc(r["verdict"])}</span><br>&nbsp;&nbsp;→ {_esc(r["action"])}')
        if not any(r["severity"] != "info" for r in channel["reasons"]):
            lines.insert(0, "contact and noise at rest are fine")
        snr = channel["measures"].get("snr_db")
        if snr is not None:
            lines.insert(1 if lines else 0, f"test contraction: SNR {snr:.1f} dB over rest")
        self.verdicts.setText("<br>".join(lines))


def _grade(reason: dict) -> str:
    return {"fail": "not usable", "warn": "usable"}.get(reason["severity"], "good")


def _esc(text) -> str:
    from html import escape

    return escape(str(text))


class CheckStep(QtWidgets.QDialog):
    """The signal check before ``purpose`` starts, on a running :class:`LiveSession`.

    Parameters
    ----------
    session : LiveSession
        The running session (its engine feeds the check).
    purpose : str
        What starts afterwards ("recording", "protocol uptraining").
    minimum : str, optional
        The grade needed to start without confirming (a protocol's ``min_signal_grade``).
    rest_s, contraction_s : float
        Lengths of the rest and the test contraction, seconds.
    """

    def __init__(self, session, purpose: str = "recording", minimum: str | None = None,
                 rest_s: float = REST_S, contraction_s: float = CONTRACTION_S,
                 parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.purpose = purpose
        self.minimum = minimum or None
        self.rest_s = rest_s
        self.contraction_s = contraction_s
        self.check: dict | None = None
        self.skipped = False
        self.recorder = None
        self._queue: deque = deque()
        self._collecting = False
        self._last_live = 0.0
        self.setWindowTitle(f"Signal check before the {purpose}")
        self.setStyleSheet(palette.STYLE_SHEET)
        self.intro = QtWidgets.QLabel(
            "Put the electrodes on as drawn (dots: landmarks; blue pair: the measuring "
            "electrodes; R: the reference), then start the check. It records "
            f"{rest_s:g} s of rest" + (f" and a {contraction_s:g} s test contraction"
                                       if contraction_s else "") + ".")
        self.intro.setWordWrap(True)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.intro)
        names = list(session.channel_names)
        places = [getattr(c, "placement", "") for c in getattr(session, "channels", [])]
        places += [""] * (len(names) - len(places))
        self.rows = [ChannelRow(n, p) for n, p in zip(names, places, strict=True)]
        for row in self.rows:
            lay.addWidget(row)
        self.contraction_box = QtWidgets.QCheckBox(
            f"include a test contraction ({contraction_s:g} s) after the rest")
        self.contraction_box.setChecked(True)
        lay.addWidget(self.contraction_box)
        self.instruction = QtWidgets.QLabel("")
        self.instruction.setObjectName("big")
        lay.addWidget(self.instruction)
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1000)
        lay.addWidget(self.bar)
        self.summary = QtWidgets.QLabel("")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.accept_poor = QtWidgets.QCheckBox("")
        self.accept_poor.setVisible(False)
        self.accept_poor.toggled.connect(self._update_buttons)
        lay.addWidget(self.accept_poor)
        self.buttons = QtWidgets.QDialogButtonBox()
        self.check_button = self.buttons.addButton("Start check",
                                                   QtWidgets.QDialogButtonBox.ActionRole)
        self.skip_button = self.buttons.addButton("Skip check",
                                                  QtWidgets.QDialogButtonBox.ActionRole)
        self.start_button = self.buttons.addButton(f"Start {purpose}",
                                                   QtWidgets.QDialogButtonBox.AcceptRole)
        self.cancel_button = self.buttons.addButton(QtWidgets.QDialogButtonBox.Cancel)
        self.check_button.clicked.connect(self.start_check)
        self.skip_button.clicked.connect(self.skip)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.start_button.setEnabled(False)
        session.engine.add_listener(self._on_processed)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ engine thread
    def _on_processed(self, processed) -> None:
        if self._collecting:
            self._queue.append(processed.chunk)

    # ------------------------------------------------------------------ actions
    def start_check(self) -> None:
        """Start recording the check (rest, then the contraction if ticked)."""
        from emgfeedback.runtime.signal_check_run import CheckRecorder

        contraction = self.contraction_s if self.contraction_box.isChecked() else None
        self.recorder = CheckRecorder(self.session.info, self.rest_s, contraction)
        self._queue.clear()
        self._collecting = True
        self.check = None
        self.check_button.setEnabled(False)
        self.contraction_box.setEnabled(False)
        self.start_button.setEnabled(False)
        self.instruction.setText("Relax and stay still.")
        self._timer.start(100)

    def skip(self) -> None:
        """Start without a check (nothing is stored)."""
        self._stop_collecting()
        self.skipped = True
        self.check = None
        self.accept()

    def outcome(self) -> dict | None:
        """``{"check", "minimum", "accepted"}`` to store, or None when skipped/not done."""
        if self.check is None or self.skipped:
            return None
        from emgfeedback.runtime.signal_check_run import below_minimum

        return {"check": self.check, "minimum": self.minimum,
                "accepted": below_minimum(self.check, self.minimum)}

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        self._stop_collecting()
        super().done(result)

    def _stop_collecting(self) -> None:
        self._collecting = False
        self._timer.stop()

    # ------------------------------------------------------------------ GUI thread
    def _tick(self) -> None:
        rec = self.recorder
        chunks = []
        while self._queue:
            chunks.append(self._queue.popleft())
        rec.add(chunks)
        self.bar.setValue(int(1000 * min(1.0, rec.elapsed_s / rec.total_s)))
        if rec.phase == "contraction":
            names = ", ".join(self.session.channel_names)
            self.instruction.setText(f"Now contract firmly: {names}.")
        if rec.done:
            self._stop_collecting()
            self.finish()
            return
        if rec.phase == "rest" and rec.elapsed_s >= 2.0 and \
                rec.elapsed_s - self._last_live >= LIVE_EVERY_S:
            self._last_live = rec.elapsed_s
            self._show(self._grade(partial=True), live=True)

    def _grade(self, partial: bool = False) -> dict:
        from emgfeedback.runtime.signal_check_run import board_of

        s = self.session
        places = [getattr(c, "placement", "") for c in getattr(s, "channels", [])]
        return self.recorder.result(board=board_of(s.info), names=list(s.channel_names),
                                    placements=places or None,
                                    mains_hz=getattr(s, "mains_hz", 50.0), partial=partial)

    def finish(self) -> None:
        """Grade the recorded check and show the verdicts."""
        self.check = self._grade()
        self._show(self.check)
        grade = self.check["grade"]
        colour, mark = GRADE_STYLE[grade]
        self.instruction.setText("Done.")
        self.summary.setText(f'<span style="color:{colour}; font-weight:bold">{mark} overall: '
                             f"{grade.upper()}</span>")
        from emgfeedback.runtime.signal_check_run import below_minimum

        poor = below_minimum(self.check, self.minimum)
        self.accept_poor.setVisible(poor)
        if poor:
            self.accept_poor.setText(f"The {self.purpose} needs a {self.minimum!r} signal: "
                                     "I accept starting on this poorer signal")
            self.start_button.setText(f"Start {self.purpose} anyway")
        self.check_button.setText("Check again")
        self.check_button.setEnabled(True)
        self.contraction_box.setEnabled(True)
        self._update_buttons()

    def _show(self, check: dict, live: bool = False) -> None:
        for row, channel in zip(self.rows, check["channels"], strict=False):
            row.show_result(channel, live=live)

    def _update_buttons(self) -> None:
        if self.check is None:
            self.start_button.setEnabled(False)
            return
        from emgfeedback.runtime.signal_check_run import below_minimum

        poor = below_minimum(self.check, self.minimum)
        self.start_button.setEnabled(not poor or self.accept_poor.isChecked())


def min_grade_of(protocol_name: str) -> str | None:
    """A protocol's ``min_signal_grade`` (None when it has none or cannot be loaded)."""
    try:
        from emgfeedback.protocol import load_protocol

        return load_protocol(protocol_name).min_signal_grade or None
    except Exception:  # noqa: BLE001 - starting the protocol reports the real error
        return None


def gate(window, purpose: str, start, minimum: str | None = None) -> bool:
    """Open the check step before ``start()`` when the window asks for one.

    Returns True when the step was opened (``start`` runs once it is accepted: checked or
    skipped), False when the caller should start at once (``window.check_before_start``
    off, or this is the start the step itself triggers).
    """
    if not getattr(window, "check_before_start", False) or getattr(window, "_in_check", False):
        return False
    dlg = CheckStep(window.session, purpose=purpose, minimum=minimum, parent=window)

    def accepted() -> None:
        window.signal_check = dlg.outcome()
        window._in_check = True
        try:
            start()
        finally:
            window._in_check = False
        store_pending(window)

    dlg.accepted.connect(accepted)
    window.check_step = dlg
    dlg.open()
    return True


def store_pending(window) -> int | None:
    """Store the window's latest check with the session being recorded (once per session).

    Returns the session id it was stored with, or None.
    """
    signal = getattr(window, "signal_check", None)
    rec = window.session.recorder
    if signal is None or not rec.recording:
        return None
    sid = rec.session_id
    if getattr(window, "_check_stored_in", None) == (sid, id(signal)):
        return None
    from emgfeedback.runtime.signal_check_run import store_check
    from emgfeedback.storage import SessionStore, default_db_path

    with SessionStore(window.session.db_path or default_db_path()) as store:
        store_check(store, sid, signal["check"], signal["minimum"], signal["accepted"])
    window._check_stored_in = (sid, id(signal))
    return sid


#: The verdicts docs/signal-check.md shows: file stem -> (sim:// options, channel set-up).
SCREENSHOT_CASES = {
    "good": ("board=esp32-myoware2&hum=0.5", ("glute med R", "TFL R")),
    "electrode-off": ("board=esp32-myoware2&hum=0.5&fault=off", ("glute med R", "TFL R")),
    "rail": ("board=uno-myoware2-env&hum=0.5&fault=rail", ("upper trap L", "upper trap R")),
    "flat": ("board=esp32-myoware2&hum=0.5&fault=flat", ("lower trap R", "upper trap R")),
    "drift": ("board=esp32-myoware2&hum=0.5&fault=drift", ("VMO R", "vastus lateralis R")),
    "mains-hum": ("board=esp32-myoware2&hum=0.5&fault=hum", ("erector L", "erector R")),
    "ecg": ("board=esp32-myoware2&hum=0.5&fault=ecg", ("multifidus L", "multifidus R")),
    "board-too-coarse": ("board=uno-myoware2&hum=0.5", ("masseter L", "masseter R")),
    "clipping": ("board=uno-myoware2&hum=0.5&snr=75", ("glute med R", "TFL R")),
}


def save_verdict_screenshots(out_dir, cases=None, timeout_s: float = 120.0) -> list:
    """Run the check step on the simulator for each verdict and save a PNG of each.

    Parameters
    ----------
    out_dir : path
        Folder for ``signal-check-<case>.png``.
    cases : iterable of str, optional
        Keys of :data:`SCREENSHOT_CASES` (default: all).
    timeout_s : float
        Wall-clock limit per case.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    RuntimeError
        When a check does not finish, or its dialog has clipped or overlapping labels
        (:func:`emgfeedback.gui.layout_check.label_problems`).
    """
    import time
    from pathlib import Path

    from emgfeedback.gui.app import application
    from emgfeedback.runtime.live_session import ChannelSetup, LiveSession

    app = application()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    for case in cases or SCREENSHOT_CASES:
        options, names = SCREENSHOT_CASES[case]
        session = LiveSession(f"sim://?scenario=check&channels=2&pace=fast&{options}",
                              [ChannelSetup(n) for n in names])
        try:
            dlg = CheckStep(session, purpose="recording")
            dlg.resize(900, 560)
            dlg.show()
            dlg.check_button.click()
            session.start()
            deadline = time.monotonic() + timeout_s
            while dlg.check is None and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.02)
            app.processEvents()
            if dlg.check is None:
                raise RuntimeError(f"signal check screenshot {case}: the check did not finish "
                                   f"in {timeout_s:g} s")
            from emgfeedback.gui.layout_check import label_problems

            problems = label_problems(dlg)
            if problems:  # never a picture with clipped or overlapping text
                raise RuntimeError(f"signal check screenshot {case}: " + "; ".join(problems))
            path = out / f"signal-check-{case}.png"
            dlg.grab().save(str(path))
            saved.append(path)
            dlg.close()
        finally:
            session.close()
    return saved
