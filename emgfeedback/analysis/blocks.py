"""Building blocks for reading recordings in blocks: spill files, re-chunking, Welch's
spectrum segment by segment, merged mean/variance and exact percentiles of spilled values.

Used by :mod:`emgfeedback.analysis.streaming`; each gives what its whole-array counterpart
gives (``scipy.signal.welch``, ``np.mean``/``np.std``, ``np.percentile``) to floating-point
rounding, with memory that does not grow with the data.
"""

from __future__ import annotations

import math
import os

import numpy as np
from scipy import signal

#: Bins of the histogram that finds exact percentiles in spilled values.
_HIST_BINS = 1 << 14
#: Values gathered at once when refining an exact percentile.
_GATHER_MAX = 1 << 20


class Spill:
    """Rows of ``n_cols`` values appended to a private temporary file, read back in blocks
    with ordinary reads (no memory map: the pages are not counted in the process)."""

    def __init__(self, folder: str, name: str, n_cols: int, dtype=np.float64):
        self.path = os.path.join(folder, name)
        self.dtype = np.dtype(dtype)
        self.n_cols = n_cols
        self.n_rows = 0
        self._fh = open(self.path, "w+b")  # noqa: SIM115 - closed by close()

    def append(self, rows: np.ndarray) -> None:
        """Append ``(n, n_cols)`` rows at the end."""
        a = np.ascontiguousarray(rows, dtype=self.dtype).reshape(-1, self.n_cols)
        self._fh.seek(0, os.SEEK_END)
        a.tofile(self._fh)
        self.n_rows += a.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (clipped to what is there), ``(n, n_cols)``."""
        start, stop = max(int(start), 0), min(int(stop), self.n_rows)
        if stop <= start:
            return np.empty((0, self.n_cols), dtype=self.dtype)
        self._fh.seek(start * self.n_cols * self.dtype.itemsize)
        out = np.fromfile(self._fh, dtype=self.dtype, count=(stop - start) * self.n_cols)
        return out.reshape(-1, self.n_cols)

    def blocks(self, rows: int):
        """Yield ``(first_row, block)`` of ``rows`` rows each, in order."""
        for a in range(0, self.n_rows, rows):
            yield a, self.read(a, a + rows)

    def close(self) -> None:
        """Close the file (the caller removes its folder)."""
        self._fh.close()


def rechunk(chunks, rows: int):
    """Blocks of exactly ``rows`` rows (the last one shorter) from blocks of any size."""
    buf, have = [], 0
    for c in chunks:
        while c.shape[0]:
            take = min(rows - have, c.shape[0])
            buf.append(c[:take])
            have += take
            c = c[take:]
            if have == rows:
                yield buf[0] if len(buf) == 1 else np.concatenate(buf)
                buf, have = [], 0
    if have:
        yield buf[0] if len(buf) == 1 else np.concatenate(buf)


class Welch:
    """Welch's averaged periodogram accumulated segment by segment (scipy's defaults:
    periodic Hann window, 50 % overlap, constant detrend, one-sided density)."""

    def __init__(self, fs_hz: float, nperseg: int):
        self.fs, self.nper = fs_hz, nperseg
        self.step = nperseg - nperseg // 2
        self.win = signal.get_window("hann", nperseg)
        self.scale = 1.0 / (fs_hz * float(np.sum(self.win * self.win)))
        self.sum = np.zeros(nperseg // 2 + 1)
        self.count = 0
        self.tail = np.empty(0)
        self.n = 0

    def add(self, x: np.ndarray) -> None:
        """Add the next samples (1-D); complete segments are transformed at once."""
        self.n += x.size
        data = np.concatenate([self.tail, x]) if self.tail.size else x
        n_seg = (data.size - self.nper) // self.step + 1 if data.size >= self.nper else 0
        if n_seg > 0:
            idx = np.arange(self.nper)[None, :] + self.step * np.arange(n_seg)[:, None]
            segs = data[idx]
            segs = segs - segs.mean(axis=1, keepdims=True)
            spec = np.fft.rfft(segs * self.win, axis=1)
            p = (spec.real ** 2 + spec.imag ** 2) * self.scale
            if self.nper % 2:
                p[:, 1:] *= 2.0
            else:
                p[:, 1:-1] *= 2.0
            self.sum += p.sum(axis=0)
            self.count += n_seg
        self.tail = data[n_seg * self.step:].copy()

    def result(self):
        """``(f, p)``: frequencies and the mean periodogram so far (density, µV²/Hz)."""
        f = np.fft.rfftfreq(self.nper, 1.0 / self.fs)
        return f, self.sum / max(self.count, 1)


class Stats:
    """Count, mean and sum of squared deviations, merged block by block (Chan et al.)."""

    def __init__(self, n_ch: int):
        self.n = np.zeros(n_ch)
        self.mean = np.zeros(n_ch)
        self.m2 = np.zeros(n_ch)

    def add(self, c: int, v: np.ndarray) -> None:
        """Add the values ``v`` to channel ``c``."""
        if v.size == 0:
            return
        nb, mb = float(v.size), float(np.mean(v))
        m2b = float(np.sum((v - mb) ** 2))
        na = self.n[c]
        delta = mb - self.mean[c]
        tot = na + nb
        self.mean[c] += delta * nb / tot
        self.m2[c] += m2b + delta * delta * na * nb / tot
        self.n[c] = tot

    def sd(self, c: int) -> float:
        """Sample standard deviation (``ddof=1``; 0 with fewer than two values)."""
        return math.sqrt(self.m2[c] / (self.n[c] - 1)) if self.n[c] > 1 else 0.0


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation between order statistics (``np.percentile``)."""
    diff = b - a
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


def exact_percentiles(spill: Spill, col_min: float, col_max: float, percentiles,
                      block_rows: int = 1 << 16) -> list[float]:
    """``np.percentile(values, percentiles)`` of a one-column spill, reading it in blocks."""
    n = spill.n_rows
    if n == 0:
        return [math.nan] * len(percentiles)
    ranks = {}
    for q in percentiles:
        v = (n - 1) * (np.true_divide(q, 100))
        lo = int(math.floor(v))
        ranks[q] = (lo, min(lo + 1, n - 1), float(v - lo))
    wanted = sorted({r for lo, hi, _ in ranks.values() for r in (lo, hi)})
    values = {r: _select(spill, col_min, col_max, r, block_rows) for r in wanted}
    return [_lerp(values[ranks[q][0]], values[ranks[q][1]], ranks[q][2])
            for q in percentiles]


def _select(spill: Spill, lo: float, hi: float, rank: int, block_rows: int) -> float:
    """The ``rank``-th smallest value (0-based) among those in ``[lo, hi]``."""
    below = 0  # values < lo
    for _ in range(64):
        if hi <= lo:
            return float(lo)
        counts = np.zeros(_HIST_BINS, dtype=np.int64)
        n_in = 0
        for _, blk in spill.blocks(block_rows):
            v = blk[:, 0]
            v = v[(v >= lo) & (v <= hi)]
            n_in += v.size
            counts += np.bincount(_bins(v, lo, hi), minlength=_HIST_BINS)
        cum = np.cumsum(counts)
        k = rank - below
        b = int(np.searchsorted(cum, k, side="right"))
        before = int(cum[b - 1]) if b else 0
        if counts[b] <= _GATHER_MAX:
            parts = []
            for _, blk in spill.blocks(block_rows):
                v = blk[:, 0]
                v = v[(v >= lo) & (v <= hi)]
                parts.append(v[_bins(v, lo, hi) == b])
            vals = np.sort(np.concatenate(parts))
            return float(vals[k - before])
        # Too many values in one bin: narrow the range to that bin and count again.
        width = (hi - lo) / _HIST_BINS
        new_lo, new_hi = lo + b * width, (lo + (b + 1) * width if b < _HIST_BINS - 1 else hi)
        below += before
        lo, hi = new_lo, new_hi
    raise RuntimeError("percentile selection did not converge")


def _bins(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    idx = np.floor((v - lo) / (hi - lo) * _HIST_BINS).astype(np.int64)
    return np.clip(idx, 0, _HIST_BINS - 1)
