"""Maximum-likelihood onset of a variance *ramp* (AGLR-style backdating of a confirmed burst).

A muscle does not switch on in one sample: the envelope of its activity rises over
0-300 ms, and the start of that rise carries almost no power (a linear rise in amplitude
has a hundredth of the plateau's power in its first tenth). A detector that fits a *step*
in variance places the onset where the power becomes visible, late by a good part of the
rise. Here the power of the whitened signal is modelled as a ramp::

    v(t) = 1                                 t < t0      (rest, the detector's unit)
    v(t) = 1 + (L - 1) · g((t - t0) / T)     t0 <= t < t0 + T
    v(t) = L                                 t >= t0 + T

for a few generic rise shapes ``g`` (:data:`SHAPES`; each rises from 0 to 1, in power),
rise lengths ``T`` up to ~300 ms and plateau levels ``L`` around the level measured since
the alarm. Each block sum of ``d`` squared whitened samples is a scaled χ² variable, so the
log-likelihood ratio of a profile against rest is exact:
``Σ_j -½·d·ln v_j + ½·y_j·(1 − 1/v_j)``. Shape, rise length and level are summed out
(uniform prior) and the onset is the posterior median over ``t0``: the point estimate that
minimises the expected absolute error, the quantity the benchmark reports.

The kernel (:func:`.onset_glr_kernels.refine_ramp_onset`) reads block sums from a ring
buffer (the streaming detector's history), so it needs no state of its own and gives the
same answer however the stream was chunked. It lives in the detector's kernel file, not
here, because Numba caches a kernel against its own file only; the shape codes it takes
are the positions in :data:`SHAPES`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from emgfeedback.analysis.onset_glr_kernels import refine_ramp_onset
from emgfeedback.errors import ConfigError

#: Rise shapes, as the fraction of the plateau's *power* reached at ``u`` in [0, 1].
#: ``linear``, ``cosine`` and ``exponential`` rise in *amplitude* (the envelope that
#: modulates the activity), so their power is the square; ``linear_power`` rises in power.
SHAPES = ("linear", "cosine", "exponential", "linear_power")
_SHAPE_CODE = {name: i for i, name in enumerate(SHAPES)}

def shape_codes(names) -> np.ndarray:
    """Kernel codes of rise-shape names (a clear error for an unknown one).

    Parameters
    ----------
    names : sequence of str
        Names from :data:`SHAPES`.

    Returns
    -------
    numpy.ndarray
        int64 codes, in the given order, without repeats.
    """
    out = []
    for name in names:
        if name not in _SHAPE_CODE:
            raise ConfigError(f"onset rise shape {name!r}: expected one of {', '.join(SHAPES)}")
        if _SHAPE_CODE[name] not in out:
            out.append(_SHAPE_CODE[name])
    if not out:
        raise ConfigError("onset refinement needs at least one rise shape")
    return np.array(out, dtype=np.int64)


@njit(cache=True, nogil=True)
def _block_powers(x, q, a, sig2, d, out):
    """Block sums of squared whitened samples of one channel (as the streaming kernel).

    ``x`` is decimated by ``q`` (means of ``q``-tuples from sample 0), whitened with the AR
    model ``a`` (prediction from the raw decimated values), squared and divided by
    ``sig2``; ``out[j]`` is the sum over decimated samples ``j·d .. j·d + d - 1``.
    """
    p = a.shape[0]
    nv = x.shape[0] // q
    hist = np.zeros(max(p, 1))
    nbk = out.shape[0]
    for j in range(nbk):
        out[j] = 0.0
    for i in range(nv):
        v = 0.0
        for k in range(q):
            v += x[i * q + k]
        v /= q
        if not math.isfinite(v):
            v = 0.0
        pred = 0.0
        for k in range(p):
            pred += a[k] * hist[k]
        for k in range(p - 1, 0, -1):
            hist[k] = hist[k - 1]
        if p > 0:
            hist[0] = v
        j = i // d
        if j < nbk:
            out[j] += (v - pred) ** 2 / sig2


def refine_onsets_offline(x, events, ar, sig2, q, d, conf, back, extra, shapes, ramps):
    """Re-place each confirmed onset with the data that followed its confirmation.

    Live, the onset is refined with the blocks up to its confirmation: a slow rise may not
    have reached its plateau yet, so its level and length are poorly known. Offline the
    next ``extra`` blocks are there too (never past the burst's offset); the same ramp
    model is fitted again on the longer window.

    Parameters
    ----------
    x : ndarray (n_samples, n_channels)
        The band-passed signal the events came from, from sample 0.
    events : list of OnsetEvent
        The streaming detector's events for ``x`` (in order of confirmation).
    ar, sig2 : ndarray
        Per channel: whitening coefficients ``(n_channels, p)`` and rest power.
    q, d : int
        Decimation factor and decimated samples per block.
    conf, back, extra : int
        Blocks of the confirmation window, of the longest backdating, and of data used
        after the confirmation.
    shapes, ramps : ndarray of int64
        Rise shapes and lengths (blocks), as for :func:`refine_ramp_onset`.

    Returns
    -------
    list of OnsetEvent
        The events, onsets re-placed (``unknown`` ones untouched; ``delay_ms`` kept as the
        live delay it was).
    """
    from dataclasses import replace

    bs = q * d
    nbk = x.shape[0] // bs
    if nbk < 2:
        return list(events)
    out = list(events)
    shapes = np.asarray(shapes, dtype=np.int64)
    ramps = np.asarray(ramps, dtype=np.int64)
    for c in range(x.shape[1]):
        mine = [i for i, e in enumerate(out) if e.channel == c]
        if not any(out[i].kind == "on" and not out[i].unknown for i in mine):
            continue
        yb = np.zeros(nbk)
        _block_powers(np.ascontiguousarray(x[:, c], dtype=np.float64), int(q),
                      np.ascontiguousarray(ar[c], dtype=np.float64), float(sig2[c]),
                      int(d), yb)
        hist = yb[None, :]
        post = np.empty(nbk)
        for n, i in enumerate(mine):
            e = out[i]
            if e.kind != "on" or e.unknown:
                continue
            b = min(e.detected_index // bs, nbk - 1)
            prev_off = max([out[k].index for k in mine[:n] if out[k].kind == "off"],
                           default=-bs)
            next_off = min([out[k].index for k in mine[n + 1:] if out[k].kind == "off"],
                           default=nbk * bs)
            # the live window, reaching back further when the live onset came from a
            # longer one (alarms rejected before the confirmed one)
            lo = max(min(b - conf - back, e.index // bs - conf), prev_off // bs + 1, 0)
            hi = max(min(b + extra, next_off // bs - 1, nbk - 1), b)
            lo = min(lo, b - conf) if b - conf >= 0 else 0
            first = max(b - conf + 1, lo)
            level = float(yb[first:hi + 1].sum()) / ((hi + 1 - first) * d)
            ob = refine_ramp_onset(hist, 0, nbk, lo, hi, level, shapes, ramps, d, post)
            # never after the alarm (as live): the confirmation window is the burst
            ob = min(ob, max(b - conf, lo))
            out[i] = replace(e, index=int(ob * bs))
    return out
