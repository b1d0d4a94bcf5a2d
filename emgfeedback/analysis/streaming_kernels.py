"""Compiled inner loops of the whole-recording analysis (:mod:`.streaming`).

:func:`sosfiltfilt_columns` is ``scipy.signal.sosfiltfilt(sos, x, axis=0)`` (odd padding,
the default pad length, steady-state initial conditions) for many channels at once: the
same operations on each value as SciPy's direct form II transposed loop, so the result is
bit for bit SciPy's, run one section at a time over the block with the channels of one
sample side by side (instead of one channel after the other).
No state is kept between calls: each call filters one block with its own margins.

The others are the per-sample loops of the blocked analysis: the set of distinct values
(:class:`ValueSet`), the causal moving RMS of the APDF and of the onset detector
(:func:`moving_rms_rows`) and the detector envelope's statistics per window
(:func:`detector_window_stats`); each gives what its NumPy counterpart gives, bit for bit
or (sums in another order) to rounding, and runs without the GIL.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def sosfiltfilt_columns(sos, x) -> np.ndarray:
    """Zero-phase second-order-sections filtering of each column of ``x``.

    Parameters
    ----------
    sos : numpy.ndarray
        ``(n_sections, 6)`` sections (``a0 == 1``), as ``scipy.signal.butter`` gives.
    x : array_like
        ``(n_samples, n_channels)`` float64 signal; longer than the padding
        (``3 · (2 · n_sections + 1)`` samples, fewer for sections with zero ``b2``/``a2``).

    Returns
    -------
    numpy.ndarray
        ``scipy.signal.sosfiltfilt(sos, x, axis=0)``, bit for bit, without SciPy
        (:func:`~emgfeedback.analysis.zero_phase.sosfiltfilt`, on
        its two-sections-at-a-time loop).

    Raises
    ------
    ValueError
        When ``x`` is not longer than the padding (SciPy's condition and message).
    """
    from emgfeedback.analysis.zero_phase import sosfiltfilt

    return sosfiltfilt(sos, np.asarray(x, dtype=np.float64).reshape(np.shape(x)[0], -1))


@njit(cache=True, nogil=True)
def _centred_mean_of_squares(y, k, at):
    """Mean of ``y²`` over the ``k`` samples centred as ``np.convolve(.., "same")``
    centres them (zero beyond the ends), at rows ``at`` only; ``(len(at), n_cols)``."""
    n, n_cols = y.shape
    half = (k - 1) // 2
    inv = 1.0 / k
    out = np.zeros((at.size, n_cols))
    for i in range(at.size):
        lo = max(at[i] - (k - 1 - half), 0)
        hi = min(at[i] + half + 1, n)
        for r in range(lo, hi):
            for c in range(n_cols):
                out[i, c] += y[r, c] * y[r, c] * inv
    return out


def centred_mean_of_squares(y, k: int, at) -> np.ndarray:
    """``np.convolve(y[:, c] ** 2, np.ones(k) / k, "same")[at]`` for every column ``c``
    of ``y`` (to rounding), computed at the rows ``at`` only.

    Parameters
    ----------
    y : array_like
        ``(n_samples, n_channels)`` float64 signal.
    k : int
        Window length in samples.
    at : array_like of int
        Rows wanted (``0 <= at < n_samples``).

    Returns
    -------
    numpy.ndarray
        ``(len(at), n_channels)``.
    """
    return _centred_mean_of_squares(np.ascontiguousarray(y, dtype=np.float64), int(k),
                                    np.asarray(at, dtype=np.int64))


@njit(cache=True, nogil=True)
def _add_unseen(table, x, bits, col):
    """Insert the finite values of ``x[:, col]`` into the open-addressing set ``table``
    (NaN marks a free slot; at most half full on entry plus ``len(x)``); ``bits`` is ``x``
    viewed as int64 (the hash's input). Returns how many values were new."""
    mask = table.size - 1
    added = 0
    for i in range(x.shape[0]):
        v = x[i, col]
        if v != v:  # a missing sample
            continue
        h = bits[i, col]  # mixed so that nearby values spread over the table
        h = (h ^ (h >> 31)) * np.int64(-4658895280553007687)
        j = (h ^ (h >> 29)) & mask
        while True:
            t = table[j]
            if t == v:  # seen (the usual case)
                break
            if t != t:  # a free slot: a value not seen yet
                table[j] = v
                added += 1
                break
            j = (j + 1) & mask
    return added


@njit(cache=True, nogil=True)
def _mark_digits(digits, seen):
    n, k = digits.shape
    for i in range(n):
        for j in range(k):
            seen[j, np.int64(digits[i, j]) & 0xFFFF] = True


def mark_digits(digits: np.ndarray, seen: np.ndarray) -> None:
    """``seen[c, digits[:, c].view(uint16)] = True`` for every column ``c``, in one pass.

    Parameters
    ----------
    digits : numpy.ndarray
        ``(n, k)`` int16.
    seen : numpy.ndarray
        ``(k, 65536)`` bool, per column the integers seen (as unsigned 16-bit), updated.
    """
    _mark_digits(np.ascontiguousarray(digits), seen)


class ValueSet:
    """The distinct values of one column, rounded to 9 decimals, given up (:attr:`dropped`)
    when there are more than ``limit`` of them; what :func:`~.summary.analyse` collects
    with ``np.union1d(u, np.round(x, 9))`` to estimate the quantisation step.

    The raw values go into a hash set (a compiled loop, about 5 ns a value, against
    rounding every sample and a sorted search); they are rounded once at the end. The set
    of rounded values is the same either way (rounding is a function of the value); only
    if there were very many raw values that round to few (values closer than 1e-9) does it
    switch to rounding each value first, to bound its memory.
    """

    #: Raw values kept before switching to rounding each value first.
    RAW_MAX = 1 << 20

    def __init__(self, limit: int = 50_000):
        self.limit = int(limit)
        self.table = np.full(1 << 12, np.nan)
        self.count = 0
        self.rounded = False
        self.dropped = False

    def add(self, x: np.ndarray, col: int) -> None:
        """Add the finite values of column ``col`` of the 2-D ``x``."""
        if self.dropped:
            return
        if 2 * (self.count + x.shape[0]) > self.table.size:
            self._rehash(2 * (self.count + x.shape[0]))
        if self.rounded:
            x, col = np.round(x[:, col], 9).reshape(-1, 1), 0
        x = np.ascontiguousarray(x, dtype=np.float64)
        self.count += _add_unseen(self.table, x, x.view(np.int64), int(col))
        if self.count > self.limit:
            self._check()

    def values(self) -> np.ndarray | None:
        """The distinct rounded values, sorted (None when given up)."""
        if self.dropped:
            return None
        v = self.table[~np.isnan(self.table)]
        return np.unique(v if self.rounded else np.round(v, 9))

    def _check(self) -> None:
        u = self.values()
        if u.size > self.limit:  # as the rounded union would be: given up for good
            self.dropped, self.table = True, np.empty(0)
        elif self.count > self.RAW_MAX:  # many raw values, few rounded: round first
            self.rounded, self.count = True, u.size
            self._rehash(2 * u.size, u)

    def _rehash(self, need: int, values=None) -> None:
        v = self.table[~np.isnan(self.table)] if values is None else values
        size = 1 << max(int(need - 1).bit_length(), 12)
        self.table = np.full(size, np.nan)
        v = np.ascontiguousarray(v, dtype=np.float64).reshape(-1, 1)
        self.count = _add_unseen(self.table, v, v.view(np.int64), 0)


@njit(cache=True, nogil=True)
def _moving_rms_rows(both, w, skip, head):
    """The causal moving RMS over ``w`` rows of each column of ``both``, rows ``skip`` on,
    by the same cumulative sum (row after row, as ``np.cumsum``), differences and square
    root as the NumPy versions: ``head`` divides the first rows by the rows so far
    (``tone.moving_rms``, whose ``nan_to_num`` it copies), else by ``w`` with zeros before
    the start (``onset.detection_envelope``: non-finite samples count as zero)."""
    m, k = both.shape
    big = np.finfo(np.float64).max
    out = np.empty((m - skip, k))
    csum = np.zeros((m + 1, k))
    for i in range(m):
        for c in range(k):
            v = both[i, c]
            if not np.isfinite(v):
                v = 0.0 if (np.isnan(v) or not head) else (big if v > 0 else -big)
            csum[i + 1, c] = csum[i, c] + v * v
    for i in range(skip, m):
        for c in range(k):
            if i + 1 >= w:
                p = (csum[i + 1, c] - csum[i + 1 - w, c]) / w
            elif head:
                p = csum[i + 1, c] / (i + 1)
            else:
                p = (csum[i + 1, c] - 0.0) / w
            out[i - skip, c] = np.sqrt(0.0 if p < 0.0 else p)  # np.maximum keeps NaN
    return out


def moving_rms_rows(both, w: int, skip: int = 0, head: bool = True) -> np.ndarray:
    """``tone.moving_rms(both, fs, w / fs)[skip:]`` (``head``) or
    ``onset.detection_envelope(both)[skip:]`` (rms conditioning, not ``head``), bit for bit,
    in one compiled pass.

    Parameters
    ----------
    both : numpy.ndarray
        ``(n, n_channels)`` signal (history rows first).
    w : int
        Window, rows.
    skip : int
        Leading rows not returned (the history).
    head : bool
        How the first ``w - 1`` rows are averaged (see above).

    Returns
    -------
    numpy.ndarray
        ``(n - skip, n_channels)`` float64, µV when ``both`` is.
    """
    both = np.ascontiguousarray(both, dtype=np.float64)
    return _moving_rms_rows(both, int(w), min(int(skip), both.shape[0]), bool(head))


#: Keys of non-negative finite doubles (``bits >> 45``, see ``blocks.KeyHistogram``) are
#: below this.
APDF_KEYS = 1 << 18


@njit(cache=True, nogil=True)
def _apdf_rows(both, w, skip, use, shift, counts, keys, out, n_out):
    """The APDF envelope (as :func:`_moving_rms_rows` with ``head``) of each column of
    ``both`` from row ``skip`` on, at the rows where ``use`` holds and it is finite: with
    ``keys`` of no column (``keys.shape[1] == 0``) each value's key (its bits >> ``shift``)
    is counted in ``counts[c]``; else the values whose key is one of ``keys[c]`` (-1 pads)
    go to ``out[:n_out[c], c]``."""
    k = both.shape[1]
    env = _moving_rms_rows(both, w, skip, True)  # channels side by side: vectorised
    bits = env.view(np.int64)
    gather = keys.shape[1] > 0
    if not gather:
        for r in range(env.shape[0]):
            for c in range(k):
                if use[r, c] and np.isfinite(env[r, c]):
                    counts[c, max(bits[r, c], 0) >> shift] += 1
        return
    for c in range(k):
        got = 0
        k_lo, k_hi = np.int64(APDF_KEYS), np.int64(-1)  # the wanted keys as a lookup table
        for j in range(keys.shape[1]):
            if keys[c, j] >= 0:
                k_lo, k_hi = min(k_lo, keys[c, j]), max(k_hi, keys[c, j])
        want = np.zeros(max(k_hi - k_lo + 1, 0), dtype=np.bool_)
        for j in range(keys.shape[1]):
            if keys[c, j] >= 0:
                want[keys[c, j] - k_lo] = True
        for r in range(env.shape[0]):
            if use[r, c] and np.isfinite(env[r, c]):
                key = (max(bits[r, c], 0) >> shift) - k_lo
                if 0 <= key < want.size and want[key]:
                    out[got, c] = env[r, c]
                    got += 1
        n_out[c] = got


def apdf_count(both, w: int, skip: int, use, counts) -> None:
    """Count the APDF envelope's values of a block by key (``blocks.KeyHistogram``'s).

    The envelope is ``tone.moving_rms(both, fs, w / fs)[skip:]`` (bit for bit, as
    :func:`moving_rms_rows`), taken where ``use`` holds and it is finite: the values
    ``streaming`` passes to :meth:`~.blocks.KeyHistogram.add`, counted in one compiled pass
    without an array of keys.

    Parameters
    ----------
    both : numpy.ndarray
        ``(skip + n, n_channels)`` filtered signal, µV: ``skip`` rows of history, the block.
    w, skip : int
        The moving RMS's window and the history, rows.
    use : numpy.ndarray of bool
        ``(n, n_channels)`` usable samples of the block.
    counts : numpy.ndarray of int64
        ``(n_channels, APDF_KEYS)`` counts by key, incremented in place.
    """
    both = np.ascontiguousarray(both, dtype=np.float64)
    _apdf_rows(both, int(w), min(int(skip), both.shape[0]),
               np.ascontiguousarray(use, dtype=np.bool_), _key_shift(), counts,
               np.empty((both.shape[1], 0), dtype=np.int64), np.empty((0, both.shape[1])),
               np.zeros(both.shape[1], dtype=np.int64))


def apdf_gather(both, w: int, skip: int, use, keys) -> list:
    """The APDF envelope's values of a block (as :func:`apdf_count`) whose key is one of
    ``keys[c]``, per channel.

    Parameters
    ----------
    both, w, skip, use
        As :func:`apdf_count`.
    keys : list of numpy.ndarray
        Per channel, the wanted keys (may be empty).

    Returns
    -------
    list of numpy.ndarray
        Per channel, the values in a wanted bin, in row order.
    """
    both = np.ascontiguousarray(both, dtype=np.float64)
    k = both.shape[1]
    width = max(max((len(kc) for kc in keys), default=0), 1)
    table = np.full((k, width), -1, dtype=np.int64)
    for c, kc in enumerate(keys):
        table[c, : len(kc)] = kc
    skip = min(int(skip), both.shape[0])
    out = np.empty((both.shape[0] - skip, k))
    n_out = np.zeros(k, dtype=np.int64)
    _apdf_rows(both, int(w), skip, np.ascontiguousarray(use, dtype=np.bool_),
               _key_shift(), np.zeros((k, 0), dtype=np.int64), table, out, n_out)
    return [out[: n_out[c], c].copy() for c in range(k)]


def _key_shift() -> int:
    from emgfeedback.analysis.blocks import _KEY_SHIFT

    return _KEY_SHIFT


@njit(cache=True, nogil=True)
def _window_rms_rows(x, w):
    """RMS of consecutive ``w``-row windows of every column; the squares of a window are
    added row after row (NumPy's order for ``mean(axis=1)`` of an ``(n_win, w, k)`` array
    with ``k > 1``: the channels are its inner loop). Also says whether a NaN was seen."""
    n, k = x.shape
    n_win = n // w
    out = np.empty((n_win, k))
    acc = np.empty(k)
    nan = False
    for i in range(n_win):
        for c in range(k):
            v = x[i * w, c]
            acc[c] = v * v
        for r in range(i * w + 1, (i + 1) * w):
            for c in range(k):
                v = x[r, c]
                acc[c] += v * v
        for c in range(k):
            nan = nan or acc[c] != acc[c]
            out[i, c] = np.sqrt(acc[c] / w)
    return out, nan


def window_rms_rows(x, w: int):
    """``rest.windowed_rms(x, fs, w / fs)``, bit for bit, in one compiled pass, for two or
    more columns without NaN; None otherwise (NumPy adds one column's squares pairwise and
    NaN windows take ``nanmean``: call ``windowed_rms`` then).

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, n_channels)`` signal, µV.
    w : int
        Window, rows.

    Returns
    -------
    numpy.ndarray or None
        ``(n // w, n_channels)`` RMS, µV.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        return None
    out, nan = _window_rms_rows(x, max(int(w), 1))
    return None if nan else out


@njit(cache=True, nogil=True)
def _first_quiet_run(x, hold, threshold):
    """See :func:`first_quiet_run` (the envelope as :func:`_moving_rms_rows` with ``head``,
    one column, stopping at the first run found)."""
    big = np.finfo(np.float64).max
    csum = np.zeros(x.shape[0] + 1)
    run = 0
    for i in range(x.shape[0]):
        v = x[i]
        if not np.isfinite(v):
            v = 0.0 if np.isnan(v) else (big if v > 0 else -big)
        csum[i + 1] = csum[i] + v * v
        if i + 1 < hold:
            continue
        # Row hold - 1 is the head's last row: csum[hold] / hold, the same value.
        p = (csum[i + 1] - csum[i + 1 - hold]) / hold
        e = np.sqrt(0.0 if p < 0.0 else p)
        if e <= threshold:
            run += 1
            if run >= hold:
                return i - 2 * hold + 2
        else:
            run = 0
    return -1


def first_quiet_run(x, hold: int, threshold: float) -> int:
    """``tone.first_run(tone.moving_rms(x, fs, hold / fs)[hold - 1:] <= threshold, hold)``
    in one compiled pass that stops at the run (a return to rest is mostly soon after a
    burst, the stretch searched up to 30 s): the first index of the envelope over full
    windows from which it stays at or below ``threshold`` for ``hold`` samples, -1 if none.

    Parameters
    ----------
    x : numpy.ndarray
        1-D signal, µV.
    hold : int
        The moving RMS's window and the run's length, samples.
    threshold : float
        µV.

    Returns
    -------
    int
    """
    return int(_first_quiet_run(np.ascontiguousarray(x, dtype=np.float64), max(int(hold), 1),
                                float(threshold)))


@njit(cache=True, nogil=True)
def _usable(x, flat_n, settle):
    # Column by column, the run and settle state in scalars (registers): 2x faster than
    # every column's state side by side in small arrays.
    n, k = x.shape
    ok = np.empty((n, k), dtype=np.bool_)
    starts = np.empty(n // 2 + 1, dtype=np.int64)  # long runs: at most one per 2 rows
    stops = np.empty(n // 2 + 1, dtype=np.int64)
    step = max(flat_n // 2, 1)
    finite = np.ones(k, dtype=np.bool_)
    for i in range(n):  # rows outer: one read of the block
        for c in range(k):
            finite[c] &= np.isfinite(x[i, c])
    for c in range(k):
        # A run of flat_n >= 2 * step equal values holds two rows a step apart (multiples
        # of step) and every row between them: without such rows the column has no long
        # run, and without a non-finite value every row is good before settling (the
        # usual case, no per-row loop). Equal pairs by chance fail at the next rows.
        flat = False
        for i in range(0, n - step, step):
            if x[i, c] == x[i + step, c]:
                r = i + 1
                while r < i + step and x[r, c] == x[i, c]:
                    r += 1
                if r == i + step:
                    flat = True
                    break
        if not flat and finite[c]:
            ok[:, c] = True
            ok[: min(settle, n), c] = False  # the first row is a resume
            continue
        n_long = 0
        total = 0
        run = -1  # first row of the current run of x[i] == x[i - 1]
        prev = np.nan
        for i in range(n):
            v = x[i, c]
            ok[i, c] = np.isfinite(v)
            if i and v == prev:
                if run < 0:
                    run = i
            elif run >= 0:
                # Rows run .. i - 1 equal their predecessors: i - run + 1 equal values
                # (quantities._runs' length plus one).
                if i - run + 1 >= flat_n:
                    starts[n_long], stops[n_long] = run, i
                    n_long += 1
                    total += i - run + 1
                run = -1
            prev = v
        if run >= 0 and n - run + 1 >= flat_n:
            starts[n_long], stops[n_long] = run, n
            n_long += 1
            total += n - run + 1
        if not total > 0.5 * n:  # flat most of the time: the signal, not padding
            for r in range(n_long):
                for i in range(max(starts[r] - 1, 0), stops[r]):
                    ok[i, c] = False
        if settle:
            # A resume (good after bad, or the first row; from the flags before settling)
            # makes it and the settle - 1 rows after it unusable.
            was = False
            left = 0
            for i in range(n):
                cur = ok[i, c]
                if cur and not was:
                    left = settle
                was = cur
                if left > 0:
                    ok[i, c] = False
                    left -= 1
    return ok


def usable_rows(x, fs_hz: float, settle_s: float, flat_s: float = 0.25) -> np.ndarray:
    """``quantities.usable_samples(x, fs_hz, settle_s, flat_s)`` (the same flags) in one
    compiled pass per column.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, n_channels)`` unfiltered signal, µV.
    fs_hz, settle_s, flat_s : float
        As :func:`~emgfeedback.analysis.quantities.usable_samples`.

    Returns
    -------
    numpy.ndarray
        Boolean ``(n, n_channels)``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    flat_n = max(int(round(flat_s * fs_hz)), 2)
    return _usable(x, flat_n, int(round(settle_s * fs_hz)))


@njit(cache=True, nogil=True)
def _window_stats(env, use, start, w):
    """Per ``w``-row window and column of ``env``: the count, mean and sum of squared
    deviations of the rows from ``start`` on where ``use``; and the same over all rows from
    ``start`` on (one row of three). Two passes per window (mean, then deviations). Rows
    outer, channels inner: each channel's sums are added in row order as one channel at a
    time would, but the channels' sums are independent, so they run side by side (and a
    row not used adds +0.0 to a sum that is never -0.0: the same bits)."""
    n, k = env.shape
    n_win = n // w
    cnt = np.zeros((n_win, k))
    mean = np.full((n_win, k), np.nan)
    m2 = np.zeros((n_win, k))
    s, nn, d2 = np.empty(k), np.empty(k, dtype=np.int64), np.empty(k)
    for i in range(n_win):
        r0 = max(i * w, start)
        s[:] = 0.0
        nn[:] = 0
        d2[:] = 0.0
        for r in range(r0, (i + 1) * w):
            for c in range(k):
                u = use[r, c]
                s[c] += env[r, c] if u else 0.0
                nn[c] += u
        for c in range(k):
            if nn[c]:
                s[c] = s[c] / nn[c]  # the mean
        for r in range(r0, (i + 1) * w):
            for c in range(k):
                d = env[r, c] - s[c]
                d2[c] += d * d if use[r, c] else 0.0
        for c in range(k):
            if nn[c]:
                cnt[i, c], mean[i, c], m2[i, c] = nn[c], s[c], d2[c]
    total = np.zeros((3, k))
    n_all = n - min(start, n)
    if n_all > 0:
        s[:] = 0.0
        d2[:] = 0.0
        for r in range(start, n):
            for c in range(k):
                s[c] += env[r, c]
        for c in range(k):
            s[c] = s[c] / n_all
        for r in range(start, n):
            for c in range(k):
                d = env[r, c] - s[c]
                d2[c] += d * d
        for c in range(k):
            total[0, c], total[1, c], total[2, c] = n_all, s[c], d2[c]
    return cnt, mean, m2, total


def detector_window_stats(both, skip: int, w_env: int, use, start: int, w: int,
                          envelope=None):
    """The onset detector's envelope statistics of one block, per window and in all.

    Parameters
    ----------
    both : numpy.ndarray
        ``(skip + n, n_channels)`` filtered signal: ``skip`` rows of history, then the block.
    skip : int
        Rows of history (the envelope is returned for the block only).
    w_env : int
        The detector's window, samples (``rms`` conditioning: its moving RMS).
    use : numpy.ndarray of bool
        ``(n, n_channels)`` usable samples of the block.
    start : int
        First row of the block counted (the envelope is full from there).
    w : int
        Window length of the per-window statistics, samples.
    envelope : numpy.ndarray, optional
        The block's envelope when already computed (other conditionings).

    Returns
    -------
    tuple
        ``(count, mean, m2)`` each ``(n // w, n_channels)`` over the usable rows of each
        whole window (mean NaN without one), and ``(3, n_channels)`` count, mean and sum of
        squared deviations over every row from ``start``.
    """
    if envelope is None:
        envelope = moving_rms_rows(both, w_env, skip, head=False)
    cnt, mean, m2, total = _window_stats(np.ascontiguousarray(envelope),
                                         np.ascontiguousarray(use, dtype=np.bool_),
                                         int(start), int(w))
    return (cnt, mean, m2), total


@njit(cache=True, nogil=True)
def _welch_segments(data, step, means, win, out):
    # out[c, s] = (data[c, s·step:][:nper] - means[c, s]) · win: the two NumPy operations
    # (detrend, window) per value in one pass.
    n_cols, n_seg, nper = out.shape
    for c in range(n_cols):
        for s in range(n_seg):
            m = means[c, s]
            seg = data[c, s * step: s * step + nper]
            o = out[c, s]
            for i in range(nper):
                o[i] = (seg[i] - m) * win[i]


@njit(cache=True, nogil=True)
def _power_sums(spec, out):
    # out[c] = Σ_s (re² + im²) of spec[c, s], segments in order (NumPy's sum along an
    # outer axis adds them one after the other).
    n_cols, n_seg, nf = spec.shape
    for c in range(n_cols):
        o = out[c]
        for f in range(nf):
            o[f] = 0.0
        for s in range(n_seg):
            row = spec[c, s]
            for f in range(nf):
                o[f] += row[f].real * row[f].real + row[f].imag * row[f].imag


def welch_means(data, nper: int, step: int, n_seg: int) -> np.ndarray:
    """The means of the Welch segments of each row of ``data`` (``(k, n)``), ``(k, n_seg)``,
    as NumPy takes them from ``data`` as given: its order of summation depends on the
    layout (pairwise along contiguous rows, one value after the other when ``data`` is a
    transposed view of several columns), so rows of it may not be taken apart first."""
    from numpy.lib.stride_tricks import sliding_window_view

    segs = sliding_window_view(data, nper, axis=1)[:, : n_seg * step: step]
    return np.ascontiguousarray(segs.mean(axis=2))


def welch_power(data, nper: int, step: int, n_seg: int, win, means=None) -> np.ndarray:
    """Sum over Welch segments of ``|rfft((seg - mean(seg)) · win)|²`` per column.

    ``data`` is ``(k, n)``; segment ``s`` of a column is ``data[c, s·step:][:nper]``. The
    detrend and window in one compiled pass, one FFT call, the squared magnitudes summed
    over the segments in order in another: what :meth:`.blocks.Welch.add` computed with
    NumPy expressions, bit for bit, with two fewer temporary arrays and passes over them.
    ``means`` are :func:`welch_means` (of the ``data`` these rows were taken from).
    Returns the ``(k, nper // 2 + 1)`` sums.
    """
    k = data.shape[0]
    if means is None:
        means = welch_means(data, nper, step, n_seg)
    data = np.ascontiguousarray(data, dtype=np.float64)
    work = np.empty((k, n_seg, nper))
    _welch_segments(data, step, means, np.ascontiguousarray(win, dtype=np.float64), work)
    spec = np.fft.rfft(work, axis=2)
    out = np.empty((k, nper // 2 + 1))
    _power_sums(spec, out)
    return out
