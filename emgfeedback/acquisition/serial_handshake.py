"""What the serial source learns from the board (:class:`SerialHandshake`): its messages,
the open-time waits, the configuration commands, and the resulting source info.

The device's info message (emgf), a start-up line (byb) or the first samples tell
``open()`` that the board is there; an emgf board that stayed silent through the reset hold
is asked ``?``. A rate, channel count or frame size the board must be told is sent as a
command whose status reply is awaited (:meth:`SerialHandshake.configure`). What the board,
the decoder and the URL say is merged into the
:class:`~emgfeedback.types.SourceInfo` (:meth:`SerialHandshake.build_info`).
Device messages arrive on the reader thread (:meth:`SerialHandshake.on_message`); the waits
run on the thread that called ``open()``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from emgfeedback.acquisition.boards import BOARDS, Board, get_board
from emgfeedback.acquisition.serial_commands import (
    EMGF_ACCEPTED,
    EMGF_REPLY_CODES,
    CommandQueue,
    byb_channels_command,
    emgf_config_commands,
)
from emgfeedback.acquisition.serial_detect import DETECT_S, snap_rate
from emgfeedback.acquisition.serial_stream import SerialDecoding
from emgfeedback.errors import SourceError
from emgfeedback.types import SourceInfo

__all__ = ["DEFAULT_FS_HZ", "SerialHandshake"]

#: Sample rate used when neither the URL, the device nor the board gives one.
DEFAULT_FS_HZ = {"p2": 256.0}


def default_board(framing: str) -> str:
    """The first board descriptor that speaks ``framing`` (else ``generic``)."""
    for name, board in BOARDS.items():
        if board.framing == framing:
            return name
    return "generic"


class SerialHandshake:
    """The board's messages, the waits of ``open()``, configuration and source info.

    Parameters
    ----------
    decoding : SerialDecoding
        The source's decoding (framing, channel count, decoder).
    commands : CommandQueue
        Released when the device speaks.
    lock : threading.Lock
        The source's lock.
    emit : callable
        ``emit(now, kind, message, data)`` queues a source event.
    url : str
        For error messages.

    Attributes
    ----------
    device_info, device_status : dict or None
        The last emgf info and status payloads.
    first_block : threading.Event
        Set when the first block of samples was decoded.
    fs_estimated_hz : float or None
        Rate measured at open for text streams without a given rate (snapped).
    info_asked_s : float or None
        When ``?`` was sent because the reset hold ended in silence.
    """

    def __init__(self, decoding: SerialDecoding, commands: CommandQueue,
                 lock: threading.Lock, emit: Callable[..., None], url: str) -> None:
        self._decoding = decoding
        self._commands = commands
        self._emit = emit
        self._url = url
        self.device_info: dict | None = None
        self.device_status: dict | None = None
        self.first_block = threading.Event()
        self.fs_estimated_hz: float | None = None
        self.info_asked_s: float | None = None
        self._rate_estimator = None  # RateEstimator for text streams without fs
        self._status_seen = threading.Condition(lock)
        self._status_log: deque[tuple[int, dict]] = deque(maxlen=100)  # (seq, payload)
        self._status_seq = 0

    # ------------------------------------------------------------------ reader thread

    def on_message(self, message, now: float) -> None:
        """A device message: remember info and status, release commands, emit an event."""
        kind = message.kind
        payload = message.payload
        if kind == "info" and isinstance(payload, dict):
            self.device_info = dict(payload)
            self._commands.release()
            self._emit(now, "device_info", "device described itself", dict(payload))
        elif kind == "status" and isinstance(payload, dict):
            with self._status_seen:
                self.device_status = dict(payload)
                self._status_seq += 1
                self._status_log.append((self._status_seq, dict(payload)))
                self._status_seen.notify_all()
            self._emit(now, "device_status", str(payload.get("message", "")), dict(payload))
        elif kind == "alarm" and isinstance(payload, dict):  # the decoder rejected bytes
            self._emit(now, "rejected", str(payload.get("message", "")), dict(payload))
        elif kind == "event":
            self._emit(now, "device_event", str(payload), payload if isinstance(payload, dict)
                       else {"text": str(payload)})
        else:
            text = str(payload)
            if self._decoding.framing == "byb" and "StartUp" in text:
                self._commands.release()
            self._emit(now, "device_text", text, {"text": text})

    def samples_arrived(self, now: float, n_samples: int) -> None:
        """Samples were delivered: feed the open-time rate estimate of a text stream."""
        if not self._decoding.needs_rate_estimate:
            return
        if self._rate_estimator is None:
            from emgfeedback.acquisition.framing import RateEstimator

            self._rate_estimator = RateEstimator()
        self._rate_estimator.add(now, n_samples)

    @property
    def tx_dropped(self) -> int:
        """The device's TX-drop counter from its last status (0 if unknown)."""
        return (self.device_status or {}).get("tx_dropped", 0) or 0

    # ------------------------------------------------------------------ open()

    def wait_for_device(self, reset_wait_s: float, info_reply_s: float) -> None:
        """Wait until the device described itself, or samples (and a text rate) came.

        Parameters
        ----------
        reset_wait_s : float
            The reset hold (s).
        info_reply_s : float
            How long to wait for the reply to a ``?`` sent after the hold (s).

        Raises
        ------
        SourceError
            When ``framing=auto`` could not tell the format.
        """
        decoding = self._decoding
        # emgf: after the hold the thread asks '?'; the reply is awaited from that moment
        t0 = time.monotonic()
        deadline = t0 + reset_wait_s + (
            DETECT_S + 0.5 if decoding.framing is None else
            0.5 if decoding.framing == "emgf" else 0.0)
        hard_deadline = deadline + 2.0
        while time.monotonic() < deadline:
            framing = decoding.framing
            if framing == "emgf":
                if self.device_info is not None:
                    return
                asked_s = self.info_asked_s
                if asked_s is not None:  # no reset on open: the reply to '?' may still come
                    deadline = max(deadline, asked_s + info_reply_s)
            if framing is not None and framing != "emgf" and self.first_block.is_set():
                if not decoding.needs_rate_estimate:
                    return
                estimator = self._rate_estimator
                rate = estimator.fs_hz if estimator is not None else None
                if rate is not None:
                    self.fs_estimated_hz = snap_rate(rate)
                    return
                # the estimate needs about 0.5 s of data
                deadline = min(hard_deadline, max(deadline, time.monotonic() + 0.1))
            time.sleep(0.01)
        if decoding.framing is None and decoding.requested_framing == "byb":
            decoding.framing = "byb"  # silent so far: the decoder's default channel count
        if decoding.framing is None:
            reason = decoding.detection.reason if decoding.detection is not None else \
                "no bytes arrived"
            raise SourceError(
                f"{self._url}: framing=auto could not tell the wire format ({reason}); "
                "give framing=emgf|text|p2|byb and check the baud rate"
            )

    def command_and_wait(self, send: Callable[[str], None], command: str,
                         timeout_s: float) -> dict | None:
        """Send an emgf command and wait for its status reply (codes 3, 4 or 5)."""
        with self._status_seen:
            seen = self._status_seq
        send(command)
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

    def configure(self, send: Callable[[str], None], samples_per_frame: int | None,
                  reply_s: float) -> bool:
        """Send the rate/channels/frame-size options an emgf or byb device must be told.

        Parameters
        ----------
        send : callable
            Queues a host command (``SerialSource.send_command``).
        samples_per_frame : int or None
            The ``k`` option (emgf).
        reply_s : float
            How long each command waits for its status reply (s).

        Returns
        -------
        bool
            True when the emgf device was reconfigured (its index restarts).

        Raises
        ------
        SourceError
            If the device refused a command, or did not answer.
        """
        decoding = self._decoding
        if decoding.framing == "byb" and decoding.channels:
            self._commands.put(byb_channels_command(decoding.channels))
            return False
        if decoding.framing != "emgf" or self.device_info is None:
            return False
        wanted = emgf_config_commands(self.device_info, decoding.fs_hz_option,
                                      decoding.channels, samples_per_frame)
        if not wanted:
            return False
        if self.device_info.get("run"):
            self.command_and_wait(send, "s", reply_s)
        for command in wanted:
            status = self.command_and_wait(send, command, reply_s)
            if status is None:
                raise SourceError(f"{self._url}: the device did not answer {command!r} in "
                                  f"{reply_s:g} s")
            if status.get("code") != EMGF_ACCEPTED:
                raise SourceError(
                    f"{self._url}: the device refused {command!r}: "
                    f"{status.get('message') or 'code ' + str(status.get('code'))}"
                )
        old = self.device_info
        self.device_info = None
        send("?")
        deadline = time.monotonic() + 1.0
        while self.device_info is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.device_info is None:
            self.device_info = old
            raise SourceError(f"{self._url}: no info reply after reconfiguring the device")
        return True

    def build_info(self, board: Board | None, port: str, baud: int | None,
                   usb: tuple | None) -> SourceInfo:
        """The source info from the URL options, the device, the decoder and the board.

        Parameters
        ----------
        board : Board or None
            The board the URL named (else the framing's default board).
        port, baud, usb
            The port's path, line rate and USB identity (VID, PID, serial number), for
            ``info.extra``.
        """
        decoding = self._decoding
        framing = decoding.framing or ""
        board = board or get_board(default_board(framing))
        dev = self.device_info or {}
        dec = decoding.decoder
        n_channels = (decoding.channels or dev.get("ch")
                      or (dec.n_channels if dec is not None else None)
                      or (6 if framing == "p2" else board.channels))
        n_channels = int(n_channels)
        fs_hz = (decoding.fs_hz_option or dev.get("fs") or self.fs_estimated_hz
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
        extra: dict = {"port": port, "baud": baud}
        if self.device_info:
            extra["device_info"] = dict(self.device_info)
        if self.fs_estimated_hz is not None:
            extra["fs_hz_estimated"] = self.fs_estimated_hz
        detection = decoding.detection
        if detection is not None and decoding.requested_framing == "auto":
            extra["framing_detected"] = {
                "framing": detection.framing,
                "reason": detection.reason,
                "confidence": detection.confidence,
            }
        if usb:
            extra["usb"] = {"vid": usb[0], "pid": usb[1], "serial_number": usb[2]}
        return SourceInfo(url=self._url, fs_hz=float(fs_hz), channel_names=names,
                          calibration=calibration, board=board.name, framing=framing,
                          extra=extra)
