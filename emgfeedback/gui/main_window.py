"""The therapist's window: traces, feedback, protocol and status, drawn on one timer."""

from __future__ import annotations

import math
import time

import numpy as np
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from emgfeedback.acquisition.boards import output_kinds
from emgfeedback.gui import palette
from emgfeedback.gui.client_view import ClientView
from emgfeedback.gui.feedback import MODE_LABELS, MODES, FeedbackModel, FeedbackPanel
from emgfeedback.gui.latency import LatencyMeter
from emgfeedback.gui.protocol_panel import ProtocolPanel
from emgfeedback.gui.share_panel import add_share_action
from emgfeedback.gui.status import StatusBar
from emgfeedback.gui.toolbar_overflow import roomy_overflow
from emgfeedback.gui.traces import WINDOW_CHOICES_S, TracePanel

FRAME_INTERVAL_MS = 15  # ~60 Hz (a little faster, so timer jitter still gives >= 60 fps)
#: Text panels (status chips, protocol countdown and progress) are refreshed at 10 Hz:
#: live to the eye, and a label's re-layout is not paid 60 times a second. The traces
#: and both feedback canvases are refreshed every frame.
STATUS_EVERY_S = 0.1
#: How long a device alarm without a state of its own (channel mismatch, rejected bytes) stays
#: in the banner after its latest occurrence, s.
ALARM_SHOWN_S = 10.0

SHORTCUTS = (
    ("M", "add a marker at the newest sample"),
    ("R", "start / stop recording"),
    ("B", "capture the resting baseline (10 s)"),
    ("V", "capture the MVC (5 s)"),
    ("P", "start / stop the selected protocol"),
    ("C", "show / hide the client view"),
    ("S", "sound: off, chime on reaching the goal, tone following activation"),
    ("1-5", "feedback mode: uptraining, downtraining, dissociation, firing order, symmetry"),
    ("+ / -", "longer / shorter trace window"),
    ("F11", "full screen"),
)


class MainWindow(QtWidgets.QMainWindow):
    """The live window for one :class:`~emgfeedback.runtime.live_session.LiveSession`.

    What it shows comes from two places, each for its kind: events that must not be missed
    (cues, onsets, chunk arrivals, a finished protocol's results) from the session's
    listener queues (:meth:`LiveSession.poll_events`), the latest state (protocol progress,
    quality, health) from the engine's snapshot; the record chip from the recorder.

    Parameters
    ----------
    session : LiveSession
        Started or not (the window starts it when shown via :meth:`start`).
    window_s : float
        Trace window, seconds.
    mode : str
        Initial feedback mode (free training).
    db_path : path, optional
        Session store for recording.
    quit_when_protocol_done : bool
        Close the window shortly after a protocol ends (fast replays).
    """

    protocol_done = QtCore.pyqtSignal(dict)

    def __init__(self, session, *, window_s: float = 10.0, mode: str = "uptraining",
                 db_path=None, quit_when_protocol_done: bool = False, settings=None) -> None:
        super().__init__()
        self.session = session
        self.db_path = db_path
        self.settings = settings
        self.quit_when_protocol_done = quit_when_protocol_done
        self.setWindowTitle(f"emgfeedback — {session.info.url}")
        self.setStyleSheet(palette.STYLE_SHEET)
        self.latency = LatencyMeter()
        self.model = FeedbackModel(session.channel_names, session.fs_hz)
        self.model.set_free_symmetry(session.channel_names,
                                     [c.placement for c in session.channels],
                                     [c.side for c in session.channels])
        self.model.set_mode(mode)
        self._since: int | None = None
        self._last_arrival = time.monotonic()
        self._alarm_seq = 0  # engine events seen (see LiveSession.alarms_since)
        self._device_alarm: tuple[float, str] | None = None  # (time, text) for the banner
        self._last_status = 0.0
        self._closing = False
        self._traces_painted_at: float | None = None
        self.screenshot_path: str | None = None
        self.error: BaseException | None = None
        self.frames = 0
        self.share = None  # H11: a ShareController while the client view is shared
        # H9 (#20): the signal check step before a recording or protocol starts (run_live
        # turns it on; gui/check_step.py); the latest check, stored with the recording.
        self.check_before_start = False
        self.signal_check = None
        self._build(window_s)
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.PreciseTimer)
        self.timer.timeout.connect(self.frame)

    # ------------------------------------------------------------------ layout
    def _build(self, window_s: float) -> None:
        s = self.session
        self.traces = TracePanel(s.channel_names, s.fs_hz, window_s,
                                 on_painted=self._traces_painted)
        self.feedback = FeedbackPanel(self.model)
        self.protocol_panel = ProtocolPanel(s.fs_hz)
        self.status = StatusBar(s.channel_names, s.fs_hz,
                                output_kinds=output_kinds(s.info.calibration))
        self.client = ClientView(self.model)
        trace_frame = QtWidgets.QFrame()
        trace_frame.setObjectName("panel")
        tl = QtWidgets.QVBoxLayout(trace_frame)
        tl.setContentsMargins(2, 2, 2, 2)
        tl.addWidget(self.traces.widget)
        right = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        right.addWidget(self.feedback)
        right.addWidget(self.protocol_panel)
        right.setSizes([420, 320])
        split = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
        split.addWidget(trace_frame)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([760, 520])
        central = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(central)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)
        self.setCentralWidget(central)
        self._build_toolbar()
        self.resize(1400, 860)

    def _build_toolbar(self) -> None:
        bar = self.addToolBar("session")
        roomy_overflow(bar)  # H12: a visible, clickable "»" for actions that do not fit
        bar.setMovable(False)
        self.act_record = bar.addAction("● Record", self.toggle_recording)
        self.act_record.setCheckable(True)
        bar.addAction("Marker", self.add_marker)
        bar.addSeparator()
        bar.addAction("Baseline…", lambda: self.capture("baseline", 10.0))
        bar.addAction("MVC…", lambda: self.capture("mvc", 5.0))
        bar.addSeparator()
        bar.addWidget(QtWidgets.QLabel(" Mode "))
        self.mode_box = QtWidgets.QComboBox()
        for m in MODES:
            self.mode_box.addItem(MODE_LABELS[m], m)
        self.mode_box.setCurrentIndex(MODES.index(self.model.mode))
        self.mode_box.currentIndexChanged.connect(
            lambda i: self.set_mode(self.mode_box.itemData(i)))
        bar.addWidget(self.mode_box)
        bar.addWidget(QtWidgets.QLabel(" Window "))
        self.window_box = QtWidgets.QComboBox()
        for w in WINDOW_CHOICES_S:
            self.window_box.addItem(f"{w:g} s", w)
        self._select_window(self.traces.window_s)
        self.window_box.currentIndexChanged.connect(
            lambda i: self.set_window(self.window_box.itemData(i)))
        bar.addWidget(self.window_box)
        bar.addSeparator()
        bar.addWidget(QtWidgets.QLabel(" Protocol "))
        self.protocol_box = QtWidgets.QComboBox()
        try:
            from emgfeedback.protocol import shipped_names

            names = shipped_names()
        except Exception:  # noqa: BLE001 - the list is a convenience
            names = []
        self.protocol_box.addItems(names)
        bar.addWidget(self.protocol_box)
        self.act_protocol = bar.addAction("▶ Start", self.toggle_protocol)
        bar.addSeparator()
        self.act_client = bar.addAction("Client view", self.toggle_client)
        self.act_sound = bar.addAction("Sound: off", self.toggle_sound)
        self.act_sound.setCheckable(True)
        self.act_sound.setToolTip("Cycle: off → chime on reaching the goal → tone whose "
                                  "pitch follows the target's activation")
        self.act_lsl = bar.addAction("LSL", self.toggle_lsl)
        self.act_lsl.setCheckable(True)
        self.act_lsl.setToolTip("Publish the signal, envelopes and markers on Lab Streaming "
                                "Layer. LSL is unauthenticated: anyone on the local network "
                                "can read the stream. Off by default.")
        add_share_action(self, bar)
        bar.addAction("Save set-up", self.save_setup)
        keys = {"M": self.add_marker, "R": self.toggle_recording,
                "B": lambda: self.capture("baseline", 10.0),
                "V": lambda: self.capture("mvc", 5.0), "P": self.toggle_protocol,
                "C": self.toggle_client, "S": self.toggle_sound, "F11": self.toggle_fullscreen,
                "+": lambda: self.step_window(1), "=": lambda: self.step_window(1),
                "-": lambda: self.step_window(-1)}
        for i, m in enumerate(MODES):
            keys[str(i + 1)] = (lambda mode=m: self.set_mode(mode))
        self._shortcuts = []
        for key, fn in keys.items():
            sc = QtWidgets.QShortcut(QtGui.QKeySequence(key), self)
            sc.activated.connect(fn)
            self._shortcuts.append(sc)

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Start acquisition and the frame timer."""
        import gc

        # The window's many long-lived Qt/pyqtgraph objects need no more collection: moving
        # them out of the collector's generations keeps its pauses out of the frames.
        gc.collect()
        gc.freeze()
        if self.session.started_s is None:
            self.session.start()
        self.timer.start(FRAME_INTERVAL_MS)

    def closeEvent(self, ev) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(ev)

    def shutdown(self) -> None:
        """Stop drawing, end the session cleanly (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self.timer.stop()
        self.client.stop_sound()
        if self.share is not None:
            self.share.stop()
        self.client.close()
        try:
            self.session.close()
        except Exception as exc:  # noqa: BLE001 - kept for run_live to report
            self.error = exc
        if self.settings is not None:
            from emgfeedback.gui.settings import save_settings

            self.settings.window_s = self.traces.window_s
            self.settings.mode = self.model.mode
            self.settings.sound = self.client.sound_enabled
            try:
                save_settings(self.settings)
            except OSError:
                pass

    def save_screenshot(self, path: str) -> None:
        """Save the window as a PNG (0600, atomically, never through a link: H8 outputs)."""
        import logging

        from emgfeedback import outputs

        self.frame()
        data = QtCore.QByteArray()
        buffer = QtCore.QBuffer(data)
        buffer.open(QtCore.QIODevice.WriteOnly)
        self.grab().save(buffer, "PNG")
        buffer.close()
        try:  # the target was checked before the window opened (commands/live.py)
            outputs.write_output(path, bytes(data), force=True, option="--screenshot")
        except outputs.OutputError as exc:  # never raise out of a Qt slot
            logging.getLogger(__name__).error("%s", exc)

    # ------------------------------------------------------------------ the frame
    def frame(self) -> None:
        """Draw one frame (timer slot): events, traces, cues, status."""
        s = self.session
        events = s.poll_events()
        now = time.monotonic()
        if events.arrivals:
            self.latency.arrived(events.arrivals)
            self._last_arrival = max(self._last_arrival, events.arrivals[-1][1])
        if events.onsets:
            self.traces.add_onsets(events.onsets)
        if events.cues:
            self.model.apply_cues(events.cues)
            self.protocol_panel.apply_cues(events.cues)
        for results in events.protocol_results:  # after its cues (protocol_end) are applied
            self._protocol_ended(results)
        if self.traces.needs_history:
            self._since = None
            self.traces.needs_history = False
        window_n = int(self.traces.window_s * s.fs_hz)
        block = s.read_display(self._since, window_n)
        n = len(block.filtered_uv)
        if n:
            self.traces.push(block)
            self._since = block.first_index + n
            self.latency.drawn_up_to(self._since)
            self.model.update_levels(block.envelope_uv[-1], self._since, s.goals)
        for b in self.model.bars:
            self.traces.set_goal(b.channel, b.goal_uv if b.direction else math.nan)
        self.traces.draw()
        # Both cue canvases every frame (each repaints only when what it shows changed).
        self.feedback.refresh()
        self.client.refresh()
        if self.share is not None:  # browsers in the room (never blocks)
            self.share.frame(block)
        if now - self._last_status >= STATUS_EVERY_S:
            self._last_status = now
            self._refresh_status(now)
        self.frames += 1

    def _traces_painted(self, t_s: float) -> None:
        self._traces_painted_at = t_s

    def event(self, ev) -> bool:  # noqa: N802 - Qt override
        # A frame is on screen when the window's whole update (traces, feedback canvas,
        # labels) has been painted and flushed, not when the trace view's paint returns:
        # the sample-to-screen latency is stamped here.
        handled = super().event(ev)
        if ev.type() == QtCore.QEvent.UpdateRequest and \
                getattr(self, "_traces_painted_at", None) is not None:
            self._traces_painted_at = None
            self.latency.painted(time.monotonic())
        return handled

    def _refresh_status(self, now: float) -> None:
        s = self.session
        if self.mode_box.currentData() != self.model.mode:  # a protocol phase chose it
            self.mode_box.blockSignals(True)
            self.mode_box.setCurrentIndex(MODES.index(self.model.mode))
            self.mode_box.blockSignals(False)
        snap = s.snapshot()
        # The engine thread refreshes the health summary 4 times a second; percentiles are
        # not recomputed here on the GUI thread.
        health = snap.health if snap is not None else {}
        if snap is not None and snap.protocol:
            self.protocol_panel.update_progress(snap.protocol, self._since or 0)
        if s.engine.finished:
            try:
                s.engine.raise_if_failed()
            except Exception as exc:  # noqa: BLE001 - shown, then re-raised on close
                self.status.banner.setText(f"Processing stopped: {exc}")
                self.status.banner.setVisible(True)
                self.status.banner_shown = "failed"
                return
        events, self._alarm_seq = s.alarms_since(self._alarm_seq)
        for ev in events:  # alarms the source state does not show (no_data/unplug do)
            if ev.is_alarm and ev.kind in ("channel_mismatch", "rejected"):
                self._device_alarm = (now, ev.message)
        alarm = None
        if self._device_alarm is not None and now - self._device_alarm[0] < ALARM_SHOWN_S:
            alarm = self._device_alarm[1]
        self.status.update_status(
            device_alarm=alarm,
            state=s.source_state, silent_s=max(0.0, now - self._last_arrival), health=health,
            quality=snap.quality if snap is not None else None,
            recording=s.recorder.recording, session_id=s.recorder.session_id,
            recorder_error=s.recorder.error, envelope_delay_ms=s.envelope_delay_ms,
            screen_p95_ms=self.latency.latency_ms(95), fps=self.latency.fps(),
            storage_failing=s.recorder.storage_failing)

    def _protocol_ended(self, results: dict) -> None:
        self.act_protocol.setText("▶ Start")
        self.protocol_done.emit(results)
        if self.quit_when_protocol_done:
            QtCore.QTimer.singleShot(300, self.close)

    # ------------------------------------------------------------------ actions
    def set_mode(self, mode: str) -> None:
        if mode == self.model.mode:
            return
        self.model.set_mode(mode)
        i = MODES.index(mode)
        if self.mode_box.currentIndex() != i:
            self.mode_box.setCurrentIndex(i)

    def _select_window(self, window_s: float) -> None:
        values = [self.window_box.itemData(i) for i in range(self.window_box.count())]
        i = int(np.argmin([abs(v - window_s) for v in values]))
        self.window_box.setCurrentIndex(i)

    def set_window(self, window_s: float) -> None:
        if abs(window_s - self.traces.window_s) > 1e-9:
            self.traces.set_window(window_s)
            self._select_window(window_s)

    def step_window(self, direction: int) -> None:
        values = list(WINDOW_CHOICES_S)
        i = int(np.argmin([abs(v - self.traces.window_s) for v in values]))
        self.set_window(values[max(0, min(len(values) - 1, i + direction))])

    def add_marker(self) -> None:
        index = self.session.add_marker("marker")
        self.traces.add_marker(index)
        self.statusBar().showMessage(f"marker at {index / self.session.fs_hz:.2f} s", 3000)

    def toggle_recording(self) -> None:
        rec = self.session.recorder
        if rec.recording:
            sid = self.session.stop_recording()
            self.statusBar().showMessage(f"session {sid} saved", 5000)
        else:
            from emgfeedback.gui.check_step import gate  # H9 (#20)

            if gate(self, "recording", self.toggle_recording):
                return
            sid = self.session.start_recording(self.db_path)
            self.statusBar().showMessage(f"recording session {sid}", 5000)
        self.act_record.setChecked(rec.recording)

    def start_protocol(self, name: str) -> None:
        self.session.start_protocol(name)
        self.model.set_protocol_channels(self.session.protocol_cols)
        proto = self.session.protocol
        self.protocol_panel.start(proto.title or name, float(proto.total_s))
        self.act_protocol.setText("■ Stop")

    def toggle_protocol(self) -> None:
        if self.session.protocol_running:
            self.session.stop_protocol()
            self.model.end_protocol()
            self.act_protocol.setText("▶ Start")
        else:
            name = self.protocol_box.currentText()
            if name:
                from emgfeedback.gui.check_step import gate, min_grade_of  # H9 (#20)

                if gate(self, f"protocol {name}", lambda: self.start_protocol(name),
                        min_grade_of(name)):
                    return
                self.start_protocol(name)

    def capture(self, kind: str, seconds: float) -> None:
        from emgfeedback.gui.setup_dialog import CaptureDialog

        dlg = CaptureDialog(self.session, kind, seconds, self)
        dlg.setStyleSheet(palette.STYLE_SHEET)
        dlg.accepted.connect(self._captured)
        dlg.open()
        self._capture_dialog = dlg

    def _captured(self) -> None:
        s = self.session
        if s.subject:
            self.save_setup()
        if s.recorder.recording:
            s.recorder.add_result("goals", {"baseline_uv": s.goals.baseline_uv,
                                            "mvc_uv": s.goals.mvc_uv})

    def save_setup(self) -> None:
        """Save channel names, placements, sides and captured goals for the subject."""
        from emgfeedback.errors import EmgFeedbackError
        from emgfeedback.gui.settings import SubjectSetup, save_subject

        s = self.session
        if not s.subject:
            self.statusBar().showMessage("no subject id: start with --subject ID to save "
                                         "set-ups", 5000)
            return
        setup = SubjectSetup(s.subject, s.channel_names, [c.placement for c in s.channels],
                             [c.side for c in s.channels], list(s.goals.baseline_uv),
                             list(s.goals.mvc_uv))
        try:
            path = save_subject(setup)
        except (OSError, EmgFeedbackError) as exc:
            self.statusBar().showMessage(f"could not save the set-up: {exc}", 8000)
            return
        self.statusBar().showMessage(f"set-up saved to {path}", 5000)

    def toggle_client(self) -> None:
        if self.client.isVisible():
            self.client.close()
        else:
            self.client.resize(1024, 700)
            self.client.show()

    def toggle_sound(self) -> None:
        """Cycle the sound: off -> chime -> tone -> eyes-closed -> off."""
        self.set_sound_mode(self.client.next_sound_mode())

    def set_sound_mode(self, mode: str, mapping: str | None = None) -> None:
        """Set the sound mode; without an audio device say so in the toolbar and status bar."""
        self.client.set_sound_mode(mode, mapping)
        problem = self.client.sound_problem if mode != "off" else None
        self.act_sound.setChecked(mode != "off")
        self.act_sound.setText(f"Sound: {mode}" + (" (unavailable)" if problem else ""))
        self.act_sound.setToolTip(problem or "Cycle: off → cue sounds → tone following "
                                  "activation → eyes-closed downtraining (tone only)")
        if not hasattr(self, "sound_label"):
            self.sound_label = QtWidgets.QLabel("sound unavailable")
            self.statusBar().addPermanentWidget(self.sound_label)
            self.statusBar().setVisible(True)
        self.sound_label.setToolTip(problem or "")
        self.sound_label.setVisible(bool(problem))

    def toggle_lsl(self, on: bool | None = None) -> None:
        """Turn LSL publishing on or off (unauthenticated, local network)."""
        want = (not self.session.lsl_outlet) if on is None else on
        try:
            state = self.session.set_lsl(want)
        except Exception as exc:  # noqa: BLE001 - e.g. pylsl not installed: say so, keep going
            QtWidgets.QMessageBox.warning(self, "Lab Streaming Layer", str(exc))
            state = self.session.lsl_outlet is not None
        self.act_lsl.setChecked(state)
        self.act_lsl.setText("LSL: publishing (unauthenticated)" if state else "LSL")

    def toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()
