"""Compiled inner loops of the streaming onset detector (:mod:`.onset`).

Every piece of state lives in the arrays passed in (layouts below), so
:class:`~emgfeedback.analysis.onset.OnsetDetector` can feed a stream in any block sizes
and get the same events. Indices: ``_F_*`` float state and ``_I_*`` integer state per
channel; ``_P_*`` integer and ``_Q_*`` float parameters. The method (conditioning,
detection envelope, double threshold with hysteresis, change-point and rise-fit
backdating) is described in :mod:`emgfeedback.analysis.onset`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Per-channel float state slots.
(_F_SUM, _F_MU, _F_SD, _F_WMEAN, _F_WM2, _F_P0, _F_P0ACC, _F_LEVEL, _F_X1, _F_X2, _F_QM,
 _F_QM2, _F_QP, _F_HEADP) = range(14)
_F_NF = 14
# Per-channel integer state slots. Mid-contraction starts: _I_START is the stream's first
# index, _I_GIVEN a baseline set before any sample, _I_EVAL0 the first sample compared with
# the thresholds (+1; 0: none yet), _I_HEADACT an unbroken run above the onset threshold
# since then, _I_ANYEV any event emitted, _I_PROV a learned baseline still provisional
# (watched for a much quieter stretch), _I_QRUN that stretch's length, _I_QN its samples
# in the new baseline, _I_SKIP no learning before this index, _I_HEADDONE the start of
# the stream has been judged.
(_I_POS, _I_SEEN, _I_LEARN, _I_ACTIVE, _I_RUN, _I_LASTEVT, _I_DOWN, _I_LEVELN, _I_READY,
 _I_HPOS, _I_ONSET, _I_PEND, _I_PENDLO, _I_ARMED, _I_START, _I_GIVEN, _I_EVAL0, _I_HEADACT,
 _I_ANYEV, _I_PROV, _I_QRUN, _I_QN, _I_SKIP, _I_HEADDONE) = range(24)
_I_NI = 24

# Integer parameters.
(_P_W, _P_MINON, _P_MINOFF, _P_LEARN, _P_MAXBACK, _P_TKEO, _P_HLEN, _P_SETTLE, _P_SMOOTH,
 _P_MARGIN, _P_REFINE, _P_QUIET) = range(12)
# Float parameters.
_Q_ON, _Q_OFF, _Q_OFFFRAC, _Q_MINSD, _Q_TEMP, _Q_QUIET = range(6)


@njit(cache=True, nogil=True)
def _hist_at(hist, c, hpos, hlen, back):
    """History value ``back`` samples before the newest (0 = newest)."""
    j = hpos - 1 - back
    while j < 0:
        j += hlen
    return hist[c, j]


@njit(cache=True, nogil=True)
def _change_point(hist, c, hpos, hlen, idx, first, last, p_before, p_after):
    """Most likely sample where the conditioned signal's mean changes from ``p_before`` to
    ``p_after``, searched over absolute indices ``first..last`` (both ≤ ``idx``, within
    the history).

    The log-likelihood ratio of a zero-mean Gaussian sample of power ``p_after`` against
    ``p_before`` is ``0.5·log(p_before/p_after) + 0.5·v·(1/p_before − 1/p_after)`` for a
    conditioned value ``v``; the change point maximises the summed ratio from it to ``last``.
    """
    a = 0.5 * math.log(p_before / p_after)
    b = 0.5 * (1.0 / p_before - 1.0 / p_after)
    s = 0.0
    best_s = -1e300
    best = last + 1
    for j in range(last, first - 1, -1):
        s += a + b * _hist_at(hist, c, hpos, hlen, idx - j)
        if s > best_s:
            best_s = s
            best = j
    return best


@njit(cache=True, nogil=True)
def rise_profiles(ramps, sm):
    """Per rise length ``r`` in ``ramps``, the raised-cosine rise's ``s²`` smoothed by the
    centred ``sm``-sample moving mean, at ``d = j − t`` from ``sm//2 − sm + 1`` on (0 before
    the rise, 1 after it): row ``ri``, its first ``r + sm`` values, what :func:`_fit_rise`
    models every candidate start with (the same operations as when it computed them
    itself for every onset, ~20 % of its time)."""
    half = sm // 2
    tab = np.zeros((max(ramps.size, 1), (ramps[-1] if ramps.size else 0) + sm))
    for ri in range(ramps.size):
        r = ramps[ri]
        dlo = half - sm + 1
        width = r + half + 1 - dlo
        prof = np.zeros(width + sm + 1)  # prefix sums of s² over k = dlo - half + m
        for m in range(width + sm):
            k = dlo - half + m
            if k < 0:
                s2 = 0.0
            elif k >= r:
                s2 = 1.0
            else:
                s = 0.5 * (1.0 - math.cos(math.pi * (k + 0.5) / r))
                s2 = s * s
            prof[m + 1] = prof[m] + s2
        for m in range(width):
            tab[ri, m] = (prof[m + sm] - prof[m]) / sm
    return tab


@njit(cache=True, nogil=True)
def _fit_rise(hist, c, hpos, hlen, idx, lo, hi, c0, p0, ramps, margin, sm, temp, smtab,
              p_floor):
    """Refine a step change point ``c0`` into the start of a raised-cosine amplitude rise.

    Least squares between the logarithm of the conditioned signal and of the model
    ``p0 + (p1 − p0)·s(t)²`` (``s`` rising from 0 to 1 over ``r`` samples from ``t``),
    both smoothed by a centred ``sm``-sample moving mean. ``p0`` is the power just before
    the burst when at least ``8·sm`` samples of it are in the history (else the rest
    power from the baseline; either at least ``p_floor``), ``p1`` the power well
    after ``c0``. Log-domain least
    squares on smoothed power is far less noisy than a sample-by-sample likelihood on
    correlated EMG samples. Tried: every rise length in ``ramps`` and every start in
    ``[c0 − r − margin, c0 + margin]``. The smoothed model of one rise length is the same
    curve shifted, so it is tabulated once and each candidate costs O(r + sm); the
    smoothed ``s²`` of every rise length depends on nothing else and comes in ``smtab``
    (:func:`rise_profiles`, computed once per detector).

    The rise length is a nuisance: a long rise starting early and a short one starting
    later fit almost equally well, because the first part of a smooth rise carries little
    power. So the squared error ``E`` of every candidate becomes a likelihood
    ``exp(−E/temp)`` (``temp`` in the same units as ``E``: it absorbs the variance of the
    log power and the correlation of neighbouring smoothed values), the rise lengths are
    summed out (equal prior weight per length in ``ramps``) and the onset is the median
    of that posterior over the start: the estimate with the least expected absolute error.
    ``temp <= 0`` returns the joint least-squares fit.
    """
    n = hi - lo + 1
    if n < 8 * sm + 8:
        return c0
    csum = np.empty(n + 1)
    csum[0] = 0.0
    for k in range(n):
        csum[k + 1] = csum[k] + _hist_at(hist, c, hpos, hlen, idx - (lo + k))
    rmax = ramps[-1]
    pre = c0 - rmax - margin - lo
    if pre >= 8 * sm:
        p0 = max(csum[pre] / pre, p_floor)
    a1 = min(c0 + rmax // 2 - lo, n - 4 * sm)
    p1 = (csum[n] - csum[a1]) / (n - a1)
    if p1 <= p0 * 1.0001:
        return c0
    half = sm // 2
    j0 = half
    j1 = n - sm + half  # centred windows [j - half, j - half + sm) inside the data
    lp0 = math.log(p0)
    lp1 = math.log(p1)
    # Prefix sums of the squared log-residuals against the flat parts of the model.
    q0 = np.zeros(n + 1)
    q1 = np.zeros(n + 1)
    logv = np.zeros(n)
    for j in range(j0, j1):
        lv = math.log(max((csum[j - half + sm] - csum[j - half]) / sm, 1e-30))
        logv[j] = lv
        q0[j + 1] = q0[j] + (lv - lp0) * (lv - lp0)
        q1[j + 1] = q1[j] + (lv - lp1) * (lv - lp1)
    for j in range(j1, n):
        q0[j + 1] = q0[j]
        q1[j + 1] = q1[j]
    # Every (rise length, start) candidate's error is kept: the onset is the median of the
    # posterior over the start, with the rise length marginalised out.
    t_base = c0 - ramps[-1] - margin
    n_t = ramps[-1] + 2 * margin + 1
    errs = np.full((ramps.size, n_t), 1e300)
    errk = np.empty(n_t)  # one rise length's errors, per start
    best_err = 1e300
    best = c0
    for ri in range(ramps.size):
        r = ramps[ri]
        # Smoothed model as a function of d = j − t, for d in [dlo, dhi); 0 before, 1 after.
        dlo = half - sm + 1
        dhi = r + half + 1
        width = dhi - dlo
        lmodel = np.empty(width)
        for m in range(width):
            lmodel[m] = math.log(p0 + (p1 - p0) * smtab[ri, m])
        t_lo = max(c0 - r - margin, lo + sm)
        t_hi = min(c0 + margin, hi - r - 2 * sm)
        nt = t_hi - t_lo + 1
        if nt <= 0:
            continue
        # A start t's error: the flat parts from the prefix sums, then the squared
        # residuals of its rise window in order of m (samples j = t - lo + dlo + m),
        # only where j is inside the data [j0, j1). The loops are interchanged (m outer,
        # every start inner): each start's sum still adds its terms in the same order
        # (bit-identical to one start at a time), and the inner loop over starts is a
        # vector loop (it took ~0.3 ms per onset at 2 kHz start by start, 4 side by side).
        for k in range(nt):
            tt = t_lo + k - lo
            a = min(max(tt + dlo, j0), j1)
            b = min(max(tt + dhi, j0), j1)
            errk[k] = (q0[a] - q0[j0]) + (q1[j1] - q1[b])
        base0 = t_lo - lo + dlo  # j of start k and residual m: base0 + m + k
        for m in range(width):
            lm = lmodel[m]
            j_a = max(j0, base0 + m)
            j_b = min(j1, base0 + m + nt)
            if j_b <= j_a:
                continue
            # views from 0: indices known >= 0, so the loop is vectorised
            lv = logv[j_a:j_b]
            ek = errk[j_a - base0 - m: j_b - base0 - m]
            for k in range(lv.shape[0]):
                d = lv[k] - lm
                ek[k] += d * d
        for k in range(nt):
            err = errk[k]
            errs[ri, t_lo + k - t_base] = err
            if err < best_err:
                best_err = err
                best = t_lo + k
    if temp <= 0.0:
        return best
    marg = np.zeros(n_t)
    for ri in range(ramps.size):
        for k in range(n_t):
            if errs[ri, k] < 1e299:
                x = -(errs[ri, k] - best_err) / temp
                # exp(x) is +0.0 below about -745.1 (adding it changes nothing): skipped
                # (NaN is not: it still makes the sum NaN, as before)
                if not x <= -746.0:
                    marg[k] += math.exp(x)
    total = marg.sum()
    if not total > 0.0:
        return best
    acc = 0.0
    for k in range(n_t):
        acc += marg[k]
        if acc >= 0.5 * total:
            return t_base + k
    return best


@njit(cache=True, nogil=True)
def _mean_hist(hist, c, hpos, hlen, idx, first, last):
    acc = 0.0
    for j in range(first, last + 1):
        acc += _hist_at(hist, c, hpos, hlen, idx - j)
    return acc / max(last - first + 1, 1)


@njit(cache=True, nogil=True)
def _head_end(buf, n, w, quiet_ratio, p_floor):
    """Did the learning window begin during a contraction that ended inside it?

    ``buf`` holds the conditioned signal over the window. The most likely single step in
    its power (two Gaussian segments, maximum likelihood) is found; when the power after
    it is below ``quiet_ratio`` x the power before, and the first ``w`` samples are that
    loud too (a burst in the middle of a resting window is not a start mid-contraction),
    the step's position is returned; else -1. Powers below ``p_floor`` (the rest floor,
    :func:`~emgfeedback.analysis.quantities.onset_rest_floor`) count as ``p_floor``.
    """
    margin = max(w // 4, 1)
    if n < 4 * margin:
        return -1
    total = 0.0
    for j in range(n):
        total += buf[j]
    run = 0.0
    for j in range(margin):
        run += buf[j]
    best = -1e300
    best_t = -1
    for t in range(margin, n - margin):
        m1 = max(run / t, 1e-30)
        m2 = max((total - run) / (n - t), 1e-30)
        ll = -0.5 * t * math.log(m1) - 0.5 * (n - t) * math.log(m2)
        if ll > best:
            best = ll
            best_t = t
        run += buf[t]
    if best_t < 0:
        return -1
    before = 0.0
    for j in range(best_t):
        before += buf[j]
    before /= best_t
    after = max((total - before * best_t) / (n - best_t), p_floor)
    head = 0.0
    nh = min(w, best_t)
    for j in range(nh):
        head += buf[j]
    head /= nh
    if after < quiet_ratio * before and after < quiet_ratio * head:
        return best_t
    return -1


@njit(cache=True, nogil=True)
def _quiet_sum_limit(thr, w):
    """The largest running sum ``f`` known to give ``math.sqrt(f / w) <= thr``, or -1.0.

    ``f -> math.sqrt(f / w)`` is monotone (one correctly rounded division, one correctly
    rounded square root), so every sum up to the returned one compares as not above ``thr``
    exactly as its envelope would: the steady state can skip the division and the square
    root. Searched from ``thr² · w`` by single steps (a few at most); -1.0 (no shortcut)
    when ``thr`` is not a positive finite number or the search does not settle.
    """
    if not (thr > 0.0 and thr < 1e150):
        return -1.0
    f = thr * thr * w
    for _ in range(64):
        if not math.sqrt(f / w) > thr:
            break
        f = np.nextafter(f, 0.0)
    if math.sqrt(f / w) > thr or not f >= 0.0:
        return -1.0
    for _ in range(64):
        g = np.nextafter(f, np.inf)
        if math.sqrt(g / w) > thr:
            return f
        f = g
    return -1.0


@njit(cache=True, nogil=True)
def _emit(ev_ch, ev_kind, ev_idx, ev_det, ev_unk, n_ev, c, kind, index, det, unknown):
    ev_ch[n_ev] = c
    ev_kind[n_ev] = kind
    ev_idx[n_ev] = index
    ev_det[n_ev] = det
    ev_unk[n_ev] = unknown
    return n_ev + 1


@njit(cache=True, nogil=True)
def _onset_kernel(x, col0, first_index, iparams, fparams, floor, ramps, smtab, fstate, istate,
                  ring, hist, learnbuf, ev_ch, ev_kind, ev_idx, ev_det, ev_unk):
    """Run the detector over columns ``col0 …`` of ``x`` (n, ≥ col0 + channels), non-finite
    samples read as zero; write events; return how many were written. ``floor[c]`` is
    channel ``c``'s rest floor (mean and SD of the envelope, power: > 0), below which its
    rest is never taken to be (:func:`~emgfeedback.analysis.quantities.onset_rest_floor`)."""
    n = x.shape[0]
    n_ch = fstate.shape[0]
    w = iparams[_P_W]
    min_on = iparams[_P_MINON]
    min_off = iparams[_P_MINOFF]
    n_learn_target = iparams[_P_LEARN]
    max_back = iparams[_P_MAXBACK]
    use_tkeo = iparams[_P_TKEO] != 0
    hlen = iparams[_P_HLEN]
    settle = iparams[_P_SETTLE]
    smooth = iparams[_P_SMOOTH]
    margin = iparams[_P_MARGIN]
    refine = iparams[_P_REFINE]
    quiet_n = iparams[_P_QUIET]
    on_sd = fparams[_Q_ON]
    off_sd = fparams[_Q_OFF]
    off_frac = fparams[_Q_OFFFRAC]
    min_sd_ratio = fparams[_Q_MINSD]
    temp = fparams[_Q_TEMP]
    quiet_ratio = fparams[_Q_QUIET]
    n_ev = 0
    for c in range(n_ch):
        fs_ = fstate[c]
        is_ = istate[c]
        mu_floor = floor[c, 0]
        sd_floor = floor[c, 1]
        p_floor = floor[c, 2]
        # The state every sample updates, in locals for the block (written back after it):
        # in the arrays, each sample stored and reloaded it, as the compiler cannot tell
        # them apart from the ring and history writes (~2x slower per sample).
        fsum = fs_[_F_SUM]
        pos = is_[_I_POS]
        seen = is_[_I_SEEN]
        hpos = is_[_I_HPOS]
        warm = max(w, settle)
        # Steady state (baseline known, no burst, nothing pending or provisional, below the
        # onset threshold): a sample there only updates the sums unless its envelope
        # crosses the threshold, and a running sum up to ``quiet_limit`` cannot (see
        # _quiet_sum_limit): those samples skip the division, the square root and the
        # state checks. Set after a full pass through that branch, for its threshold.
        quiet = False
        quiet_limit = -1.0
        quiet_thr = -1.0
        for i in range(n):
            idx = first_index + i
            v = x[i, col0 + c]
            if not math.isfinite(v):
                v = 0.0  # lost data
            if use_tkeo:
                cond = abs(fs_[_F_X1] * fs_[_F_X1] - v * fs_[_F_X2])
                fs_[_F_X2] = fs_[_F_X1]
                fs_[_F_X1] = v
            else:
                cond = v * v
            # Moving mean of the conditioned signal; the running sum is updated in the same
            # order whatever the block sizes, so results are identical across partitions.
            fsum += cond - ring[c, pos]
            ring[c, pos] = cond
            pos = pos + 1 if pos + 1 < w else 0
            if fsum < 0.0:
                fsum = 0.0
            if seen == 0:
                is_[_I_START] = idx
            seen += 1
            hist[c, hpos] = cond
            hpos = hpos + 1 if hpos + 1 < hlen else 0
            if quiet and fsum <= quiet_limit:
                continue
            quiet = False
            p = fsum / w
            e = math.sqrt(p)
            if seen <= warm or (is_[_I_READY] == 0 and idx < is_[_I_SKIP]):
                # Window still filling or upstream filters still settling (or, after a
                # start mid-contraction, the window still holding the contraction's end).
                is_[_I_LASTEVT] = idx
                continue
            if is_[_I_READY] == 0:
                # Welford: numerically stable mean/variance of the rest envelope.
                is_[_I_LEARN] += 1
                k = is_[_I_LEARN]
                learnbuf[c, k - 1] = cond
                delta = e - fs_[_F_WMEAN]
                fs_[_F_WMEAN] += delta / k
                fs_[_F_WM2] += delta * (e - fs_[_F_WMEAN])
                fs_[_F_P0ACC] += p
                if k >= n_learn_target:
                    is_[_I_LASTEVT] = idx
                    end = -1 if is_[_I_HEADDONE] == 1 else _head_end(learnbuf[c], k, w,
                                                                      quiet_ratio, p_floor)
                    is_[_I_HEADDONE] = 1
                    if end >= 0:
                        # The stream began mid-contraction and it ended in this window:
                        # an onset of unknown time at the stream's start, the offset at
                        # the step, and the baseline learned afresh after the step (once
                        # the moving window no longer holds the contraction).
                        off_i = idx - (k - 1 - end)
                        n_ev = _emit(ev_ch, ev_kind, ev_idx, ev_det, ev_unk, n_ev, c, 1,
                                     is_[_I_START], idx, 1)
                        n_ev = _emit(ev_ch, ev_kind, ev_idx, ev_det, ev_unk, n_ev, c, 0,
                                     off_i, idx, 0)
                        is_[_I_ANYEV] = 1
                        is_[_I_LEARN] = 0
                        fs_[_F_WMEAN] = 0.0
                        fs_[_F_WM2] = 0.0
                        fs_[_F_P0ACC] = 0.0
                        is_[_I_SKIP] = off_i + w
                        is_[_I_ARMED] = 1
                        continue
                    fs_[_F_MU] = fs_[_F_WMEAN]
                    fs_[_F_SD] = math.sqrt(fs_[_F_WM2] / max(k - 1, 1))
                    fs_[_F_P0] = fs_[_F_P0ACC] / k
                    head_p = 0.0
                    for j in range(min(w, k)):
                        head_p += learnbuf[c, j]
                    fs_[_F_HEADP] = head_p / min(w, k)
                    is_[_I_READY] = 1
                    # A learned baseline may be a contraction that filled the whole
                    # window: watched until the first event for a much quieter stretch.
                    is_[_I_PROV] = 1 - is_[_I_ANYEV]
                continue
            # The rest is never below the channel's floor (the converter's: a rest quieter
            # than one ADC step flickers between codes as loud as the floor).
            mu = max(fs_[_F_MU], mu_floor)
            sd_eff = max(fs_[_F_SD], min_sd_ratio * mu, sd_floor)
            p0 = max(fs_[_F_P0], p_floor)
            first_eval = is_[_I_EVAL0] == 0
            if first_eval:
                is_[_I_EVAL0] = idx + 1
                if is_[_I_GIVEN] == 1 and e > mu + on_sd * sd_eff:
                    # Already above the onset threshold when the detector starts, with a
                    # baseline known beforehand: the stream may have begun mid-contraction.
                    is_[_I_HEADACT] = 1
                    is_[_I_ARMED] = 1
            if is_[_I_PROV] == 1 and is_[_I_ACTIVE] == 0 and is_[_I_PEND] == 0:
                if max(p, p_floor) < quiet_ratio * p0:
                    is_[_I_QRUN] += 1
                    if is_[_I_QRUN] > w:
                        # the moving window holds only the quiet stretch now
                        is_[_I_QN] += 1
                        kq = is_[_I_QN]
                        dq = e - fs_[_F_QM]
                        fs_[_F_QM] += dq / kq
                        fs_[_F_QM2] += dq * (e - fs_[_F_QM])
                        fs_[_F_QP] += p
                    if is_[_I_QRUN] >= quiet_n and is_[_I_QN] >= 2:
                        # The "rest" learned at the start was (partly) a contraction, and
                        # the quiet stretch is the baseline from now on. When the learning
                        # window began loud too, the stream began mid-contraction: onset of
                        # unknown time at the stream's start, offset at the most likely
                        # step down. (A burst that began inside the window is only dropped.)
                        kq = is_[_I_QN]
                        pq = max(fs_[_F_QP] / kq, p_floor)
                        first = max(is_[_I_LASTEVT] + 1, idx - hlen + 1)
                        offset = _change_point(hist, c, hpos, hlen, idx, first, idx, p0, pq)
                        if fs_[_F_HEADP] * quiet_ratio > pq:
                            n_ev = _emit(ev_ch, ev_kind, ev_idx, ev_det, ev_unk, n_ev, c, 1,
                                         is_[_I_START], idx, 1)
                            n_ev = _emit(ev_ch, ev_kind, ev_idx, ev_det, ev_unk, n_ev, c, 0,
                                         offset, idx, 0)
                            is_[_I_ANYEV] = 1
                        is_[_I_PROV] = 0
                        fs_[_F_MU] = fs_[_F_QM]
                        fs_[_F_SD] = math.sqrt(fs_[_F_QM2] / max(kq - 1, 1))
                        fs_[_F_P0] = pq
                        is_[_I_LASTEVT] = offset
                        is_[_I_RUN] = 0
                        is_[_I_ARMED] = 1
                        continue
                else:
                    is_[_I_QRUN] = 0
                    is_[_I_QN] = 0
                    fs_[_F_QM] = 0.0
                    fs_[_F_QM2] = 0.0
                    fs_[_F_QP] = 0.0
            if is_[_I_PEND] == 1:
                # A confirmed onset waits for its rise to be fitted: after ``refine``
                # samples, or now if the burst is already ending (then only up to where
                # the envelope started to fall).
                ending = is_[_I_RUN] > 0 and is_[_I_RUN] + 1 >= min_off
                if idx >= is_[_I_ONSET] + refine or ending:
                    hi = min(idx, is_[_I_DOWN]) if ending else idx
                    lo = max(is_[_I_PENDLO], idx - hlen + 1)
                    onset = _fit_rise(hist, c, hpos, hlen, idx, lo, hi, is_[_I_ONSET], p0,
                                      ramps, margin, smooth, temp * smooth, smtab,
                                      p_floor) \
                        if hi > lo else is_[_I_ONSET]
                    onset = max(onset, idx - max_back - refine)
                    n_ev = _emit(ev_ch, ev_kind, ev_idx, ev_det, ev_unk, n_ev, c, 1, onset,
                                 idx, 0)
                    is_[_I_PEND] = 0
                    is_[_I_ONSET] = onset
                    is_[_I_LASTEVT] = onset
            if is_[_I_ACTIVE] == 0:
                if e > mu + on_sd * sd_eff:
                    # After an offset declared at the (burst-adaptive, possibly higher)
                    # offset threshold, the envelope must first fall below the onset
                    # threshold: the tail of the same burst is not a new onset.
                    if is_[_I_ARMED] == 1:
                        is_[_I_RUN] += 1
                else:
                    is_[_I_RUN] = 0
                    is_[_I_ARMED] = 1
                    is_[_I_HEADACT] = 0
                    if min_on >= 1 and is_[_I_PROV] == 0 and is_[_I_PEND] == 0:
                        # the next samples below the same threshold change nothing else
                        thr_on = mu + on_sd * sd_eff
                        if thr_on != quiet_thr:
                            quiet_thr = thr_on
                            quiet_limit = _quiet_sum_limit(thr_on, w)
                        quiet = quiet_limit >= 0.0
                if is_[_I_RUN] >= min_on:
                    # Backdate: most likely change point from rest power to the power of the
                    # confirming run, within the history and after the previous event.
                    first = max(idx - max_back, is_[_I_LASTEVT] + 1, idx - hlen + 1)
                    p1 = _mean_hist(hist, c, hpos, hlen, idx, idx - min_on + 1, idx)
                    onset = idx - min_on + 1
                    if p1 > p0 and first <= idx:
                        onset = _change_point(hist, c, hpos, hlen, idx, first, idx, p0, p1)
                    # With a baseline known from the start, a run unbroken since the
                    # detector started, or a change point pinned at that first sample,
                    # means the burst began before the stream: its onset is unknown.
                    head = is_[_I_GIVEN] == 1 and is_[_I_ANYEV] == 0 and (
                        is_[_I_HEADACT] == 1 or onset <= is_[_I_EVAL0] - 1)
                    if head:
                        n_ev = _emit(ev_ch, ev_kind, ev_idx, ev_det, ev_unk, n_ev, c, 1,
                                     is_[_I_START], idx, 1)
                        onset = is_[_I_START]
                    elif ramps.size and p1 > p0:
                        # The rise is fitted once ``refine`` samples past it are in.
                        is_[_I_PEND] = 1
                        is_[_I_PENDLO] = max(first, onset - ramps[-1] - w)
                    else:
                        n_ev = _emit(ev_ch, ev_kind, ev_idx, ev_det, ev_unk, n_ev, c, 1,
                                     onset, idx, 0)
                    is_[_I_ANYEV] = 1
                    is_[_I_PROV] = 0
                    is_[_I_HEADACT] = 0
                    is_[_I_ACTIVE] = 1
                    is_[_I_RUN] = 0
                    is_[_I_ONSET] = onset
                    is_[_I_LASTEVT] = onset
                    fs_[_F_LEVEL] = 0.0
                    is_[_I_LEVELN] = 0
            else:
                fs_[_F_LEVEL] += e
                is_[_I_LEVELN] += 1
                level = fs_[_F_LEVEL] / is_[_I_LEVELN]
                thr_off = mu + max(off_sd * sd_eff, off_frac * (level - mu))
                if e < thr_off:
                    if is_[_I_RUN] == 0:
                        is_[_I_DOWN] = idx
                    is_[_I_RUN] += 1
                else:
                    is_[_I_RUN] = 0
                if is_[_I_RUN] >= min_off:
                    # Backdate: most likely change point from the burst's power (measured
                    # before the envelope fell) down to rest power.
                    first = max(idx - max_back, is_[_I_ONSET] + 1, idx - hlen + 1)
                    lvl_last = min(is_[_I_DOWN] - w, idx)
                    lvl_first = max(first, lvl_last - w + 1)
                    offset = max(is_[_I_DOWN] - w, first)
                    if lvl_last >= lvl_first and first <= idx:
                        p1 = _mean_hist(hist, c, hpos, hlen, idx, lvl_first, lvl_last)
                        if p1 > p0:
                            # Change from p1 (before) to p0 (after): the summed ratio from
                            # the change point to the end favours p0.
                            offset = _change_point(hist, c, hpos, hlen, idx, first, idx,
                                                   p1, p0)
                    n_ev = _emit(ev_ch, ev_kind, ev_idx, ev_det, ev_unk, n_ev, c, 0,
                                 offset, idx, 0)
                    is_[_I_ACTIVE] = 0
                    is_[_I_RUN] = 0
                    is_[_I_ARMED] = 0
                    is_[_I_LASTEVT] = offset
        fs_[_F_SUM] = fsum
        is_[_I_POS] = pos
        is_[_I_SEEN] = seen
        is_[_I_HPOS] = hpos
    return n_ev
