"""Butterworth, mains-notch and group-delay design in NumPy, without importing SciPy.

Why: ``scipy.signal`` costs ~64 MB of RSS in a fresh process (``import emgfeedback.dsp``:
95 MB without it, 159 MB with it), and every :class:`~emgfeedback.dsp.pipeline.PipelineConfig`
designs its filters, so a recording would load SciPy for a few microseconds of arithmetic.

What: the steps ``scipy.signal.butter(N, Wn, btype, fs=fs, output="sos")``,
``scipy.signal.iirnotch`` and ``scipy.signal.group_delay`` take (SciPy 1.17: ``buttap``,
frequency pre-warping, ``lp2lp_zpk`` / ``lp2hp_zpk`` / ``lp2bp_zpk``, ``bilinear_zpk``,
``zpk2sos`` with the ``"nearest"`` pairing), restricted to what the pipeline designs and
written with the same NumPy operations in the same order, so the coefficients are the same
bits (``tests/dsp`` compares them with SciPy's over a grid of orders, corners and rates; a
SciPy release that changes its arithmetic would show up there). Adapted from SciPy (BSD-3-Clause,
Copyright (c) 2001-2002 Enthought, Inc., 2003-2024 SciPy Developers).
"""

from __future__ import annotations

import math

import numpy as np


def butter_sos(order: int, corners_hz, btype: str, fs_hz: float) -> np.ndarray:
    """Digital Butterworth filter as second-order sections.

    Parameters
    ----------
    order : int
        Filter order (per edge for ``bandpass``), >= 1.
    corners_hz : float or pair of float
        Corner(s) in Hz, inside ``(0, fs_hz / 2)`` (validated by the caller).
    btype : {"lowpass", "highpass", "bandpass"}
    fs_hz : float
        Sampling rate, Hz.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_sections, 6)``; equal to ``scipy.signal.butter(order, corners_hz, btype,
        fs=fs_hz, output="sos")``.
    """
    wn = np.asarray(corners_hz, dtype=np.float64)
    wn = wn / (float(fs_hz) / 2)
    # buttap: the analog prototype's poles on the unit circle's left half.
    z = np.asarray([], dtype=np.float64)
    m = np.arange(-order + 1, order, 2, dtype=np.float64)
    p = -np.exp(1j * np.pi * m / (2 * order))
    k = 1.0
    fs = 2.0  # SciPy designs on the normalised rate, then pre-warps the corners
    warped = 2 * fs * np.tan(np.pi * wn / fs)
    if btype == "lowpass":
        wo = float(warped)
        degree = p.shape[0] - z.shape[0]
        z, p, k = wo * z, wo * p, k * wo**degree
    elif btype == "highpass":
        wo = float(warped)
        degree = p.shape[0] - z.shape[0]
        z_hp = np.concatenate((wo / z, np.zeros(degree)))
        k = k * np.real(np.prod(-z) / np.prod(-p))
        z, p = z_hp, wo / p
    elif btype == "bandpass":
        bw = float(warped[1] - warped[0])
        wo = float(np.sqrt(warped[0] * warped[1]))
        z, p = (np.asarray(v, dtype=np.result_type(z, p, 1.0)) for v in (z, p))
        degree = p.shape[0] - z.shape[0]
        z_lp = (z * bw / 2).astype(np.complex128)
        p_lp = (p * bw / 2).astype(np.complex128)
        z = np.concatenate((z_lp + np.sqrt(z_lp**2 - wo**2), z_lp - np.sqrt(z_lp**2 - wo**2)))
        p = np.concatenate((p_lp + np.sqrt(p_lp**2 - wo**2), p_lp - np.sqrt(p_lp**2 - wo**2)))
        z = np.concatenate((z, np.zeros(degree)))
        k = k * bw**degree
    else:
        raise ValueError(f"btype {btype!r}: expected lowpass, highpass or bandpass")
    return zpk2sos(*bilinear_zpk(z, p, k, fs))


def bilinear_zpk(z, p, k: float, fs_hz: float):
    """Analog zeros, poles and gain to digital by the bilinear transform.

    Parameters
    ----------
    z, p : array_like
        Analog zeros and poles (rad/s), no more zeros than poles.
    k : float
        Analog gain.
    fs_hz : float
        Sampling rate, Hz (no pre-warping here).

    Returns
    -------
    z, p : numpy.ndarray
        Digital zeros and poles.
    k : float
        Digital gain; the same bits as ``scipy.signal.bilinear_zpk``.
    """
    z = np.atleast_1d(np.asarray(z))
    p = np.atleast_1d(np.asarray(p))
    degree = p.shape[0] - z.shape[0]
    fs2 = 2.0 * fs_hz
    z_z = (fs2 + z) / (fs2 - z)
    p_z = (fs2 + p) / (fs2 - p)
    z_z = np.concatenate((z_z, -np.ones(degree)))
    k_z = k * np.real(np.prod(fs2 - z) / np.prod(fs2 - p))
    return z_z, p_z, k_z


def zpk2sos(z, p, k: float) -> np.ndarray:
    """Digital zeros, poles and gain to second-order sections.

    Parameters
    ----------
    z, p : array_like
        Digital zeros and poles (as many zeros as poles, conjugates paired).
    k : float
        Gain.

    Returns
    -------
    numpy.ndarray
        ``(n_sections, 6)``; ``scipy.signal.zpk2sos(z, p, k)`` (``"nearest"`` pairing).
    """
    return _zpk2sos(np.asarray(z), np.asarray(p), k)


def iirnotch_ba(f0_hz: float, q: float, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.iirnotch(f0_hz, q, fs=fs_hz)``: second-order notch ``(b, a)``."""
    w0 = 2 * float(f0_hz) / float(fs_hz)
    bw = w0 / float(q)
    bw = bw * math.pi
    w0 = w0 * math.pi
    beta = math.tan(bw / 2.0)  # -3 dB bandwidth: the gb terms of the textbook formula are 1
    gain = 1.0 / (1.0 + beta)
    b = gain * np.asarray([1.0, -2.0 * math.cos(w0), 1.0])
    a = np.asarray([1.0, -2.0 * gain * math.cos(w0), (2.0 * gain - 1.0)])
    return b, a


def group_delay_samples(b, a, freq_hz: float, fs_hz: float) -> float:
    """``scipy.signal.group_delay((b, a), w=[freq_hz], fs=fs_hz)[1][0]``, in samples (0 where
    the response is singular)."""
    b, a = map(np.atleast_1d, (b, a))
    w = np.atleast_1d(freq_hz)
    w = 2 * math.pi * w / float(fs_hz)
    c = np.convolve(b, np.conjugate(a[::-1]))
    cr = c * np.arange(c.size)
    z = np.exp(-1j * w)
    num = np.polyval(cr[::-1], z)
    den = np.polyval(c[::-1], z)
    gd = np.real(num / den) - a.size + 1
    gd[~np.isfinite(gd)] = 0
    return float(gd[0])


def sos_response(sos, freqs_hz, fs_hz: float) -> np.ndarray:
    """Complex frequency response of second-order sections at ``freqs_hz``.

    ``scipy.signal.sosfreqz(sos, worN=freqs_hz, fs=fs_hz)[1]``, bit for bit for two or more
    frequencies (for a single one NumPy's scalar path can differ in the last bit): each
    section's numerator and denominator by Horner's rule in ``exp(-jω)``, divided,
    multiplied over the sections in order.

    Parameters
    ----------
    sos : array_like
        ``(n_sections, 6)`` sections ``b0 b1 b2 a0 a1 a2``.
    freqs_hz : array_like
        Frequencies, Hz.
    fs_hz : float
        Sampling rate, Hz.

    Returns
    -------
    numpy.ndarray
        complex128, one value per frequency.
    """
    sos = np.atleast_2d(np.asarray(sos, dtype=np.float64))
    w = 2 * math.pi * np.atleast_1d(np.asarray(freqs_hz, dtype=np.float64)) / fs_hz
    zm1 = np.exp(-1j * w)
    h = 1.0
    for row in sos:
        h = h * (_horner(zm1, row[:3]) / _horner(zm1, row[3:]))
    return np.asarray(h, dtype=np.complex128)


def _horner(x, c):
    """``c[0] + c[1]·x + c[2]·x²`` as SciPy's ``npp_polyval`` evaluates it."""
    value = np.broadcast_to(np.asarray(c[-1], dtype=np.complex128), x.shape)
    for i in range(2, c.shape[0] + 1):
        value = c[-i] + value * x
    return value


def _cplxreal(z):
    # Complex-conjugate pairs (one of each, positive imaginary part) and the real values.
    z = np.atleast_1d(z)
    if z.size == 0:
        return z, z
    tol = 100 * np.finfo((1.0 * z).dtype).eps
    z = z[np.lexsort((abs(z.imag), z.real))]
    real_indices = abs(z.imag) <= tol * abs(z)
    zr = z[real_indices].real
    if len(zr) == len(z):
        return np.array([]), zr
    z = z[~real_indices]
    zp = z[z.imag > 0]
    zn = z[z.imag < 0]
    if len(zp) != len(zn):
        raise ValueError("complex value with no matching conjugate")
    same_real = np.diff(zp.real) <= tol * abs(zp[:-1])
    diffs = np.diff(np.concatenate(([0], same_real, [0])))
    run_starts = np.nonzero(diffs > 0)[0]
    run_stops = np.nonzero(diffs < 0)[0]
    for i in range(len(run_starts)):
        start = run_starts[i]
        stop = run_stops[i] + 1
        for chunk in (zp[start:stop], zn[start:stop]):
            chunk[...] = chunk[np.lexsort([abs(chunk.imag)])]
    if any(abs(zp - zn.conj()) > tol * abs(zn)):
        raise ValueError("complex value with no matching conjugate")
    zc = (zp + zn.conj()) / 2
    return zc, zr


def _poly(seq_of_zeros):
    seq_of_zeros = np.atleast_1d(np.asarray(seq_of_zeros))
    if seq_of_zeros.shape[0] == 0:
        return np.asarray(1.0, dtype=np.real(seq_of_zeros).dtype)
    a = np.ones((1,), dtype=seq_of_zeros.dtype)
    one = np.ones_like(seq_of_zeros[0])
    for zero in seq_of_zeros:
        a = np.convolve(a, np.stack((one, -zero)), mode="full")
    if np.iscomplexobj(a):
        roots = np.asarray(seq_of_zeros, dtype=np.complex128)
        if np.all(np.sort(np.imag(roots)) == np.sort(np.imag(np.conj(roots)))):
            a = np.asarray(np.real(a), copy=True)
    return a


def _zpk2tf(z, p, k):
    z, p = map(np.asarray, (z, p))
    k = np.asarray(k, dtype=np.result_type(np.real(z), np.real(p), k))
    if np.issubdtype(k.dtype, np.integer):
        k = k.astype(np.float64)
    z = np.atleast_1d(z)
    k = np.atleast_1d(k)
    b = np.multiply(k, _poly(z))
    a = np.atleast_1d(np.asarray(_poly(p)))
    return b, a


def _single_zpksos(z, p, k):
    sos = np.zeros(6)
    b, a = _zpk2tf(z, p, k)
    sos[3 - len(b):3] = b
    sos[6 - len(a):6] = a
    return sos


def _nearest_idx(fro, to, which):
    order = np.argsort(np.abs(fro - to))
    if which == "any":
        return order[0]
    mask = np.isreal(fro[order])
    if which == "complex":
        mask = ~mask
    return order[np.nonzero(mask)[0][0]]


def _idx_worst(p):
    # Digital: the pole closest to the unit circle.
    return np.argmin(np.abs(1 - np.abs(p)))


def _zpk2sos(z, p, k):
    # scipy.signal.zpk2sos(z, p, k) for a digital filter: pairing "nearest".
    z, p = map(np.asarray, (z, p))
    k = np.asarray(k)
    if len(z) == len(p) == 0:
        return np.asarray([[k, 0.0, 0.0, 1.0, 0.0, 0.0]])
    p = np.concatenate((p, np.zeros(max(len(z) - len(p), 0))))
    z = np.concatenate((z, np.zeros(max(len(p) - len(z), 0))))
    n_sections = (max(len(p), len(z)) + 1) // 2
    if len(p) % 2 == 1:
        p = np.concatenate((p, [0.0]))
        z = np.concatenate((z, [0.0]))
    z = np.concatenate(_cplxreal(z))
    p = np.concatenate(_cplxreal(p))
    if not np.isreal(k):
        raise ValueError("k must be real")
    k = k.real
    sos = np.zeros((n_sections, 6))
    # Built from the last section backwards, so the poles nearest the circle come last.
    for si in range(n_sections - 1, -1, -1):
        p1_idx = _idx_worst(p)
        p1 = p[p1_idx]
        p = np.delete(p, p1_idx)
        if np.isreal(p1) and np.isreal(p).sum() == 0:
            z1_idx = _nearest_idx(z, p1, "real")
            z1 = z[z1_idx]
            z = np.delete(z, z1_idx)
            sos[si] = _single_zpksos([z1, 0], [p1, 0], 1)
        elif (len(p) + 1 == len(z) and not np.isreal(p1)
              and np.isreal(p).sum() == 1 and np.isreal(z).sum() == 1):
            z1_idx = _nearest_idx(z, p1, "complex")
            z1 = z[z1_idx]
            z = np.delete(z, z1_idx)
            sos[si] = _single_zpksos([z1, z1.conj()], [p1, p1.conj()], 1)
        else:
            if np.isreal(p1):
                prealidx = np.flatnonzero(np.isreal(p))
                p2_idx = prealidx[_idx_worst(p[prealidx])]
                p2 = p[p2_idx]
                p = np.delete(p, p2_idx)
            else:
                p2 = p1.conj()
            if len(z) > 0:
                z1_idx = _nearest_idx(z, p1, "any")
                z1 = z[z1_idx]
                z = np.delete(z, z1_idx)
                if not np.isreal(z1):
                    sos[si] = _single_zpksos([z1, z1.conj()], [p1, p2], 1)
                elif len(z) > 0:
                    z2_idx = _nearest_idx(z, p1, "real")
                    z2 = z[z2_idx]
                    z = np.delete(z, z2_idx)
                    sos[si] = _single_zpksos([z1, z2], [p1, p2], 1)
                else:
                    sos[si] = _single_zpksos([z1], [p1, p2], 1)
            else:
                sos[si] = _single_zpksos([], [p1, p2], 1)
    sos[0][:3] *= k
    return sos
