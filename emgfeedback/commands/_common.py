"""Shared pieces of the commands that run the engine (record, baseline, run, live).

:func:`open_recording` sets up source → store → session → writer → recorder → engine
once for ``record``, ``baseline`` and ``run``; each command parses its options, calls it,
waits and prints.

Exit statuses are defined once here (:data:`EXIT_CODES`) and printed in the ``--help`` of
every command that records (:data:`EXIT_CODES_EPILOG`); stop signals (SIGINT, SIGTERM,
SIGHUP) end a recording like Ctrl-C: final commit, status, summary (:func:`stop_on_signals`,
:func:`finish_recording`).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from emgfeedback.errors import ConfigError

#: Everything went as asked.
EXIT_OK = 0
#: The command failed in a way it explains (e.g. ``capture``: no samples arrived), or an
#: unexpected error (a bug: please report the traceback).
EXIT_FAILED = 1
#: A usage error or an error the user can fix (bad option, URL or file, device not found,
#: database unreadable); the message says what to do. Nothing was recorded.
EXIT_USAGE = 2
#: Incomplete: a timed recording ended early or holds less than asked (the board went silent
#: or was unplugged for good, the source ended, a protocol did not finish). What arrived is
#: stored; the session is ``incomplete`` with its reason.
EXIT_INCOMPLETE = 3
#: Storage failure: samples could not be stored (disk full, I/O error, read-only location).
#: They are a gap with cause ``storage``; the session is ``incomplete`` (reason ``storage``),
#: or ``interrupted`` if not even its status could be written.
EXIT_STORAGE = 4
#: Stopped by a signal: 128 + its number (130 Ctrl-C/SIGINT, 143 SIGTERM, 129 SIGHUP). What
#: was recorded is kept; the session is ``incomplete`` (reason ``stopped by ...``).
EXIT_SIGNAL_BASE = 128

#: Exit status -> meaning, for docs and ``--help``.
EXIT_CODES = {
    EXIT_OK: "ok: everything asked was recorded",
    EXIT_FAILED: "failed (the message says why) or an unexpected error",
    EXIT_USAGE: "usage error or an error you can fix (bad option, device not found ...)",
    EXIT_INCOMPLETE: "incomplete: data missing or ended early (board silent/unplugged, "
                     "source ended, protocol not finished); what arrived is kept",
    EXIT_STORAGE: "storage failure (disk full, I/O error): samples not stored are a gap "
                  "with cause 'storage'",
    EXIT_SIGNAL_BASE + 2: "stopped by Ctrl-C (SIGINT); 143 SIGTERM, 129 SIGHUP; what was "
                          "recorded is kept",
}

def _exit_codes_text(width: int = 78) -> str:
    import textwrap

    lines = ["exit status:"]
    for code, text in EXIT_CODES.items():
        lines += textwrap.wrap(text, width, initial_indent=f"  {code:>3}  ",
                               subsequent_indent=" " * 7)
    return "\n".join(lines)


#: The ``--help`` epilog of the commands that record.
EXIT_CODES_EPILOG = _exit_codes_text()


def add_exit_codes_epilog(parser) -> None:
    """Show :data:`EXIT_CODES` at the end of ``parser``'s ``--help``."""
    import argparse

    base = parser.formatter_class

    class Formatter(base):
        """Keeps the exit-status table's layout; reflows every other paragraph."""

        def _fill_text(self, text, width, indent):
            parts = [part if part.startswith("exit status:")
                     else base._fill_text(self, part, width, indent)
                     for part in text.split("\n\n")]
            return "\n\n".join(parts)

    parser.epilog = (parser.epilog + "\n\n" if parser.epilog else "") + EXIT_CODES_EPILOG
    if parser.formatter_class is argparse.HelpFormatter or \
            issubclass(parser.formatter_class, argparse.HelpFormatter):
        parser.formatter_class = Formatter


def add_source_arguments(parser, required: bool = True) -> None:
    """``--source URL`` plus session metadata options."""
    parser.add_argument("--source", required=required, metavar="URL",
                        help="serial:///dev/ttyACM0?framing=emgf, sim://?scenario=drill, "
                             "file://DB?session=ID, lsl://?type=EMG, brainflow://synthetic")
    parser.add_argument("--db", type=Path, default=None,
                        help="session database (default: EMGFEEDBACK_DB or the user data dir)")
    from emgfeedback import bounds  # H8: identifiers are bounded printable text

    parser.add_argument("--subject", default="", type=bounds.SUBJECT_ID.arg,
                        help="who is measured (an id, not a name; "
                             f"{bounds.SUBJECT_ID.describe()})")
    parser.add_argument("--note", default="", type=bounds.NOTE.arg,
                        help=f"free text stored with the session ({bounds.NOTE.describe()})")
    parser.add_argument("--names", default=None, metavar="A,B,...",
                        type=bounds.CHANNEL_NAME.list_arg,
                        help="channel names, e.g. 'glute med R,TFL R' (each "
                             f"{bounds.CHANNEL_NAME.describe()}; with --subject, saved for "
                             "that subject and device and used when not given)")
    parser.add_argument("--placements", default=None, metavar="P1,P2,...",
                        type=bounds.PLACEMENT.list_arg,
                        help="electrode placement per channel, e.g. 'upper trapezius,TFL'")
    parser.add_argument("--sides", default=None, metavar="S1,S2,...",
                        type=bounds.CHANNEL_NAME.list_arg,
                        help="side per channel: left, right or empty")
    parser.add_argument("--mains", type=float, default=50.0, choices=(50.0, 60.0),
                        help="mains frequency to notch, Hz (default 50)")
    parser.add_argument("--lsl", action="store_true",
                        help="publish on Lab Streaming Layer (unauthenticated, local network)")


def per_channel(info, arg: str | None, option: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Split a comma-separated per-channel option, checking it gives one value per channel."""
    if not arg:
        return default
    values = tuple(v.strip() for v in arg.split(","))
    if len(values) != info.n_channels:
        raise ConfigError(f"{option} gives {len(values)} values for {info.n_channels} channels; "
                          "give one per channel, separated by commas")
    return values


def channel_names(info, names_arg: str | None) -> tuple[str, ...]:
    """The names to store: ``--names`` if given (one per channel), else the source's."""
    return per_channel(info, names_arg, "--names", tuple(info.channel_names))


def channel_setup(info, args):
    """Names, placements and sides for this run (H3, channel identity).

    ``--names``/``--placements``/``--sides`` if given, else the subject's saved set-up for
    this board (``--subject``), else the source's names; given values are saved for the
    subject (:func:`emgfeedback.gui.settings.resolve_channels`). Worked out once per run.

    Returns
    -------
    emgfeedback.gui.settings.ChannelIdentity
    """
    cached = getattr(args, "_channel_setup", None)
    if cached is not None:
        return cached
    from emgfeedback.gui.settings import resolve_channels

    def given(attr, option):
        return per_channel(info, getattr(args, attr, None), option, None)

    setup = resolve_channels(getattr(args, "subject", "") or "", info.board or "",
                             tuple(info.channel_names), given("names", "--names"),
                             given("placements", "--placements"), given("sides", "--sides"))
    args._channel_setup = setup
    return setup


def open_store(db: Path | None):
    """Open (create or migrate) the session database."""
    from emgfeedback.storage import SessionStore, default_db_path

    return SessionStore(db or default_db_path())


def new_session(store, info, args, protocol: str = ""):
    """Create a session row for an opened source; returns its id."""
    from emgfeedback.storage import SessionMeta

    setup = channel_setup(info, args)
    meta = SessionMeta(
        fs_hz=float(info.fs_hz), channel_names=setup.names, calibration=tuple(info.calibration),
        subject=args.subject or None, note=args.note, board=info.board, source_url=info.url,
        placements=setup.placements, sides=setup.sides,
        protocol=protocol or None,
    )
    return store.create_session(meta)


def make_outlets(args, info) -> list:
    """The LSL outlet when ``--lsl`` was given."""
    if not getattr(args, "lsl", False):
        return []
    from emgfeedback.interop.lsl import LslOutlet

    setup = channel_setup(info, args)
    return [LslOutlet(info, channel_names=setup.names, placements=setup.placements,
                      sides=setup.sides)]


@dataclass
class HeadlessRecording:
    """What :func:`open_recording` set up for a headless command.

    Attributes
    ----------
    source : Source
        Opened, not started (the engine starts it).
    info : SourceInfo
    names : tuple of str
        The channel names of this run (``--names``, the subject's set-up, else the
        source's): the session's and the onset markers' names.
    store : SessionStore or None
        None with ``record=False``.
    session_id : int or None
    writer : SessionWriter or None
    recorder : Recorder
        The engine's recorder, recording into ``writer`` (switched off without a store).
    engine : Engine
    config : PipelineConfig
        The processing every chunk goes through.
    runner : ProtocolRunner or None
        The protocol the engine runs (it then ends with it).
    """

    source: object
    info: object
    names: tuple
    store: object
    session_id: int | None
    writer: object
    recorder: object
    engine: object
    config: object
    runner: object = None

    def finish(self, stopped: StopRequested | None, *, command: str,
               incomplete: str | None = None) -> RecordingOutcome | None:
        """:func:`finish_recording` (None, after stopping the engine, when not recording)."""
        if self.writer is None:
            self.engine.stop()
            return None
        return finish_recording(self.engine, self.writer, self.session_id, stopped=stopped,
                                incomplete=incomplete, command=command)


#: Seconds of processed signal the engine keeps for displays in a headless command. Nothing
#: reads it there; the engine's default (30 s, the GUI's longest window) is 7.7 MB of float64
#: at 8 channels and 2 kHz, filled in the first 30 s: resident memory for nobody (issue 16).
HEADLESS_DISPLAY_S = 0.5


def open_recording(args, url: str, *, record: bool = True, session_protocol: str = "",
                   signal: dict | None = None, seconds: float | None = None,
                   give_up_s: float | None = None, make_runner=None,
                   gate: SignalGate | None = None) -> HeadlessRecording:
    """Open the source and the store, create the session and build the engine and its
    recorder: the set-up ``record``, ``baseline`` and ``run`` share.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_source_arguments` (``db``, ``subject``, ``note``,
        ``names``, ``placements``, ``sides``, ``mains``, ``lsl``).
    url : str
        The source URL (after any rewriting the command does, e.g. ``--fast``).
    record : bool
        Store the session (False: ``run --no-record``; nothing is opened in the store).
    session_protocol : str
        What the session row names as its protocol (``baseline``, a protocol's name).
    signal : dict, optional
        The pre-session signal check (``commands.check.pre_session_check``) to store with
        the session.
    seconds : float, optional
        Stop after this much stream (``stop_after_s``).
    give_up_s : float, optional
        End early after this long without data from a silent source (default
        :data:`~emgfeedback.runtime.engine.GIVE_UP_S`).
    make_runner : callable, optional
        ``f(info, names, store) -> ProtocolRunner``: a protocol to run; the engine ends
        when it finishes (``stop_when_protocol_done``).
    gate : SignalGate, optional
        From :func:`stop_on_signals`: once the source is open (opening it may wait on a
        device, and stays interruptible), a stop signal is held in ``gate.held`` until the
        session, its writer and the engine exist, so the caller can close the session as
        stopped by it instead of leaving a row no writer will close.

    Returns
    -------
    HeadlessRecording
    """
    from emgfeedback.acquisition import open_source

    source = open_source(url)
    source.open()
    with gate.defer() if gate is not None else contextlib.nullcontext():
        return _set_up_recording(args, source, record, session_protocol, signal, seconds,
                                 give_up_s, make_runner)


def _set_up_recording(args, source, record, session_protocol, signal, seconds, give_up_s,
                      make_runner) -> HeadlessRecording:
    from emgfeedback.commands.check import store_session_check
    from emgfeedback.runtime import Engine, Processor, default_pipeline_config
    from emgfeedback.runtime.engine import GIVE_UP_S
    from emgfeedback.runtime.recording import Recorder

    info = source.info
    names = tuple(channel_setup(info, args).names)
    store = open_store(args.db) if record else None
    runner = make_runner(info, names, store) if make_runner is not None else None
    config = default_pipeline_config(info.fs_hz, args.mains)
    recorder = Recorder(channel_names=names)
    session_id = writer = None
    if store is not None:
        session_id = new_session(store, info, args, protocol=session_protocol)
        store_session_check(store, session_id, signal)
        writer = store.open_writer(session_id)
        recorder.start(writer, session_id)
    engine = Engine(
        source, processor_factory=lambda i: Processor(i, config, mains_hz=args.mains),
        recorder=recorder, outlets=make_outlets(args, info), stop_after_s=seconds,
        give_up_s=GIVE_UP_S if give_up_s is None else give_up_s,
        stop_when_protocol_done=runner is not None, display_window_s=HEADLESS_DISPLAY_S)
    if runner is not None:
        engine.start_protocol(runner)
    return HeadlessRecording(source, info, names, store, session_id, writer, recorder,
                             engine, config, runner)


def progress(label: str, done: float, total: float, width: int = 30, stream=None) -> None:
    """Draw a one-line progress bar on a terminal (nothing when not a terminal)."""
    stream = sys.stderr if stream is None else stream  # now's stderr, not import time's
    if not stream.isatty():
        return
    frac = 0.0 if total <= 0 else min(1.0, done / total)
    bar = "#" * int(frac * width)
    stream.write(f"\r{label} [{bar:<{width}}] {done:6.1f}/{total:.0f} s")
    stream.flush()


#: A timed run whose source delivers nothing for this long, without saying it is silent
#: (``no_data``/``reconnecting``, which ``Engine.give_up_s`` handles), is stopped (s).
STALL_S = 60.0


def run_for(engine, seconds: float, label: str, command: str | None = None) -> None:
    """Wait for a started engine built with ``stop_after_s=seconds``, showing progress and
    printing alarms (a silent board, an unplug, storage failing) at once on stderr.

    A silent or unplugged source ends the engine after its ``give_up_s`` without data. As a
    backstop for a source that stalls without saying so, the wait ends after
    :data:`STALL_S` without a new sample (the caller then stops the engine; the session
    is ``incomplete``, reason ``too_slow``). A source that keeps delivering, however slowly
    (a fast replay on a busy machine), is waited for.
    """
    fs = engine.source.info.fs_hz
    command = command or "record"
    seq = 0
    seen, last_progress = -1, time.monotonic()
    stall_s = max(STALL_S, (engine.give_up_s or 0.0) + 10.0)
    while not engine.wait(0.1):
        seq = print_new_events(engine, seq, command)
        samples = engine.health.samples_in
        progress(label, samples / fs, seconds)
        now = time.monotonic()
        if samples != seen:
            seen, last_progress = samples, now
        elif now - last_progress > stall_s:
            break
    print_new_events(engine, seq, command)
    progress(label, engine.health.samples_in / fs, seconds)
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def json_ready(value):
    """A copy of ``value`` that ``json.dumps`` writes as standard JSON (NaN/inf → null).

    :func:`emgfeedback.jsonsafe.json_ready`, imported on first use so that the CLI does
    not load NumPy before a command needs it.
    """
    from emgfeedback.jsonsafe import json_ready as ready

    return ready(value)


class StopRequested(KeyboardInterrupt):
    """A stop signal (SIGINT, SIGTERM, SIGHUP...) arrived; raised in the main thread.

    A :class:`KeyboardInterrupt`, so code that already handles Ctrl-C handles it too.

    Attributes
    ----------
    signum : int
        The signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def label(self) -> str:
        """``Ctrl-C (SIGINT)``, ``SIGTERM``, ... (:func:`emgfeedback.host.stop_signal_label`)."""
        from emgfeedback.host import stop_signal_label

        return stop_signal_label(self.signum)

    @property
    def exit_code(self) -> int:
        """128 + the signal number."""
        return EXIT_SIGNAL_BASE + self.signum


class SignalGate:
    """What :func:`stop_on_signals` yields: holds a stop signal back over a set-up block.

    Inside :meth:`defer` (creating a session, opening its writer, building the engine) a
    stop signal is not raised, which would leave a session row with no writer to close it
    (shown ``interrupted`` later, the signal forgotten); it is kept in :attr:`held`, and the
    command ends the session it just set up as stopped by that signal.

    Attributes
    ----------
    held : StopRequested or None
        The stop signal that arrived inside :meth:`defer`.
    """

    def __init__(self) -> None:
        self.deferring = False
        self.held: StopRequested | None = None

    @contextlib.contextmanager
    def defer(self):
        """Hold stop signals back until the block ends (see the class docstring)."""
        self.deferring = True
        try:
            yield self
        finally:
            self.deferring = False


@contextlib.contextmanager
def stop_on_signals():
    """Turn the host's stop signals into :class:`StopRequested` in the main thread.

    The first signal raises (or, inside ``gate.defer()``, is held in ``gate.held``); later
    ones (while the session is being closed) only print a note, so the final commit and
    summary are not cut short. Handlers are restored on exit. A signal ignored when the
    command started (``nohup``, SIGINT of a background job) stays ignored. Outside the main
    thread (tests, GUI helpers) no handler is installed.

    Yields
    ------
    SignalGate
    """
    from emgfeedback.host import stop_signal_handlers

    gate = SignalGate()
    if threading.current_thread() is not threading.main_thread():
        yield gate
        return
    raised = []

    def handler(signum, frame):
        if raised:
            print(f"{signal.Signals(signum).name}: already stopping; finishing the session",
                  file=sys.stderr)
            return
        raised.append(signum)
        if gate.deferring:
            gate.held = StopRequested(signum)
            return
        raise StopRequested(signum)

    with stop_signal_handlers(handler):
        yield gate


@dataclass
class RecordingOutcome:
    """How a recording ended.

    Attributes
    ----------
    status : str
        The session's status: ``complete``, ``incomplete`` or ``interrupted``.
    reason : str or None
        Why it is not complete.
    exit_code : int
        One of :data:`EXIT_CODES` (or 128 + a signal number).
    stopped : StopRequested or None
        The signal that stopped it.
    """

    status: str
    reason: str | None
    exit_code: int
    stopped: StopRequested | None = None


def wait_recording(engine, seconds: float, label: str, command: str) -> StopRequested | None:
    """:func:`run_for`, ended early by a stop signal; returns that signal, if any."""
    try:
        run_for(engine, seconds, label, command)
    except StopRequested as stop:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        return stop
    return None


def finish_recording(engine, writer, session_id: int, *, stopped: StopRequested | None,
                     incomplete: str | None = None, command: str = "record") \
        -> RecordingOutcome:
    """Stop the engine, close the writer with the right status and print what was kept.

    Parameters
    ----------
    engine : Engine
        Started (or already stopped) engine.
    writer : SessionWriter
    session_id : int
    stopped : StopRequested or None
        The signal that ended the recording.
    incomplete : str, optional
        A reason the caller knows the session is incomplete (e.g. a protocol that did not
        finish), used when neither a signal nor the engine gives one.
    command : str
        For the messages.

    Returns
    -------
    RecordingOutcome
    """
    error = None
    try:
        engine.stop()
    except Exception as exc:  # noqa: BLE001 - the session is closed first, then re-raised
        error = exc
    reason = None
    if stopped is not None:
        reason = f"stopped by {stopped.label}"
    elif error is not None:
        reason = f"error: {error}"
    elif engine.end_reason is not None:
        reason = engine.end_reason
    elif engine.stop_after_s is not None and engine.health.samples_in < int(round(
            engine.stop_after_s * engine.source.info.fs_hz)):
        reason = "too_slow"  # the stall backstop of run_for ran out
    elif incomplete:
        reason = incomplete
    status = "incomplete" if reason else "complete"
    with stop_ignored():
        if engine.recorder.writer is writer:  # switch the recorder off, closing the writer
            stored_all = engine.recorder.stop(status=status, reason=reason)
        else:
            stored_all = writer.close(status=status, reason=reason)
    if error is not None:
        print(f"emgfeedback {command}: session {session_id} kept as {writer.final_status} "
              f"({writer.end_reason})", file=sys.stderr)
        raise error
    status, reason = writer.final_status, writer.end_reason
    if stopped is not None:
        code = stopped.exit_code
    elif not stored_all:
        code = EXIT_STORAGE
    elif status != "complete":
        code = EXIT_INCOMPLETE
    else:
        code = EXIT_OK
    print_summary(engine, writer, session_id, status, reason, stopped, command)
    return RecordingOutcome(status, reason, code, stopped)


@contextlib.contextmanager
def stop_ignored():
    """Let a block finish even if a stop signal arrives (the signal was already handled)."""
    try:
        yield
    except StopRequested:  # a second signal raced the handler swap: finish anyway
        pass


def print_summary(engine, writer, session_id, status, reason, stopped, command) -> None:
    """The lines every recording command prints on stderr when it ends."""
    health = engine.health.as_dict()
    try:  # the source is open from open_recording on, before the engine has a processor
        fs_hz = float(engine.source.info.fs_hz)
    except Exception:  # noqa: BLE001 - a source that cannot say: no durations
        fs_hz = float("nan")
    causes = ", ".join(f"{k} {v}" for k, v in sorted(health["lost_by_cause"].items()) if v)
    wstats = writer.stats()
    dropped = wstats["samples_dropped"]
    lost = health["lost_samples"] + dropped
    total = health["samples_in"] + health["lost_samples"]
    if dropped:
        causes = ", ".join(filter(None, [causes, f"storage {dropped}"]))
    # --seconds counts the samples received; lost ones are gaps on top of them, so the
    # session spans received + lost (said here, not only in the store).
    print(f"received {health['samples_in']} samples ({health['samples_in'] / fs_hz:.1f} s) "
          f"over {total / fs_hz:.1f} s of stream, "
          f"lost {lost} ({100.0 * lost / total if total else 0.0:.3f}%)"
          + (f": {causes}" if causes else ""), file=sys.stderr)
    if dropped:
        print(f"not stored: {wstats['samples_dropped']} samples "
              f"({wstats['samples_dropped'] / fs_hz:.1f} s) could not be written "
              f"(gap cause 'storage'): {writer.error}", file=sys.stderr)
    elif writer.error is not None:
        print(f"warning: the recorder reported: {writer.error}", file=sys.stderr)
    if engine.alarm_counts:
        print("alarms: " + ", ".join(f"{k} {v}" for k, v in sorted(engine.alarm_counts.items())),
              file=sys.stderr)
    written = wstats["samples_written"]
    kept = f"{written} samples ({written / fs_hz:.1f} s) stored"
    if stopped is not None:
        print(f"stopped by {stopped.label}: session {session_id} kept, {kept}, status "
              f"{status}", file=sys.stderr)
    elif status == "complete":
        print(f"session {session_id} complete: {kept}", file=sys.stderr)
    else:
        print(f"emgfeedback {command}: session {session_id} is {status} ({reason}): {kept}",
              file=sys.stderr)


def print_new_events(engine, seq: int, command: str) -> int:
    """Print the engine's new alarms on stderr at once; returns the next ``seq``."""
    events, seq = engine.events_since(seq)
    for event in events:
        if event.is_alarm or event.kind in ("data_resumed", "reconnected"):
            if sys.stderr.isatty():
                sys.stderr.write("\r\x1b[K")
            word = "alarm" if event.is_alarm else "note"
            extra = ""
            if event.is_alarm and event.kind in ("no_data", "unplug") and \
                    engine.give_up_s is not None:
                extra = f" (the session ends after {engine.give_up_s:.0f} s without data)"
            print(f"emgfeedback {command}: {word}: {event.message}{extra}", file=sys.stderr)
    return seq
