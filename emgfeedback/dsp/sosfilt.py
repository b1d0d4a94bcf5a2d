"""Second-order-sections filtering of many channels, bit for bit ``scipy.signal.sosfilt``.

Why not SciPy: ``import scipy.signal`` costs about a second of CPU and ~60 MB in a fresh
process. The simulator shapes its noise and models a sensor's envelope with a few sections;
every ``sim://`` command (and more than a hundred of the test suite's subprocesses) paid
that import for microseconds of arithmetic. The whole-recording analysis runs its
zero-phase filters on the same loop.

The loop is SciPy's direct form II transposed, with the same operations on each value in the
same order, so the result has the same bits (``tests/dsp/test_sosfilt.py`` compares).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def sosfilt_rows(sos, x, zi, reverse):
    """Filter the columns of ``x`` (``(n, k)``, in place) through the sections ``sos``,
    from the last row to the first when ``reverse``; ``zi`` is ``(n_sections, 2, k)`` and
    ends as the final state. SciPy's direct form II transposed, the same operations on
    each value, two sections per pass over the block.

    Why two at once: one section's recursion is a chain of dependent multiply-adds per
    sample, so a pass runs at that chain's latency; the second section's chain does not
    depend on the first's state, only on its output at the same sample, so the two
    overlap (the ECG band-pass of ``analyze``, two sections: 4.7 -> 2.6 ms per 72 s span).
    Within a pass, a section's output at a sample depends only on its input there and its
    own state, so the order of the loops does not change a bit; the state lives in small
    local vectors, which the compiler keeps apart from ``x``.
    """
    n, k = x.shape
    n_sec = sos.shape[0]
    s = 0
    while s + 1 < n_sec:
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        c0, c1, c2, d1, d2 = sos[s + 1, 0], sos[s + 1, 1], sos[s + 1, 2], sos[s + 1, 4], \
            sos[s + 1, 5]
        z0, z1 = zi[s, 0].copy(), zi[s, 1].copy()
        w0, w1 = zi[s + 1, 0].copy(), zi[s + 1, 1].copy()
        for i in range(n):
            row = x[n - 1 - i] if reverse else x[i]
            for c in range(k):  # channel by channel: independent lanes
                v = row[c]
                u = b0 * v + z0[c]
                z0[c] = b1 * v - a1 * u + z1[c]
                z1[c] = b2 * v - a2 * u
                y = c0 * u + w0[c]
                w0[c] = c1 * u - d1 * y + w1[c]
                w1[c] = c2 * u - d2 * y
                row[c] = y
        zi[s, 0], zi[s, 1], zi[s + 1, 0], zi[s + 1, 1] = z0, z1, w0, w1
        s += 2
    if s < n_sec:  # an odd count: the last section alone
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        z0, z1 = zi[s, 0].copy(), zi[s, 1].copy()
        for i in range(n):
            row = x[n - 1 - i] if reverse else x[i]
            for c in range(k):
                v = row[c]
                u = b0 * v + z0[c]
                z0[c] = b1 * v - a1 * u + z1[c]
                z1[c] = b2 * v - a2 * u
                row[c] = u
        zi[s, 0], zi[s, 1] = z0, z1


def sosfilt_columns(sos, x, zi) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` for a ``(n_samples, n_channels)`` block.

    Parameters
    ----------
    sos : array_like
        ``(n_sections, 6)`` sections with ``a0 == 1``.
    x : array_like
        ``(n_samples, n_channels)`` signal (not modified).
    zi : array_like
        ``(n_sections, 2, n_channels)`` initial state (not modified).

    Returns
    -------
    y : numpy.ndarray
        The filtered block, float64.
    zf : numpy.ndarray
        The final state, same shape as ``zi``.
    """
    y = np.array(x, dtype=np.float64, order="C", copy=True)
    if y.ndim != 2:
        raise ValueError(f"x must be (n_samples, n_channels), got shape {y.shape}")
    zf = np.array(zi, dtype=np.float64, order="C", copy=True)
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    if zf.shape != (sos.shape[0], 2, y.shape[1]):
        raise ValueError(f"zi must have shape {(sos.shape[0], 2, y.shape[1])}, got {zf.shape}")
    if y.shape[0]:
        sosfilt_rows(sos, y, zf, False)
    return y, zf
