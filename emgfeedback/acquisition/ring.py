"""A ring buffer between acquisition and its consumers, with a monotonic write counter.

One writer (the acquisition side) appends :class:`~emgfeedback.acquisition.source.Chunk`
objects; any number of readers consume them at their own pace. Every sample written gets a
*position* ``0, 1, 2, ...`` (the write counter, never reset); every reader keeps its own
position, so it always knows exactly which samples it has not seen and which it missed.

Two kinds of readers:

- **display** readers (``lossless=False``) may fall behind: when the writer overwrites
  samples they had not read yet, they skip ahead to the oldest sample still held and count
  the skipped samples as overruns (:attr:`RingReader.overrun_samples`).
- **lossless** readers (``lossless=True``, the recorder) must keep up. The writer never
  blocks (blocking would only move the loss into the serial driver), so if it has to
  overwrite samples a lossless reader has not read, that reader gets a ``Gap`` with cause
  ``"overrun"`` covering them, its overrun counters go up and an alarm is raised
  (:attr:`RingBuffer.alarms`, and the optional ``on_overrun`` callback). Never silently.

Samples are stored with their absolute sample index (the source's ``first_index``), so a
reader also sees the source's own gaps: :meth:`RingReader.read` stops at a discontinuity,
and :meth:`RingReader.read_chunks` returns chunks carrying the source's gap records plus
any overrun gaps.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emgfeedback.acquisition.source import Chunk, Gap


@dataclass(frozen=True)
class RingAlarm:
    """A lossless reader lost samples because the writer overtook it.

    Attributes
    ----------
    time_s : float
        Host monotonic time when the reader noticed.
    reader : str
        The reader's name.
    gap : Gap
        The samples the reader lost (cause ``"overrun"``).
    """

    time_s: float
    reader: str
    gap: Gap


class RingBuffer:
    """Fixed-capacity ring of integer samples with a monotonic write counter.

    Thread-safe for one writer and many readers.

    Parameters
    ----------
    n_channels : int
        Number of channels (columns).
    capacity : int
        Samples held; older samples are overwritten.
    dtype : numpy dtype, optional
        Sample type (``int32`` for counts).
    """

    def __init__(self, n_channels: int, capacity: int, dtype=np.int32) -> None:
        if n_channels < 1 or capacity < 1:
            raise ValueError("n_channels and capacity must be positive")
        self.n_channels = int(n_channels)
        self.capacity = int(capacity)
        self._samples = np.zeros((self.capacity, self.n_channels), dtype=dtype)
        self._index = np.zeros(self.capacity, dtype=np.int64)  # absolute sample index per slot
        self._arrival = np.zeros(self.capacity, dtype=np.float64)
        self._written = 0  # the write counter: positions [0, _written) have been written
        # (position, Gap): source gaps just before the sample at `position`; kept for twice
        # the capacity so a reader that fell behind can still tell source gaps from overruns.
        self._gaps: deque[tuple[int, Gap]] = deque()
        self._pending_gaps: list[Gap] = []
        self._stream_start: int | None = None  # first absolute index (incl. leading gaps)
        self._end_index: int | None = None  # absolute index after the last sample written
        self._lock = threading.RLock()
        self._data_ready = threading.Condition(self._lock)
        self.alarms: list[RingAlarm] = []

    @property
    def written(self) -> int:
        """The write counter: samples written since creation."""
        return self._written

    @property
    def oldest(self) -> int:
        """Position of the oldest sample still held."""
        return max(0, self._written - self.capacity)

    def write(self, chunk: Chunk) -> None:
        """Append a chunk (its samples, absolute indices, arrival time and gaps).

        Parameters
        ----------
        chunk : Chunk
            ``samples`` must have ``n_channels`` columns.
        """
        samples = np.asarray(chunk.samples)
        if samples.ndim != 2 or samples.shape[1] != self.n_channels:
            raise ValueError(
                f"ring buffer holds {self.n_channels} channels, chunk has shape {samples.shape}"
            )
        n = samples.shape[0]
        with self._lock:
            gaps = [*self._pending_gaps, *chunk.gaps]
            if n == 0:
                self._pending_gaps = gaps
                return
            self._pending_gaps = []
            if self._stream_start is None:
                self._stream_start = gaps[0].start_index if gaps else chunk.first_index
            self._end_index = chunk.first_index + n
            start = self._written
            for gap in gaps:
                self._gaps.append((start, gap))
            # Only the last `capacity` samples can survive this write.
            skip = max(0, n - self.capacity)
            positions = np.arange(start + skip, start + n) % self.capacity
            self._samples[positions] = samples[skip:]
            self._index[positions] = chunk.first_index + np.arange(skip, n)
            self._arrival[positions] = chunk.arrival_s
            self._written = start + n
            horizon = self._written - 2 * self.capacity
            while self._gaps and self._gaps[0][0] < horizon:
                self._gaps.popleft()
            self._data_ready.notify_all()

    def reader(
        self,
        lossless: bool = False,
        name: str = "",
        on_overrun: Callable[[RingAlarm], None] | None = None,
        from_start: bool = False,
    ) -> RingReader:
        """Create a reader.

        Parameters
        ----------
        lossless : bool
            True for the recorder path (overruns raise alarms), False for displays.
        name : str
            Name used in alarms.
        on_overrun : callable, optional
            Called with a :class:`RingAlarm` when a lossless reader loses samples (from the
            reader's thread, when it reads).
        from_start : bool
            Start at the oldest sample held instead of at the next one written.

        Returns
        -------
        RingReader
        """
        with self._lock:
            if from_start:
                position = self.oldest
                next_index = (int(self._index[position % self.capacity]) if position > 0
                              else self._stream_start)
            else:
                position, next_index = self._written, self._end_index
            reader = RingReader(self, position, lossless,
                                name or ("recorder" if lossless else "display"), on_overrun)
            reader._next_index = next_index
            return reader

    def wait(self, position: int, timeout_s: float) -> bool:
        """Wait until the write counter passes ``position``; True if it did."""
        deadline = time.monotonic() + timeout_s
        with self._data_ready:
            while self._written <= position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._data_ready.wait(remaining)
            return True

    def latest(self, n: int) -> tuple[int, np.ndarray]:
        """The most recent ``n`` samples held (fewer if not written yet), for a display.

        Returns
        -------
        (int, numpy.ndarray)
            Absolute index of the first returned sample (-1 if empty) and a copy of the
            samples. The block may span source gaps; use a reader to see them.
        """
        with self._lock:
            n = min(n, self._written, self.capacity)
            if n == 0:
                return -1, np.zeros((0, self.n_channels), self._samples.dtype)
            positions = np.arange(self._written - n, self._written) % self.capacity
            return int(self._index[positions[0]]), self._samples[positions].copy()


class RingReader:
    """One consumer's view of a :class:`RingBuffer` (create with ``ring.reader()``).

    Attributes
    ----------
    position : int
        Write-counter position of the next sample this reader will get.
    overrun_samples : int
        Samples this reader missed because the writer overtook it.
    overruns : int
        How many times that happened.
    """

    def __init__(self, ring: RingBuffer, position: int, lossless: bool, name: str,
                 on_overrun: Callable[[RingAlarm], None] | None) -> None:
        self.ring = ring
        self.position = position
        self.lossless = lossless
        self.name = name
        self.on_overrun = on_overrun
        self.overrun_samples = 0
        self.overruns = 0
        self._next_index: int | None = None  # absolute index expected next (None: unknown)
        self._carry_gaps: list[Gap] = []

    @property
    def available(self) -> int:
        """Samples written and not yet read (including any already overwritten)."""
        return self.ring.written - self.position

    def _catch_up(self) -> list[Gap]:
        """Skip over overwritten samples (lock held); return the gaps that explain them."""
        ring = self.ring
        oldest = ring.oldest
        if self.position >= oldest:
            return []
        missed = oldest - self.position
        self.overruns += 1
        self.overrun_samples += missed
        resume_index = int(ring._index[oldest % ring.capacity])
        start_index = self._next_index
        if start_index is None:  # created before anything was written
            start_index = ring._stream_start
        # Source gaps that lay inside the missed stretch are reported as themselves; the
        # rest of the missed absolute range is overrun.
        # Gaps attached to the resume position are reported by the next read, not here.
        boundary = min([g.start_index for pos, g in ring._gaps if pos == oldest],
                       default=resume_index)
        source_gaps = [g for pos, g in ring._gaps if self.position <= pos < oldest
                       and g.start_index >= start_index and g.end_index <= boundary]
        gaps: list[Gap] = []
        cursor = start_index
        for g in sorted(source_gaps, key=lambda g: g.start_index):
            if g.start_index > cursor:
                gaps.append(Gap(cursor, g.start_index - cursor, "overrun"))
            gaps.append(g)
            cursor = g.end_index
        if boundary > cursor:
            gaps.append(Gap(cursor, boundary - cursor, "overrun"))
        self.position = oldest
        self._next_index = resume_index
        if self.lossless:
            now = time.monotonic()
            for g in gaps:
                if g.cause == "overrun":
                    alarm = RingAlarm(now, self.name, g)
                    ring.alarms.append(alarm)
                    if self.on_overrun is not None:
                        self.on_overrun(alarm)
        return gaps

    def _source_gaps(self, start: int, stop: int) -> list[Gap]:
        """Source gaps attached to positions in ``[start, stop)`` (lock held)."""
        return [g for pos, g in self.ring._gaps if start <= pos < stop]

    def read(self, max_samples: int | None = None) -> tuple[int, np.ndarray]:
        """Read the next run of consecutive samples.

        Stops before a discontinuity of the absolute index (a source gap), so that
        ``first_index + row`` is always the absolute index of ``samples[row]``; call again
        to continue after it. Gaps passed over are kept for :meth:`pop_gaps`.

        Parameters
        ----------
        max_samples : int, optional
            Read at most this many samples.

        Returns
        -------
        (int, numpy.ndarray)
            Absolute index of the first sample (-1 when nothing is available) and a copy
            of the samples ``(n, n_channels)``.
        """
        ring = self.ring
        with ring._lock:
            self._carry_gaps.extend(self._catch_up())
            n = ring._written - self.position
            if max_samples is not None:
                n = min(n, max_samples)
            if n <= 0:
                return -1, np.zeros((0, ring.n_channels), ring._samples.dtype)
            positions = np.arange(self.position, self.position + n) % ring.capacity
            index = ring._index[positions]
            breaks = np.flatnonzero(np.diff(index) != 1)
            if breaks.size:
                n = int(breaks[0]) + 1
                positions = positions[:n]
            self._carry_gaps.extend(self._source_gaps(self.position, self.position + n))
            self.position += n
            self._next_index = int(index[n - 1]) + 1
            return int(index[0]), ring._samples[positions].copy()

    def pop_gaps(self) -> list[Gap]:
        """Gaps (source gaps and overruns) passed over by :meth:`read` since the last call."""
        gaps, self._carry_gaps = self._carry_gaps, []
        return gaps

    def read_chunks(self, max_samples: int | None = None) -> list[Chunk]:
        """Read everything available as chunks, with source and overrun gaps attached.

        Parameters
        ----------
        max_samples : int, optional
            Read at most this many samples.

        Returns
        -------
        list of Chunk
            One chunk per run of consecutive indices; each chunk's ``gaps`` explain the
            jump from the previous chunk this reader returned.
        """
        chunks: list[Chunk] = []
        remaining = max_samples
        while remaining is None or remaining > 0:
            ring = self.ring
            with ring._lock:
                first, samples = self.read(remaining)
                if samples.shape[0] == 0:
                    break
                arrival = float(ring._arrival[(self.position - 1) % ring.capacity])
            gaps = tuple(self.pop_gaps())
            chunks.append(Chunk(samples, first, arrival, gaps))
            if remaining is not None:
                remaining -= samples.shape[0]
        return chunks
