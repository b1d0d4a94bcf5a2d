"""Generic Numba kernels of the pipeline: any channel count, handles NaN/inf samples.

Coefficients and state travel in one flat float64 array (see :func:`pack_state`): with one
argument instead of seven, a call from Python costs about 0.5 µs less, which matters for
16-sample blocks. The layout is shared with :mod:`emgfeedback.dsp.kernels_fast` (both kernels
must be able to continue each other's state, because a chunk with a non-finite sample goes
through this kernel and the next finite chunk through the fast one). After a 4-value header
(n_sections, n_env_sections, window, ring position) come ``sos``, ``env_sos``, ``z``, ``ez``,
``ring``, ``acc``, each C-ordered:

``z`` (n_sections, 2, n_channels)
    Cascade state, ``z[s, 0]`` and ``z[s, 1]`` as in :func:`scipy.signal.sosfilt` (``zi``).
``ez`` (n_env_sections, 2, n_channels)
    Linear-envelope low-pass state (empty for the RMS envelope).
``ring`` (window, n_channels), ``acc`` (n_channels,), position (header)
    Moving-RMS state: the last ``window`` squares, their running sum, the ring position
    (shared by all channels, it counts samples modulo ``window``). Empty for the linear one.

Arithmetic follows ``scipy.signal.sosfilt`` operation by operation, so results are
bit-identical to it in float64. The running sum of squares is recomputed from the ring each
time the position wraps to 0; that keeps its rounding error bounded over hours of signal and,
because wrap points depend only on the absolute sample count, does not depend on how the
stream was cut into chunks.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

HEADER = 4


def pack_state(sos: np.ndarray, env_sos: np.ndarray, window: int, n_channels: int) -> np.ndarray:
    """Build the flat coefficient+state array of a pipeline at rest.

    Parameters
    ----------
    sos : numpy.ndarray, shape (n_sections, 6)
    env_sos : numpy.ndarray, shape (n_env_sections, 6)
    window : int
        RMS window in samples (0 for the linear envelope).
    n_channels : int

    Returns
    -------
    numpy.ndarray
        Float64, 1-D.
    """
    ns, ne = sos.shape[0], env_sos.shape[0]
    size = HEADER + 6 * (ns + ne) + 2 * n_channels * (ns + ne) + (window + 1) * n_channels
    state = np.zeros(size)
    state[:3] = ns, ne, window
    state[HEADER : HEADER + 6 * ns] = sos.ravel()
    state[HEADER + 6 * ns : HEADER + 6 * (ns + ne)] = env_sos.ravel()
    return state


def state_views(state: np.ndarray, n_channels: int) -> dict:
    """NumPy views of the parts of a packed state (for inspection and tests)."""
    ns, ne, window = (int(v) for v in state[:3])
    shapes = {
        "sos": (ns, 6),
        "env_sos": (ne, 6),
        "z": (ns, 2, n_channels),
        "ez": (ne, 2, n_channels),
        "ring": (window, n_channels),
        "acc": (n_channels,),
    }
    views, offset = {"pos": int(state[3])}, HEADER
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        views[name] = state[offset : offset + size].reshape(shape)
        offset += size
    return views


@njit(cache=True, nogil=True)
def _unpack(state, n_channels):
    ns = int(state[0])
    ne = int(state[1])
    window = int(state[2])
    o = HEADER
    sos = state[o : o + 6 * ns].reshape((ns, 6))
    o += 6 * ns
    env_sos = state[o : o + 6 * ne].reshape((ne, 6))
    o += 6 * ne
    z = state[o : o + 2 * ns * n_channels].reshape((ns, 2, n_channels))
    o += 2 * ns * n_channels
    ez = state[o : o + 2 * ne * n_channels].reshape((ne, 2, n_channels))
    o += 2 * ne * n_channels
    ring = state[o : o + window * n_channels].reshape((window, n_channels))
    o += window * n_channels
    acc = state[o : o + n_channels]
    return sos, env_sos, z, ez, ring, acc


@njit(cache=True, nogil=True)
def process_generic(state, x, y, e, rms):
    """Filter a chunk, one sample at a time (the reference and NaN-safe path).

    Parameters
    ----------
    state : float64 (size,)
        Coefficients and state from :func:`pack_state`; updated in place.
    x : float64 (n, n_channels)
        Input chunk in µV.
    y, e : float64 (n, n_channels)
        Outputs: filtered signal and envelope, in µV.
    rms : bool
        Moving-RMS envelope if true, else linear envelope.
    """
    sos, env_sos, z, ez, ring, acc = _unpack(state, x.shape[1])
    state[3] = _process_arrays(sos, z, env_sos, ez, ring, acc, int(state[3]), x, y, e, rms)


@njit(cache=True, nogil=True)
def _reset_channel(c, z, ez, ring, acc):
    z[:, :, c] = 0.0
    ez[:, :, c] = 0.0
    ring[:, c] = 0.0
    acc[c] = 0.0


@njit(cache=True, nogil=True)
def _process_arrays(sos, z, env_sos, ez, ring, acc, p, x, y, e, rms):
    n, n_channels = x.shape
    n_sections = sos.shape[0]
    n_env = env_sos.shape[0]
    window = ring.shape[0]
    # Multiplying by 1/W instead of dividing: vectorised division is slow (both kernels agree).
    inv_window = 1.0 / window if window else 0.0
    for t in range(n):
        for c in range(n_channels):
            x_cur = x[t, c]
            if not math.isfinite(x_cur):
                # A gap or broken sample: no output, and the filters restart from rest
                # at the next finite sample instead of carrying NaN/inf forever.
                _reset_channel(c, z, ez, ring, acc)
                y[t, c] = np.nan
                e[t, c] = np.nan
                continue
            for s in range(n_sections):
                x_new = sos[s, 0] * x_cur + z[s, 0, c]
                z[s, 0, c] = sos[s, 1] * x_cur - sos[s, 4] * x_new + z[s, 1, c]
                z[s, 1, c] = sos[s, 2] * x_cur - sos[s, 5] * x_new
                x_cur = x_new
            y[t, c] = x_cur
            if rms:
                square = x_cur * x_cur
                acc[c] = (acc[c] - ring[p, c]) + square
                ring[p, c] = square
                e[t, c] = math.sqrt(max(acc[c], 0.0) * inv_window)
            else:
                x_cur = abs(x_cur)
                for s in range(n_env):
                    x_new = env_sos[s, 0] * x_cur + ez[s, 0, c]
                    ez[s, 0, c] = env_sos[s, 1] * x_cur - env_sos[s, 4] * x_new + ez[s, 1, c]
                    ez[s, 1, c] = env_sos[s, 2] * x_cur - env_sos[s, 5] * x_new
                    x_cur = x_new
                e[t, c] = x_cur
        if rms:
            p += 1
            if p == window:
                p = 0
                for c in range(n_channels):
                    total = 0.0
                    for k in range(window):
                        total += ring[k, c]
                    acc[c] = total
    return p
