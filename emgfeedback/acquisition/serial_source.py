"""Serial-port source: ``serial:///dev/ttyACM0?framing=emgf&baud=1000000&board=uno-myoware2``.

:class:`SerialSource` is the public face; the work is done by four collaborators, one job
each, sharing the source's lock:

- the **port** (:class:`~.serial_link.SerialPortLink`): open, read, write the held host
  commands, close, find the same device again after an unplug;
- the **board detection and handshake**: framing detection, the text channel probe and the
  decoder (:class:`~.serial_stream.SerialDecoding`), and what the board says about itself,
  the open-time waits, configuration commands and the source info
  (:class:`~.serial_handshake.SerialHandshake`);
- the **reader thread** (:class:`~.serial_reader.SerialReader`): the loop that reads,
  decodes, delivers, watches for silence and reconnects;
- the **loss accounting** (:class:`~.serial_losses.SerialLosses`): session indices, gaps and
  their causes, dropped blocks, the measured rate.

The thread's start and stop, the hand-off queue, ``read()``, the events and the sample
counters come from :class:`~emgfeedback.acquisition.threaded.ThreadedSource`, shared with
the LSL inlet and playback. What the source does about the awkward parts of real serial
links:

- **ptys** (the virtual device, socat): setting DTR/RTS there raises ``OSError`` (ENOTTY);
  pyserial tolerates it on open and so does this source afterwards.
- **Reset on open** (an Uno reboots when the port opens): host commands are held until the
  device's info message arrives or ``reset_wait`` seconds pass, while frames that arrive
  meanwhile are already decoded.
- **Unplug**: the source goes ``reconnecting``, finds the same USB device (VID, PID, serial
  number) or path again, reopens it, re-sends the start command and resumes the *same*
  session; a ``Gap(cause="unplug")`` records what was missed.
- **Silence**: no samples for ``no_data`` seconds while streaming sets the state
  ``no_data`` and raises a ``no_data`` alarm; samples coming back end it.

Session indices start at 0 with the first sample received and never go backwards. The
alarms (``no_data``, ``unplug``, ``channel_mismatch``, ``rejected``) reach the engine as
events (:meth:`pop_events`).
"""

from __future__ import annotations

from emgfeedback.acquisition.boards import BOARDS, get_board
from emgfeedback.acquisition.serial_commands import EMGF_START, EMGF_STOP, encode_command
from emgfeedback.acquisition.serial_detect import DETECT_S, NOMINAL_RATES_HZ
from emgfeedback.acquisition.serial_handshake import DEFAULT_FS_HZ, SerialHandshake
from emgfeedback.acquisition.serial_indexing import DECODER_COUNTERS
from emgfeedback.acquisition.serial_link import RECONNECT_POLL_S, SerialPortLink
from emgfeedback.acquisition.serial_losses import SerialLosses
from emgfeedback.acquisition.serial_port import DEFAULT_BAUD, READ_TIMEOUT_S
from emgfeedback.acquisition.serial_reader import SerialReader
from emgfeedback.acquisition.serial_stream import SerialDecoding
from emgfeedback.acquisition.source import (
    SourceEvent,
    SourceInfo,
    SourceStats,
    SourceUrl,
    boolean,
    choice,
    positive,
    take_options,
)
from emgfeedback.acquisition.threaded import ThreadedSource
from emgfeedback.errors import ConfigError, SourceError
from emgfeedback.types import SerialStats

__all__ = [
    "DECODER_COUNTERS", "DEFAULT_BAUD", "DEFAULT_FS_HZ", "DETECT_S", "FRAMING_CHOICES",
    "INFO_REPLY_S", "NOMINAL_RATES_HZ", "READ_TIMEOUT_S", "RECONNECT_POLL_S", "SerialSource",
    "SourceEvent", "source_from_url",
]

FRAMING_CHOICES = ("emgf", "text", "p2", "byb", "auto")

#: How long ``open()`` waits for the info reply after asking an emgf device ``?`` (s).
INFO_REPLY_S = 1.0

#: How long a configuration command waits for its status reply (s).
COMMAND_REPLY_S = 1.0


class SerialSource(ThreadedSource):
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
        if framing not in FRAMING_CHOICES:
            raise ConfigError(f"framing {framing!r}: expected one of {', '.join(FRAMING_CHOICES)}")
        if not port:
            raise ConfigError("serial source: no port given, e.g. serial:///dev/ttyACM0")
        super().__init__(url or f"serial://{port}?framing={framing}")
        self.port = port
        self._board = get_board(board) if board else None
        self._k_option = samples_per_frame
        self.reset_wait_s = float(reset_wait_s)
        self.no_data_s = float(no_data_s)
        self.reconnect_enabled = bool(reconnect)
        self._info: SourceInfo | None = None
        line_rate = baud or (self._board.baud if self._board else None) \
            or DEFAULT_BAUD.get(framing, 1_000_000)
        self._link = SerialPortLink(port, line_rate, self._lock)
        self._losses = SerialLosses(self._lock)
        self._decoding = SerialDecoding(framing, channels, fs_hz, self._link.commands,
                                        self._lock, self._losses.placer.new_decoder)
        self._handshake = SerialHandshake(self._decoding, self._link.commands, self._lock,
                                          self._event, self._url)
        self._reader = SerialReader(self, self._link, self._decoding, self._handshake,
                                    self._losses)

    # ------------------------------------------------------------------ what it learnt

    @property
    def info(self) -> SourceInfo:
        if self._info is None:
            raise SourceError(f"{self._url}: the source is not open yet")
        return self._info

    @property
    def requested_framing(self) -> str:
        """The framing the URL asked for (``auto`` included)."""
        return self._decoding.requested_framing

    @property
    def framing(self) -> str | None:
        """The wire format (None until detected)."""
        return self._decoding.framing

    @property
    def detection(self):
        """The framing detection result (``framing=auto``), or None."""
        return self._decoding.detection

    @property
    def device_info(self) -> dict | None:
        """The emgf device's last info message (set to None to wait for a fresh one)."""
        return self._handshake.device_info

    @device_info.setter
    def device_info(self, value: dict | None) -> None:
        self._handshake.device_info = value

    @property
    def device_status(self) -> dict | None:
        """The emgf device's last status message."""
        return self._handshake.device_status

    @property
    def fs_estimated_hz(self) -> float | None:
        """Rate measured at open for a text stream without a given rate."""
        return self._handshake.fs_estimated_hz

    # ------------------------------------------------------------------ life cycle

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
        self._link.open()
        self._link.commands.hold(self.reset_wait_s, self._decoding.framing)
        self._set_state("open")
        self._start_reader(f"serial:{self.port}")
        try:
            self._handshake.wait_for_device(self.reset_wait_s, INFO_REPLY_S)
            if self._handshake.configure(self.send_command, self._k_option, COMMAND_REPLY_S):
                # a new stream: the device index restarted
                self._decoding.renew_decoder()
                self._losses.restart()
        except BaseException:
            self.close()
            raise
        self._info = self._handshake.build_info(self._board, self.port, self._link.baudrate,
                                                self._link.usb_identity)

    def _reader_loop(self) -> None:
        self._reader.run()

    def start(self) -> None:
        """Start streaming (sends ``b`` to an emgf device)."""
        if self._thread is None:
            self.open()
        if self.framing == "emgf":
            self._link.commands.put(EMGF_START)
        self._reader.set_started(True)
        if self.state in ("open", "stopped"):
            self._set_state("streaming")

    def stop(self) -> None:
        """Stop streaming (sends ``s`` to an emgf device); samples arriving meanwhile are
        discarded and a later ``start()`` continues the indices without a gap."""
        if self.framing == "emgf":
            self._link.commands.put(EMGF_STOP)
        self._reader.set_started(False)
        if self.state not in ("closed", "finished"):
            self._set_state("stopped")

    def close(self) -> None:
        """Stop the thread and close the port. Idempotent."""
        self._stop_reader(timeout_s=2.0)
        self._link.close()
        self._set_state("closed")

    # ------------------------------------------------------------------ commands, stats

    def send_command(self, command: str | bytes) -> None:
        """Queue a raw host command (written by the reader thread once the hold is over).

        Parameters
        ----------
        command : str or bytes
            For emgf, a line such as ``"?"`` or ``"f1000"`` (``\\n`` is added); for byb
            ``"c:2;"``. Bytes are sent as they are.
        """
        self._link.commands.put(encode_command(self.framing, command))

    def request_info(self) -> None:
        """Ask an emgf device to describe itself (``?``); the reply updates ``device_info``."""
        self.send_command("?")

    def stats(self) -> SourceStats:
        """Samples, losses by cause, decoder errors, unplugs and the measured rate."""
        with self._lock:
            counters = self._decoding.counters()
            status = self._handshake.device_status or {}
            return self._loss_counts.snapshot(
                state=self._state, no_data_s=self._no_data_s(),
                no_data_events=self._reader.no_data_events,
                unplugs=self._link.unplugs, reconnects=self._link.reconnects,
                crc_errors=counters["crc_errors"], format_errors=counters["format_errors"],
                bytes_skipped=counters["bytes_skipped"],
                bytes_rejected=counters["bytes_rejected"],
                fs_hz_measured=self._losses.rate.fs_hz, framing=self.framing or "",
                serial=SerialStats(
                    frames=counters["frames"],
                    index_restarts=self._losses.placer.index_restarts,
                    channel_mismatch_samples=self._losses.channel_mismatch_samples,
                    device_tx_dropped=status.get("tx_dropped"),
                    device_overruns=status.get("overruns")))


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
