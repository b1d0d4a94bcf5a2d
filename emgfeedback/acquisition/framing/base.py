"""Common types of the wire-format decoders: decoded blocks, device messages, counters.

Every decoder is stateful and incremental: bytes may be fed split anywhere and the
concatenated output (samples, indices, losses, messages, counters) is the same as for one
feed of the whole stream. Only the cut of samples into blocks may differ. Decoders never
raise on bad bytes: they resync and count.
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
)

MESSAGE_KINDS = ("info", "status", "event", "text")


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
        Samples lost just before this block, known from an index or counter jump.
    """

    samples: np.ndarray
    first_index: int | None
    lost_before: int = 0


@dataclass(frozen=True)
class DeviceMessage:
    """A non-sample message from the device.

    Attributes
    ----------
    kind : str
        One of ``"info"``, ``"status"``, ``"event"``, ``"text"``.
    payload : dict or str
        Parsed content (dict for info/status/event, str for text).
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

    @abstractmethod
    def feed(self, data: bytes) -> list[Item]:
        """Decode more bytes.

        Parameters
        ----------
        data : bytes
            Any number of bytes, split anywhere.

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


def as_block(samples: np.ndarray, first_index: int | None, lost_before: int = 0) -> DecodedBlock:
    """Build a :class:`DecodedBlock` with int32 samples (helper for the decoders)."""
    return DecodedBlock(np.ascontiguousarray(samples, dtype=np.int32), first_index,
                        int(lost_before))


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
