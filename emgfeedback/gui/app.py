"""Application entry points: the Qt application and :func:`run_live`."""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from dataclasses import dataclass, field

from emgfeedback.errors import require


def application():
    """The QApplication (created once), with the project's plotting options."""
    require("pyqtgraph", "gui")
    require("PyQt5", "gui")
    import pyqtgraph as pg
    from pyqtgraph.Qt import QtWidgets

    pg.setConfigOptions(antialias=False, background="w", foreground="k")
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = pg.mkQApp("emgfeedback")
    return app


@dataclass
class LiveResult:
    """What a live run produced."""

    exit_code: int = 0
    protocol_results: list = field(default_factory=list)
    session_id: int | None = None
    frames: int = 0
    fps: float = math.nan
    latency_p95_ms: float = math.nan
    health: dict = field(default_factory=dict)
    #: Sound mode, whether it played, why not, cue sounds played and measured latency.
    sound: dict = field(default_factory=dict)
    #: Browser sharing (H11): URL, states published/dropped, screens and their counters.
    share: dict = field(default_factory=dict)


def _stored_baseline(db_path, subject: str, names) -> list[float] | None:
    """The subject's latest stored ``baseline_mean_uv`` per channel (None if incomplete)."""
    from pathlib import Path

    from emgfeedback.storage import SessionStore
    from emgfeedback.storage.baselines import stored_baseline

    if not Path(db_path).is_file():
        return None
    with SessionStore(db_path, create=False) as store:
        return stored_baseline(store, subject, list(names))


def build_window(url: str, *, protocol: str | None = None, db_path=None, subject: str = "",
                 fast: bool = False, window_s: float | None = None, mode: str | None = None,
                 channels=None, mains_hz: float = 50.0, settings=None):
    """Open the source and build (but do not start) the main window.

    Returns
    -------
    MainWindow
    """
    application()
    from emgfeedback.acquisition.pace import fast_url
    from emgfeedback.gui.main_window import MainWindow
    from emgfeedback.gui.settings import load_subject
    from emgfeedback.runtime.live_session import LiveSession

    setup = load_subject(subject) if subject else None
    if channels is None and setup is not None and setup.channel_names:
        from emgfeedback.runtime.live_session import ChannelSetup

        channels = [ChannelSetup(n, p, s) for n, p, s in
                    zip(setup.channel_names, setup.placements, setup.sides, strict=False)]
    session = LiveSession(fast_url(url) if fast else url, channels, mains_hz=mains_hz,
                          stop_when_protocol_done=fast and protocol is not None,
                          subject=subject)
    if setup is not None:
        n = session.n_channels
        if setup.baseline_uv:
            session.goals.baseline_uv = [_f(v) for v in setup.baseline_uv[:n]]
        if setup.mvc_uv:
            session.goals.mvc_uv = [_f(v) for v in setup.mvc_uv[:n]]
    if subject and db_path and not any(math.isfinite(_f(v)) for v in session.goals.baseline_uv):
        # H2: no baseline captured in the GUI: the subject's stored one, the same quantity
        # (baseline_mean_uv) that `run --subject` and a protocol's baseline phase use.
        stored = _stored_baseline(db_path, subject, session.channel_names)
        if stored is not None:
            session.goals.baseline_uv = stored
    win = MainWindow(session, window_s=window_s or (settings.window_s if settings else 10.0),
                     mode=mode or (settings.mode if settings else "uptraining"),
                     db_path=db_path, quit_when_protocol_done=fast and protocol is not None,
                     settings=settings)
    if protocol:
        win.start_protocol(protocol)
        i = win.protocol_box.findText(protocol)
        if i >= 0:
            win.protocol_box.setCurrentIndex(i)
    return win


@contextlib.contextmanager
def close_on_stop_signals(close, stopped: list):
    """Turn the host's stop signals (Ctrl-C, SIGTERM, ...) into a clean close of the window.

    Qt's event loop runs in C, so Python only sees a signal when it next runs Python code:
    a 200 ms timer gives it that chance. Without this, Ctrl-C raised inside a Qt slot (a
    traceback, and PyQt aborts) and SIGTERM killed the process with the session still open.
    The first signal is appended to ``stopped`` and ``close`` runs from the event loop;
    later ones only print a note. A signal ignored when the command started (``nohup``)
    stays ignored; handlers are restored on exit. Outside the main thread this does nothing.

    Parameters
    ----------
    close : callable
        Called once, from the event loop, to close the window.
    stopped : list
        Receives the first signal number.
    """
    from pyqtgraph.Qt import QtCore

    from emgfeedback.host import stop_signal_handlers, stop_signal_label

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        name = stop_signal_label(signum)
        if stopped:
            print(f"{name}: already stopping; closing the window", file=sys.stderr)
            return
        stopped.append(signum)
        print(f"{name}: closing the window", file=sys.stderr)
        QtCore.QTimer.singleShot(0, close)

    wake = QtCore.QTimer()
    wake.timeout.connect(lambda: None)  # lets the interpreter run the Python handler
    wake.start(200)
    try:
        with stop_signal_handlers(handler):
            yield
    finally:
        wake.stop()


def _f(v) -> float:
    return math.nan if v is None else float(v)


def ask_setup(settings):
    """Show the set-up dialog; returns (url, channels, subject) or None when cancelled."""
    application()
    from emgfeedback.gui import palette
    from emgfeedback.gui.settings import load_subject
    from emgfeedback.gui.setup_dialog import SetupDialog

    dlg = SetupDialog(settings)
    dlg.setStyleSheet(palette.STYLE_SHEET)
    if settings.last_subject:
        saved = load_subject(settings.last_subject)
        if saved is not None and saved.channel_names:
            from emgfeedback.runtime.live_session import ChannelSetup

            dlg.set_channels([ChannelSetup(n, p, s) for n, p, s in zip(
                saved.channel_names, saved.placements, saved.sides, strict=False)])
    if not dlg.exec_():
        return None
    url, channels, subject = dlg.result_setup()
    settings.last_source, settings.last_subject = url, subject
    return url, channels, subject


def run_live(url: str | None, *, protocol: str | None = None, db_path=None, subject: str = "",
             seconds: float | None = None, screenshot: str | None = None, fast: bool = False,
             record: bool = False, window_s: float | None = None, mode: str | None = None,
             client: bool = False, mains_hz: float = 50.0, use_settings: bool = True,
             channels=None, lsl: bool = False, sound: str = "off",
             sound_mapping: str = "octaves", share=None) -> LiveResult:
    """Run the live window until it is closed (or ``seconds`` pass, or a fast protocol ends).

    Parameters
    ----------
    url : str or None
        Source URL; None shows the set-up dialog (port or simulator, channels, subject).
    protocol : str, optional
        Protocol name or file to start at once.
    db_path : path, optional
        Session store; with ``record`` the session is recorded from the start.
    subject : str
        Subject id (its saved set-up is loaded).
    seconds : float, optional
        Close after this many seconds of wall-clock time.
    screenshot : str, optional
        Save the window as PNG just before closing.
    fast : bool
        Replay a ``sim://``/``file://`` source as fast as possible (the window closes when
        the protocol ends).
    record : bool
        Record into the session store from the start.
    window_s, mode : optional
        Trace window and feedback mode.
    client : bool
        Also open the client view.
    lsl : bool
        Publish on Lab Streaming Layer from the start (unauthenticated, local network).
    sound, sound_mapping : str
        Sound mode and pitch mapping (see :mod:`emgfeedback.sound`); without an audio
        device one line on stderr says what to install and the session goes on silently.
    share : ShareOptions, optional
        Share the client view with browsers from the start; prints ``share: <url>`` (the
        viewer's address with its pairing code) on a line of its own.

    Returns
    -------
    LiveResult
    """
    app = application()
    from pyqtgraph.Qt import QtCore

    from emgfeedback.gui.settings import load_settings

    settings = load_settings() if use_settings else None
    if url is None:
        from emgfeedback.gui.settings import Settings

        chosen = ask_setup(settings or Settings())
        if chosen is None:
            return LiveResult(exit_code=1)
        url, channels, subject = chosen
    if settings is not None:
        settings.last_source = url
        settings.last_subject = subject or settings.last_subject
        settings.last_protocol = protocol or settings.last_protocol
    win = build_window(url, protocol=protocol, db_path=db_path, subject=subject, fast=fast,
                       window_s=window_s, mode=mode, mains_hz=mains_hz, settings=settings,
                       channels=channels)
    result = LiveResult()
    win.check_before_start = not fast  # H9 (#20): the signal check step (skippable)
    if lsl:
        win.toggle_lsl(True)
    win.share_options = share  # H11: also used by the Share button
    if share is not None:
        from emgfeedback.gui.share_panel import start_sharing

        try:
            print(f"share: {start_sharing(win, share)}", flush=True)
        except BaseException:
            win.shutdown()
            raise
    if sound != "off":
        win.set_sound_mode(sound, sound_mapping)
        if win.client.sound_problem:
            print(win.client.sound_problem, file=sys.stderr)
    if record:
        result.session_id = win.session.start_recording(db_path)
        win.act_record.setChecked(True)

    stopped: list[int] = []

    def finish() -> None:
        if screenshot:
            win.save_screenshot(screenshot)
        if stopped:  # a stop signal: the recording is kept as incomplete, like `record`
            from emgfeedback.host import stop_signal_label

            win.session.stop_reason = f"stopped by {stop_signal_label(stopped[0])}"
        win.close()

    if screenshot and not seconds:
        # with a screenshot and no duration, take it when a fast protocol finishes
        win.protocol_done.connect(lambda _r: win.save_screenshot(screenshot))
    elif screenshot and fast and protocol:
        win.protocol_done.connect(lambda _r: win.save_screenshot(screenshot))
    win.show()
    if client:
        win.toggle_client()
    win.start()
    if seconds:
        QtCore.QTimer.singleShot(int(seconds * 1000), finish)
    with close_on_stop_signals(finish, stopped):
        app.exec_()
    win.shutdown()
    if stopped:
        result.exit_code = 128 + stopped[0]  # like `record`: 130 Ctrl-C, 143 SIGTERM
    if win.error is not None:
        raise win.error
    result.protocol_results = list(win.session.protocol_results)
    result.session_id = win.session.recorder.session_id
    result.frames = win.frames
    result.fps = win.latency.fps(over_s=1e9)
    result.latency_p95_ms = win.latency.latency_ms(95)
    result.health = win.session.engine.health.as_dict()
    player = win.client.sound.player
    result.sound = {"mode": win.client.sound_mode, "problem": player.problem,
                    "blocks": player.blocks, "underflows": player.underflows,
                    "cues_played": [k for k, _t in player.cues_played],
                    "latency_ms": player.latency_ms()}
    if win.share is not None:
        result.share = {"url": win.share.url, **win.share.server.stats()}
    return result
