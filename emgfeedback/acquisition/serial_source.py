"""Serial-port source: a pyserial reader thread, decoders, reconnect and a no-data alarm.

``serial:///dev/ttyACM0?framing=emgf&baud=1000000&board=uno-myoware2`` opens a
:class:`SerialSource`. One background thread does all the port I/O: it reads
``max(1, in_waiting)`` bytes with a short timeout, feeds the framing's decoder, turns decoded
blocks into :class:`~emgfeedback.acquisition.source.Chunk` objects with absolute session
indices and :class:`~emgfeedback.acquisition.source.Gap` records, and writes queued host
commands. What it does about the awkward parts of real serial links:

- **ptys** (the virtual device, socat): setting DTR/RTS there raises ``OSError`` (ENOTTY);
  pyserial tolerates it on open and so does this module afterwards.
- **Reset on open** (an Uno reboots when the port opens): host commands are held until the
  device's info message arrives or ``reset_wait`` seconds pass, while frames that arrive
  meanwhile are already decoded.
- **Unplug**: a ``SerialException`` moves the source to ``reconnecting``; the thread polls
  for the same USB device (VID, PID, serial number via ``serial.tools.list_ports``) or the
  same path, reopens it, re-sends the start command and resumes the *same* session. When
  samples resume, a ``Gap(cause="unplug")`` records what was missed (see
  :meth:`.serial_stream.SerialStreamMixin._place`).
- **Silence**: no samples for ``no_data`` seconds while streaming sets the state
  ``no_data`` and raises a ``no_data`` event; the state returns to ``streaming`` when
  samples come back.

Session indices start at 0 with the first sample received and never go backwards.

This module holds the public class (its API, the open-time handshake, the source info)
and the URL options. The pieces live in small modules: :mod:`.serial_link` (the reader
thread's loop, host commands, silence, unplug and reconnect), :mod:`.serial_stream`
(framing detection, decoding, session indices and loss accounting on the reader thread),
:mod:`.serial_port` (opening, reading, finding the device again), :mod:`.serial_commands`
(what each framing is told, the reset hold), :mod:`.serial_indexing` (session indices, gaps
and their causes, the measured rate) and :mod:`.serial_detect` (framing detection, text
channel count, rate snapping). Their public constants stay importable from here.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from emgfeedback.acquisition.boards import BOARDS, get_board
from emgfeedback.acquisition.serial_commands import (
    EMGF_ACCEPTED,
    EMGF_REPLY_CODES,
    EMGF_START,
    EMGF_STOP,
    CommandQueue,
    byb_channels_command,
    emgf_config_commands,
    encode_command,
)
from emgfeedback.acquisition.serial_detect import (
    DETECT_S,
    NOMINAL_RATES_HZ,
    snap_rate,
)
from emgfeedback.acquisition.serial_indexing import (
    DECODER_COUNTERS,
    REBASE_RESTART,
    BlockPlacer,
    RateMeter,
    zero_counters,
)
from emgfeedback.acquisition.serial_link import RECONNECT_POLL_S, SerialLinkMixin
from emgfeedback.acquisition.serial_port import (
    DEFAULT_BAUD,
    READ_TIMEOUT_S,
    open_error_message,
    open_port,
    usb_identity,
)
from emgfeedback.acquisition.serial_stream import SerialStreamMixin
from emgfeedback.acquisition.source import (
    Chunk,
    LossCounts,
    Source,
    SourceEvent,
    SourceInfo,
    SourceUrl,
    boolean,
    choice,
    positive,
    take_chunks,
    take_options,
)
from emgfeedback.errors import ConfigError, SourceError

__all__ = [
    "DECODER_COUNTERS", "DEFAULT_BAUD", "DEFAULT_FS_HZ", "DETECT_S", "FRAMING_CHOICES",
    "INFO_REPLY_S", "NOMINAL_RATES_HZ", "READ_TIMEOUT_S", "RECONNECT_POLL_S", "SerialSource",
    "SourceEvent", "source_from_url",
]

FRAMING_CHOICES = ("emgf", "text", "p2", "byb", "auto")

#: Sample rate used when neither the URL, the device nor the board gives one.
DEFAULT_FS_HZ = {"p2": 256.0}

#: How long ``open()`` waits for the info reply after asking an emgf device ``?`` (s).
INFO_REPLY_S = 1.0

#: How long a configuration command waits for its status reply (s).
COMMAND_REPLY_S = 1.0


def _default_board(framing: str) -> str:
    for name, board in BOARDS.items():
        if board.framing == framing:
            return name
    return "generic"


class SerialSource(SerialLinkMixin, SerialStreamMixin, Source):
    """Samples from a board on a serial port (or a pty).

    Parameters
    ----------
    port : str
        Device path (``/dev/ttyACM0``, ``COM3``, a pty or a symlink to one).
    framing : str
        ``emgf``, ``text``, ``p2``, ``byb`` or ``auto`` (detect from the first second).
    baud : int, optional
        Line rate; defaults to the board's, else the framing's usual rate.
    board : str, optional
        Board descriptor name (calibration, defaults); defaults by framing.
    fs_hz : float, optional
        Sample rate. For ``emgf`` a rate different from the device's is sent as ``f<Hz>``;
        for formats without a rate it is the nominal rate.
    channels : int, optional
        Channel count. For ``emgf`` sent as ``c<n>``; for ``byb`` as ``c:<n>;``.
    samples_per_frame : int, optional
        ``emgf`` only: sent as ``k<n>``.
    reset_wait_s : float
        Longest hold of host commands after opening (the Uno resets on open).
    no_data_s : float
        Silence (no samples) after which the ``no_data`` alarm is raised.
    reconnect : bool
        Try to reconnect after an unplug (else the source finishes).
    url : str, optional
        The URL (for ``info.url``).
    """

    def __init__(
        self,
        port: str,
        framing: str = "auto",
        baud: int | None = None,
        board: str | None = None,
        fs_hz: float | None = None,
        channels: int | None = None,
        samples_per_frame: int | None = None,
        reset_wait_s: float = 2.0,
        no_data_s: float = 1.0,
        reconnect: bool = True,
        url: str | None = None,
    ) -> None:
        super().__init__()
        if framing not in FRAMING_CHOICES:
            raise ConfigError(f"framing {framing!r}: expected one of {', '.join(FRAMING_CHOICES)}")
        if not port:
            raise ConfigError("serial source: no port given, e.g. serial:///dev/ttyACM0")
        self.port = port
        self.requested_framing = framing
        self.framing: str | None = None if framing == "auto" else framing
        # byb does not say how many channels it sends: detect that too unless given
        if framing == "byb" and channels is None:
            self.framing = None
        self._board = get_board(board) if board else None
        self._baud = baud
        self._fs_option = fs_hz
        self._channels_option = channels
        self._k_option = samples_per_frame
        self.reset_wait_s = float(reset_wait_s)
        self.no_data_s = float(no_data_s)
        self.reconnect_enabled = bool(reconnect)
        self._url = url or f"serial://{port}?framing={framing}"

        self._ser = None
        self._usb_identity: tuple | None = None  # (vid, pid, serial_number)
        self._thread: threading.Thread | None = None
        self._quit = threading.Event()
        self._lock = threading.Lock()
        self._chunk_ready = threading.Condition(self._lock)
        self._chunks: deque[Chunk] = deque()
        self._events: deque[SourceEvent] = deque(maxlen=1000)
        self._commands = CommandQueue(self._lock)
        self._info_asked_s: float | None = None  # when the hold ended with a '?'
        self._info: SourceInfo | None = None
        self.device_info: dict | None = None  # last emgf info payload
        self.device_status: dict | None = None  # last emgf status payload
        self.detection = None  # DetectedFraming for framing=auto
        self._status_seen = threading.Condition(self._lock)
        self._status_log: deque[tuple[int, dict]] = deque(maxlen=100)  # (seq, payload)
        self._status_seq = 0

        # decoder state
        self._decoder = None
        self._renew_decoder = False
        # text without channels: look at a few lines first (the first may be partial)
        self._text_probe = framing == "text" and channels is None
        self._detect_buf = bytearray()
        self._detect_started_s: float | None = None
        self._counters_done = zero_counters()  # from replaced decoders
        self._first_block = threading.Event()

        # session indices (see BlockPlacer.place), silence, stop/start
        self._placer = BlockPlacer()
        self._last_sample_s: float | None = None
        self._unplug_s: float | None = None
        self._started = False
        self._start_s = 0.0
        self._silent_alarmed = False

        # stats
        self._loss_counts = LossCounts()
        self._reconnects = 0
        self._unplugs = 0
        self._no_data_events = 0
        self._channel_mismatch = 0
        self._rate = RateMeter()
        self._rate_estimator = None  # RateEstimator for text streams without fs
        self.fs_estimated_hz: float | None = None

    # ------------------------------------------------------------------ public API

    @property
    def info(self) -> SourceInfo:
        if self._info is None:
            raise SourceError(f"{self._url}: the source is not open yet")
        return self._info

    def open(self) -> None:
        """Open the port, start the reader thread and learn what the device sends.

        Blocks at most about ``reset_wait`` seconds (plus one second for ``framing=auto``)
        waiting for the device's info message or first samples; an emgf device that stayed
        silent through the hold is asked ``?`` and its reply awaited up to
        :data:`INFO_REPLY_S` more.

        Raises
        ------
        SourceError
            If the port cannot be opened, or ``framing=auto`` cannot tell the format.
        """
        if self._thread is not None:
            return
        try:
            self._ser = open_port(self.port, self._line_rate())
        except OSError as exc:
            raise SourceError(open_error_message(self.port, str(exc))) from exc
        self._usb_identity = usb_identity(self.port)
        self._begin_hold()
        self._set_state("open")
        self._thread = threading.Thread(target=self._run, name=f"serial:{self.port}",
                                        daemon=True)
        self._thread.start()
        try:
            self._wait_for_device()
            self._configure()
        except BaseException:
            self.close()
            raise
        self._info = self._build_info()

    def start(self) -> None:
        """Start streaming (sends ``b`` to an emgf device)."""
        if self._thread is None:
            self.open()
        if self.framing == "emgf":
            self._commands.put(EMGF_START)
        with self._lock:
            self._started = True
            self._start_s = time.monotonic()
            self._silent_alarmed = False
        if self.state in ("open", "stopped"):
            self._set_state("streaming")

    def stop(self) -> None:
        """Stop streaming (sends ``s`` to an emgf device); samples arriving meanwhile are
        discarded and a later ``start()`` continues the indices without a gap."""
        if self.framing == "emgf":
            self._commands.put(EMGF_STOP)
        with self._lock:
            self._started = False
        if self.state not in ("closed", "finished"):
            self._set_state("stopped")

    def close(self) -> None:
        """Stop the thread and close the port. Idempotent."""
        self._quit.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None
        self._release_port()
        self._set_state("closed")

    def read(self, timeout_s: float = 0.1) -> list[Chunk]:
        return take_chunks(self._chunk_ready, self._chunks, timeout_s,
                           lambda: self._state in ("closed", "finished"))

    def send_command(self, command: str | bytes) -> None:
        """Queue a raw host command (written by the reader thread once the hold is over).

        Parameters
        ----------
        command : str or bytes
            For emgf, a line such as ``"?"`` or ``"f1000"`` (``\\n`` is added); for byb
            ``"c:2;"``. Bytes are sent as they are.
        """
        self._commands.put(encode_command(self.framing, command))

    def request_info(self) -> None:
        """Ask an emgf device to describe itself (``?``); the reply updates ``device_info``."""
        self.send_command("?")

    def pop_events(self) -> list[SourceEvent]:
        """Events (alarms, device messages, reconnects) since the last call."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events

    def stats(self) -> dict:
        with self._lock:
            counters = dict(self._counters_done)
            if self._decoder is not None:
                for key in DECODER_COUNTERS:
                    counters[key] += int(self._decoder.counters.get(key, 0))
            return {
                **self._loss_counts.as_dict(),
                "frames": counters["frames"],
                "crc_errors": counters["crc_errors"],
                "format_errors": counters["format_errors"],
                "bytes_skipped": counters["bytes_skipped"],
                "reconnects": self._reconnects,
                "unplugs": self._unplugs,
                "no_data_events": self._no_data_events,
                "index_restarts": self._placer.index_restarts,
                "channel_mismatch_samples": self._channel_mismatch,
                "fs_hz_measured": self._rate.fs_hz,
                "framing": self.framing,
                "state": self._state,
                "no_data_s": round(self.time_without_data_s(), 3),
                "device_tx_dropped": (self.device_status or {}).get("tx_dropped"),
                "device_overruns": (self.device_status or {}).get("overruns"),
            }

    def _event(self, now: float, kind: str, message: str, data: dict | None = None) -> None:
        with self._lock:
            self._events.append(SourceEvent(now, kind, message, data or {}))

    # ------------------------------------------------------------------ open-time waits

    def _wait_for_device(self) -> None:
        # emgf: after the hold the thread asks '?'; the reply is awaited from that moment
        t0 = time.monotonic()
        deadline = t0 + self.reset_wait_s + (
            DETECT_S + 0.5 if self.framing is None else 0.5 if self.framing == "emgf" else 0.0)
        hard_deadline = deadline + 2.0
        while time.monotonic() < deadline:
            if self.framing == "emgf":
                if self.device_info is not None:
                    return
                asked_s = self._info_asked_s
                if asked_s is not None:  # no reset on open: the reply to '?' may still come
                    deadline = max(deadline, asked_s + INFO_REPLY_S)
            if self.framing is not None:
                if self.framing != "emgf" and self._first_block.is_set():
                    if not self._needs_rate_estimate():
                        return
                    estimator = self._rate_estimator
                    rate = estimator.fs_hz if estimator is not None else None
                    if rate is not None:
                        self.fs_estimated_hz = snap_rate(rate)
                        return
                    # the estimate needs about 0.5 s of data
                    deadline = min(hard_deadline, max(deadline, time.monotonic() + 0.1))
            time.sleep(0.01)
        if self.framing is None and self.requested_framing == "byb":
            self.framing = "byb"  # silent so far: the decoder's default channel count
        if self.framing is None:
            reason = self.detection.reason if self.detection is not None else \
                "no bytes arrived"
            raise SourceError(
                f"{self._url}: framing=auto could not tell the wire format ({reason}); "
                "give framing=emgf|text|p2|byb and check the baud rate"
            )

    def _needs_rate_estimate(self) -> bool:
        return self.framing == "text" and not self._fs_option

    def _command_and_wait(self, command: str, timeout_s: float = COMMAND_REPLY_S) -> dict | None:
        """Send an emgf command and wait for its status reply (codes 3, 4 or 5)."""
        with self._lock:
            seen = self._status_seq
        self.send_command(command)
        deadline = time.monotonic() + timeout_s
        with self._status_seen:
            while True:
                for seq, status in self._status_log:
                    if seq > seen and status.get("code") in EMGF_REPLY_CODES:
                        return status
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._status_seen.wait(remaining)

    def _configure(self) -> None:
        """Send the rate/channels/frame-size options an emgf or byb device must be told."""
        if self.framing == "byb" and self._channels_option:
            self._commands.put(byb_channels_command(self._channels_option))
            return
        if self.framing != "emgf" or self.device_info is None:
            return
        wanted = emgf_config_commands(self.device_info, self._fs_option, self._channels_option,
                                      self._k_option)
        if not wanted:
            return
        if self.device_info.get("run"):
            self._command_and_wait("s")
        for command in wanted:
            status = self._command_and_wait(command)
            if status is None:
                raise SourceError(f"{self._url}: the device did not answer {command!r} in "
                                  f"{COMMAND_REPLY_S:g} s")
            if status.get("code") != EMGF_ACCEPTED:
                raise SourceError(
                    f"{self._url}: the device refused {command!r}: "
                    f"{status.get('message') or 'code ' + str(status.get('code'))}"
                )
        old = self.device_info
        self.device_info = None
        self.request_info()
        deadline = time.monotonic() + 1.0
        while self.device_info is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.device_info is None:
            self.device_info = old
            raise SourceError(f"{self._url}: no info reply after reconfiguring the device")
        with self._lock:  # a new stream: the device index restarted
            self._renew_decoder = True
            if self._placer.next_index > 0:
                self._placer.rebase = REBASE_RESTART

    def _build_info(self) -> SourceInfo:
        framing = self.framing or ""
        board = self._board or get_board(_default_board(framing))
        dev = self.device_info or {}
        dec = self._decoder
        n_channels = (self._channels_option or dev.get("ch")
                      or (dec.n_channels if dec is not None else None)
                      or (6 if framing == "p2" else board.channels))
        n_channels = int(n_channels)
        fs_hz = (self._fs_option or dev.get("fs") or self.fs_estimated_hz
                 or (dec.fs_hz if dec is not None else None)
                 or (10_000.0 / n_channels if framing == "byb" else None)
                 or DEFAULT_FS_HZ.get(framing) or board.fs_hz)
        names = None
        if dev.get("in") and len(dev["in"]) == n_channels:
            names = tuple(str(s).split(":")[0] for s in dev["in"])
        elif dec is not None and dec.channel_names and len(dec.channel_names) == n_channels:
            names = tuple(dec.channel_names)
        if names is None or len(set(names)) != n_channels:
            names = tuple(f"ch{i + 1}" for i in range(n_channels))
        outputs = None
        if dev.get("in") and len(dev["in"]) == n_channels:
            kinds = tuple(str(s).split(":")[-1] for s in dev["in"])
            if all(k in board.sensor.gains for k in kinds):
                outputs = kinds
        calibration = board.calibration(n_channels, outputs)
        extra: dict = {"port": self.port, "baud": self._ser.baudrate if self._ser else None}
        if self.device_info:
            extra["device_info"] = dict(self.device_info)
        if self.fs_estimated_hz is not None:
            extra["fs_hz_estimated"] = self.fs_estimated_hz
        if self.detection is not None and self.requested_framing == "auto":
            extra["framing_detected"] = {
                "framing": self.detection.framing,
                "reason": self.detection.reason,
                "confidence": self.detection.confidence,
            }
        if self._usb_identity:
            extra["usb"] = {"vid": self._usb_identity[0], "pid": self._usb_identity[1],
                            "serial_number": self._usb_identity[2]}
        return SourceInfo(url=self._url, fs_hz=float(fs_hz), channel_names=names,
                          calibration=calibration, board=board.name, framing=framing,
                          extra=extra)



def source_from_url(parsed: SourceUrl) -> SerialSource:
    """Create a :class:`SerialSource` from a parsed ``serial://`` URL.

    Options: ``framing`` (emgf|text|p2|byb|auto, default auto), ``baud``, ``board``,
    ``fs`` (Hz), ``channels``, ``k`` (emgf samples per frame), ``reset_wait`` (s, default
    2), ``no_data`` (s, default 1), ``reconnect`` (true|false, default true).
    """
    opts = take_options(parsed, {
        "framing": (choice(*FRAMING_CHOICES), "auto"),
        "baud": (positive(int), None),
        "board": (_board_name, None),
        "fs": (positive(float), None),
        "channels": (positive(int), None),
        "k": (positive(int), None),
        "reset_wait": (_non_negative, 2.0),
        "no_data": (positive(float), 1.0),
        "reconnect": (boolean, True),
    })
    return SerialSource(
        parsed.path, framing=opts["framing"], baud=opts["baud"], board=opts["board"],
        fs_hz=opts["fs"], channels=opts["channels"], samples_per_frame=opts["k"],
        reset_wait_s=opts["reset_wait"], no_data_s=opts["no_data"],
        reconnect=opts["reconnect"], url=parsed.url,
    )


def _board_name(value: str) -> str:
    if value not in BOARDS:
        raise ValueError(f"unknown board; known boards: {', '.join(sorted(BOARDS))}")
    return value


def _non_negative(value: str) -> float:
    number = float(value)
    if number < 0:
        raise ValueError("expected a number >= 0")
    return number
