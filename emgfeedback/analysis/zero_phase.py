"""Zero-phase (forward-backward) filtering with second-order sections, without SciPy.

Why: the live quality assessment (``analysis/quality.py``, ECG band) runs in every recording
process, and ``scipy.signal`` costs ~64 MB of RSS there (issue 16, item 3). The filter
design is already SciPy-free (:mod:`emgfeedback.dsp.iir_design`); this is the filtering.

What: :func:`sosfiltfilt` is ``scipy.signal.sosfiltfilt(sos, x, axis=0)`` with its defaults
(odd extension of ``3 · (2 · n_sections + 1)`` samples at each end, fewer for sections with
zero ``b2``/``a2``; each pass started from the steady state :func:`sosfilt_zi` scaled by
the first sample), bit for bit: the same NumPy operations as SciPy 1.17 for the padding and
initial conditions, and SciPy's direct form II transposed loop (its order of operations)
for the passes (:func:`emgfeedback.dsp.sosfilt.sosfilt_rows`, two sections per pass)
(``tests/analysis/test_zero_phase.py`` compares with SciPy). Adapted from SciPy
(BSD-3-Clause, Copyright (c) 2001-2002 Enthought, Inc., 2003-2024 SciPy Developers).
"""

from __future__ import annotations

import numpy as np


def sosfilt_zi(sos) -> np.ndarray:
    """Steady-state initial conditions of a cascade of sections for a unit step input.

    Parameters
    ----------
    sos : array_like
        ``(n_sections, 6)`` sections.

    Returns
    -------
    numpy.ndarray
        ``(n_sections, 2)``; equal to ``scipy.signal.sosfilt_zi(sos)``.
    """
    sos = np.asarray(sos, dtype=np.float64)
    if sos.ndim != 2 or sos.shape[1] != 6:
        raise ValueError("sos must be shape (n_sections, 6)")
    zi = np.empty((sos.shape[0], 2))
    scale = 1.0
    for s in range(sos.shape[0]):
        b, a = sos[s, :3], sos[s, 3:]
        zi[s] = scale * _lfilter_zi(b, a)
        # b.sum() / a.sum() is this section's gain at DC: the steady state of its step
        # response, which is the next section's input level.
        scale *= np.sum(b) / np.sum(a)
    return zi


def _lfilter_zi(b, a) -> np.ndarray:
    # scipy.signal.lfilter_zi for one section (three coefficients each): solve
    # zi = A·zi + B with A the transposed companion matrix of a, as SciPy does.
    while len(a) > 1 and a[0] == 0.0:
        a = a[1:]
    if a.size < 1:
        raise ValueError("There must be at least one nonzero `a` coefficient.")
    if a[0] != 1.0:
        b = b / a[0]
        a = a / a[0]
    n = max(a.shape[0], b.shape[0])
    if a.shape[0] < n:
        a = np.concatenate((a, np.zeros(n - a.shape[0])))
    companion = np.zeros((n - 1, n - 1))  # scipy.linalg.companion(a)
    companion[0] = -a[1:] / (1.0 * a[0])
    companion[list(range(1, n - 1)), list(range(0, n - 2))] = 1
    i_minus_a = np.eye(n - 1) - companion.T
    rhs = b[1:] - a[1:] * b[0]
    return np.linalg.solve(i_minus_a, rhs)


def sosfiltfilt(sos, x) -> np.ndarray:
    """Zero-phase filtering of ``x`` along its first axis.

    Parameters
    ----------
    sos : array_like
        ``(n_sections, 6)`` sections (``a0 == 1``), as
        :func:`~emgfeedback.dsp.iir_design.butter_sos` gives.
    x : array_like
        ``(n_samples,)`` or ``(n_samples, n_channels)`` float64 signal, longer than the
        padding.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; ``scipy.signal.sosfiltfilt(sos, x, axis=0)``, bit for bit.

    Raises
    ------
    ValueError
        When ``x`` is not longer than the padding (SciPy's condition and message).
    """
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    one_d = x.ndim == 1
    if one_d:
        x = x[:, None]
    edge = _padlen(sos, x.shape[0])
    # scipy.signal._arraytools.odd_ext along axis 0 (a fresh array: filtered in place).
    y = np.concatenate((2 * x[:1] - x[edge:0:-1], x, 2 * x[-1:] - x[-2:-(edge + 2):-1]))
    y = _filtfilt_padded(sos, y, edge)
    return y[:, 0] if one_d else y


def sosfiltfilt_parts(sos, *signals, zero_nonfinite: bool = False) -> np.ndarray:
    """:func:`sosfiltfilt` of signals given as pieces, side by side.

    Each signal is a sequence of ``(n_i, k)`` pieces whose rows, joined, are the signal;
    the pieces are copied once, into the padded array the passes filter in place (no
    joined copy first), and several signals of the same length are filtered together as
    the columns of one array (a pass runs at its recursion's latency: 16 columns cost
    little more than 8). Every column is filtered alone, so each is what
    ``sosfiltfilt(sos, np.concatenate(pieces))`` gives, bit for bit.

    Parameters
    ----------
    sos : array_like
        ``(n_sections, 6)`` sections (``a0 == 1``).
    *signals : sequence of numpy.ndarray
        Per signal, its float64 pieces in order; every signal has the same number of rows.
    zero_nonfinite : bool
        Count non-finite samples as zero (as ``np.where(np.isfinite(x), x, 0.0)``).

    Returns
    -------
    numpy.ndarray
        ``(n, k_1 + k_2 + …)``: the signals' filtered columns, in order.
    """
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    n = sum(int(p.shape[0]) for p in signals[0])
    if any(sum(int(p.shape[0]) for p in sig) != n for sig in signals):
        raise ValueError("signals filtered side by side must have the same length")
    edge = _padlen(sos, n)
    widths = [int(sig[0].shape[1]) for sig in signals]
    y = np.empty((n + 2 * edge, sum(widths)))
    x = y[edge: edge + n]
    col = 0
    for sig, k in zip(signals, widths, strict=True):
        at = 0
        for p in sig:
            x[at: at + p.shape[0], col: col + k] = p
            at += p.shape[0]
        col += k
    if zero_nonfinite and not np.isfinite(x).all():
        x[~np.isfinite(x)] = 0.0
    # odd_ext's two ends, from the signal now in place (the same operations)
    y[:edge] = 2 * x[:1] - x[edge:0:-1]
    y[edge + n:] = 2 * x[-1:] - x[-2:-(edge + 2):-1]
    return _filtfilt_padded(sos, y, edge)


def _padlen(sos, n: int) -> int:
    # SciPy's default padding of sosfiltfilt, and its check of the signal's length.
    n_sec = sos.shape[0]
    ntaps = 2 * n_sec + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    edge = 3 * ntaps
    if n <= edge:
        raise ValueError("The length of the input vector x must be greater than padlen, "
                         f"which is {edge}.")
    return edge


def _filtfilt_padded(sos, y, edge: int) -> np.ndarray:
    # The forward and backward passes over the padded ``y`` (in place), without the pads.
    from emgfeedback.dsp.sosfilt import sosfilt_rows  # Numba: loaded when first used

    zi = sosfilt_zi(sos)[:, :, None]  # (n_sections, 2, 1): the steady state per unit
    sosfilt_rows(sos, y, np.ascontiguousarray(zi * y[0][None, None, :]), False)
    sosfilt_rows(sos, y, np.ascontiguousarray(zi * y[-1][None, None, :]), True)
    return y[edge:-edge]
