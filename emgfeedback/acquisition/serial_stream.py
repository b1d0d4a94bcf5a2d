"""The serial source's decoding (:class:`SerialDecoding`): bytes in, decoded items out.

Until the wire format is known, bytes go to framing detection (``framing=auto``, or
``byb`` without a channel count) or, for text without a channel count, to a probe of a few
whole lines; then to the framing's decoder (:mod:`emgfeedback.acquisition.framing`). The
decoder yields :class:`~emgfeedback.acquisition.framing.base.DecodedBlock` objects (device
indices, samples) and device messages; what they mean for the session (indices, gaps,
events) is decided by the reader (:mod:`.serial_reader`) and the loss accounting
(:mod:`.serial_losses`). Runs on the reader thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from emgfeedback.acquisition.serial_commands import CommandQueue
from emgfeedback.acquisition.serial_detect import (
    DETECT_EARLY_S,
    DETECT_S,
    count_text_channels,
    framing_decided,
    text_probe_done,
    trim_probe,
    whole_lines,
)
from emgfeedback.acquisition.serial_indexing import DECODER_COUNTERS, zero_counters

__all__ = ["SerialDecoding"]


class SerialDecoding:
    """Framing detection, text channel probe and the decoder of one serial source.

    Parameters
    ----------
    framing : str
        The requested framing (``emgf``, ``text``, ``p2``, ``byb`` or ``auto``).
    channels : int or None
        The channel count asked for (learnt by detection or the text probe otherwise).
    fs_hz : float or None
        The rate asked for (given to decoders of formats without a rate).
    commands : CommandQueue
        Released when detection shows a format whose devices take no commands.
    lock : threading.Lock
        The source's lock (guards the decoder counters that ``stats()`` reads).
    on_new_decoder : callable
        Called (lock held) whenever the decoder is replaced: its counts restart at 0.

    Attributes
    ----------
    framing : str or None
        The wire format, None until detected.
    channels : int or None
        The channel count (given, detected or probed).
    detection : DetectedFraming or None
        The last detection result (``framing=auto``).
    decoder : Decoder or None
        The current decoder.
    """

    def __init__(self, framing: str, channels: int | None, fs_hz: float | None,
                 commands: CommandQueue, lock: threading.Lock,
                 on_new_decoder: Callable[[], None]) -> None:
        self.requested_framing = framing
        self.framing: str | None = None if framing == "auto" else framing
        # byb does not say how many channels it sends: detect that too unless given
        if framing == "byb" and channels is None:
            self.framing = None
        self.channels = channels
        self.fs_hz_option = fs_hz
        self.detection = None
        self.decoder = None
        self._commands = commands
        self._lock = lock
        self._on_new_decoder = on_new_decoder
        self._renew = False
        # text without channels: look at a few lines first (the first may be partial)
        self._text_probe = framing == "text" and channels is None
        self._buf = bytearray()
        self._started_s: float | None = None
        self._counters_done = zero_counters()  # from replaced decoders

    @property
    def probing(self) -> bool:
        """True while bytes are held for detection or the text probe (time decides too)."""
        return (self.framing is None or self._text_probe) and bool(self._buf)

    @property
    def needs_rate_estimate(self) -> bool:
        """A text stream without a given rate: the rate is measured at open."""
        return self.framing == "text" and not self.fs_hz_option

    def counters(self) -> dict[str, int]:
        """Decoder counters (:data:`DECODER_COUNTERS`) over every decoder so far (lock held)."""
        counters = dict(self._counters_done)
        if self.decoder is not None:
            for key in DECODER_COUNTERS:
                counters[key] += int(self.decoder.counters.get(key, 0))
        return counters

    def current_counters(self) -> dict[str, int]:
        """The current decoder's counters alone (lock held)."""
        return {k: int(self.decoder.counters.get(k, 0)) for k in DECODER_COUNTERS}

    def new_decoder(self) -> None:
        """Replace the decoder (after an unplug or reconfiguration), keeping its counts.

        Call with the lock held.
        """
        from emgfeedback.acquisition.framing import get_decoder

        if self.decoder is not None:
            for key in DECODER_COUNTERS:
                self._counters_done[key] += int(self.decoder.counters.get(key, 0))
        n_channels = self.channels if self.framing in ("text", "byb") else None
        if n_channels is None and self.framing == "byb" and self.detection is not None:
            n_channels = self.detection.n_channels
        fs_hz = self.fs_hz_option if self.framing in ("text", "byb", "p2") else None
        self.decoder = get_decoder(self.framing, n_channels=n_channels, fs_hz=fs_hz)
        self._on_new_decoder()

    def renew_decoder(self) -> None:
        """Start the next bytes with a fresh decoder (the device was reconfigured)."""
        self._renew = True

    def feed(self, data: bytes, now: float, fs_hz: float | None) -> list:
        """Decode bytes that arrived at ``now``.

        Parameters
        ----------
        data : bytes
            The bytes (may be empty: held probe bytes are then looked at again).
        now : float
            Host monotonic arrival time.
        fs_hz : float or None
            The session's rate once known (time-based gaps of text and byb, P2 wraps).

        Returns
        -------
        list
            Decoded blocks and device messages, in stream order.
        """
        if self.framing is None:
            data = self._detect(data, now)
            if self.framing is None:
                return []
        if self._text_probe and self.framing == "text":
            data = self._probe_text(data, now)
            if self._text_probe:
                return []
        if self.decoder is None or self._renew:
            with self._lock:
                self.new_decoder()
                self._renew = False
        if not data:
            return []
        return self.decoder.feed(data, now, fs_hz)

    def _detect(self, data: bytes, now: float) -> bytes:
        from emgfeedback.acquisition.framing import detect_framing

        if self._started_s is None:
            self._started_s = now
        self._buf += data
        # a byte limit (serial_detect); what it drops is counted as skipped
        self._counters_done["bytes_skipped"] += trim_probe(self._buf)
        elapsed = now - self._started_s
        result = detect_framing(bytes(self._buf), self.channels)
        self.detection = result
        if self.requested_framing == "byb":  # only the channel count is unknown
            if result.framing == "byb" and result.n_channels and elapsed >= DETECT_EARLY_S:
                self.channels = self.channels or result.n_channels
            elif elapsed < DETECT_S:
                return b""
            self.framing = "byb"
        else:
            if not framing_decided(result, elapsed, len(self._buf)):
                return b""
            self.framing = result.framing
            if self.framing == "byb" and result.n_channels and not self.channels:
                self.channels = result.n_channels
            if self.framing == "text" and not self.channels:
                self._text_probe = True
        if self.framing in ("text", "p2"):
            self._commands.release()
        buf, self._buf = bytes(self._buf), bytearray()
        return buf

    def _probe_text(self, data: bytes, now: float) -> bytes:
        """Hold text until a few whole lines show the channel count, then release it.

        A port opened on a board that is already printing starts mid-line; a decoder that
        took its channel count from that fragment would reject every following line. The
        count is the most common number of numeric fields among whole lines (the first,
        possibly partial, line excluded).
        """
        if self._started_s is None:
            self._started_s = now
        self._buf += data
        lines = whole_lines(bytes(self._buf))
        if not text_probe_done(lines, now - self._started_s, len(self._buf)):
            return b""
        self.channels = count_text_channels(lines) or self.channels
        self._text_probe = False
        buf, self._buf = bytes(self._buf), bytearray()
        return buf
