"""Frame rate and sample-to-screen latency, measured where the frame is painted.

A chunk's latency is the time from its arrival at the host (``Chunk.arrival_s``, the
source's monotonic clock) to the end of the first frame whose data include it: the main
window calls :meth:`LatencyMeter.painted` once its whole update (traces, feedback canvas,
labels) has been painted and flushed.
The envelope filter's own delay is not in this number; it is shown next to it.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class LatencyMeter:
    """Collects frame times and per-chunk sample-to-screen latencies.

    Parameters
    ----------
    size : int
        Observations kept for the percentiles.
    """

    def __init__(self, size: int = 4000) -> None:
        self._pending: list[tuple[int, float]] = []  # arrivals not yet on screen
        self._staged: list[float] = []  # arrivals drawn into the next frame
        self.latencies_ms: deque[float] = deque(maxlen=size)
        self.frame_times: deque[float] = deque(maxlen=size)
        self.frames = 0

    def arrived(self, arrivals) -> None:
        """Chunks processed since the last frame: ``(end_index, arrival_s)`` pairs."""
        self._pending.extend(arrivals)

    def drawn_up_to(self, end_index: int) -> None:
        """The frame being prepared shows every sample before ``end_index``."""
        keep = []
        for end, arrival in self._pending:
            if end <= end_index:
                self._staged.append(arrival)
            else:
                keep.append((end, arrival))
        self._pending = keep

    def painted(self, t_s: float) -> None:
        """A frame finished painting at monotonic time ``t_s``."""
        self.frames += 1
        self.frame_times.append(t_s)
        for arrival in self._staged:
            self.latencies_ms.append((t_s - arrival) * 1000.0)
        self._staged = []

    def fps(self, over_s: float = 2.0) -> float:
        """Frames painted per second over the last ``over_s`` seconds."""
        if len(self.frame_times) < 2:
            return float("nan")
        last = self.frame_times[-1]
        first, n = last, 0
        # Newest first, stopping at the window's start: ~120 frames, not the whole deque
        # (called at every status refresh).
        for t in reversed(self.frame_times):
            if t < last - over_s:
                break
            first, n = t, n + 1
        if n < 2 or last <= first:
            return float("nan")
        return (n - 1) / (last - first)

    def latency_ms(self, q: float = 95.0) -> float:
        """The ``q``-th percentile of sample-to-screen latency, ms (NaN before data)."""
        if not self.latencies_ms:
            return float("nan")
        return float(np.percentile(np.fromiter(self.latencies_ms, float), q))

    def reset(self) -> None:
        self._pending.clear()
        self._staged.clear()
        self.latencies_ms.clear()
        self.frame_times.clear()
        self.frames = 0
