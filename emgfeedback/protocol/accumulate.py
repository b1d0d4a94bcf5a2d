"""Phase and repetition measures accumulated while the samples arrive.

A phase's results used to be computed from its whole envelope when it ended, on the engine
thread: a 60 s phase at 2 kHz is 120,000 samples per channel, several milliseconds of
NumPy in the one chunk that ends it (a 180 s hold's decline took ~50 ms). Here the measures
whose inputs can be reduced piece by piece are: each segment of a phase (the phase itself,
or one work/release/rest part of a repetition) is cut into blocks of :data:`BLOCK` samples
counted from the segment's start, each block is reduced once it is complete (about 0.1 ms
every 128 chunks at 2 kHz), and the blocks' partial results are merged when asked. Goal
conditions are counted per chunk from the condition the runner evaluates anyway.

Blocks are aligned on sample counts, never on chunks, so the results are identical whatever
the chunk sizes (paced, fast, replayed). Percentiles (the APDF) are exact too: each block
is sorted once complete and counted into a histogram of the values' leading bits
(:class:`SortedBlocks`), so at the end only the values in the one histogram bin that holds
a wanted rank are gathered and partitioned. They equal :mod:`emgfeedback.protocol.metrics`'
whole-array functions to floating-point rounding (same definitions, merged sums: Chan et
al.'s pairwise update for variances and the decline's slope); the integer goal counts are
exact.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from emgfeedback.protocol import metrics as M

#: Samples per reduced block (aligned on the segment's start).
BLOCK = 2048


class SegmentMeasures:
    """Block-wise sums of one segment of the runner's phase buffer, all protocol channels.

    Parameters
    ----------
    length : int
        Samples in the segment.
    n_channels : int
        Protocol channels (columns of the buffer).
    fs_hz : float
        Sample rate in hertz (for the decline's time axis).
    decline : bool
        Also accumulate what :func:`~emgfeedback.protocol.metrics.decline` needs.
    apdf : bool
        Also keep each channel's sorted blocks (:class:`SortedBlocks`) for its percentiles.
    """

    def __init__(self, length: int, n_channels: int, fs_hz: float, decline: bool = False,
                 apdf: bool = False):
        self.length = int(length)
        self.fs_hz = float(fs_hz)
        self.done = 0  # samples reduced into the merged sums (a multiple of BLOCK)
        self._decline = decline
        self._third = self.length // 3
        z = np.zeros(n_channels)
        # Merged so far: valid count, mean, sum of squared deviations, peak.
        self._n, self._mean, self._m2 = z.copy(), z.copy(), z.copy()
        self._peak = np.full(n_channels, -np.inf)
        # Decline: mean time, its squared deviations and co-moment with the level; sums and
        # counts over the first and the last third of the segment.
        self._tmean, self._ctt, self._cty = z.copy(), z.copy(), z.copy()
        self._thirds = np.zeros((4, n_channels))  # first sum, first n, last sum, last n
        n_blocks = -(-self.length // BLOCK)
        self.sorted = [SortedBlocks(n_blocks) for _ in range(n_channels)] if apdf else None

    def advance(self, seg_buf: np.ndarray, filled: int) -> None:
        """Reduce the blocks that ``filled`` samples (from the segment's start) complete."""
        while self.done + BLOCK <= filled or (filled == self.length and self.done < filled):
            end = min(self.done + BLOCK, self.length)
            block = seg_buf[self.done:end]
            self._merge(self._block(block, self.done))
            if self.sorted is not None:
                for c, blocks in enumerate(self.sorted):
                    col = block[:, c]
                    blocks.add(col[np.isfinite(col)])
            self.done = end

    def _block(self, x: np.ndarray, offset: int) -> tuple:
        ok = np.isfinite(x)
        n = ok.sum(axis=0).astype(np.float64)
        vals = np.where(ok, x, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, vals.sum(axis=0) / np.maximum(n, 1.0), 0.0)
        dev = np.where(ok, x - mean, 0.0)
        m2 = (dev * dev).sum(axis=0)
        peak = np.where(ok, x, -np.inf).max(axis=0) if len(x) else np.full(x.shape[1], -np.inf)
        out = [n, mean, m2, peak]
        if self._decline:
            t = (offset + np.arange(len(x), dtype=np.float64))[:, None] / self.fs_hz
            with np.errstate(invalid="ignore", divide="ignore"):
                tmean = np.where(n > 0, np.where(ok, t, 0.0).sum(axis=0) / np.maximum(n, 1), 0.0)
            tc = np.where(ok, t - tmean, 0.0)
            thirds = np.zeros((4, x.shape[1]))
            for row, (a, b) in enumerate(((0, self._third),
                                          (self.length - self._third, self.length))):
                lo, hi = max(a - offset, 0), min(b - offset, len(x))
                if hi > lo:
                    thirds[2 * row] = vals[lo:hi].sum(axis=0)
                    thirds[2 * row + 1] = ok[lo:hi].sum(axis=0)
            out += [tmean, (tc * tc).sum(axis=0), (tc * dev).sum(axis=0), thirds]
        return tuple(out)

    def _merge(self, block: tuple, into=None) -> tuple:
        """Merge one block's reduction into the running sums (or into a copy, ``into``)."""
        st = into if into is not None else self._state()
        n_a, mean_a, m2_a, peak_a = st[:4]
        n_b, mean_b, m2_b, peak_b = block[:4]
        n = n_a + n_b
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(n > 0, n_b / np.maximum(n, 1.0), 0.0)
            cross = np.where(n > 0, n_a * n_b / np.maximum(n, 1.0), 0.0)
        dy = mean_b - mean_a
        out = [n, mean_a + dy * w, m2_a + m2_b + dy * dy * cross, np.maximum(peak_a, peak_b)]
        if self._decline:
            tmean_a, ctt_a, cty_a, thirds_a = st[4:]
            tmean_b, ctt_b, cty_b, thirds_b = block[4:]
            dt = tmean_b - tmean_a
            out += [tmean_a + dt * w, ctt_a + ctt_b + dt * dt * cross,
                    cty_a + cty_b + dt * dy * cross, thirds_a + thirds_b]
        else:
            out += list(st[4:])
        if into is None:
            (self._n, self._mean, self._m2, self._peak, self._tmean, self._ctt, self._cty,
             self._thirds) = out
        return tuple(out)

    def _state(self) -> tuple:
        return (self._n, self._mean, self._m2, self._peak, self._tmean, self._ctt, self._cty,
                self._thirds)

    def totals(self, seg_buf: np.ndarray, filled: int) -> dict:
        """Merged sums over the first ``filled`` samples (the unreduced tail included).

        Returns
        -------
        dict
            Arrays per channel: ``n``, ``mean``, ``m2``, ``peak``, and with decline
            ``ctt``, ``cty``, ``thirds``.
        """
        st = self._state()
        if filled > self.done:
            st = self._merge(self._block(seg_buf[self.done:filled], self.done), into=st)
        keys = ("n", "mean", "m2", "peak", "tmean", "ctt", "cty", "thirds")
        out = dict(zip(keys, st, strict=True))
        if self.sorted is not None:
            tail = seg_buf[self.done:max(filled, self.done)]
            out["apdf"] = [functools.partial(blocks.select, tail=col[np.isfinite(col)])
                           for blocks, col in zip(self.sorted, tail.T, strict=True)]
        return out


#: Histogram bins over the leading 16 bits of a value's order-preserving key (sign,
#: exponent and 4 mantissa bits: 16 bins per octave).
_KEY_SHIFT = np.uint64(48)
_BINS = 1 << 16
_SIGN = np.uint64(1 << 63)


def _keys(v: np.ndarray) -> np.ndarray:
    """Order-preserving unsigned keys of finite float64 values (-0.0 counted as 0.0)."""
    bits = (v + 0.0).view(np.uint64)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def _value(key: int) -> float:
    """The float64 whose key is ``key`` (inverse of :func:`_keys`)."""
    k = np.uint64(key)
    bits = k & ~_SIGN if k & _SIGN else ~k
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


class SortedBlocks:
    """One channel's valid values, block by block, sorted, with a histogram of their keys
    and where each histogram bin's values sit in each block: exact order statistics
    without sorting, partitioning or even searching everything at the end."""

    def __init__(self, n_blocks: int) -> None:
        self.rows = np.empty((max(n_blocks, 1), BLOCK))  # pages touched only when written
        self.used = 0
        self.hist = np.zeros(_BINS, dtype=np.int64)
        # Per block: its histogram bins' runs of values (bins, flat starts, counts).
        self.runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, values: np.ndarray) -> None:
        """Add one block's valid values (at most :data:`BLOCK`)."""
        v = np.sort(values)
        self.rows[self.used, :v.size] = v
        bins, starts, counts = _runs(v)
        self.hist[bins] += counts
        self.runs.append((bins, starts + self.used * BLOCK, counts))
        self.used += 1

    def select(self, ranks, tail: np.ndarray | None = None) -> list[float]:
        """The values of 0-based ``ranks`` among everything added (and ``tail``)."""
        hist = self.hist
        t = np.sort(tail) if tail is not None and tail.size else np.empty(0)
        if t.size:
            hist = hist.copy()
            bins, _, counts = _runs(t)
            hist[bins] += counts
        cum = np.cumsum(hist)
        flat = self.rows.ravel()
        if self.runs:
            bins, starts, counts = (np.concatenate(a) for a in zip(*self.runs, strict=True))
        else:
            bins = starts = counts = np.empty(0, dtype=np.int64)
        found: dict[int, np.ndarray] = {}  # histogram bin -> its values
        out = []
        for r in ranks:
            b = int(np.searchsorted(cum, r, side="right"))
            if b not in found:
                here = bins == b
                parts = [_gather(flat, starts[here], counts[here])]
                if t.size:
                    lo = _value(b << 48)
                    hi = _value((b + 1) << 48) if b + 1 < _BINS else math.inf
                    parts.append(t[np.searchsorted(t, lo):np.searchsorted(t, hi)])
                # Sorted, not partitioned: the bin's values are sorted runs (one per
                # block), on which NumPy's introselect degrades (~1 ms for 5,000 values).
                found[b] = np.sort(np.concatenate(parts))
            before = int(cum[b - 1]) if b else 0
            out.append(float(found[b][r - before]))
        return out


def _runs(sorted_values: np.ndarray):
    """Histogram bins of sorted values, as runs: ``(bins, starts, counts)``."""
    if sorted_values.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    bins = (_keys(sorted_values) >> _KEY_SHIFT).astype(np.int64)
    edges = np.concatenate(([0], np.flatnonzero(np.diff(bins)) + 1, [bins.size]))
    return bins[edges[:-1]], edges[:-1], np.diff(edges)


def _gather(flat: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``flat[s:s + c]`` for every start and count, concatenated (one indexing)."""
    total = int(counts.sum())
    if total == 0:
        return np.empty(0)
    offsets = np.cumsum(counts) - counts
    return flat[np.repeat(starts - offsets, counts) + np.arange(total)]


def percentiles(n: int, select, q=(10.0, 50.0, 90.0)) -> list[float]:
    """``np.percentile(values, q)`` (linear) of ``n`` values whose order statistics
    ``select(ranks)`` gives: the same index arithmetic and interpolation as NumPy's."""
    qs = np.asarray(q, dtype=np.float64) / 100.0
    virtual = (n - 1) * qs
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev[above] = n - 1
    nxt[above] = n - 1
    prev, nxt = prev.astype(np.int64), nxt.astype(np.int64)
    wanted = sorted({int(i) for i in np.concatenate([prev, nxt])})
    got = dict(zip(wanted, select(wanted), strict=True))
    a = np.array([got[int(i)] for i in prev])
    b = np.array([got[int(i)] for i in nxt])
    gamma = virtual - np.floor(virtual)
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return [float(v) for v in out]


def level_stats(tot: dict, k: int) -> dict:
    """:func:`~emgfeedback.protocol.metrics.level_stats` of channel ``k`` from
    :meth:`SegmentMeasures.totals` (several segments: :func:`combine`)."""
    n = float(tot["n"][k])
    if n == 0:
        return {"mean_uv": None, "sd_uv": None, "cv_pct": None}
    mean = float(tot["mean"][k])
    sd = math.sqrt(max(float(tot["m2"][k]), 0.0) / n)
    return {"mean_uv": M._f(mean), "sd_uv": M._f(sd),
            "cv_pct": M._f(100.0 * sd / mean) if mean > 0 else None}


def apdf(tot: dict, k: int) -> dict:
    """:func:`~emgfeedback.protocol.metrics.apdf` of channel ``k`` (exact)."""
    n = int(tot["n"][k])
    if n == 0:
        return {"p10_uv": None, "p50_uv": None, "p90_uv": None}
    p10, p50, p90 = percentiles(n, tot["apdf"][k])
    return {"p10_uv": M._f(p10), "p50_uv": M._f(p50), "p90_uv": M._f(p90)}


def peak(tot: dict, k: int) -> dict:
    """:func:`~emgfeedback.protocol.metrics.peak` of channel ``k``."""
    v = float(tot["peak"][k])
    return {"peak_uv": M._f(v) if tot["n"][k] > 0 else None}


def decline(tot: dict, k: int, length: int) -> dict:
    """:func:`~emgfeedback.protocol.metrics.decline` of channel ``k`` over a segment of
    ``length`` samples (all of it filled)."""
    out = {"slope_uv_per_s": None, "first_third_uv": None, "last_third_uv": None,
           "decline_pct": None}
    if tot["n"][k] < 3:
        return out
    ctt = float(tot["ctt"][k])
    out["slope_uv_per_s"] = M._f(float(tot["cty"][k]) / ctt) if ctt > 0 else None
    fs, fn, ls, ln = (float(v) for v in tot["thirds"][:, k])
    if length // 3 and fn and ln:
        f, la = fs / fn, ls / ln
        out["first_third_uv"], out["last_third_uv"] = M._f(f), M._f(la)
        out["decline_pct"] = M._f(100.0 * (f - la) / f) if f > 0 else None
    return out


class GoalCounter:
    """Time in zone of one goal over one segment, counted chunk by chunk: samples in zone,
    the longest run, and the runs touching the segment's start and end (to join segments)."""

    def __init__(self) -> None:
        self.n = 0
        self.count = 0
        self.longest = 0
        self.lead = 0  # run of True from the segment's start
        self.trail = 0  # run of True ending at the last sample so far

    def add(self, cond: np.ndarray) -> None:
        """Count the next samples' condition (boolean array, in order)."""
        m = len(cond)
        if m == 0:
            return
        hits = int(np.count_nonzero(cond))
        if self.lead == self.n:  # all True so far: the leading run goes on
            self.lead += m if hits == m else int(np.argmin(cond))
        if hits == m:
            self.trail += m
            run_max = self.trail
        elif hits == 0:
            self.trail = 0
            run_max = 0
        else:
            padded = np.concatenate(([False], cond, [False])).astype(np.int8)
            edges = np.flatnonzero(np.diff(padded))
            runs = edges[1::2] - edges[0::2]
            if cond[0]:
                runs[0] += self.trail
            run_max = int(runs.max())
            self.trail = int(runs[-1]) if cond[-1] else 0
        self.longest = max(self.longest, run_max)
        self.count += hits
        self.n += m


def in_zone(counters: list[GoalCounter], fs_hz: float) -> dict:
    """:func:`~emgfeedback.protocol.metrics.in_zone` over consecutive segments' counters."""
    n = sum(c.n for c in counters)
    count = sum(c.count for c in counters)
    longest, run = 0, 0
    for c in counters:
        if c.n == 0:
            continue
        if c.lead == c.n:  # all in zone: the run goes on through the segment
            run += c.n
        else:
            longest = max(longest, run + c.lead)
            run = c.trail
        longest = max(longest, c.longest, run)
    return {"in_zone_s": count / fs_hz, "in_zone_pct": 100.0 * count / n if n else None,
            "longest_s": longest / fs_hz}


def combine(totals: list[dict]) -> dict:
    """Merge the totals of consecutive segments (for a measure over a whole repetition)."""
    out = dict(totals[0])
    out.pop("apdf", None)  # order statistics are per segment
    for tot in totals[1:]:
        n = out["n"] + tot["n"]
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(n > 0, tot["n"] / np.maximum(n, 1.0), 0.0)
            cross = np.where(n > 0, out["n"] * tot["n"] / np.maximum(n, 1.0), 0.0)
        dy = tot["mean"] - out["mean"]
        out = {**out, "n": n, "mean": out["mean"] + dy * w,
               "m2": out["m2"] + tot["m2"] + dy * dy * cross,
               "peak": np.maximum(out["peak"], tot["peak"])}
    return out
