"""The serial source's port life: the reader thread's loop, host commands, silence, unplug
and reconnect (:class:`SerialLinkMixin`, mixed into
:class:`~emgfeedback.acquisition.serial_source.SerialSource`).

The loop reads what the port has, hands the bytes to the stream side
(:class:`~emgfeedback.acquisition.serial_stream.SerialStreamMixin`) and writes queued host
commands once the reset hold is over. A lost port moves the source to ``reconnecting``
(or ``finished`` with ``reconnect=false``); :meth:`SerialLinkMixin._try_reconnect` finds the
same USB device (or path) again, resends what the framing needs and resumes the *same*
session, the missed stretch becoming an ``unplug`` gap. No samples for ``no_data`` seconds
while streaming raises the ``no_data`` alarm.

The attributes used here are created by ``SerialSource.__init__``.
"""

from __future__ import annotations

import logging
import time

from emgfeedback.acquisition.serial_commands import EMGF_INFO, resume_commands
from emgfeedback.acquisition.serial_indexing import REBASE_UNPLUG
from emgfeedback.acquisition.serial_port import (
    DEFAULT_BAUD,
    PortLost,
    close_port,
    find_device,
    open_port,
    read_available,
    write,
)

__all__ = ["RECONNECT_POLL_S", "SerialLinkMixin"]

# the serial source's logger (one name for the whole source)
log = logging.getLogger("emgfeedback.acquisition.serial_source")

#: How often the reader thread looks for an unplugged device (s).
RECONNECT_POLL_S = 0.1


class SerialLinkMixin:
    """Port handling, the reader loop, silence and reconnect of a serial source."""

    def _line_rate(self) -> int:
        return self._baud or (self._board.baud if self._board else None) \
            or DEFAULT_BAUD.get(self.requested_framing, 1_000_000)

    def _release_port(self) -> None:
        ser, self._ser = self._ser, None
        close_port(ser)

    def _begin_hold(self) -> None:
        self._commands.hold(self.reset_wait_s, self.framing)


    def _run(self) -> None:
        while not self._quit.is_set():
            if self._ser is None:
                if not self._try_reconnect():
                    self._quit.wait(RECONNECT_POLL_S)
                continue
            try:
                self._flush_commands()
                data = read_available(self._ser)
            except PortLost as exc:
                self._on_unplug(exc)
                continue
            now = time.monotonic()
            if data or ((self.framing is None or self._text_probe) and self._detect_buf):
                self._on_bytes(data, now)
            self._check_silence(now)

    def _flush_commands(self) -> None:
        now = time.monotonic()
        if self._commands.timed_out(now) and self.framing == "emgf" and self.device_info is None:
            write(self._ser, EMGF_INFO)  # the hello got lost (no reset on open?): ask
            self._info_asked_s = now
        if not self._commands.released.is_set():
            return
        while (data := self._commands.pop()) is not None:
            write(self._ser, data)

    def _check_silence(self, now: float) -> None:
        if not self._started or self._silent_alarmed or self._state == "reconnecting":
            return
        since = max(self._start_s, self._last_sample_s or 0.0)
        if now - since < self.no_data_s:
            return
        with self._lock:
            self._silent_alarmed = True
            self._no_data_events += 1
        self._set_state("no_data", since_s=since)
        self._event(now, "no_data", f"no samples for {now - since:.1f} s on {self.port}",
                    {"since_s": since})

    def _on_unplug(self, exc: Exception) -> None:
        if self._quit.is_set():
            return
        now = time.monotonic()
        log.warning("serial port %s lost: %s", self.port, exc)
        self._release_port()
        with self._lock:
            self._unplugs += 1
            self._unplug_s = now
        self._event(now, "unplug", f"{self.port} disconnected: {exc}",
                    {"last_sample_s": self._last_sample_s})
        if not self.reconnect_enabled:
            self._set_state("finished")
            self._quit.set()
            with self._chunk_ready:
                self._chunk_ready.notify_all()
            return
        self._set_state("reconnecting", since_s=self._last_sample_s or now)

    def _try_reconnect(self) -> bool:
        path = find_device(self._usb_identity, self.port)
        if path is None:
            return False
        try:
            ser = open_port(path, self._line_rate())
        except OSError:
            return False
        now = time.monotonic()
        with self._lock:
            self._ser = ser
            self._reconnects += 1
            if self.framing is not None:
                self._new_decoder()
            if self._loss_counts.samples:
                self._placer.rebase = REBASE_UNPLUG
            started = self._started
        self._begin_hold()
        for data in resume_commands(self.framing, started, self._channels_option):
            self._commands.put(data, once=True)
        self._event(now, "reconnected", f"reopened {path}", {"path": path})
        self._set_state("streaming" if started else "open")
        with self._lock:
            self._silent_alarmed = False
            self._start_s = now
        return True
