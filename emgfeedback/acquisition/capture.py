"""The board check behind ``emgfeedback capture``: stream for a while, tally what came, and
summarise it; plus the text of the ``--out`` CSV.

:func:`capture_stream` reads a started source for ``seconds_s``, hands every chunk to a
callback (the CSV writer) and calls a tick callback now and then (the live line);
:class:`CaptureTally` keeps the per-channel ranges and the arrival-based rate;
:func:`capture_summary` is the JSON summary ``capture --json`` prints. The command itself
(:mod:`emgfeedback.commands.capture`) only parses, calls and prints.

CSV layout (``--out``): ``#`` lines giving the source, board, sample rate (``# fs_hz:``),
units and each channel's name and calibration, then a header ``index,<name>_uV,...`` and
one row per sample with its absolute sample index and each channel in µV at the electrode
(``(counts - offset_counts) * uv_per_count``, so the raw counts can be recovered exactly).
Missing samples are written as one comment line per gap, just before the first sample after
it: ``# gap start=1240 n=8 cause=crc``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import numpy as np

from emgfeedback.types import Chunk, Gap, SourceInfo, SourceStats

__all__ = ["CaptureTally", "capture_gap_line", "capture_header", "capture_rows",
           "capture_stream", "capture_summary", "live_line"]


def capture_header(info: SourceInfo, source_url: str) -> str:
    """The ``#`` lines and column header of a ``capture --out`` CSV (see the module doc).

    Parameters
    ----------
    info : SourceInfo
        The opened source (rate, board, channel names, calibration).
    source_url : str
        The source as the user gave it.
    """
    def one_line(text) -> str:
        return " ".join(str(text).split())

    lines = [
        f"# emgfeedback capture of {one_line(source_url)}",
        f"# fs_hz: {float(info.fs_hz):g}",
        f"# board: {one_line(info.board)}  framing: {one_line(info.framing or '')}",
        "# values: µV at the electrode = (counts - offset_counts) * uv_per_count",
    ]
    for i, (name, cal) in enumerate(zip(info.channel_names, info.calibration, strict=True)):
        lines.append(f"# channel {i}: {one_line(name)}; units: uV; uv_per_count: "
                     f"{cal.uv_per_count!r}; offset_counts: {cal.offset_counts!r}; "
                     f"output: {cal.output}")
    cols = [re.sub(r"[^A-Za-z0-9]+", "_", n).strip("_") or f"ch{i}"
            for i, n in enumerate(info.channel_names)]
    lines.append("index," + ",".join(f"{c}_uV" for c in cols))
    return "\n".join(lines) + "\n"


def capture_rows(first_index: int, counts, calibration) -> str:
    """CSV rows ``index,µV,...`` for a block of counts (shortest exact float text)."""
    from emgfeedback.acquisition.boards import counts_to_uv

    uv = counts_to_uv(np.asarray(counts), calibration)
    if uv.shape[0] == 0:
        return ""
    return "\n".join(f"{i}," + ",".join(repr(v) for v in row)
                     for i, row in enumerate(uv.tolist(), start=int(first_index))) + "\n"


def capture_gap_line(gap: Gap) -> str:
    """The ``# gap start=.. n=.. cause=..`` line of one gap."""
    return f"# gap start={gap.start_index} n={gap.n_samples} cause={gap.cause}\n"


class CaptureTally:
    """What a capture saw: samples, per-channel ranges (raw counts), arrival times.

    Parameters
    ----------
    n_channels : int
        Channels of the source.

    Attributes
    ----------
    samples : int
        Samples received.
    window_lo, window_hi, total_lo, total_hi : numpy.ndarray
        Per-channel minimum and maximum since the last :meth:`close_window`, and over the
        whole capture (up to the last closed window); lo > hi where nothing came.
    """

    def __init__(self, n_channels: int) -> None:
        self.samples = 0
        self.total_lo = np.full(n_channels, np.iinfo(np.int64).max)
        self.total_hi = np.full(n_channels, np.iinfo(np.int64).min)
        self.window_lo, self.window_hi = self.total_lo.copy(), self.total_hi.copy()
        self._first: tuple[float, int] | None = None  # (arrival_s, end_index)
        self._last: tuple[float, int] | None = None

    def add(self, chunk: Chunk) -> None:
        """Count one chunk."""
        data = chunk.samples
        self.samples += chunk.n_samples
        if chunk.n_samples:
            self.window_lo = np.minimum(self.window_lo, data.min(axis=0))
            self.window_hi = np.maximum(self.window_hi, data.max(axis=0))
        if self._first is None:
            self._first = (chunk.arrival_s, chunk.end_index)
        self._last = (chunk.arrival_s, chunk.end_index)

    def close_window(self) -> None:
        """Fold the current window's ranges into the totals and start a new window."""
        self.total_lo = np.minimum(self.total_lo, self.window_lo)
        self.total_hi = np.maximum(self.total_hi, self.window_hi)
        self.window_lo = np.full_like(self.window_lo, np.iinfo(np.int64).max)
        self.window_hi = np.full_like(self.window_hi, np.iinfo(np.int64).min)

    def arrival_rate_hz(self) -> float | None:
        """Session indices per second between the first and the last chunk's arrival."""
        if self._first is None or self._last is None or not self._last[0] > self._first[0]:
            return None
        return (self._last[1] - self._first[1]) / (self._last[0] - self._first[0])

    def rate_hz(self, stats: SourceStats) -> float | None:
        """The source's measured rate, else the arrival-based one."""
        if stats.fs_hz_measured is not None:
            return stats.fs_hz_measured
        return self.arrival_rate_hz()


def capture_stream(source, seconds_s: float, on_chunk: Callable[[Chunk], None],
                   on_tick: Callable[[float], None] | None = None,
                   tick_s: float = 1.0) -> float:
    """Read a started source for ``seconds_s`` (or until it finishes).

    Parameters
    ----------
    source : Source
        Opened and started.
    seconds_s : float
        How long to read, seconds.
    on_chunk : callable
        Called with every chunk, in order.
    on_tick : callable, optional
        Called with the elapsed seconds every ``tick_s`` seconds.
    tick_s : float
        Seconds between ticks.

    Returns
    -------
    float
        Seconds the capture took.
    """
    t0 = time.monotonic()
    next_tick = t0 + tick_s
    while True:
        now = time.monotonic()
        if now - t0 >= seconds_s or source.finished:
            break
        for chunk in source.read(min(0.1, max(0.0, seconds_s - (now - t0)))):
            on_chunk(chunk)
        now = time.monotonic()
        if on_tick is not None and now >= next_tick:
            next_tick = now + tick_s
            on_tick(now - t0)
    return time.monotonic() - t0


def live_line(elapsed_s: float, tally: CaptureTally, stats: SourceStats,
              names) -> str:
    """The live status line: rate, samples, losses, errors, state and the window's ranges."""
    ranges = "  ".join(f"{n} {int(a)}..{int(b)}"
                       for n, a, b in zip(names, tally.window_lo, tally.window_hi, strict=True)
                       if a <= b)
    rate = tally.rate_hz(stats)
    return (f"{elapsed_s:5.1f} s  {rate or 0:8.1f} Hz  {tally.samples} samples  "
            f"lost {stats.lost_samples}  crc {stats.crc_errors}  "
            f"skipped {stats.bytes_skipped}  reconnects {stats.reconnects}  "
            f"[{stats.state}]  " + ranges)


def capture_summary(source_url: str, info: SourceInfo, stats: SourceStats,
                    tally: CaptureTally, elapsed_s: float, out: str | None) -> dict:
    """The JSON summary of a capture (``capture --json``).

    Parameters
    ----------
    source_url : str
        The source as the user gave it.
    info : SourceInfo
        The source's info.
    stats : SourceStats
        The source's statistics at the end of the capture.
    tally : CaptureTally
        What the capture saw (all windows closed).
    elapsed_s : float
        Seconds the capture took.
    out : str or None
        The ``--out`` file.
    """
    fs_measured = tally.rate_hz(stats)
    return {
        "source": source_url,
        "framing": stats.framing or info.framing,
        "seconds": round(elapsed_s, 3),
        "samples": int(stats.samples),
        "lost_samples": int(stats.lost_samples),
        "lost_by_cause": dict(stats.lost_by_cause),
        "gaps_by_cause": dict(stats.gaps_by_cause),
        "crc_errors": int(stats.crc_errors),
        "format_errors": int(stats.format_errors),
        "bytes_skipped": int(stats.bytes_skipped),
        "reconnects": int(stats.reconnects),
        "no_data_events": int(stats.no_data_events),
        "unplugs": int(stats.unplugs),
        "no_data_s": float(stats.no_data_s),  # time without data (silent, unplugged)
        "state": stats.state,  # the source's state at the end
        "fs_hz_nominal": info.fs_hz,
        "fs_hz_measured": None if fs_measured is None else round(float(fs_measured), 2),
        "board": info.board,
        "channels": [
            {"name": name, "min": int(lo) if lo <= hi else None,
             "max": int(hi) if lo <= hi else None,
             "uv_per_count": cal.uv_per_count, "floor_uv": round(cal.wideband_floor_uv, 3)}
            for name, lo, hi, cal in zip(info.channel_names, tally.total_lo, tally.total_hi,
                                         info.calibration, strict=True)
        ],
        "out": out,
    }
