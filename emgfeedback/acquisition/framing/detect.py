"""``framing=auto``: recognise the wire format from the first second or so of bytes.

Every decoder is run on the same bytes; the one that explains the largest share of the
bytes with whole, valid frames and few errors wins. A single emgf frame with a valid
CRC-16 is already strong evidence (a random match has odds 1 in 65536).
"""

from __future__ import annotations

from dataclasses import dataclass

from emgfeedback.acquisition.framing.base import Decoder, DeviceMessage, Item, new_counters

BYB_CHANNEL_CHOICES = (1, 2, 3, 4, 5, 6, 8)
_ORDER = ("emgf", "p2", "byb", "text")  # tie-break: stronger checks first
_MIN_FRAMES = {"emgf": 1, "p2": 3, "byb": 8, "text": 3}
MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class DetectedFraming:
    """Result of :func:`detect_framing`.

    Attributes
    ----------
    framing : str or None
        Detected framing name, None if nothing fits.
    reason : str
        Human-readable explanation (frames, errors, coverage).
    confidence : float
        0..1, the share of the bytes inside valid frames, reduced by errors.
    n_channels : int or None
        Channel count found (for byb, which channel count fitted).
    """

    framing: str | None
    reason: str
    confidence: float
    n_channels: int | None = None


@dataclass
class _Score:
    framing: str
    n_channels: int | None
    frames: int
    errors: int
    coverage: float
    messages: int
    startup: bool

    @property
    def confidence(self) -> float:
        total = self.frames + self.errors
        return self.coverage * (self.frames / total if total else 0.0)


def _score(name: str, data: bytes, n_channels: int | None) -> _Score:
    from emgfeedback.acquisition.framing import get_decoder

    dec = get_decoder(name, n_channels=n_channels)
    items = dec.feed(data)
    c = dec.counters
    considered = len(data) - dec.pending_bytes
    coverage = (considered - c["bytes_skipped"]) / considered if considered > 0 else 0.0
    messages = sum(isinstance(i, DeviceMessage) and i.kind != "alarm" for i in items)
    startup = any(isinstance(i, DeviceMessage) and i.payload == "StartUp!" for i in items)
    if name == "text":  # lines without numbers are not evidence for a numeric stream
        frames = c["frames"]
    else:
        frames = c["frames"] if name != "byb" else c["frames"] + messages
    return _Score(name, dec.n_channels, frames, c["crc_errors"] + c["format_errors"],
                  max(0.0, coverage), messages, startup)


def _describe(s: _Score) -> str:
    what = {"emgf": "frames with valid CRC", "p2": "packets", "byb": "frames",
            "text": "numeric lines"}[s.framing]
    ch = f", {s.n_channels} channel(s)" if s.n_channels else ""
    return (f"{s.framing}: {s.frames} {what}, {s.errors} errors, "
            f"{100 * s.coverage:.0f}% of bytes in frames{ch}")


def detect_framing(first_bytes: bytes, n_channels: int | None = None) -> DetectedFraming:
    """Guess the framing of a byte stream from its first bytes (about one second).

    Parameters
    ----------
    first_bytes : bytes
        The start of the stream (any alignment).
    n_channels : int, optional
        Channel count if known (helps byb, which does not carry it).

    Returns
    -------
    DetectedFraming
        The best framing with a reason, or ``framing=None`` with what was seen.
    """
    data = bytes(first_bytes)
    if not data:
        return DetectedFraming(None, "no bytes received", 0.0)
    scores = [_score("emgf", data, None), _score("p2", data, None),
              _score("text", data, None)]
    byb_choices = (n_channels,) if n_channels else BYB_CHANNEL_CHOICES
    byb = [_score("byb", data, c) for c in byb_choices]
    scores.append(max(byb, key=lambda s: (s.confidence, s.frames)))
    eligible = [s for s in scores if s.frames >= _MIN_FRAMES[s.framing]]
    if eligible:
        best = max(eligible, key=lambda s: (round(s.confidence, 2), -_ORDER.index(s.framing)))
        if best.confidence >= MIN_CONFIDENCE or (best.framing == "emgf" and best.errors == 0):
            others = [s for s in eligible if s is not best]
            reason = _describe(best)
            if others:
                reason += "; next best " + _describe(max(others, key=lambda s: s.confidence))
            return DetectedFraming(best.framing, reason, round(best.confidence, 3),
                                   best.n_channels)
    if any(s.startup for s in byb):
        return DetectedFraming("byb", "byb: Backyard Brains start-up text 'StartUp!' seen, "
                               "no frames yet", 0.5, n_channels)
    seen = "; ".join(_describe(s) for s in scores)
    return DetectedFraming(None, f"no framing recognised in {len(data)} bytes ({seen})", 0.0)


class AutoDecoder(Decoder):
    """Buffers bytes until :func:`detect_framing` is sure, then decodes with the winner.

    Detection is tried once ``min_bytes`` have arrived and forced at ``max_bytes``;
    everything buffered is then replayed into the chosen decoder, so no sample is lost.

    Parameters
    ----------
    n_channels, fs_hz :
        Passed to the chosen decoder.
    min_bytes, max_bytes : int
        Bytes to collect before trying, and before giving up waiting for certainty.
    """

    name = "auto"

    def __init__(self, n_channels: int | None = None, fs_hz: float | None = None,
                 min_bytes: int = 512, max_bytes: int = 8192):
        super().__init__(n_channels, fs_hz)
        self._user_channels = n_channels
        self._min = min_bytes
        self._max = max_bytes
        self.detected: DetectedFraming | None = None
        self.decoder: Decoder | None = None

    @property
    def framing(self) -> str | None:
        """The detected framing name, None while still detecting."""
        return None if self.decoder is None else self.decoder.name

    @property
    def pending_bytes(self) -> int:
        return len(self._buf) if self.decoder is None else self.decoder.pending_bytes

    def feed(self, data: bytes, arrival_s: float | None = None,
             fs_hz: float | None = None) -> list[Item]:
        if self.decoder is not None:
            return self._sync(self.decoder.feed(data, arrival_s, fs_hz))
        self._buf += data
        if len(self._buf) < self._min:
            return []
        result = detect_framing(bytes(self._buf), self._user_channels)
        if result.framing is None or (result.confidence < 0.9 and len(self._buf) < self._max):
            if len(self._buf) >= self._max:
                self.detected = result
                self._skip(len(self._buf) - self._min)
                del self._buf[: len(self._buf) - self._min]
            return []
        from emgfeedback.acquisition.framing import get_decoder

        self.detected = result
        self.decoder = get_decoder(result.framing, n_channels=result.n_channels
                                   if result.framing == "byb" else self._user_channels,
                                   fs_hz=self.fs_hz)
        skipped = self.counters["bytes_skipped"]
        data, self._buf = bytes(self._buf), bytearray()
        items = self.decoder.feed(data, arrival_s, fs_hz)
        self.decoder.counters["bytes_skipped"] += skipped
        return self._sync(items)

    def flush(self) -> list[Item]:
        if self.decoder is None:  # stream ended before detection: decide on what we have
            if not self._buf:
                return []
            self._min = 0
            self._max = len(self._buf)
            items = self.feed(b"")
            if self.decoder is None:
                return items
            return items + self._sync(self.decoder.flush())
        return self._sync(self.decoder.flush())

    def _sync(self, items: list[Item]) -> list[Item]:
        dec = self.decoder
        self.counters = dec.counters if dec is not None else new_counters()
        self.n_channels, self.fs_hz, self.channel_names = (dec.n_channels, dec.fs_hz,
                                                          dec.channel_names)
        return items
