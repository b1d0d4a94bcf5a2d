"""Compiled inner loops of the variance-change onset detector (:mod:`.onset_glr`).

Every piece of state lives in the arrays passed in (layouts below), so the Python class
can feed a stream in any block sizes and get the same events. Indices: ``_S_*`` float
state, ``_T_*`` integer state per channel; ``_P_*`` integer and ``_Q_*`` float parameters.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Float state per channel.
(_S_G, _S_GDN, _S_LEVEL, _S_ACC, _S_ACCC, _S_SIG2, _S_QUIET, _S_M2, _S_NU, _S_DEC,
 _S_RAWP) = range(11)
_S_NF = 11
# Integer state per channel.
(_T_READY, _T_ACTIVE, _T_PEND, _T_ALARM, _T_TAU, _T_TAUDN, _T_CNT, _T_LEARN, _T_LASTOFF,
 _T_NB, _T_QUIETN, _T_QUIETB, _T_FIRSTB, _T_START, _T_OFFDET, _T_PENDOFF, _T_OFFALARM,
 _T_QS, _T_ALTAU, _T_REJB, _T_REJTAU) = range(21)
_T_NI = 21
# Integer parameters.
(_P_D, _P_P, _P_LEARN, _P_SETTLE, _P_CONF, _P_BACK, _P_HB, _P_QUIET, _P_REST, _P_CONFOFF,
 _P_Q, _P_CONFFAST, _P_CONFCHG, _P_CHAIN, _P_HALVES, _P_REACH, _P_RISE) = range(17)
# Float parameters.
(_Q_A1, _Q_A0, _Q_HON, _Q_HOFF, _Q_CONF, _Q_CLIP, _Q_ALPHA, _Q_QUIET, _Q_FAST,
 _Q_HBACK) = range(10)


# The ramp model of :mod:`.onset_refine` (its docstring derives the likelihood). It lives
# here, beside the detector that calls it, because Numba caches a kernel against its own
# file only: compiled in from another file, an edit there would not reach the cached
# detector (tests/architecture/test_kernel_cache.py).
_LEVEL_GRID = np.array([0.7, 1.0, 1.5, 2.2, 3.3, 5.0])


@njit(cache=True, nogil=True)
def _shape(code, u):
    """Fraction of the plateau's power at ``u`` (0..1) into a rise of shape ``code``."""
    if code == 0:
        return u * u
    if code == 1:
        a = 0.5 - 0.5 * math.cos(math.pi * u)
        return a * a
    if code == 2:
        # a first-order rise reaching 99 % of its amplitude at u = 1 (five time constants)
        a = (1.0 - math.exp(-5.0 * u)) / (1.0 - math.exp(-5.0))
        return a * a
    return u


@njit(cache=True, nogil=True)
def refine_ramp_onset(hist, c, hb, lo, hi, level, shapes, ramps, d, post):
    """Posterior-median change block in ``[lo, hi]`` for a rise to about ``level`` x rest.

    Parameters
    ----------
    hist : ndarray (n_channels, hb)
        Ring of block sums of ``d`` squared whitened samples (rest: ``d`` on average);
        block ``j`` lives at ``hist[c, j % hb]``.
    c, hb : int
        Channel and ring length.
    lo, hi : int
        First and last block of the window (``hi`` the newest; ``hi - lo < hb``).
    level : float
        Power per sample since the alarm, x rest.
    shapes : ndarray of int64
        Rise-shape codes (:func:`.onset_refine.shape_codes`).
    ramps : ndarray of int64
        Rise lengths in blocks (0 = a step, scored once whatever the shapes).
    d : int
        Samples per block.
    post : ndarray (>= hi - lo + 1)
        Work space; holds the posterior over the change block (unnormalised) on return.

    Returns
    -------
    int
        The change block.
    """
    nb = hi - lo + 1
    if nb <= 1 or level <= 1.0:
        return hi
    # prefix sums of the window's block sums: the plateau's part of every score in O(1)
    cum = np.zeros(nb + 1)
    for i in range(nb):
        cum[i + 1] = cum[i] + hist[c, (lo + i) % hb]
    nr = ramps.shape[0]
    ns = shapes.shape[0]
    nl = _LEVEL_GRID.shape[0]
    nm = 0
    for ri in range(nr):
        nm += 1 if ramps[ri] == 0 else ns
    ll = np.full((nb, nm * nl), -1e300)
    best = -1e300
    m = 0
    for ri in range(nr):
        rl = ramps[ri]
        for si in range(ns if rl > 0 else 1):
            code = shapes[si]
            for li in range(nl):
                lv = level * _LEVEL_GRID[li]
                col = m * nl + li
                if lv <= 1.0:
                    continue
                a_pl = -0.5 * d * math.log(lv)
                b_pl = 0.5 * (1.0 - 1.0 / lv)
                # the rise's per-block terms do not depend on the start: computed once
                a_r = np.empty(max(rl, 1))
                b_r = np.empty(max(rl, 1))
                for u in range(rl):
                    v = 1.0 + (lv - 1.0) * _shape(code, (u + 0.5) / rl)
                    a_r[u] = -0.5 * d * math.log(v)
                    b_r[u] = 0.5 * (1.0 - 1.0 / v)
                for ti in range(nb):
                    s = 0.0
                    ne = min(rl, nb - ti)
                    for u in range(ne):
                        s += a_r[u] + b_r[u] * hist[c, (lo + ti + u) % hb]
                    k0 = ti + rl
                    if k0 < nb:
                        s += (nb - k0) * a_pl + b_pl * (cum[nb] - cum[k0])
                    ll[ti, col] = s
                    if s > best:
                        best = s
            m += 1
    total = 0.0
    for ti in range(nb):
        acc = 0.0
        for col in range(nm * nl):
            if ll[ti, col] > -1e299:
                acc += math.exp(ll[ti, col] - best)
        post[ti] = acc
        total += acc
    half = 0.5 * total
    run = 0.0
    for ti in range(nb):
        run += post[ti]
        if run >= half:
            return lo + ti
    return hi


@njit(cache=True, nogil=True)
def _reach_back(hist, c, hb, a0, lim, a1, a0c, w, h_back):
    """First block of the stretch before ``a0`` that still reads as burst (backward CUSUM).

    The onset CUSUM's own per-block evidence, ``w·(a1·y − a0c)`` for "burst" against
    "rest", is summed backwards from the alarm with the sign turned (evidence for rest),
    kept at or above zero; the stretch is over when ``h_back`` nats of rest have been
    seen. Returns the earliest block at which the sum was zero (the maximum-likelihood
    start of the burst seen from the alarm), never before ``lim``.
    """
    s = 0.0
    zero = a0
    j = a0
    while j >= lim:
        s -= w * (a1 * hist[c, j % hb] - a0c)
        if s <= 0.0:
            s = 0.0
            zero = j
        elif s > h_back:
            break
        j -= 1
    return zero


@njit(cache=True, nogil=True)
def _levinson(r, p, a):
    """AR coefficients ``a`` (x[n] ≈ Σ a[k]·x[n-1-k]) from autocorrelation; returns error."""
    err = r[0]
    tmp = np.zeros(p)
    for i in range(p):
        acc = r[i + 1]
        for j in range(i):
            acc -= a[j] * r[i - j]
        k = acc / err if err > 0 else 0.0
        for j in range(i):
            tmp[j] = a[j] - k * a[i - 1 - j]
        for j in range(i):
            a[j] = tmp[j]
        a[i] = k
        err *= (1.0 - k * k)
    return err


@njit(cache=True, nogil=True)
def _floor_rest(fseq, p, a, out):
    """Raise the rest model's powers ``out[0]`` (prediction error) and ``out[2]`` (raw) to
    those of the rest floor ``fseq`` through the whitening ``a``: the loudest flicker of a
    rest below one ADC step, decimated (:func:`~emgfeedback.analysis.quantities.
    onset_floor_signal`; empty: no floor)."""
    m = fseq.shape[0]
    if m <= p:
        return
    acc = 0.0
    raw = 0.0
    for i in range(p, m):
        pred = 0.0
        for j in range(p):
            pred += a[j] * fseq[i - 1 - j]
        e = fseq[i] - pred
        acc += e * e
        raw += fseq[i] * fseq[i]
    out[0] = max(out[0], acc / (m - p))
    out[2] = max(out[2], raw / (m - p))


@njit(cache=True, nogil=True)
def _fit_rest(buf, n, p, a, d, out, fseq):
    """Fit the rest model to ``buf[:n]``: whitening ``a``; ``out`` = (power, block dof, raw
    power), the powers at least those of the rest floor ``fseq`` (:func:`_floor_rest`)."""
    mean = 0.0
    for i in range(n):
        mean += buf[i]
    mean /= n
    # The whitening model comes from the quietest quarters of the window only: a burst in
    # it would dominate the autocorrelation and be whitened away (a narrow-band EMG is very
    # predictable), hiding the very activity the detector is for.
    nq = 4
    qlen = n // nq
    qpow = np.zeros(nq)
    for q in range(nq):
        acc = 0.0
        for i in range(q * qlen, (q + 1) * qlen):
            acc += (buf[i] - mean) ** 2
        qpow[q] = acc / max(qlen, 1)
    floor = qpow.min()
    r = np.zeros(p + 1)
    used = 0
    for q in range(nq):
        if qpow[q] > 2.0 * floor:
            continue
        used += qlen
        for lag in range(p + 1):
            acc = 0.0
            for i in range(q * qlen + lag, (q + 1) * qlen):
                acc += (buf[i] - mean) * (buf[i - lag] - mean)
            r[lag] += acc
    for lag in range(p + 1):
        r[lag] /= max(used, 1)
    out[2] = r[0]
    if r[0] <= 0.0:
        for k in range(p):
            a[k] = 0.0
        out[0] = 1e-12
        out[1] = float(d)
        out[2] = 1e-12
        _floor_rest(fseq, p, a, out)
        return
    if p > 0:
        _levinson(r, p, a)
    # The rest power from the median squared prediction error (÷ 0.4549, the median of a
    # χ²₁ variable): a few heartbeats or spikes in the rest must not inflate it.
    e2 = np.empty(n - p)
    for i in range(p, n):
        pred = 0.0
        for j in range(p):
            pred += a[j] * (buf[i - 1 - j] - mean)
        e = (buf[i] - mean) - pred
        e2[i - p] = e * e
    sig2 = max(np.median(e2) / 0.4549, 1e-12 * r[0])
    # ... but the median of a χ²₁ sample is a poor estimate: its spread is 1.65 x that of
    # the mean (2.75 s at 500 Hz: ±6 %, and 10-15 % off in a few recordings of the tuning
    # family, which makes rest read as 1.15 x itself and the onsets of weak bursts land
    # in it). The mean over the ~40 ms windows not far above that level keeps the
    # robustness (a heartbeat or a spike lifts its window far above) at the mean's spread.
    # Two passes: the second drops the windows of a transient's filter ringing too, far
    # enough above the first pass's mean though not above the median's 3 x.
    wl = 10 * d
    nw = (n - p) // wl
    if nw >= 4:
        for limit in (3.0, 2.5):
            acc = 0.0
            cnt = 0
            for w in range(nw):
                sw = 0.0
                for i in range(w * wl, (w + 1) * wl):
                    sw += e2[i]
                if sw < limit * sig2 * wl:
                    acc += sw
                    cnt += wl
            if 2 * cnt < nw * wl:
                break
            sig2 = max(acc / cnt, 1e-12 * r[0])
    # Degrees of freedom of a block sum at rest: d if the samples were independent, fewer
    # when they are correlated (no whitening, or a model that does not whiten fully).
    nb = (n - p) // d
    nu = float(d)
    if nb >= 8:
        m = np.empty(nb)
        for b in range(nb):
            acc = 0.0
            for j in range(d):
                acc += e2[b * d + j]
            m[b] = acc / (d * sig2)
        med = np.median(m)
        mad = np.median(np.abs(m - med)) * 1.4826
        if mad > 0:
            nu = min(float(d), max(1.0, 2.0 / (mad * mad)))
    out[0] = sig2
    out[1] = nu
    _floor_rest(fseq, p, a, out)


@njit(cache=True, nogil=True)
def _active_start(buf, n, p, a, sig2, q, out):
    """Did the learning window begin mid-contraction? ``out`` = (level, end sample or -1).

    The first ``q`` samples' whitened power against the rest power fitted robustly to the
    whole window; when it is far above rest, the end of that activity is the maximum-
    likelihood step down within the window (-1: it has not ended).
    """
    mean = 0.0
    for i in range(n):
        mean += buf[i]
    mean /= n
    y = np.zeros(n)
    for i in range(p, n):
        pred = 0.0
        for j in range(p):
            pred += a[j] * (buf[i - 1 - j] - mean)
        e = (buf[i] - mean) - pred
        y[i] = e * e / sig2
    head = 0.0
    for i in range(p, min(p + q, n)):
        head += y[i]
    level = head / max(min(q, n - p), 1)
    out[0] = level
    out[1] = -1.0
    if level < 2.5:
        return
    best = -1e300
    best_t = -1
    total = 0.0
    for i in range(p, n):
        total += y[i]
    margin = max(q // 2, 1)
    run = 0.0
    for i in range(p, p + margin - 1):
        run += y[i]
    for t in range(p + margin, n - margin):
        run += y[t - 1]
        n1 = t - p
        n2 = n - t
        m1 = max(run / n1, 1e-12)
        m2 = max((total - run) / n2, 1e-12)
        ll = -0.5 * n1 * math.log(m1) - 0.5 * n2 * math.log(m2)
        if ll > best:
            best = ll
            best_t = t
    if best_t > 0:
        rest = 0.0
        for i in range(best_t, n):
            rest += y[i]
        if rest / (n - best_t) < math.sqrt(level):
            out[1] = best_t


@njit(cache=True, nogil=True)
def _glr_kernel(x, first_index, ip, fp, ramps, shapes, floor, floor_p, ar, xh, learn, hist,
                fs, ts, ev_ch, ev_kind, ev_idx, ev_det, ev_unk):
    n, nch = x.shape
    d = ip[_P_D]      # decimated samples per block
    q = ip[_P_Q]      # decimation factor
    bs = d * q        # input samples per block
    p = ip[_P_P]
    hb = ip[_P_HB]
    post = np.empty(hb)
    k = 0
    for i in range(n):
        idx = first_index + i
        for c in range(nch):
            if ts[c, _T_START] < 0:
                ts[c, _T_START] = idx
            # pairs (or q-tuples) of samples averaged: at 2 kHz the band ends at 450 Hz, and
            # the empty top of the spectrum would otherwise dominate the whitened signal
            fs[c, _S_DEC] += x[i, c]
            if (idx + 1) % q != 0:
                continue
            v = fs[c, _S_DEC] / q
            fs[c, _S_DEC] = 0.0
            if ts[c, _T_READY] == 0:
                if idx - ts[c, _T_START] >= ip[_P_SETTLE]:
                    m = ts[c, _T_LEARN]
                    learn[c, m] = v
                    ts[c, _T_LEARN] = m + 1
                    if m + 1 >= ip[_P_LEARN]:
                        res = np.empty(3)
                        _fit_rest(learn[c], m + 1, p, ar[c], d, res, floor[c])
                        fs[c, _S_SIG2] = res[0]
                        fs[c, _S_NU] = res[1]
                        fs[c, _S_RAWP] = res[2]
                        ts[c, _T_READY] = 1
                        ts[c, _T_FIRSTB] = (idx + 1) // bs + 1
                        ts[c, _T_QUIETB] = ts[c, _T_FIRSTB]
                        # a stream that begins during a contraction: active at once, onset
                        # unknown; its end, if already in the window, placed there
                        act = np.empty(2)
                        _active_start(learn[c], m + 1, p, ar[c], res[0],
                                      ip[_P_QUIET] * d // 2, act)
                        if act[0] >= 2.5:
                            ev_ch[k] = c
                            ev_kind[k] = 1
                            ev_idx[k] = ts[c, _T_START]
                            ev_det[k] = idx
                            ev_unk[k] = 1
                            k += 1
                            ts[c, _T_LASTOFF] = -2
                            if act[1] >= 0:
                                off_i = idx - (m - int(act[1])) * q
                                # the rest model fitted to a window mostly burst is far
                                # too loud: refit it on the rest after the burst (50 ms
                                # on, past the fall), when there is enough of it
                                st = int(act[1]) + ip[_P_QUIET] * d // 10
                                if m + 1 - st >= 4 * p + 8 * d:
                                    _fit_rest(learn[c][st:], m + 1 - st, p, ar[c], d, res,
                                              floor[c])
                                    fs[c, _S_SIG2] = res[0]
                                    fs[c, _S_NU] = res[1]
                                    fs[c, _S_RAWP] = res[2]
                                ev_ch[k] = c
                                ev_kind[k] = 0
                                ev_idx[k] = off_i
                                ev_det[k] = idx
                                ev_unk[k] = 0
                                k += 1
                                ts[c, _T_LASTOFF] = off_i // bs
                                ts[c, _T_OFFDET] = (idx + 1) // bs
                            else:
                                ts[c, _T_ACTIVE] = 1
                                fs[c, _S_LEVEL] = act[0]
                                fs[c, _S_M2] = act[0] * act[0] * (1.0 + 4.0 / d)
                                ts[c, _T_TAUDN] = ts[c, _T_FIRSTB]
                for j in range(p - 1, 0, -1):
                    xh[c, j] = xh[c, j - 1]
                if p > 0:
                    xh[c, 0] = v
                continue
            pred = 0.0
            for j in range(p):
                pred += ar[c, j] * xh[c, j]
            for j in range(p - 1, 0, -1):
                xh[c, j] = xh[c, j - 1]
            if p > 0:
                xh[c, 0] = v
            e = v - pred
            if ts[c, _T_LASTOFF] == -1 and ts[c, _T_ACTIVE] == 0 and ts[c, _T_PEND] == 0:
                # keep the raw samples of the current half second: if it proves far quieter
                # than the "rest" learned at the start, the rest model is refitted on it
                qs = ts[c, _T_QS]
                if qs < learn.shape[1]:
                    learn[c, qs] = v
                    ts[c, _T_QS] = qs + 1
                fs[c, _S_QUIET] += v * v
            y = e * e / fs[c, _S_SIG2]
            fs[c, _S_ACC] += y
            fs[c, _S_ACCC] += min(y, fp[_Q_CLIP])
            ts[c, _T_CNT] += 1
            if (idx + 1) % bs != 0:
                continue
            # ---------------------------------------------------------- one whole block
            b = (idx + 1) // bs - 1
            full = ts[c, _T_CNT] == d
            yb = fs[c, _S_ACC]
            yc = fs[c, _S_ACCC]
            fs[c, _S_ACC] = 0.0
            fs[c, _S_ACCC] = 0.0
            ts[c, _T_CNT] = 0
            if not full or b < ts[c, _T_FIRSTB]:
                continue
            hist[c, b % hb] = yb
            ts[c, _T_NB] += 1
            # mid-contraction start: a quiet half second far below the learned rest (raw
            # power: the whitening was fitted to the activity and means nothing at rest)
            if ts[c, _T_LASTOFF] == -1 and ts[c, _T_ACTIVE] == 0 and ts[c, _T_PEND] == 0:
                ts[c, _T_QUIETN] += 1
                if ts[c, _T_QUIETN] >= ip[_P_QUIET]:
                    nq = ts[c, _T_QS]
                    # (a stretch below the rest floor is not quieter than it)
                    mean_q = max(fs[c, _S_QUIET] / max(nq, 1), floor_p[c]) / fs[c, _S_RAWP]
                    if mean_q < fp[_Q_QUIET] and nq > 4 * p + 8 * d:
                        ev_ch[k] = c
                        ev_kind[k] = 1
                        ev_idx[k] = ts[c, _T_START]
                        ev_det[k] = idx
                        ev_unk[k] = 1
                        k += 1
                        ev_ch[k] = c
                        ev_kind[k] = 0
                        ev_idx[k] = ts[c, _T_QUIETB] * bs
                        ev_det[k] = idx
                        ev_unk[k] = 0
                        k += 1
                        res = np.empty(3)
                        _fit_rest(learn[c], nq, p, ar[c], d, res, floor[c])
                        fs[c, _S_SIG2] = res[0]
                        fs[c, _S_NU] = res[1]
                        fs[c, _S_RAWP] = res[2]
                        fs[c, _S_G] = 0.0
                        ts[c, _T_LASTOFF] = ts[c, _T_QUIETB]
                        ts[c, _T_OFFDET] = b
                        ts[c, _T_TAU] = b + 1
                        continue
                    fs[c, _S_QUIET] = 0.0
                    ts[c, _T_QUIETN] = 0
                    ts[c, _T_QS] = 0
                    ts[c, _T_QUIETB] = b + 1
            if ts[c, _T_ACTIVE] == 0:
                if ts[c, _T_LASTOFF] >= 0 and b < ts[c, _T_OFFDET] + ip[_P_REST]:
                    ts[c, _T_TAU] = b + 1
                    continue
                g = fs[c, _S_G] + fs[c, _S_NU] / d * (fp[_Q_A1] * yc - fp[_Q_A0])
                if g <= 0.0:
                    g = 0.0
                    ts[c, _T_TAU] = b + 1
                fs[c, _S_G] = g
                if ts[c, _T_PEND] == 0 and g > fp[_Q_HON]:
                    ts[c, _T_PEND] = 1
                    ts[c, _T_ALARM] = b
                    ts[c, _T_ALTAU] = ts[c, _T_TAU]
                decide = False
                level = 0.0
                if ts[c, _T_PEND] == 1 and b - ts[c, _T_ALARM] >= ip[_P_CONFFAST]:
                    a0 = ts[c, _T_ALARM]
                    tot = 0.0
                    for j in range(a0 + 1, b + 1):
                        tot += hist[c, j % hb]
                    level = tot / ((b - a0) * d)
                    need = ip[_P_CONF]
                    # The short paths below only for a burst still rising or holding: the
                    # power since the alarm at least that between the CUSUM's change point
                    # and the alarm (a QRS or a spike is dying out by then).
                    t0 = max(ts[c, _T_ALTAU], a0 - ip[_P_CONF] + 1)
                    pre = 0.0
                    for j in range(t0, a0 + 1):
                        pre += hist[c, j % hb]
                    pre /= (a0 + 1 - t0) * d
                    if level >= pre:
                        # persistence counted from the change point, not the alarm: a slow
                        # rise has already lasted that long when the alarm comes. Only at
                        # the power the CUSUM is designed for (a slow random excursion of
                        # rest that just crossed the threshold rarely holds twice rest).
                        k_design = 1.0 / (1.0 - 2.0 * fp[_Q_A1])
                        if ip[_P_CONFCHG] != 0 and level >= k_design:
                            need = max(ip[_P_CONFFAST], need - (a0 - ts[c, _T_ALTAU]))
                        if level >= fp[_Q_FAST]:
                            # two stages: a burst far above rest confirmed after the short one
                            need = ip[_P_CONFFAST]
                    # an early decision only confirms; a rejection waits the full window
                    decide = b - a0 >= ip[_P_CONF] or (b - a0 >= need
                                                       and level >= fp[_Q_CONF])
                if decide:
                    a0 = ts[c, _T_ALARM]
                    ts[c, _T_PEND] = 0
                    ok = level >= fp[_Q_CONF]
                    if ok and ip[_P_HALVES] != 0 and b - a0 >= ip[_P_CONF]:
                        # the burst must hold in the window's second half too: a QRS
                        # complex or a spike raises the alarm and has died out by then
                        # (the opt-in short paths keep their own test, ``level >= pre``)
                        h0 = a0 + (b - a0) // 2 + 1
                        late = 0.0
                        for j in range(h0, b + 1):
                            late += hist[c, j % hb]
                        ok = late / ((b + 1 - h0) * d) >= fp[_Q_CONF]
                    if ok:
                        first = a0
                        if (ip[_P_CHAIN] > 0 and ts[c, _T_REJB] >= 0
                                and a0 - ts[c, _T_REJB] <= ip[_P_BACK]):
                            # alarms rejected just before (a slow or weak burst dipping
                            # under the confirmation level): the burst may have begun
                            # before the first of them, so the window reaches back from there
                            first = max(ts[c, _T_REJTAU], a0 - ip[_P_CHAIN])
                        lo = max(min(a0, first) - ip[_P_BACK], ts[c, _T_FIRSTB],
                                 ts[c, _T_LASTOFF] + 1, b - hb + 1)
                        if ip[_P_REACH] > 0:
                            # a weak burst is confirmed long after it began (the CUSUM
                            # drifts up slowly and resets): reach back as far as the
                            # blocks before the alarm still read as burst, plus room for
                            # the longest rise before that
                            # (never into the previous burst's fall: not before the
                            # rest time after its offset that no alarm is sought in either)
                            lim = max(a0 - ip[_P_REACH], ts[c, _T_FIRSTB],
                                      ts[c, _T_LASTOFF] + ip[_P_REST] + 1, b - hb + 1)
                            z = _reach_back(hist, c, hb, a0, lim, fp[_Q_A1], fp[_Q_A0],
                                            fs[c, _S_NU] / d, fp[_Q_HBACK])
                            lo = min(lo, max(z - ip[_P_RISE], lim))
                        lo = min(lo, a0)
                        onset_b = refine_ramp_onset(hist, c, hb, lo, b, level, shapes, ramps, d,
                                                    post)
                        onset_b = min(onset_b, a0)
                        ev_ch[k] = c
                        ev_kind[k] = 1
                        ev_idx[k] = onset_b * bs
                        ev_det[k] = idx
                        ev_unk[k] = 0
                        if onset_b <= ts[c, _T_FIRSTB] and ts[c, _T_LASTOFF] < 0:
                            # already active when the stream (or the rest model) began
                            ev_idx[k] = ts[c, _T_START]
                            ev_unk[k] = 1
                        k += 1
                        ts[c, _T_ACTIVE] = 1
                        ts[c, _T_PENDOFF] = 0
                        fs[c, _S_LEVEL] = level
                        fs[c, _S_M2] = level * level * (1.0 + 4.0 / d)
                        fs[c, _S_GDN] = 0.0
                        ts[c, _T_TAUDN] = b + 1
                        ts[c, _T_REJB] = -1
                    else:
                        # a rejected alarm: remember where the chain of recent ones began
                        if ts[c, _T_REJB] < 0 or a0 - ts[c, _T_REJB] > ip[_P_BACK]:
                            ts[c, _T_REJTAU] = ts[c, _T_ALTAU]
                        ts[c, _T_REJB] = b
                    fs[c, _S_G] = 0.0
                    ts[c, _T_TAU] = b + 1
            else:
                lev = max(fs[c, _S_LEVEL], 1.0 + 1e-6)
                # A burst's block sums vary more than independent samples would (EMG is
                # not white after the rest's whitening): its effective degrees of freedom,
                # from the burst's own spread, keep the test from over-trusting one block.
                var = fs[c, _S_M2] - lev * lev
                nu = d if var <= 0.0 else min(float(d), max(1.0, 2.0 * lev * lev / var))
                s = 0.5 * nu * (math.log(lev) - (1.0 - 1.0 / lev) * yc / d)
                gd = fs[c, _S_GDN] + s
                if gd <= 0.0:
                    gd = 0.0
                    ts[c, _T_TAUDN] = b + 1
                fs[c, _S_GDN] = gd
                if gd == 0.0:
                    # the level follows the burst, but not a fall the offset test is weighing
                    ym = yb / d
                    fs[c, _S_LEVEL] = lev + fp[_Q_ALPHA] * (ym - lev)
                    fs[c, _S_M2] += fp[_Q_ALPHA] * (ym * ym - fs[c, _S_M2])
                if ts[c, _T_PENDOFF] == 0 and gd > fp[_Q_HOFF]:
                    ts[c, _T_PENDOFF] = 1
                    ts[c, _T_OFFALARM] = b
                quiet = False
                if ts[c, _T_PENDOFF] == 1 and b - ts[c, _T_OFFALARM] >= ip[_P_CONFOFF]:
                    # confirm like an onset: the power since the alarm must have stayed
                    # nearer rest than the burst (geometric midpoint), else keep the burst
                    a0 = ts[c, _T_OFFALARM]
                    tot = 0.0
                    for j in range(a0 + 1, b + 1):
                        tot += hist[c, j % hb]
                    ts[c, _T_PENDOFF] = 0
                    if tot / ((b - a0) * d) < math.sqrt(lev):
                        quiet = True
                    else:
                        fs[c, _S_GDN] = 0.0
                        ts[c, _T_TAUDN] = b + 1
                if quiet:
                    off_b = ts[c, _T_TAUDN]
                    ev_ch[k] = c
                    ev_kind[k] = 0
                    ev_idx[k] = off_b * bs
                    ev_det[k] = idx
                    ev_unk[k] = 0
                    k += 1
                    ts[c, _T_ACTIVE] = 0
                    ts[c, _T_LASTOFF] = off_b
                    ts[c, _T_OFFDET] = b
                    fs[c, _S_G] = 0.0
                    ts[c, _T_TAU] = b + 1
    return k
