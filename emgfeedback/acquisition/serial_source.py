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
  samples resume, a ``Gap(cause="unplug")`` records what was missed (see :meth:`_place`).
- **Silence**: no samples for ``no_data`` seconds while streaming sets the state
  ``no_data`` and raises a ``no_data`` event; the state returns to ``streaming`` when
  samples come back.

Session indices start at 0 with the first sample received and never go backwards.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from emgfeedback.acquisition.boards import BOARDS, get_board
from emgfeedback.acquisition.source import (
    Chunk,
    Gap,
    LossCounts,
    Source,
    SourceInfo,
    SourceUrl,
    boolean,
    choice,
    positive,
    take_chunks,
    take_options,
)
from emgfeedback.errors import ConfigError, SourceError

log = logging.getLogger(__name__)

FRAMING_CHOICES = ("emgf", "text", "p2", "byb", "auto")

#: Line rate used when neither the URL nor the board gives one.
DEFAULT_BAUD = {"emgf": 1_000_000, "text": 115_200, "p2": 57_600, "byb": 230_400}

#: Sample rate used when neither the URL, the device nor the board gives one.
DEFAULT_FS_HZ = {"p2": 256.0}

#: How long framing=auto collects bytes before it decides (seconds).
DETECT_S = 1.0

#: Rates a text stream's estimated rate snaps to when within 2 % (Hz).
NOMINAL_RATES_HZ = (50, 100, 125, 200, 250, 256, 300, 400, 500, 512, 1000, 1024, 2000, 2500,
                    4000, 5000, 8000, 10000)

_TEXT_SPLIT = re.compile(r"[ \t,]+")
_TEXT_NUMBER = re.compile(r"^[+-]?\d+(\.\d*)?$")

#: Decoder counters summed into :meth:`SerialSource.stats`.
DECODER_COUNTERS = ("frames", "crc_errors", "format_errors", "bytes_skipped")

READ_TIMEOUT_S = 0.05
RECONNECT_POLL_S = 0.1


@dataclass(frozen=True)
class SourceEvent:
    """Something the source wants a person (or the runtime) to know about.

    Attributes
    ----------
    time_s : float
        Host monotonic time.
    kind : str
        ``no_data`` (alarm), ``data_resumed``, ``unplug``, ``reconnected``, ``device_info``,
        ``device_status``, ``device_event``, ``device_text``, ``channel_mismatch``.
    message : str
        Human-readable description.
    data : dict
        Details (the device message payload, the gap, ...).
    """

    time_s: float
    kind: str
    message: str
    data: dict = field(default_factory=dict)


def _default_board(framing: str) -> str:
    for name, board in BOARDS.items():
        if board.framing == framing:
            return name
    return "generic"


def _sorted_ports_hint() -> str:
    try:
        from serial.tools import list_ports

        names = sorted(p.device for p in list_ports.comports())
    except Exception:  # pragma: no cover - listing is only a hint
        names = []
    return ", ".join(names) if names else "none found (is the board plugged in?)"


class SerialSource(Source):
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
        self._board_name = board
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
        self._open_error = ""
        self._usb_identity: tuple | None = None  # (vid, pid, serial_number)
        self._thread: threading.Thread | None = None
        self._quit = threading.Event()
        self._lock = threading.Lock()
        self._chunk_ready = threading.Condition(self._lock)
        self._chunks: deque[Chunk] = deque()
        self._events: deque[SourceEvent] = deque(maxlen=1000)
        self._commands: deque[bytes] = deque()
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
        self._counters_done = dict.fromkeys(DECODER_COUNTERS, 0)  # from replaced decoders
        self._block_counters = dict.fromkeys(DECODER_COUNTERS, 0)  # at the last block
        self._last_tx_dropped = 0
        self._ready = threading.Event()  # hold released (info seen or reset_wait passed)
        self._hold_until = 0.0
        self._first_block = threading.Event()

        # index bookkeeping (see _place)
        self._next_index = 0
        self._offset: int | None = None
        self._last_dev_end: int | None = None
        self._rebase: str | None = "first"  # "first", "unplug", "restart" or None
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
        self._index_restarts = 0
        self._channel_mismatch = 0
        self._rate_window: deque[tuple[float, int]] = deque()
        self._fs_measured: float | None = None
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
        waiting for the device's info message or first samples.

        Raises
        ------
        SourceError
            If the port cannot be opened, or ``framing=auto`` cannot tell the format.
        """
        if self._thread is not None:
            return
        self._ser = self._open_port(self.port)
        if self._ser is None:
            hint = ""
            if "ermission" in self._open_error:
                hint = " (on Linux add your user to the 'dialout' group and log in again)"
            raise SourceError(
                f"cannot open serial port {self.port!r}: {self._open_error}{hint}; "
                f"ports present: {_sorted_ports_hint()}"
            )
        self._usb_identity = _usb_identity(self.port)
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
            self._queue_command(b"b\n")
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
            self._queue_command(b"s\n")
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
        self._close_port()
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
        if isinstance(command, str):
            data = command.encode("ascii")
            if self.framing == "emgf" and not data.endswith(b"\n"):
                data += b"\n"
        else:
            data = command
        self._queue_command(data)

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
                "index_restarts": self._index_restarts,
                "channel_mismatch_samples": self._channel_mismatch,
                "fs_hz_measured": self._fs_measured,
                "framing": self.framing,
                "state": self._state,
                "device_tx_dropped": (self.device_status or {}).get("tx_dropped"),
                "device_overruns": (self.device_status or {}).get("overruns"),
            }

    # ------------------------------------------------------------------ port handling

    def _open_port(self, path: str):
        import serial

        baud = self._baud or (self._board.baud if self._board else None) \
            or DEFAULT_BAUD.get(self.requested_framing, 1_000_000)
        try:
            ser = serial.Serial(path, baudrate=baud, timeout=READ_TIMEOUT_S,
                                write_timeout=0.5)
        except (serial.SerialException, OSError, ValueError) as exc:
            log.debug("open %s failed: %s", path, exc)
            self._open_error = str(exc)
            return None
        for attr in ("dtr", "rts"):
            try:  # ptys raise ENOTTY; real Unos reset on the DTR edge anyway
                setattr(ser, attr, True)
            except (OSError, serial.SerialException):
                pass
        return ser

    def _close_port(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:  # a vanished device may fail to close; nothing to do
                pass

    def _find_device(self) -> str | None:
        """Where the device is now: same USB identity, else the same path."""
        if self._usb_identity is not None:
            from serial.tools import list_ports

            for p in list_ports.comports():
                if (p.vid, p.pid, p.serial_number) == self._usb_identity:
                    return p.device
        return self.port if os.path.exists(self.port) else None

    def _begin_hold(self) -> None:
        self._ready.clear()
        self._hold_until = time.monotonic() + self.reset_wait_s
        if self.framing in ("text", "p2"):
            self._ready.set()  # nothing to send to these devices

    # ------------------------------------------------------------------ open-time waits

    def _wait_for_device(self) -> None:
        # emgf: after the hold the thread asks '?'; allow time for the reply
        t0 = time.monotonic()
        deadline = t0 + self.reset_wait_s + (
            DETECT_S + 0.5 if self.framing is None else 0.5 if self.framing == "emgf" else 0.0)
        hard_deadline = deadline + 2.0
        while time.monotonic() < deadline:
            if self.framing is not None:
                if self.framing == "emgf" and self.device_info is not None:
                    return
                if self.framing != "emgf" and self._first_block.is_set():
                    if not self._needs_rate_estimate():
                        return
                    estimator = self._rate_estimator
                    rate = estimator.fs_hz if estimator is not None else None
                    if rate is not None:
                        self.fs_estimated_hz = _snap_rate(rate)
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

    def _command_and_wait(self, command: str, timeout_s: float = 1.0) -> dict | None:
        """Send an emgf command and wait for its status reply (codes 3, 4 or 5)."""
        with self._lock:
            seen = self._status_seq
        self.send_command(command)
        deadline = time.monotonic() + timeout_s
        with self._status_seen:
            while True:
                for seq, status in self._status_log:
                    if seq > seen and status.get("code") in (3, 4, 5):
                        return status
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._status_seen.wait(remaining)

    def _configure(self) -> None:
        """Send the rate/channels/frame-size options an emgf or byb device must be told."""
        if self.framing == "byb" and self._channels_option:
            self.send_command(f"c:{self._channels_option};")
            return
        if self.framing != "emgf" or self.device_info is None:
            return
        wanted = []
        if self._fs_option and float(self.device_info.get("fs", 0)) != self._fs_option:
            wanted.append(f"f{round(self._fs_option)}")
        if self._channels_option and int(self.device_info.get("ch", 0)) != self._channels_option:
            wanted.append(f"c{self._channels_option}")
        if self._k_option and int(self.device_info.get("k", 0)) != self._k_option:
            wanted.append(f"k{self._k_option}")
        if not wanted:
            return
        if self.device_info.get("run"):
            self._command_and_wait("s")
        for command in wanted:
            status = self._command_and_wait(command)
            if status is None:
                raise SourceError(f"{self._url}: the device did not answer {command!r} in 1 s")
            if status.get("code") != 3:
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
            if self._next_index > 0:
                self._rebase = "restart"

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

    # ------------------------------------------------------------------ reader thread

    def _run(self) -> None:
        import serial

        while not self._quit.is_set():
            if self._ser is None:
                if not self._try_reconnect():
                    self._quit.wait(RECONNECT_POLL_S)
                continue
            try:
                self._flush_commands()
                data = self._ser.read(max(1, self._ser.in_waiting))
                if data:
                    more = self._ser.in_waiting
                    if more:
                        data += self._ser.read(more)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # TypeError/AttributeError: pyserial after the fd vanished under it
                self._on_unplug(exc)
                continue
            now = time.monotonic()
            if data or ((self.framing is None or self._text_probe) and self._detect_buf):
                self._on_bytes(bytes(data), now)
            self._check_silence(now)

    def _queue_command(self, data: bytes) -> None:
        with self._lock:
            self._commands.append(data)

    def _flush_commands(self) -> None:
        if not self._ready.is_set():
            if time.monotonic() < self._hold_until:
                return
            self._ready.set()
            if self.framing == "emgf" and self.device_info is None:
                self._ser.write(b"?\n")  # the hello got lost (no reset on open?): ask
        while self._commands:
            with self._lock:
                data = self._commands.popleft()
            self._ser.write(data)

    def _new_decoder(self) -> None:
        """Replace the decoder (after an unplug or reconfiguration), keeping its counts."""
        from emgfeedback.acquisition.framing import get_decoder

        if self._decoder is not None:
            for key in DECODER_COUNTERS:
                self._counters_done[key] += int(self._decoder.counters.get(key, 0))
        n_channels = self._channels_option if self.framing in ("text", "byb") else None
        if n_channels is None and self.framing == "byb" and self.detection is not None:
            n_channels = self.detection.n_channels
        fs_hz = self._fs_option if self.framing in ("text", "byb", "p2") else None
        self._decoder = get_decoder(self.framing, n_channels=n_channels, fs_hz=fs_hz)
        self._block_counters = dict.fromkeys(DECODER_COUNTERS, 0)

    def _on_bytes(self, data: bytes, now: float) -> None:
        if self.framing is None:
            data = self._detect(data, now)
            if self.framing is None:
                return
        if self._text_probe and self.framing == "text":
            data = self._probe_text(data, now)
            if self._text_probe:
                return
        if self._decoder is None or self._renew_decoder:
            with self._lock:
                self._new_decoder()
                self._renew_decoder = False
        if not data:
            return
        items = self._decoder.feed(data)
        if items:
            self._handle_items(items, now)

    def _detect(self, data: bytes, now: float) -> bytes:
        from emgfeedback.acquisition.framing import detect_framing

        if self._detect_started_s is None:
            self._detect_started_s = now
        self._detect_buf += data
        elapsed = now - self._detect_started_s
        result = detect_framing(bytes(self._detect_buf), self._channels_option)
        self.detection = result
        if self.requested_framing == "byb":  # only the channel count is unknown
            if result.framing == "byb" and result.n_channels and elapsed >= 0.2:
                self._channels_option = self._channels_option or result.n_channels
            elif elapsed < DETECT_S:
                return b""
            self.framing = "byb"
        else:
            decided = result.framing is not None and (
                elapsed >= DETECT_S or (result.confidence >= 0.99 and elapsed >= 0.2))
            if not decided:
                return b""
            self.framing = result.framing
            if self.framing == "byb" and result.n_channels and not self._channels_option:
                self._channels_option = result.n_channels
            if self.framing == "text" and not self._channels_option:
                self._text_probe = True
        if self.framing in ("text", "p2"):
            self._ready.set()
        buf, self._detect_buf = bytes(self._detect_buf), bytearray()
        return buf

    def _probe_text(self, data: bytes, now: float) -> bytes:
        """Hold text until a few whole lines show the channel count, then release it.

        A port opened on a board that is already printing starts mid-line; a decoder that
        took its channel count from that fragment would reject every following line. The
        count is the most common number of numeric fields among whole lines (the first,
        possibly partial, line excluded).
        """
        if self._detect_started_s is None:
            self._detect_started_s = now
        self._detect_buf += data
        lines = bytes(self._detect_buf).split(b"\n")
        whole = lines[1:-1]
        if len(whole) < 8 and not (now - self._detect_started_s >= 0.5 and whole):
            return b""
        counts: dict[int, int] = {}
        for line in whole:
            n = sum(1 for field in _TEXT_SPLIT.split(line.strip().decode("ascii", "replace"))
                    if _TEXT_NUMBER.match(field.rpartition(":")[2]))
            if n:
                counts[n] = counts.get(n, 0) + 1
        if counts:
            self._channels_option = max(counts, key=counts.get)
        self._text_probe = False
        buf, self._detect_buf = bytes(self._detect_buf), bytearray()
        return buf

    def _handle_items(self, items, now: float) -> None:
        from emgfeedback.acquisition.framing.base import DecodedBlock

        chunks: list[Chunk] = []
        pending_gaps: list[Gap] = []
        for item in items:
            if not isinstance(item, DecodedBlock):
                self._on_message(item, now)
                continue
            samples = item.samples
            if self._info is not None and samples.shape[1] != self._info.n_channels:
                with self._lock:
                    first_time = self._channel_mismatch == 0
                    self._channel_mismatch += samples.shape[0]
                if first_time:
                    self._event(now, "channel_mismatch",
                                f"device sends {samples.shape[1]} channels, the session has "
                                f"{self._info.n_channels}; those samples are dropped (give "
                                "channels=N or reopen the source)")
                continue
            self._first_block.set()
            if not self._started and self._info is not None:
                # stopped: discarded; the next block delivered continues without a gap
                with self._lock:
                    if self._rebase is None:
                        self._rebase = "restart"
                continue
            first, gaps = self._place(item, now)
            pending_gaps.extend(gaps)
            if chunks and not pending_gaps and chunks[-1].end_index == first:
                prev = chunks[-1]
                chunks[-1] = Chunk(np.concatenate([prev.samples, samples]), prev.first_index,
                                   now, prev.gaps)
            else:
                chunks.append(Chunk(samples, first, now, tuple(pending_gaps)))
                pending_gaps = []
        if not chunks:
            return
        if self._needs_rate_estimate():
            if self._rate_estimator is None:
                from emgfeedback.acquisition.framing import RateEstimator

                self._rate_estimator = RateEstimator()
            self._rate_estimator.add(now, sum(c.n_samples for c in chunks))
        with self._lock:
            for chunk in chunks:
                self._loss_counts.count(chunk)
            self._last_sample_s = now
            self._measure_rate(now, chunks[-1].end_index)
            self._chunks.extend(chunks)
            self._chunk_ready.notify_all()
            resumed = self._silent_alarmed
            self._silent_alarmed = False
        if resumed:
            self._event(now, "data_resumed", "samples are arriving again")
        if self._state in ("no_data", "reconnecting", "open") and self._started:
            self._set_state("streaming")

    def _place(self, block, now: float) -> tuple[int, list[Gap]]:
        """Give a decoded block its session index and the gaps just before it.

        Inside one connection, indexed formats (emgf u32 index, P2 u8 counter, both
        unwrapped by the decoder) place blocks by their device index, and a jump is a gap
        whose cause is read from what the decoder counted meanwhile (CRC failures, format
        errors/skipped bytes, device-reported TX drops, else a bare counter jump). Formats
        without an index use ``lost_before`` (always 0 for text and byb).

        After an unplug, an emgf device whose index simply continued (it kept running)
        gives the exact gap. Otherwise (the device restarted, or the format has no index
        or only a u8 counter) the gap is estimated from host time: samples the nominal
        rate would have produced between the last sample before the unplug and the first
        block after it, minus that block, at least 1.
        """
        n = block.samples.shape[0]
        dev = block.first_index
        gaps: list[Gap] = []
        with self._lock:
            rebase, self._rebase = self._rebase, None
            counters = {k: int(self._decoder.counters.get(k, 0)) for k in DECODER_COUNTERS}
        if rebase == "first":
            first = 0
        elif rebase == "unplug":
            fs = self._info.fs_hz if self._info is not None else 0.0
            elapsed = now - (self._last_sample_s if self._last_sample_s is not None
                             else (self._unplug_s or now))
            estimate = max(1, round(elapsed * fs) - n)
            jump = None
            if (self.framing == "emgf" and dev is not None and self._last_dev_end is not None
                    and 0 < dev - self._last_dev_end <= 2 * estimate + fs):
                jump = dev - self._last_dev_end
            first = self._next_index + (jump if jump is not None else estimate)
            gaps.append(Gap(self._next_index, first - self._next_index, "unplug"))
        elif rebase == "restart":
            first = self._next_index
        elif dev is not None and self._offset is not None:
            first = dev + self._offset
            if first < self._next_index:
                with self._lock:
                    self._index_restarts += 1
                first = self._next_index
        else:
            first = self._next_index + max(0, int(block.lost_before))
        if not gaps and first > self._next_index:
            gaps.append(Gap(self._next_index, first - self._next_index,
                            self._loss_cause(counters)))
        if dev is not None:
            self._offset = first - dev
            self._last_dev_end = dev + n
        self._next_index = first + n
        self._block_counters = counters
        return first, gaps

    def _loss_cause(self, counters: dict) -> str:
        before = self._block_counters
        if counters["crc_errors"] > before["crc_errors"]:
            return "crc"
        if (counters["format_errors"] > before["format_errors"]
                or counters["bytes_skipped"] > before["bytes_skipped"]):
            return "format"
        tx_dropped = (self.device_status or {}).get("tx_dropped", 0) or 0
        if tx_dropped > self._last_tx_dropped:
            self._last_tx_dropped = tx_dropped
            return "device_dropped"
        return "counter"

    def _on_message(self, message, now: float) -> None:
        kind = message.kind
        payload = message.payload
        if kind == "info" and isinstance(payload, dict):
            self.device_info = dict(payload)
            self._ready.set()
            self._event(now, "device_info", "device described itself", dict(payload))
        elif kind == "status" and isinstance(payload, dict):
            with self._status_seen:
                self.device_status = dict(payload)
                self._status_seq += 1
                self._status_log.append((self._status_seq, dict(payload)))
                self._status_seen.notify_all()
            self._event(now, "device_status", str(payload.get("message", "")), dict(payload))
        elif kind == "event":
            self._event(now, "device_event", str(payload), payload if isinstance(payload, dict)
                        else {"text": str(payload)})
        else:
            text = str(payload)
            if self.framing == "byb" and "StartUp" in text:
                self._ready.set()
            self._event(now, "device_text", text, {"text": text})

    def _event(self, now: float, kind: str, message: str, data: dict | None = None) -> None:
        with self._lock:
            self._events.append(SourceEvent(now, kind, message, data or {}))

    def _measure_rate(self, now: float, end_index: int) -> None:
        """Sample rate over the last ~5 s from session indices (lock held)."""
        window = self._rate_window
        window.append((now, end_index))
        while len(window) > 2 and now - window[0][0] > 5.0:
            window.popleft()
        t0, i0 = window[0]
        if now - t0 >= 0.5:
            self._fs_measured = (end_index - i0) / (now - t0)

    def _check_silence(self, now: float) -> None:
        if not self._started or self._silent_alarmed or self._state == "reconnecting":
            return
        since = max(self._start_s, self._last_sample_s or 0.0)
        if now - since < self.no_data_s:
            return
        with self._lock:
            self._silent_alarmed = True
            self._no_data_events += 1
        self._set_state("no_data")
        self._event(now, "no_data", f"no samples for {now - since:.1f} s on {self.port}")

    def _on_unplug(self, exc: Exception) -> None:
        if self._quit.is_set():
            return
        now = time.monotonic()
        log.warning("serial port %s lost: %s", self.port, exc)
        self._close_port()
        with self._lock:
            self._unplugs += 1
            self._unplug_s = now
        self._event(now, "unplug", f"{self.port} disconnected: {exc}")
        if not self.reconnect_enabled:
            self._set_state("finished")
            self._quit.set()
            with self._chunk_ready:
                self._chunk_ready.notify_all()
            return
        self._set_state("reconnecting")

    def _try_reconnect(self) -> bool:
        path = self._find_device()
        if path is None:
            return False
        ser = self._open_port(path)
        if ser is None:
            return False
        now = time.monotonic()
        with self._lock:
            self._ser = ser
            self._reconnects += 1
            if self.framing is not None:
                self._new_decoder()
            self._rebase = "unplug" if self._loss_counts.samples else self._rebase
            started = self._started
            if self.framing == "emgf" and started and b"b\n" not in self._commands:
                self._commands.append(b"b\n")  # a rebooted board waits for 'b' again
        self._begin_hold()
        if self.framing == "byb" and self._channels_option:
            self._queue_command(f"c:{self._channels_option};".encode())
        self._event(now, "reconnected", f"reopened {path}")
        self._set_state("streaming" if started else "open")
        with self._lock:
            self._silent_alarmed = False
            self._start_s = now
        return True


def _snap_rate(rate_hz: float) -> float:
    """An estimated rate, snapped to a usual nominal rate when within 2 %."""
    for nominal in NOMINAL_RATES_HZ:
        if abs(rate_hz - nominal) <= 0.02 * nominal:
            return float(nominal)
    return float(round(rate_hz))


def _usb_identity(path: str) -> tuple | None:
    """(vid, pid, serial_number) of the USB device behind ``path``, or None (pty, ...)."""
    try:
        from serial.tools import list_ports

        real = os.path.realpath(path)
        for p in list_ports.comports():
            if p.vid is not None and (p.device == path or os.path.realpath(p.device) == real):
                return (p.vid, p.pid, p.serial_number)
    except Exception:  # listing is best effort; path polling still works
        return None
    return None


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
