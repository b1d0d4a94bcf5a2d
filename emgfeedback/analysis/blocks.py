"""Building blocks for reading recordings in blocks: spill files and forward reads of them,
re-chunking, Welch's spectrum segment by segment (many channels at once), merged
mean/variance, exact percentiles from bin counts, and a worker thread for per-block work.

Used by :mod:`emgfeedback.analysis.streaming`; each gives what its whole-array counterpart
gives (``scipy.signal.welch``, ``np.mean``/``np.std``, ``np.percentile``) to floating-point
rounding, with memory that does not grow with the data.
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from emgfeedback.analysis._docs import shared_params

#: Bins of the histogram that finds exact percentiles in spilled values.
_HIST_BINS = 1 << 14
#: Values gathered at once when refining an exact percentile.
_GATHER_MAX = 1 << 20


def hann_window(n: int) -> np.ndarray:
    """``scipy.signal.get_window("hann", n)`` (periodic), bit for bit, without SciPy.

    SciPy builds it as ``general_cosine`` with coefficients ``[0.5, 0.5]`` over ``n + 1``
    points from -π to π, dropping the last one: ``0.5 + 0.5 · cos(t)``, the same
    operations in the same order here (importing SciPy for it costs the record path about
    50 MB).

    Parameters
    ----------
    n : int
        Window length in samples.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 window (ones when ``n <= 1``, as SciPy).
    """
    n = int(n)
    if n <= 1:
        return np.ones(max(n, 0))
    # SciPy's first term is 0 + 0.5 · cos(0) = 0.5 exactly; its second 0.5 · cos(t).
    return (0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, n + 1)))[:-1]


class Spill:
    """Rows of ``n_cols`` values appended to a private temporary file, read back in blocks
    with ordinary reads (no memory map: the pages are not counted in the process)."""

    def __init__(self, folder: str, name: str, n_cols: int, dtype=np.float64):
        self.path = os.path.join(folder, name)
        self.dtype = np.dtype(dtype)
        self.n_cols = n_cols
        self.n_rows = 0
        self._fh = open(self.path, "w+b")  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()  # one file position, two threads (Worker)

    def append(self, rows: np.ndarray) -> None:
        """Append ``(n, n_cols)`` rows at the end."""
        a = np.ascontiguousarray(rows, dtype=self.dtype).reshape(-1, self.n_cols)
        with self._lock:
            self._fh.seek(0, os.SEEK_END)
            a.tofile(self._fh)
            self.n_rows += a.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (clipped to what is there), ``(n, n_cols)``."""
        start, stop = max(int(start), 0), min(int(stop), self.n_rows)
        if stop <= start:
            return np.empty((0, self.n_cols), dtype=self.dtype)
        with self._lock:
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


class ReadAhead:
    """Reads of a :class:`Spill` that mostly move forward, served from one larger read.

    A request inside the rows read last is a slice of them; any other reads ``rows`` rows
    (or more) from its start: reads in increasing order touch each row about once.
    """

    def __init__(self, spill: Spill, rows: int):
        self.spill, self.rows = spill, max(int(rows), 1)
        self.start, self.buf = 0, spill.read(0, 0)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (clipped to what is there), as :meth:`Spill.read`."""
        start, stop = max(int(start), 0), min(int(stop), self.spill.n_rows)
        end = self.start + self.buf.shape[0]
        if not (self.start <= start and stop <= end):
            self.start = start
            self.buf = self.spill.read(start, max(stop, start + self.rows))
        return self.buf[start - self.start: stop - self.start]


class Worker:
    """One background thread that runs the tasks given to it in order, a few at most
    waiting (the caller blocks rather than queue blocks without bound).

    NumPy's array operations and FFTs and the ``nogil`` kernels release the GIL, so the
    work of one block here overlaps with the next block's in the caller: two cores.
    A task's exception is raised in the caller at :meth:`submit` or :meth:`drain`.
    """

    def __init__(self, depth: int = 3):
        self.depth = max(int(depth), 1)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyse")
        self._pending: deque = deque()

    def submit(self, fn, *args) -> None:
        """Queue ``fn(*args)`` after the tasks already queued."""
        while len(self._pending) >= self.depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def drain(self) -> None:
        """Wait for every queued task."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Stop the thread (queued tasks are abandoned once the running one ends)."""
        for f in self._pending:
            f.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)


def column_max(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=0)`` of a C-ordered ``(n, k)`` array, the same values (a maximum does not
    depend on the order, NaN included) 15 times faster for few columns: NumPy reduces such
    an array row by row, so rows are first grouped 64 to a row of ``64 k`` values.
    """
    n, k = a.shape
    g = 64
    r = n - n % g
    if not a.flags.c_contiguous or r == 0:
        return a.max(axis=0)
    out = a[:r].reshape(-1, g * k).max(axis=0).reshape(g, k).max(axis=0)
    return np.maximum(out, a[r:].max(axis=0)) if r < n else out


def rechunk(chunks, rows: int):
    """Blocks of exactly ``rows`` rows (the last one shorter) from blocks of any size."""
    for (block,) in _rechunk_tuples(((c,) for c in chunks), rows):
        yield block


def rechunk_pairs(chunks, rows: int):
    """:func:`rechunk` for ``(a, b)`` pairs of arrays with the same rows, cut together."""
    return _rechunk_tuples(chunks, rows)


def _rechunk_tuples(chunks, rows: int):
    # Tuples of arrays with the same rows, cut at the same places (one copy of the logic
    # for single arrays and pairs).
    buf, have = [], 0
    for parts in chunks:
        while parts[0].shape[0]:
            take = min(rows - have, parts[0].shape[0])
            buf.append(tuple(a[:take] for a in parts))
            have += take
            parts = tuple(a[take:] for a in parts)
            if have == rows:
                yield _joined(buf)
                buf, have = [], 0
    if have:
        yield _joined(buf)


def _joined(pieces: list) -> tuple:
    if len(pieces) == 1:
        return pieces[0]
    return tuple(np.concatenate(column) for column in zip(*pieces, strict=True))


class Welch:
    """Welch's averaged periodogram accumulated segment by segment (scipy's defaults:
    periodic Hann window, 50 % overlap, constant detrend, one-sided density).

    With ``n_cols`` it holds that many signals of equal length at once (``add`` takes
    ``(n, n_cols)`` blocks; one FFT call for all); each column gives what a one-column
    Welch fed the same samples gives, bit for bit (the columns are transformed as rows).
    With a ``helper`` (a :class:`Worker` otherwise idle meanwhile), ``add`` transforms the
    first half of the columns there while it does the second half (the same values: each
    row is transformed and summed alone).
    """

    def __init__(self, fs_hz: float, nperseg: int, n_cols: int | None = None,
                 helper: Worker | None = None):
        self.fs, self.nper = fs_hz, nperseg
        self.n_cols = n_cols
        self.helper = helper
        k = 1 if n_cols is None else int(n_cols)
        self.step = nperseg - nperseg // 2
        self.win = hann_window(nperseg)
        self.scale = 1.0 / (fs_hz * float(np.sum(self.win * self.win)))
        self.sum = np.zeros((k, nperseg // 2 + 1))
        self.count = 0
        self.tail = np.empty((k, 0))
        self.n = 0

    def add(self, x: np.ndarray) -> None:
        """Add the next samples (1-D, or ``(n, n_cols)``); complete segments are
        transformed at once."""
        if x.shape[0] == 0:  # e.g. a block of a channel that is all gap
            return
        rows = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1).T  # (k, n)
        self.n += rows.shape[1]
        data = np.concatenate([self.tail, rows], axis=1) if self.tail.shape[1] else rows
        size = data.shape[1]
        n_seg = (size - self.nper) // self.step + 1 if size >= self.nper else 0
        if n_seg > 0:
            # |X|² summed over the segments (compiled detrend, window and sum around one
            # FFT call), then scaled once (the same sum to rounding).
            from emgfeedback.analysis.streaming_kernels import welch_means, welch_power

            h = data.shape[0] // 2 if self.helper is not None else 0
            if h:  # the means from the whole (their summation order depends on its layout)
                m = welch_means(data, self.nper, self.step, n_seg)
                top = []
                self.helper.submit(lambda: top.append(
                    welch_power(data[:h], self.nper, self.step, n_seg, self.win, m[:h])))
                rest = welch_power(data[h:], self.nper, self.step, n_seg, self.win, m[h:])
                self.helper.drain()
                p = np.concatenate([top[0], rest])
            else:
                p = welch_power(data, self.nper, self.step, n_seg, self.win)
            p *= self.scale
            if self.nper % 2:
                p[:, 1:] *= 2.0
            else:
                p[:, 1:-1] *= 2.0
            self.sum += p
            self.count += n_seg
        self.tail = data[:, n_seg * self.step:].copy()

    def result(self):
        """``(f, p)``: frequencies and the mean periodogram so far (density, µV²/Hz);
        ``p`` is ``(n_freqs, n_cols)`` with ``n_cols``."""
        f = np.fft.rfftfreq(self.nper, 1.0 / self.fs)
        p = self.sum / max(self.count, 1)
        return f, (p[0] if self.n_cols is None else p.T)

    def column(self, j: int) -> Welch:
        """A one-column Welch in the state of column ``j`` (to go on alone)."""
        one = Welch(self.fs, self.nper)
        one.sum = self.sum[j: j + 1].copy()
        one.count, one.n = self.count, self.n
        one.tail = self.tail[j: j + 1].copy()
        return one


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
        mb = float(np.mean(v))
        self.merge(c, float(v.size), mb, float(np.sum((v - mb) ** 2)))

    def merge(self, c: int, nb: float, mb: float, m2b: float) -> None:
        """Add to channel ``c`` a group of ``nb`` values of mean ``mb`` and sum of squared
        deviations ``m2b``."""
        if nb <= 0:
            return
        na = self.n[c]
        delta = mb - self.mean[c]
        tot = na + nb
        self.mean[c] += delta * nb / tot
        self.m2[c] += m2b + delta * delta * na * nb / tot
        self.n[c] = tot

    def sd(self, c: int) -> float:
        """Sample standard deviation (``ddof=1``; 0 with fewer than two values)."""
        return math.sqrt(self.m2[c] / (self.n[c] - 1)) if self.n[c] > 1 else 0.0


def convert_columns(block: np.ndarray, cols, factors, means) -> np.ndarray:
    """The EMG columns of a block in µV (counts minus their mean, times µV per count).

    Parameters
    ----------
    block : numpy.ndarray
        ``(n, n_columns)`` samples as the recording gives them (not changed).
    cols : list of int
        The EMG columns, in order.
    factors, means : list
        Per EMG column, µV per unit and the mean to remove first (None: none).

    Returns
    -------
    numpy.ndarray
        ``(n, len(cols))`` float64; ``block`` itself when it is already that (every
        column, in order, float64, nothing to remove or scale: no copy), else a new array.
    """
    every = list(cols) == list(range(block.shape[1]))
    work = any(m is not None for m in means) or any(f != 1.0 for f in factors)
    if every and not work and block.dtype == np.float64:
        return block
    # One copy: fancy indexing already makes one, which astype then keeps.
    x = block[:, cols] if not every else block.copy()
    x = x.astype(np.float64, copy=False)
    for j in range(x.shape[1]):
        if means[j] is not None:
            x[:, j] -= means[j]
        if factors[j] != 1.0:
            x[:, j] *= factors[j]
    return x


@shared_params
def window_psd(windows: np.ndarray, fs_hz: float, w: int) -> np.ndarray:
    """``scipy.signal.welch(windows, fs_hz, nperseg=w, axis=1)[1]`` with one FFT call.

    Parameters
    ----------
    windows : numpy.ndarray
        ``(k, w)`` windows, one Welch segment each (Hann window, constant detrend).
    {fs_hz}
    w : int
        Window length in samples.

    Returns
    -------
    numpy.ndarray
        ``(k, w // 2 + 1)`` one-sided power spectral densities, µV²/Hz.
    """
    # NumPy's FFT, not scipy.fft: the same pocketfft (NumPy 2), bit for bit (tested), and
    # importing scipy.fft cost analyze ~0.2 s.
    win = hann_window(w)
    scale = 1.0 / (fs_hz * float((win * win).sum()))
    d = windows - np.mean(windows, axis=-1, keepdims=True)
    spec = np.fft.rfft(win * d, n=w, axis=-1)
    p = (np.conjugate(spec) * spec).real * scale
    if w % 2:
        p[:, 1:] *= 2.0
    else:
        p[:, 1:-1] *= 2.0
    return p


class KeyHistogram:
    """Counts of non-negative values by the top bits of their float64 pattern.

    For a non-negative double the integer read from its bits grows with the value, so
    ``bits >> _KEY_SHIFT`` (the exponent and the mantissa's top bits) sorts values into
    ordered bins about 0.8 % wide. Counting while the values go by, then gathering the few
    bins that hold the wanted ranks in one read, finds exact order statistics in two passes
    over the data and one over its spill (:meth:`percentiles`).
    """

    def __init__(self):
        self.counts = np.zeros(1, dtype=np.int64)  # grows to the largest key seen
        self.n = 0

    def add(self, v: np.ndarray) -> None:
        """Count the values ``v`` (1-D, finite, >= 0)."""
        if v.size == 0:
            return
        keys = _keys(v)
        lo, hi = int(keys.min()), int(keys.max())
        if hi >= self.counts.size:
            self.counts = np.concatenate(
                [self.counts, np.zeros(hi + 1 - self.counts.size, dtype=np.int64)])
        self.counts[lo: hi + 1] += np.bincount(keys - lo, minlength=hi - lo + 1)
        self.n += v.size

    def add_counts(self, counts: np.ndarray) -> None:
        """Add counts by key (``counts[key]`` values had that key; e.g. counted by a
        compiled loop, :func:`~.streaming_kernels.apdf_count`)."""
        nz = np.flatnonzero(counts)
        if nz.size == 0:
            return
        hi = int(nz[-1])
        if hi >= self.counts.size:
            self.counts = np.concatenate(
                [self.counts, np.zeros(hi + 1 - self.counts.size, dtype=np.int64)])
        self.counts[: hi + 1] += counts[: hi + 1]
        self.n += int(counts[: hi + 1].sum())

    def plan(self, percentiles) -> None:
        """Say which percentiles are wanted: the bins holding their ranks are then
        gathered (:meth:`gather`) when the values go by a second time."""
        n = self.n
        self._ranks = {}
        for q in percentiles:
            v = (n - 1) * (np.true_divide(q, 100))
            lo = int(math.floor(v))
            self._ranks[q] = (lo, min(lo + 1, max(n - 1, 0)), float(v - lo))
        self._cum = np.cumsum(self.counts)
        wanted = sorted({r for lo, hi, _ in self._ranks.values() for r in (lo, hi)})
        self._key_of = {r: int(np.searchsorted(self._cum, r, side="right")) for r in wanted}
        self.keys = np.array(sorted(set(self._key_of.values())), dtype=np.int64)
        # A bin too full to hold in memory is narrowed down by reading the values again.
        self.too_big = bool(n) and int(self.counts[self.keys].max()) > _GATHER_MAX
        self._parts: list = []

    def gather(self, v: np.ndarray, in_bins: bool = False) -> None:
        """Keep the values of ``v`` (the same values as counted, in any blocks) that
        fall in a wanted bin (``in_bins``: all of them do, already picked by key, e.g. by
        :func:`~.streaming_kernels.apdf_gather`)."""
        if v.size and not self.too_big:
            self._parts.append(v if in_bins else v[np.isin(_keys(v), self.keys)])

    def percentiles(self, values=None) -> list[float]:
        """``np.percentile(all values, percentiles)``, exactly, after :meth:`plan` and a
        :meth:`gather` of every value; ``values()`` yields them all again (1-D blocks)
        when a wanted bin was too full to gather (:attr:`too_big`)."""
        n = self.n
        if n == 0:
            return [math.nan] * len(self._ranks)
        found = {}
        if self.too_big:
            for r, k in self._key_of.items():
                lo_v, hi_v = _key_range(k)
                below = int(self._cum[k - 1]) if k else 0
                found[r] = _select(values, lo_v, hi_v, r - below)
        else:
            v = np.concatenate(self._parts) if self._parts else np.empty(0)
            kv = _keys(v)
            for k in self.keys:
                got = np.sort(v[kv == k])
                below = int(self._cum[k - 1]) if k else 0
                for r, kr in self._key_of.items():
                    if kr == k:
                        found[r] = float(got[r - below])
        return [_lerp(found[lo], found[hi], t) for lo, hi, t in self._ranks.values()]


#: Bits dropped from a float64 pattern to make a :class:`KeyHistogram` key (7 mantissa
#: bits are kept: bins 2^-7 of an octave wide).
_KEY_SHIFT = 45


def _keys(v: np.ndarray) -> np.ndarray:
    # +0.0 is 0; a -0.0 would be negative: count it with +0.0.
    bits = np.ascontiguousarray(v, dtype=np.float64).view(np.int64)
    return np.maximum(bits, 0) >> _KEY_SHIFT


def _key_range(key: int) -> tuple[float, float]:
    """The smallest and largest doubles of a key's bin."""
    lo = np.array([key << _KEY_SHIFT], dtype=np.int64).view(np.float64)[0]
    hi = np.array([((key + 1) << _KEY_SHIFT) - 1], dtype=np.int64).view(np.float64)[0]
    return float(lo), float(hi)


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation between order statistics (``np.percentile``)."""
    diff = b - a
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


def _select(values, lo: float, hi: float, rank: int) -> float:
    """The ``rank``-th smallest value (0-based) among those in ``[lo, hi]`` of the blocks
    ``values()`` yields (read as often as needed: a histogram of the range, then the
    values of one bin, or a narrower range)."""
    below = 0  # values < lo
    for _ in range(64):
        if hi <= lo:
            return float(lo)
        counts = np.zeros(_HIST_BINS, dtype=np.int64)
        for v in values():
            v = v[(v >= lo) & (v <= hi)]
            counts += np.bincount(_bins(v, lo, hi), minlength=_HIST_BINS)
        cum = np.cumsum(counts)
        k = rank - below
        b = int(np.searchsorted(cum, k, side="right"))
        before = int(cum[b - 1]) if b else 0
        if counts[b] <= _GATHER_MAX:
            parts = []
            for v in values():
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
