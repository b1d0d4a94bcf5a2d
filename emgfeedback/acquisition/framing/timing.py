"""Host arrival times: silences of formats without a counter, and P2 counter wraps.

Bytes reach the host in bursts (USB polls every 1-16 ms, a pty or an OS buffer may hold
them longer while the reader thread is busy), so the time between two reads says nothing
by itself. What is robust is the *lag* of a read: its arrival time minus the time the
samples received so far would take at the sample rate,
``lag = arrival_s - samples_so_far / fs_hz``. A burst of buffered samples after a delay
brings the lag back to where it was (the samples account for the delay: not a loss); a
board that paused leaves the lag higher by the pause length. :class:`SilenceClock`
compares each read's lag with the lowest lag of the reads in the second before it, and
reports a silence as ``round(excess * fs_hz)`` missing samples when

- the host received no samples for at least :func:`pause_threshold_s`, and
- the excess lag is at least that long too.

``pause_threshold_s(fs_hz) = max(5 sample periods, 50 ms) + 50 ms`` of transport jitter
allowance: 100 ms at 100 Hz or more. Shorter pauses are not counted (the time axis then
runs that much behind). A slow drift of the rate (the board's clock, an estimated rate)
raises the lag steadily while samples keep coming, which is never a silence.
"""

from __future__ import annotations

from collections import deque

#: Shortest silence counted, in sample periods and in seconds (the larger applies).
MIN_PAUSE_PERIODS = 5
MIN_PAUSE_S = 0.05

#: Transport jitter allowed on top (USB latency timer 16 ms, thread scheduling), s.
JITTER_S = 0.05

#: The lag baseline is the lowest lag over this long before a read, s.
BASELINE_S = 1.0


def pause_threshold_s(fs_hz: float) -> float:
    """Shortest silence counted as lost samples at ``fs_hz`` (seconds).

    ``max(MIN_PAUSE_PERIODS / fs_hz, MIN_PAUSE_S) + JITTER_S``.
    """
    return max(MIN_PAUSE_PERIODS / float(fs_hz), MIN_PAUSE_S) + JITTER_S


class SilenceClock:
    """Counts samples missing during silences of a stream without a counter.

    Feed it every read that delivered samples; see the module docstring for the rule.
    A change of rate starts it afresh.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the history (after a restart, reconnection or rate change)."""
        self._fs_hz: float | None = None
        self._n = 0  # samples received + counted missing since the reset
        self._last_s: float | None = None  # arrival of the previous read with samples
        # (arrival_s, lag_s) of recent reads with increasing lags: the front is the lowest
        # lag of the last BASELINE_S (a monotonic queue)
        self._recent: deque[tuple[float, float]] = deque()

    def missing(self, arrival_s: float, n_samples: int, fs_hz: float | None) -> int:
        """Samples missing just before a read.

        Parameters
        ----------
        arrival_s : float
            Host monotonic time of the read (s).
        n_samples : int
            Samples the read delivered (> 0).
        fs_hz : float or None
            Sample rate; None or <= 0: unknown, nothing can be measured.

        Returns
        -------
        int
            Samples missing before the read's first sample (0 if none).
        """
        if not fs_hz or fs_hz <= 0 or n_samples <= 0:
            return 0
        if fs_hz != self._fs_hz:
            self.reset()
            self._fs_hz = float(fs_hz)
        fs = self._fs_hz
        self._n += int(n_samples)
        lag = arrival_s - self._n / fs
        gap = 0
        if self._last_s is not None and self._recent:
            threshold = pause_threshold_s(fs)
            excess = lag - self._recent[0][1]
            if arrival_s - self._last_s >= threshold and excess >= threshold:
                gap = int(round(excess * fs))
                self._n += gap
                lag -= gap / fs
        self._last_s = arrival_s
        recent = self._recent
        while recent and recent[-1][1] >= lag:
            recent.pop()
        recent.append((arrival_s, lag))
        while recent[0][0] < arrival_s - BASELINE_S:
            recent.popleft()
        return gap


class CounterClock:
    """Resolves the wraps of a short packet counter (P2: 8 bits) from arrival times.

    A counter of ``modulus`` values cannot tell a jump of ``j`` from ``j + modulus``. The
    time since the previous packet can: packets are produced at a steady rate, so the
    number of packet periods between them is about ``elapsed_s * rate``. The rate is
    measured from the counter itself (unwrapped index against arrival time over a stretch
    of at least :attr:`MIN_SPAN_S` without a resolved wrap), else the given nominal rate.

    Parameters
    ----------
    modulus : int
        Counter values (256 for P2).
    """

    MIN_SPAN_S = 2.0

    def __init__(self, modulus: int):
        self.modulus = int(modulus)
        self.measured_hz: float | None = None
        self._stretch: tuple[float, int] | None = None  # (arrival_s, index) at its start
        self._last: tuple[float, int] | None = None  # production estimate of the last packet

    def rate_hz(self, nominal_hz: float | None) -> float | None:
        """The rate used: measured if available, else ``nominal_hz``."""
        return self.measured_hz or nominal_hz

    def extra_wraps(self, jump: int, produced_s: float, nominal_hz: float | None) -> int:
        """Whole counter cycles missed on top of a counter jump of ``jump`` packets.

        Parameters
        ----------
        jump : int
            Packets missing per the counter (0 .. modulus-1).
        produced_s : float
            Estimated production time of the packet after the jump: its arrival minus
            the packets that arrived after it in the same read, divided by the rate.
        nominal_hz : float or None
            Rate to use until one is measured.

        Returns
        -------
        int
            ``k >= 0``: ``jump + k * modulus`` packets were missed.
        """
        rate = self.rate_hz(nominal_hz)
        if self._last is None or not rate:
            return 0
        periods = (produced_s - self._last[0]) * rate  # about jump + 1 if nothing wrapped
        return max(0, int(round((periods - 1 - jump) / self.modulus)))

    def packet(self, produced_s: float, index: int, wrapped: bool) -> None:
        """Record a delivered packet (unwrapped ``index``); ``wrapped``: a wrap was resolved
        just before it, so the rate measurement starts again."""
        if wrapped or self._stretch is None:
            self._stretch = (produced_s, index)
        else:
            t0, i0 = self._stretch
            if produced_s - t0 >= self.MIN_SPAN_S and index > i0:
                self.measured_hz = (index - i0) / (produced_s - t0)
        self._last = (produced_s, index)
