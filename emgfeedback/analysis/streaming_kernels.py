"""Compiled inner loops of the whole-recording analysis (:mod:`.streaming`).

:func:`sosfiltfilt_columns` is ``scipy.signal.sosfiltfilt(sos, x, axis=0)`` (odd padding,
the default pad length, steady-state initial conditions) for many channels at once: the
same operations in the same order as SciPy's direct form II transposed loop, so the
result is bit for bit SciPy's, run with the channels of one sample side by side (the
compiler packs them into vector registers) instead of one channel after the other.
No state is kept between calls: each call filters one block with its own margins.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _sosfilt_rows(sos, x, zi, reverse):
    """Filter the columns of ``x`` (``(n, k)``, in place) through the sections ``sos``,
    from the last row to the first when ``reverse``; ``zi`` is ``(n_sections, 2, k)``
    and ends as the final state."""
    n, k = x.shape
    n_sec = sos.shape[0]
    cur = np.empty(k)
    for i in range(n):
        r = n - 1 - i if reverse else i
        for c in range(k):
            cur[c] = x[r, c]
        for s in range(n_sec):
            b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
            for c in range(k):  # channel by channel: independent lanes, packed
                x_new = b0 * cur[c] + zi[s, 0, c]
                zi[s, 0, c] = b1 * cur[c] - a1 * x_new + zi[s, 1, c]
                zi[s, 1, c] = b2 * cur[c] - a2 * x_new
                cur[c] = x_new
        for c in range(k):
            x[r, c] = cur[c]


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
        ``scipy.signal.sosfiltfilt(sos, x, axis=0)``, bit for bit.
    """
    from scipy import signal

    sos = np.ascontiguousarray(sos, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    n_sec = sos.shape[0]
    ntaps = 2 * n_sec + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    edge = 3 * ntaps
    if x.shape[0] <= edge:  # SciPy's own error for a block shorter than its padding
        return signal.sosfiltfilt(sos, x, axis=0)
    # scipy.signal._arraytools.odd_ext, along axis 0.
    ext = np.concatenate((2 * x[:1] - x[edge:0:-1], x,
                          2 * x[-1:] - x[-2:-(edge + 2):-1]))
    zi = signal.sosfilt_zi(sos)[:, :, None]  # (n_sections, 2, 1): steady state per unit
    y = np.ascontiguousarray(ext)
    state = np.ascontiguousarray(zi * y[0][None, None, :])
    _sosfilt_rows(sos, y, state, False)
    state = np.ascontiguousarray(zi * y[-1][None, None, :])
    _sosfilt_rows(sos, y, state, True)
    return y[edge:-edge]


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
