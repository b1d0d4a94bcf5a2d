"""The serial source's reader thread (:class:`SerialReader`): the loop that ties the port,
the decoding, the handshake and the loss accounting together.

Each turn writes the commands waiting (once the reset hold is over), reads what the port
has (``max(1, in_waiting)`` bytes with a short timeout), decodes it, hands device messages
to the handshake and blocks to the loss accounting, and delivers the chunks through the
source's queue (:meth:`~emgfeedback.acquisition.threaded.ThreadedSource._deliver`).

- **Silence**: no samples for ``no_data`` seconds while streaming sets the state
  ``no_data`` and raises a ``no_data`` alarm; the state returns to ``streaming`` (with a
  ``data_resumed`` event) when samples come back.
- **Unplug**: a lost port raises an ``unplug`` alarm and moves the source to
  ``reconnecting`` (``finished`` with ``reconnect=false``); the loop then polls for the same
  device every :data:`~emgfeedback.acquisition.serial_link.RECONNECT_POLL_S`, reopens it,
  re-sends what the framing needs and resumes the *same* session, the missed stretch
  becoming an ``unplug`` gap.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from emgfeedback.acquisition.serial_commands import resume_commands
from emgfeedback.acquisition.serial_handshake import SerialHandshake
from emgfeedback.acquisition.serial_indexing import append_block
from emgfeedback.acquisition.serial_link import RECONNECT_POLL_S, SerialPortLink
from emgfeedback.acquisition.serial_losses import SerialLosses
from emgfeedback.acquisition.serial_port import PortLost
from emgfeedback.acquisition.serial_stream import SerialDecoding
from emgfeedback.types import Chunk

if TYPE_CHECKING:
    from emgfeedback.acquisition.serial_source import SerialSource

__all__ = ["SerialReader"]

# the serial source's logger (one name for the whole source)
log = logging.getLogger("emgfeedback.acquisition.serial_source")


class SerialReader:
    """The reader loop of one :class:`~emgfeedback.acquisition.serial_source.SerialSource`.

    Parameters
    ----------
    source : SerialSource
        The source it reads for (its queue, events, state, options and lock).
    link, decoding, handshake, losses
        The source's collaborators.

    Attributes
    ----------
    started : bool
        True between ``start()`` and ``stop()``: blocks are delivered, silence is alarmed.
    no_data_events : int
        ``no_data`` alarms raised.
    """

    def __init__(self, source: SerialSource, link: SerialPortLink, decoding: SerialDecoding,
                 handshake: SerialHandshake, losses: SerialLosses) -> None:
        self._source = source
        self._link = link
        self._decoding = decoding
        self._handshake = handshake
        self._losses = losses
        self._lock: threading.Lock = source._lock
        self.started = False
        self.no_data_events = 0
        self._start_s = 0.0
        self._silent_alarmed = False

    def set_started(self, started: bool) -> None:
        """``start()`` (True) or ``stop()`` (False) from the caller's thread."""
        with self._lock:
            self.started = started
            if started:
                self._start_s = time.monotonic()
                self._silent_alarmed = False

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Read, decode and deliver until the source's quit flag is set."""
        quit_ = self._source._quit
        link, decoding = self._link, self._decoding
        while not quit_.is_set():
            if not link.is_open:
                if not self._try_reconnect():
                    quit_.wait(RECONNECT_POLL_S)
                continue
            try:
                ask = decoding.framing == "emgf" and self._handshake.device_info is None
                if link.write_commands(may_ask_info=ask):
                    self._handshake.info_asked_s = time.monotonic()
                data = link.read()
            except PortLost as exc:
                self._on_unplug(exc)
                continue
            now = time.monotonic()
            if data or decoding.probing:
                info = self._source._info
                items = decoding.feed(data, now, info.fs_hz if info is not None else None)
                if items:
                    self._handle_items(items, now)
            self._check_silence(now)

    def _handle_items(self, items, now: float) -> None:
        from emgfeedback.acquisition.framing.base import DecodedBlock

        source, decoding, losses = self._source, self._decoding, self._losses
        chunks: list[Chunk] = []
        for item in items:
            if not isinstance(item, DecodedBlock):
                self._handshake.on_message(item, now)
                continue
            info = source._info
            samples = item.samples
            if info is not None and samples.shape[1] != info.n_channels:
                if losses.mismatch(samples.shape[0]):
                    source._event(now, "channel_mismatch",
                                  f"device sends {samples.shape[1]} channels, the session has "
                                  f"{info.n_channels}; those samples are dropped (give "
                                  "channels=N or reopen the source)")
                continue
            self._handshake.first_block.set()
            if not self.started and info is not None:
                # stopped: discarded; the next block delivered continues without a gap
                losses.skip_while_stopped()
                continue
            first, gaps = losses.place(
                item, now, decoding.current_counters(),
                fs_hz=info.fs_hz if info is not None else 0.0,
                index_survives_unplug=decoding.framing == "emgf",
                tx_dropped=self._handshake.tx_dropped)
            append_block(chunks, samples, first, gaps, now)
        if not chunks:
            return
        self._handshake.samples_arrived(now, sum(c.n_samples for c in chunks))
        losses.delivered(now, chunks[-1].end_index)
        source._deliver(chunks)
        with self._lock:
            resumed = self._silent_alarmed
            self._silent_alarmed = False
        if resumed:
            source._event(now, "data_resumed", "samples are arriving again")
        if source.state in ("no_data", "reconnecting", "open") and self.started:
            source._set_state("streaming")

    # ------------------------------------------------------------------ silence, unplug

    def _check_silence(self, now: float) -> None:
        source = self._source
        if not self.started or self._silent_alarmed or source.state == "reconnecting":
            return
        since = max(self._start_s, self._losses.last_sample_s or 0.0)
        if now - since < source.no_data_s:
            return
        with self._lock:
            self._silent_alarmed = True
            self.no_data_events += 1
        source._set_state("no_data", since_s=since)
        source._event(now, "no_data", f"no samples for {now - since:.1f} s on {source.port}",
                      {"since_s": since})

    def _on_unplug(self, exc: Exception) -> None:
        source = self._source
        if source._quit.is_set():
            return
        now = time.monotonic()
        log.warning("serial port %s lost: %s", source.port, exc)
        self._link.lost()
        self._losses.unplugged(now)
        last_sample_s = self._losses.last_sample_s
        source._event(now, "unplug", f"{source.port} disconnected: {exc}",
                      {"last_sample_s": last_sample_s})
        if not source.reconnect_enabled:
            source._set_state("finished")
            source._quit.set()
            source._wake_readers()
            return
        source._set_state("reconnecting", since_s=last_sample_s or now)

    def _try_reconnect(self) -> bool:
        source, decoding = self._source, self._decoding
        path = self._link.reopen()
        if path is None:
            return False
        now = time.monotonic()
        with self._lock:
            if decoding.framing is not None:
                decoding.new_decoder()
            self._losses.reconnected(source._loss_counts.samples)
            started = self.started
        commands = self._link.commands
        commands.hold(source.reset_wait_s, decoding.framing)
        for data in resume_commands(decoding.framing, started, decoding.channels):
            commands.put(data, once=True)
        source._event(now, "reconnected", f"reopened {path}", {"path": path})
        source._set_state("streaming" if started else "open")
        with self._lock:
            self._silent_alarmed = False
            self._start_s = now
        return True
