"""Pass 1 of :mod:`.streaming`: the samples read once, converted to µV and written to a
spill, with what needs the raw signal only: the mains spectra (Welch, in the worker
thread), the distinct values (quantisation step), lost samples, the per-second
electrode-off flags and clipping.

For a file of integers (EDF, BDF) the spill holds the file's integers (a quarter of the
bytes for EDF) and where samples are missing; they are converted to µV again as they are
read back, by the same operations in the same order (the same bits), and the distinct
values are those of the integers, converted at the end.
"""

from __future__ import annotations

import bisect
import sys

import numpy as np

from emgfeedback.analysis.blocks import Welch, convert_columns, rechunk, rechunk_pairs

#: A 1 s window of µV samples (no calibration) whose range is at most this is flat.
FLAT_PTP_UV = 0.01


class RawSpill:
    """The read pass's µV samples for the filter pass (``read``, ``n_rows``, ``path``,
    ``close``, as :class:`~.blocks.Spill`): float64 values, or with ``src`` (whose
    :attr:`~emgfeedback.io.recordings.RecordingSource.has_digits`) the file's integers of
    the columns ``cols`` and the runs of rows where each column's value is NaN."""

    def __init__(self, job, n_ch: int, src=None, cols=None, factors=None, means=None):
        self.src, self.cols, self.factors, self.means = src, cols, factors, means
        self.digital = src is not None
        self._spill = job.spill("raw.i" if self.digital else "raw.f8", n_ch,
                                np.int32 if self.digital else np.float64)
        self.nan_runs = [([], []) for _ in range(n_ch)]  # per column: starts, stops

    def set_dtype(self, dtype) -> None:
        """The integers' type (from the first block, before any append)."""
        self._spill.dtype = np.dtype(dtype)

    @property
    def n_rows(self) -> int:
        return self._spill.n_rows

    @property
    def path(self) -> str:
        return self._spill.path

    def close(self) -> None:
        self._spill.close()

    def append(self, x: np.ndarray, digits=None, finite=None) -> None:
        """Append the µV block ``x`` (with its integers when digital; ``finite``: the
        finite mask of ``x``, None when all are)."""
        if not self.digital:
            self._spill.append(x)
            return
        a = self._spill.n_rows
        self._spill.append(digits)
        if finite is not None:
            nan = np.isnan(x)
            for c in np.flatnonzero(nan.any(axis=0)):
                edges = np.flatnonzero(np.diff(nan[:, c].view(np.int8), prepend=0, append=0))
                starts, stops = self.nan_runs[c]
                starts.extend((a + edges[0::2]).tolist())
                stops.extend((a + edges[1::2]).tolist())

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` in µV, as they were appended."""
        if not self.digital:
            return self._spill.read(start, stop)
        start, stop = max(int(start), 0), min(int(stop), self.n_rows)
        d = self._spill.read(start, stop)
        k = d.shape[1]
        x = self.to_uv(d, range(k))
        for c, (starts, stops) in enumerate(self.nan_runs):
            i = bisect.bisect_right(stops, start)  # the first run ending after start
            while i < len(starts) and starts[i] < stop:
                x[max(starts[i], start) - start: min(stops[i], stop) - start, c] = np.nan
                i += 1
        return x

    def to_uv(self, digits: np.ndarray, channels) -> np.ndarray:
        """µV of ``(n, len(channels))`` integers of the EMG channels ``channels``: the
        source's physical values, then :func:`~.blocks.convert_columns` (as in the pass)."""
        channels = list(channels)
        x = self.src.from_digits(digits, [self.cols[c] for c in channels])
        return convert_columns(x, list(range(len(channels))),
                               [self.factors[c] for c in channels],
                               [self.means[c] for c in channels])


class DigitValues:
    """:class:`~.streaming_kernels.ValueSet`'s :meth:`values` from a column of 16-bit
    integers (a table of the 65,536 values seen), converted to µV at the end: the set of
    converted values is the same (conversion is a function of the integer)."""

    def __init__(self, raw: RawSpill, channel: int, limit: int = 50_000, seen=None):
        self.raw, self.channel, self.limit = raw, channel, int(limit)
        # (a row of a table shared by every channel: see mark_all)
        self.seen = np.zeros(1 << 16, dtype=bool) if seen is None else seen

    @staticmethod
    def mark_all(sets: list, digits: np.ndarray) -> bool:
        """Add every column of the ``int16`` block ``digits`` (column ``c`` to ``sets[c]``)
        in one compiled pass, when the sets' tables are the rows of one table (as
        :meth:`ReadPass._value_sets` makes them); whether it did."""
        if not sets or not all(isinstance(s, DigitValues) for s in sets):
            return False  # e.g. a BDF file's 24-bit values: ValueSet, column by column
        table = sets[0].seen.base
        if table is None or table.ndim != 2 or table.shape[0] != digits.shape[1] or any(
                s.seen.base is not table for s in sets) or digits.dtype != np.int16:
            return False
        from emgfeedback.analysis.streaming_kernels import mark_digits

        mark_digits(digits, table)
        return True

    def add(self, digits: np.ndarray, keep=None) -> None:
        """Add a column of ``int16`` values (only where ``keep``, when given)."""
        v = digits.view(np.uint16)
        self.seen[v if keep is None else v[keep]] = True

    def values(self) -> np.ndarray | None:
        """The distinct rounded µV values, sorted (None when more than ``limit``)."""
        ints = (np.flatnonzero(self.seen).astype(np.uint16).view(np.int16)).reshape(-1, 1)
        u = np.unique(np.round(self.raw.to_uv(ints, [self.channel])[:, 0], 9))
        return None if u.size > self.limit else u


class ReadPass:
    """The read pass of the blocked analysis (a part of ``streaming._Job``: it uses its
    ``src``, ``fs``, ``n_ch``, ``cols``, ``factors``, ``means``, ``kinds``, ``rows``,
    ``worker``, ``det_workers`` and ``spill``)."""

    def read_pass(self):
        """Read the recording once (see the module docstring)."""
        from emgfeedback.analysis.quality import CHECKS_BY_KIND

        fs, n_ch = self.fs, self.n_ch
        digital = bool(getattr(self.src, "has_digits", False))
        self.raw = RawSpill(self, n_ch, *((self.src, self.cols, self.factors, self.means)
                                          if digital else ()))
        nper = int(round(fs))
        self.checks = [CHECKS_BY_KIND.get(k, CHECKS_BY_KIND["raw"]) for k in self.kinds]
        # Mains spectra, all channels in one Welch: the vote (zero-filled signal, raw/uV
        # channels) and quality's (finite samples only). Until a sample is missing both see
        # the same samples, so quality's is the vote's (when it covers the channel); at the
        # first missing sample each channel's goes on alone (Welch.column).
        self.vote_cols = [c for c, k in enumerate(self.kinds) if k in ("raw", "uv")] \
            if self.mains_hz is None else []
        # (Half of each block's transforms in a detector thread, idle in this pass.)
        helper = self.det_workers[0]
        self.vote = Welch(fs, nper, len(self.vote_cols), helper) if self.vote_cols else None
        q_cols = [c for c in range(n_ch) if "mains" in self.checks[c]]
        self._q_cols, self._q_alias = q_cols, set(q_cols) <= set(self.vote_cols)
        self._q_all = None if self._q_alias or not q_cols else Welch(fs, nper, len(q_cols),
                                                                      helper)
        self.qwelch = [None] * n_ch  # per channel, once split
        self.qfinite = [[] for _ in range(n_ch)]  # the first finite samples (short files)
        n_finite = np.zeros(n_ch, dtype=np.int64)
        self.n_nan = np.zeros(n_ch, dtype=np.int64)
        want_q = self.quantisation_uv is None and self.calibration is None
        self.uniq = None
        if digital:
            blocks = rechunk_pairs(self.src.digital_chunks(), self.rows)
        else:
            blocks = ((blk, None) for blk in rechunk(self.src.chunks(), self.rows))
        every = self.cols == list(range(self.src.n_channels))
        w1 = max(int(round(fs)), 1)
        self.off_tail = [np.empty(0) for _ in range(n_ch)]
        self.flat = [[] for _ in range(n_ch)]
        self.rail = [[] for _ in range(n_ch)]
        self.clipped = np.zeros(n_ch, dtype=np.int64)
        for blk, dig in blocks:
            x = convert_columns(blk, self.cols, self.factors, self.means)
            finite = np.isfinite(x)
            all_finite = bool(finite.all())
            if dig is not None:
                dig = dig if every else dig[:, self.cols]
                if self.raw.n_rows == 0:
                    self.raw.set_dtype(dig.dtype)
            if want_q and self.uniq is None:
                self.uniq = self._value_sets(dig)
            self.raw.append(x, dig, None if all_finite else finite)
            if not all_finite:
                self.n_nan += (~finite).sum(axis=0)
            self.worker.submit(self._spectra, x, finite, all_finite)
            # The distinct integers of every channel at once, when no sample is missing.
            marked = (self.uniq is not None and all_finite and dig is not None
                      and DigitValues.mark_all(self.uniq, dig))
            off_done = all_finite and self._off_windows_all(x, w1)
            for c in range(n_ch):
                fc = finite[:, c]
                xc = x[:, c] if all_finite else x[fc, c]
                n_finite[c] += xc.size
                if n_finite[c] <= nper:
                    self.qfinite[c].append(xc)
                if self.uniq is not None and not marked:  # distinct values (quantisation)
                    if isinstance(self.uniq[c], DigitValues):
                        self.uniq[c].add(dig[:, c], None if all_finite else ~np.isnan(x[:, c]))
                    else:
                        self.uniq[c].add(x, c)
                if not off_done:
                    self._off_windows(c, x[:, c], xc, w1)
        if want_q and self.uniq is None:  # nothing read
            self.uniq = self._value_sets(None)
        self.worker.submit(self._split_spectra)
        self.worker.drain()

    def _value_sets(self, dig) -> list:
        """Per channel, the set of its distinct values: from the 16-bit integers when
        there are such (NumPy), else :class:`~.streaming_kernels.ValueSet` (compiled)."""
        if dig is not None and dig.dtype == np.int16:
            table = np.zeros((self.n_ch, 1 << 16), dtype=bool)
            return [DigitValues(self.raw, c, seen=table[c]) for c in range(self.n_ch)]
        from emgfeedback.analysis.streaming_kernels import ValueSet

        return [ValueSet() for _ in range(self.n_ch)]

    def _split_spectra(self) -> None:
        """Give each mains-checked channel its own spectrum (from the shared one)."""
        if not self._q_cols or self.qwelch[self._q_cols[0]] is not None:
            return
        for j, c in enumerate(self._q_cols):
            self.qwelch[c] = (self.vote.column(self.vote_cols.index(c)) if self._q_alias
                              else self._q_all.column(j))

    def _spectra(self, x, finite, all_finite) -> None:
        """The mains spectra of one block (in the worker thread, blocks in order)."""
        if not all_finite:
            self._split_spectra()  # from here on the channels' samples differ
        if self.vote is not None:
            zero = x if all_finite else np.where(finite, x, 0.0)
            self.vote.add(self._columns(zero, self.vote_cols))
        if self._q_all is not None and self.qwelch[self._q_cols[0]] is None:
            self._q_all.add(self._columns(x, self._q_cols))
        for c in self._q_cols:
            if self.qwelch[c] is not None:
                self.qwelch[c].add(x[:, c] if all_finite else x[finite[:, c], c])

    def _columns(self, x, cols):
        # Every column: the block itself (Welch copies it once anyway), not a copy.
        return x if cols == list(range(x.shape[1])) else x[:, cols]

    def _off_windows_all(self, x, w1) -> bool:
        """:meth:`_off_windows` of every channel of a block of whole 1 s windows with no
        sample missing, no calibration and no samples carried over: reductions over the
        block (a maximum and a minimum are the same whatever the order; ``np.ptp`` is the
        maximum minus the minimum); whether it did."""
        n = x.shape[0]
        if self.calibration is not None or n % w1 or any(t.size for t in self.off_tail):
            return False
        # The range of each window and channel, rows grouped g to a row first (NumPy
        # reduces an (n, k) array along its rows one short row at a time: 3x slower than
        # a range per channel; grouped, 2x faster than that).
        k = x.shape[1]
        g = next(d for d in range(min(50, w1), 0, -1) if w1 % d == 0)
        b = x.reshape(n // w1, w1 // g, g * k)
        top = b.max(axis=1).reshape(n // w1, g, k).max(axis=1)
        bottom = b.min(axis=1).reshape(n // w1, g, k).min(axis=1)
        flat = top - bottom <= FLAT_PTP_UV
        for c in range(x.shape[1]):
            self.flat[c].append(flat[:, c].copy())
            self.rail[c].append(np.zeros(n // w1, dtype=bool))
        return True

    def _off_windows(self, c, xc_all, xc_finite, w1):
        cal = self.calibration[c] if self.calibration is not None else None
        one_sided = self.kinds[c] in ("rect", "env")
        if cal is not None and cal.uv_per_count > 0:
            counts = cal.to_counts(np.where(np.isfinite(xc_all), xc_all, cal.offset_counts))
            low = cal.adc_min - 1 if one_sided else cal.adc_min
            self.clipped[c] += np.count_nonzero((counts <= low) | (counts >= cal.adc_max))
            data, step, rails = counts.astype(np.float64), 0.0, (low, cal.adc_max)
        else:
            data, step, rails = xc_finite, FLAT_PTP_UV, None
        data = np.concatenate([self.off_tail[c], data]) if self.off_tail[c].size else data
        n_win = data.size // w1
        if n_win:
            b = data[: n_win * w1].reshape(n_win, w1)
            self.flat[c].append(np.ptp(b, axis=1) <= step)
            if rails is not None:
                self.rail[c].append(np.mean((b <= rails[0]) | (b >= rails[1]), axis=1) > 0.5)
            else:
                self.rail[c].append(np.zeros(n_win, dtype=bool))
        self.off_tail[c] = data[n_win * w1:].copy()


def numba_without_blas_check() -> None:
    """Load Numba's CPU target (its typing and lowering registries, what the first compiled
    call of a process loads) with SciPy's BLAS wrappers and cffi hidden.

    One of those registries (``numba.np.arraymath``) imports ``scipy.linalg`` only to learn
    whether ``np.dot`` can use BLAS (about 0.13 s of CPU at every start of ``analyze``),
    another imports cffi to type cffi functions (0.02 s). ``analyze``'s kernels use
    neither: they come from the cache and do no linear algebra (without the check Numba
    compiles ``np.convolve``'s inner product as a loop; ``np.dot`` still imports SciPy when
    it is compiled). The hiding lasts only while the registries load (once per process,
    before this analysis starts its threads): a later import of either works as usual.
    """
    if "numba.np.arraymath" in sys.modules:
        return  # loaded already
    hidden = [m for m in ("scipy.linalg.cython_blas", "cffi") if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # an import of it raises ImportError
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
    finally:
        for m in hidden:
            del sys.modules[m]
