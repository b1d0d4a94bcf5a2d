"""Common types of the wire-format decoders: decoded blocks, device messages, counters.

Every decoder is stateful and incremental: bytes may be fed split anywhere and the
concatenated output (samples, indices, losses, messages, counters) is the same as for one
feed of the whole stream. Only the cut of samples into blocks may differ. Decoders never
raise on bad bytes: they resync and count.

A live source also passes the host arrival time of each read (``feed(data, arrival_s,
fs_hz)``): formats without a counter (text, byb) then report a silence longer than
:func:`~emgfeedback.acquisition.framing.timing.pause_threshold_s` as lost samples of the
measured length (cause ``"pause"``), and the P2 decoder resolves its 8-bit counter's wraps.
Without arrival times (file replays, tests) decoding depends on the bytes alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Union

import numpy as np

COUNTER_KEYS = (
    "frames",
    "samples",
    "crc_errors",
    "format_errors",
    "bytes_skipped",
    "lost_samples",
    "bytes_rejected",
)

#: ``alarm`` is the decoder's own message (payload dict with ``alarm`` and ``message``),
#: e.g. bytes that cannot be a valid frame stream; the others come from the device.
MESSAGE_KINDS = ("info", "status", "event", "text", "alarm")


@dataclass(frozen=True, eq=False)
class DecodedBlock:
    """Consecutive samples decoded from one or more frames.

    Attributes
    ----------
    samples : numpy.ndarray
        int32 array ``(n_samples, n_channels)`` of raw ADC counts.
    first_index : int or None
        Absolute (unwrapped, int64-range) index of the first sample when the format
        carries an index or counter, else None.
    lost_before : int
        Samples lost just before this block, known from an index or counter jump, or (for
        formats without a counter, given arrival times) from the time the line was silent.
    loss_cause : str or None
        Why ``lost_before`` samples are missing when the decoder knows better than its
        counters tell: ``"pause"`` (a silence measured with host arrival times) or
        ``"rejected"`` (bytes rejected as no valid frame stream). None otherwise.
    """

    samples: np.ndarray
    first_index: int | None
    lost_before: int = 0
    loss_cause: str | None = None


@dataclass(frozen=True)
class DeviceMessage:
    """A non-sample message from the device.

    Attributes
    ----------
    kind : str
        One of :data:`MESSAGE_KINDS`.
    payload : dict or str
        Parsed content (dict for info/status/event/alarm, str for text). An alarm's dict
        has ``alarm`` (``"rejected"``), ``message`` (what to check) and ``framing``.
    raw : bytes
        The bytes of the message as received (whole frame for emgf).
    """

    kind: str
    payload: Union[dict, str]  # noqa: UP007 - dataclass field annotation kept explicit
    raw: bytes = field(default=b"", repr=False)


Item = Union[DecodedBlock, DeviceMessage]  # noqa: UP007


def new_counters() -> dict[str, int]:
    """Return a fresh counter dict with every key of :data:`COUNTER_KEYS` at 0."""
    return dict.fromkeys(COUNTER_KEYS, 0)


class Decoder(ABC):
    """Base class of the stateful, incremental decoders.

    Parameters
    ----------
    n_channels : int or None
        Channel count if the user knows it (required for formats that do not carry it).
    fs_hz : float or None
        Sample rate if known (formats that carry no rate keep what the user gave).
    """

    name: str = ""

    def __init__(self, n_channels: int | None = None, fs_hz: float | None = None):
        if n_channels is not None and int(n_channels) < 1:
            raise ValueError(f"n_channels must be >= 1, got {n_channels}")
        self.n_channels: int | None = None if n_channels is None else int(n_channels)
        self.fs_hz: float | None = None if fs_hz is None else float(fs_hz)
        self.channel_names: tuple[str, ...] | None = None
        self.counters: dict[str, int] = new_counters()
        self._buf = bytearray()
        self._silence = None  # timing.SilenceClock, created on the first timed feed
        self._rejected_seen = 0  # bytes_rejected when the last samples were delivered

    @abstractmethod
    def feed(self, data: bytes, arrival_s: float | None = None,
             fs_hz: float | None = None) -> list[Item]:
        """Decode more bytes.

        Parameters
        ----------
        data : bytes
            Any number of bytes, split anywhere.
        arrival_s : float, optional
            Host monotonic time at which ``data`` was read (s). Given by live sources;
            enables time-based loss detection for formats without a counter.
        fs_hz : float, optional
            The session's sample rate (Hz) for that time-based detection; defaults to the
            decoder's own :attr:`fs_hz`.

        Returns
        -------
        list of DecodedBlock or DeviceMessage
            Complete items, in stream order. Incomplete frames stay buffered.
        """

    def flush(self) -> list[Item]:
        """End of stream: decide on frames held back for a look-ahead (p2, byb).

        A live stream never needs this; file replays and tests do. Incomplete frames are
        dropped and counted as skipped bytes.
        """
        return []

    @property
    def pending_bytes(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def _skip(self, n: int) -> None:
        self.counters["bytes_skipped"] += int(n)

    def _time_gaps(self, items: list[Item], arrival_s: float | None,
                   fs_hz: float | None) -> list[Item]:
        """Mark samples missing during a silence on the first block of a timed read.

        Used by the formats without a counter (text, byb): see
        :class:`~emgfeedback.acquisition.framing.timing.SilenceClock`. The cause is
        ``"rejected"`` if bytes were rejected since the last samples, else ``"pause"``.
        """
        if arrival_s is None:
            return items
        n = sum(it.samples.shape[0] for it in items if isinstance(it, DecodedBlock))
        if not n:
            return items
        if self._silence is None:
            from emgfeedback.acquisition.framing.timing import SilenceClock

            self._silence = SilenceClock()
        missing = self._silence.missing(arrival_s, n, fs_hz or self.fs_hz)
        rejected = self.counters.get("bytes_rejected", 0) > self._rejected_seen
        self._rejected_seen = self.counters.get("bytes_rejected", 0)
        if not missing:
            return items
        i = next(j for j, it in enumerate(items) if isinstance(it, DecodedBlock))
        blk = items[i]
        items[i] = DecodedBlock(blk.samples, blk.first_index, blk.lost_before + missing,
                                "rejected" if rejected else "pause")
        self.counters["lost_samples"] += missing
        return items


def as_block(samples: np.ndarray, first_index: int | None, lost_before: int = 0,
             loss_cause: str | None = None) -> DecodedBlock:
    """Build a :class:`DecodedBlock` with int32 samples (helper for the decoders)."""
    return DecodedBlock(np.ascontiguousarray(samples, dtype=np.int32), first_index,
                        int(lost_before), loss_cause)


def alarm(framing: str, message: str, **details) -> DeviceMessage:
    """The decoder's ``rejected`` alarm: bytes that cannot be a valid ``framing`` stream."""
    return DeviceMessage("alarm", {"alarm": "rejected", "framing": framing,
                                   "message": message, **details})


def partial_suffix(buf: bytes | bytearray, markers: tuple[bytes, ...]) -> int:
    """Length of the longest buffer suffix that is a proper prefix of one of ``markers``.

    Used to hold back the start of a marker split across two feeds.
    """
    best = 0
    for marker in markers:
        for n in range(min(len(marker) - 1, len(buf)), best, -1):
            if buf.endswith(marker[:n]):
                best = n
                break
    return best
