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
    from emgfeedback.dsp.sosfilt import sosfilt_rows  # Numba: loaded when first used

    sos = np.ascontiguousarray(sos, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    one_d = x.ndim == 1
    if one_d:
        x = x[:, None]
    n_sec = sos.shape[0]
    ntaps = 2 * n_sec + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    edge = 3 * ntaps
    if x.shape[0] <= edge:
        raise ValueError("The length of the input vector x must be greater than padlen, "
                         f"which is {edge}.")
    # scipy.signal._arraytools.odd_ext along axis 0 (a fresh array: filtered in place).
    y = np.concatenate((2 * x[:1] - x[edge:0:-1], x, 2 * x[-1:] - x[-2:-(edge + 2):-1]))
    zi = sosfilt_zi(sos)[:, :, None]  # (n_sections, 2, 1): the steady state per unit
    sosfilt_rows(sos, y, np.ascontiguousarray(zi * y[0][None, None, :]), False)
    sosfilt_rows(sos, y, np.ascontiguousarray(zi * y[-1][None, None, :]), True)
    y = y[edge:-edge]
    return y[:, 0] if one_d else y
