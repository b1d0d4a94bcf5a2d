"""A fixed-capacity ring of recent samples with a monotonic write counter.

One writer appends blocks of samples with the absolute index of their first row (any
dtype: the display ring holds float µV, which is why this takes arrays rather than
integer-count :class:`~emgfeedback.types.Chunk` objects); readers ask for
the newest ``n`` samples (:meth:`RingBuffer.latest`) with the absolute sample index of the
first one. Every sample written gets a *position* ``0, 1, 2, ...`` (the write counter,
:attr:`RingBuffer.written`, never reset); the oldest ``capacity`` positions are held.

Used by the display path (:class:`emgfeedback.runtime.display.DisplayRing`), which may fall
behind and counts what it skipped. The recorder does not read a ring: the engine hands
every chunk to the storage writer's own queue (see :mod:`emgfeedback.runtime.engine`).
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["RingBuffer"]


class RingBuffer:
    """Fixed-capacity ring of samples with a monotonic write counter.

    Thread-safe for one writer and many readers.

    Parameters
    ----------
    n_channels : int
        Number of channels (columns).
    capacity : int
        Samples held; older samples are overwritten.
    dtype : numpy dtype, optional
        Sample type (``int32`` for counts, ``float64`` for processed µV).
    """

    def __init__(self, n_channels: int, capacity: int, dtype=np.int32) -> None:
        if n_channels < 1 or capacity < 1:
            raise ValueError("n_channels and capacity must be positive")
        self.n_channels = int(n_channels)
        self.capacity = int(capacity)
        # Allocated and touched here, not by the first writes: np.zeros leaves the pages
        # unmapped, NumPy asks for transparent huge pages above 4 MB, and the first write
        # into each 2 MB page then has the kernel clear the whole page inside one chunk of
        # the writer's thread (18-25 ms of the engine thread's own CPU every 1024 chunks of
        # 16 samples for a 30 s display ring; issue 16, perf: clear_page_erms).
        self._samples = np.empty((self.capacity, self.n_channels), dtype=dtype)
        self._samples.fill(0)
        self._index = np.empty(self.capacity, dtype=np.int64)  # absolute sample index per slot
        self._index.fill(0)
        self._written = 0  # the write counter: positions [0, _written) have been written
        self._lock = threading.Lock()

    @property
    def written(self) -> int:
        """The write counter: samples written since creation."""
        return self._written

    @property
    def oldest(self) -> int:
        """Position of the oldest sample still held."""
        return max(0, self._written - self.capacity)

    def write(self, first_index: int, samples: np.ndarray) -> None:
        """Append a block of samples with their absolute indices.

        Parameters
        ----------
        first_index : int
            Absolute sample index of ``samples[0]``.
        samples : numpy.ndarray
            ``(n, n_channels)``.

        Raises
        ------
        ValueError
            If the block has another number of channels.
        """
        samples = np.asarray(samples)
        if samples.ndim != 2 or samples.shape[1] != self.n_channels:
            raise ValueError(
                f"ring buffer holds {self.n_channels} channels, block has shape {samples.shape}"
            )
        n = samples.shape[0]
        if n == 0:
            return
        with self._lock:
            start = self._written
            # Only the last `capacity` samples can survive this write.
            skip = max(0, n - self.capacity)
            positions = np.arange(start + skip, start + n) % self.capacity
            self._samples[positions] = samples[skip:]
            self._index[positions] = int(first_index) + np.arange(skip, n)
            self._written = start + n

    def latest(self, n: int) -> tuple[int, np.ndarray]:
        """The most recent ``n`` samples held (fewer if not written yet).

        Parameters
        ----------
        n : int
            Samples wanted.

        Returns
        -------
        (int, numpy.ndarray)
            Absolute index of the first returned sample (-1 if empty) and a copy of the
            samples ``(n, n_channels)``.
        """
        with self._lock:
            n = min(n, self._written, self.capacity)
            if n == 0:
                return -1, np.zeros((0, self.n_channels), self._samples.dtype)
            positions = np.arange(self._written - n, self._written) % self.capacity
            return int(self._index[positions[0]]), self._samples[positions].copy()
