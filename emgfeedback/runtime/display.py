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

from emgfeedback.acquisition.ring import RingBuffer


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

    A thin layer over :class:`~emgfeedback.acquisition.ring.RingBuffer` (float64, the filtered
    signal and the envelope side by side): it fills gaps with NaN, so traces break instead of
    joining across missing data, and reads by absolute index, so any number of displays can
    read without registering.

    Parameters
    ----------
    n_channels : int
        Channels per sample.
    capacity : int
        Samples kept (e.g. 30 s at the sample rate, the longest display window).
    """

    def __init__(self, n_channels: int, capacity: int) -> None:
        self.n_channels = int(n_channels)
        self.capacity = int(capacity)
        self._ring = RingBuffer(2 * self.n_channels, self.capacity, dtype=np.float64)
        # RingBuffer touches its memory when built (Engine.open, before the stream starts).
        self._lock = threading.Lock()
        self._end_index: int | None = None
        self._newest_arrival_s = 0.0

    @property
    def end_index(self) -> int:
        """Absolute index one past the newest sample (0 before the first write)."""
        return self._end_index or 0

    def write(self, first_index: int, filtered_uv: np.ndarray, envelope_uv: np.ndarray,
              arrival_s: float) -> None:
        """Append a processed block; a jump in ``first_index`` (a gap) is filled with NaN."""
        with self._lock:
            missing = 0 if self._end_index is None else first_index - self._end_index
            if missing > 0:
                # Only the newest `capacity` NaN rows can survive, so write no more.
                fill = min(missing, self.capacity)
                nan = np.full((fill, 2 * self.n_channels), np.nan)
                self._ring.write(first_index - fill, nan)
            # concatenate, not hstack: hstack's argument checks cost as much as the copy.
            self._ring.write(first_index, np.concatenate((filtered_uv, envelope_uv), axis=1))
            self._end_index = first_index + len(filtered_uv)
            self._newest_arrival_s = arrival_s

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
            held = min(self._ring.written, self.capacity)
            limit = held if max_samples is None else min(max_samples, held)
            start = end - limit if index is None else max(index, end - held)
            skipped = 0
            if index is not None:
                skipped = max(0, start - index)
                if end - start > limit:
                    skipped += end - limit - start
                    start = end - limit
            n = max(0, end - start)
            first, both = self._ring.latest(n)
            if n == 0:
                first = end
            return DisplayBlock(first, both[:, :self.n_channels], both[:, self.n_channels:],
                                skipped, self._newest_arrival_s)
