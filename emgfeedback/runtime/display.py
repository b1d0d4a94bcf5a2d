"""The display path: a float ring of recent filtered signal and envelope.

The engine writes every processed block; a display (the GUI, a benchmark) reads what is new
since its last read. The ring keeps a monotonic write counter, so a reader that falls more
than a ring behind knows exactly how many samples it missed and counts them as overruns.
The display path may skip; the recorder path never does (it has its own lossless queue).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DisplayBlock:
    """Samples a display has not seen yet.

    Attributes
    ----------
    first_index : int
        Absolute sample index of ``filtered_uv[0]``.
    filtered_uv, envelope_uv : numpy.ndarray
        float64 ``(n, n_channels)``, µV at the electrode.
    skipped : int
        Samples the reader missed because it fell more than a ring behind.
    newest_arrival_s : float
        Host monotonic arrival time of the newest sample in the block.
    """

    first_index: int
    filtered_uv: np.ndarray
    envelope_uv: np.ndarray
    skipped: int
    newest_arrival_s: float


class DisplayRing:
    """Single-writer, multi-reader ring of recent processed samples.

    Parameters
    ----------
    n_channels : int
        Channels per sample.
    capacity : int
        Samples kept (e.g. 30 s at the sample rate, the longest display window).
    """

    def __init__(self, n_channels: int, capacity: int) -> None:
        self.capacity = int(capacity)
        self._filtered = np.full((self.capacity, n_channels), np.nan)
        self._envelope = np.full((self.capacity, n_channels), np.nan)
        self._lock = threading.Lock()
        self._first_index = 0  # absolute index of the stream's first written sample
        self._written = 0  # samples written since the first (monotonic counter)
        self._newest_arrival_s = 0.0

    @property
    def end_index(self) -> int:
        """Absolute index one past the newest sample."""
        return self._first_index + self._written

    def write(self, first_index: int, filtered_uv: np.ndarray, envelope_uv: np.ndarray,
              arrival_s: float) -> None:
        """Append a processed block; a jump in ``first_index`` (a gap) is filled with NaN."""
        with self._lock:
            if self._written == 0:
                self._first_index = first_index
            missing = first_index - self.end_index
            if missing > 0:
                fill = np.full((min(missing, self.capacity), filtered_uv.shape[1]), np.nan)
                self._put(fill, fill, advance=missing)
            self._put(filtered_uv, envelope_uv, advance=len(filtered_uv))
            self._newest_arrival_s = arrival_s

    def _put(self, filtered: np.ndarray, envelope: np.ndarray, advance: int) -> None:
        n = len(filtered)
        if n > self.capacity:
            filtered, envelope = filtered[-self.capacity:], envelope[-self.capacity:]
            n = self.capacity
        start = (self._written + advance - n) % self.capacity
        first = min(n, self.capacity - start)
        self._filtered[start:start + first] = filtered[:first]
        self._envelope[start:start + first] = envelope[:first]
        self._filtered[:n - first] = filtered[first:]
        self._envelope[:n - first] = envelope[first:]
        self._written += advance

    def read_since(self, index: int | None, max_samples: int | None = None) -> DisplayBlock:
        """Samples from absolute ``index`` to the newest (``None``: the last ``max_samples``).

        Parameters
        ----------
        index : int or None
            Absolute index of the first sample wanted (usually the previous block's end).
        max_samples : int, optional
            Return at most this many of the newest samples (the rest count as skipped).

        Returns
        -------
        DisplayBlock
        """
        with self._lock:
            end = self.end_index
            oldest = end - min(self._written, self.capacity)
            limit = self.capacity if max_samples is None else min(max_samples, self.capacity)
            start = max(end - limit, oldest) if index is None else max(index, oldest)
            skipped = 0 if index is None else max(0, start - index)
            if max_samples is not None and end - start > limit:
                skipped += end - limit - start
                start = end - limit
            n = max(0, end - start)
            pos = (start - self._first_index) % self.capacity
            take = np.arange(pos, pos + n) % self.capacity
            return DisplayBlock(start, self._filtered[take], self._envelope[take], skipped,
                                self._newest_arrival_s)
