"""Streaming muscle onset/offset detection (double threshold with hysteresis).

The detector works on the band-passed signal in µV, channel by channel:

1. *Conditioning*: the square of each sample (``"rms"``) or the magnitude of the
   Teager-Kaiser energy operator ``x[n-1]² − x[n]·x[n-2]`` (``"tkeo"``, which sharpens
   motor-unit spikes against broadband noise).
2. *Detection envelope*: the causal moving mean of the conditioned signal over
   ``window_s`` (its square root is a moving RMS in µV).
3. *Baseline*: mean and SD of that envelope at rest, learned from the first
   ``baseline_s`` seconds or given with :meth:`OnsetDetector.set_baseline`.
4. *Double threshold with hysteresis* (Hodges & Bui 1996, Bonato 1998 family): an onset
   is confirmed when the envelope stays above ``mean + on_sd·SD`` for ``min_on_s``; an
   offset when it stays below the off threshold for ``min_off_s``. The off threshold
   adapts to the burst: ``mean + max(off_sd·SD, off_fraction·(level − mean))`` where
   ``level`` is the burst's mean envelope, so strong bursts end cleanly.
5. *Backdating*: confirmation comes late by design. The event's ``index`` estimates the
   true onset. First the most likely change point, within a bounded history of the
   conditioned signal, from rest power to the power of the confirming run (summed
   log-likelihood ratio of a variance change); then, ``refine_s`` later, the start of
   the raised-cosine amplitude rise (``ramps_ms``) fitted to the log of the smoothed
   power around it: every (length, start) pair is scored by least squares, the lengths
   are summed out of the resulting posterior and the onset is its median over the start
   (``rise_temperature``). Both steps use every sample and adapt to the SNR.
   Offsets are the change point from the burst's power back to rest. ``delay_ms`` is the
   time from the estimate to the moment the event is emitted.

The numba kernel keeps every piece of state in arrays, so feeding a stream in any
partition into blocks gives exactly the same events as one call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numba import njit

from emgfeedback.errors import ConfigError

CONDITIONINGS = ("rms", "tkeo")


@dataclass(frozen=True)
class OnsetConfig:
    """Parameters of the streaming onset detector (defaults work at 1-2 kHz untuned).

    Attributes
    ----------
    window_s : float
        Length of the moving detection window in seconds (default 0.2). Long windows
        detect weak bursts reliably; the backdating keeps the onset time accurate.
    conditioning : str
        ``"rms"`` (square of the band-passed signal) or ``"tkeo"`` (Teager-Kaiser energy);
        default ``"rms"``.
    on_sd : float
        Onset threshold in baseline SDs above the baseline mean (default 4.0).
    off_sd : float
        Offset threshold in baseline SDs above the baseline mean (default 2.0).
    off_fraction : float
        The offset threshold is at least this fraction of the way from the baseline to the
        burst's mean level (0-1, default 0.1): the SNR-adaptive part of the hysteresis.
    min_on_s : float
        The envelope must stay above the onset threshold this long, in seconds (default 0.08).
    min_off_s : float
        The envelope must stay below the offset threshold this long, in seconds
        (default 0.15).
    baseline_s : float
        Seconds of rest, after the first window has filled, from which the baseline is
        learned when :meth:`OnsetDetector.set_baseline` was not called (default 1.0).
    max_backdate_s : float
        An event is never placed more than this many seconds before its confirmation; also
        the length of the history kept per channel (default 0.75).
    ramps_ms : tuple of float
        Rise/fall durations in ms tried when refining an event: the onset is the start of
        the most likely raised-cosine amplitude ramp (0 = a step). Empty: the step change
        point is used (default 0, 10, 20, 40, 60, 90, 130, 180).
    refine_s : float
        An onset event is held until this many seconds after the change point, so that
        the fitted rise sees the burst's level; it is sent earlier if the burst ends
        first (default 0.25). Only with ``ramps_ms``.
    settle_s : float
        Seconds at the start of the stream that are ignored while the upstream filters
        settle (default 0.25).
    min_sd_ratio : float
        The baseline SD used for thresholds is at least this fraction of the baseline
        mean, so a quantised, almost flat rest does not make every count an onset
        (default 0.05).
    rise_smooth_s : float
        Length in seconds of the centred moving mean applied to the power before its
        logarithm is fitted by the rise model (default 0.02). Must be > 0.
    rise_temperature : float
        How sharply the rise fit's squared log-power error is turned into a likelihood,
        per sample of ``rise_smooth_s`` (dimensionless, default 1.0): the onset is the
        posterior median over the rise start with the rise length summed out. 0 gives the
        single best-fitting (start, length) pair instead.
    """

    window_s: float = 0.2
    conditioning: str = "rms"
    on_sd: float = 4.0
    off_sd: float = 2.0
    off_fraction: float = 0.1
    min_on_s: float = 0.08
    min_off_s: float = 0.15
    baseline_s: float = 1.0
    max_backdate_s: float = 0.75
    refine_s: float = 0.25
    ramps_ms: tuple = (0.0, 10.0, 20.0, 40.0, 60.0, 90.0, 130.0, 180.0)
    settle_s: float = 0.25
    min_sd_ratio: float = 0.05
    rise_smooth_s: float = 0.02
    rise_temperature: float = 1.0

    def __post_init__(self):
        if self.conditioning not in CONDITIONINGS:
            raise ConfigError(
                f"onset conditioning {self.conditioning!r}: expected one of "
                f"{', '.join(CONDITIONINGS)}"
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("conditioning", "ramps_ms"):
                continue
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"onset {f.name} = {value!r}: expected a number >= 0")
        for name in ("window_s", "baseline_s", "rise_smooth_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"onset {name} must be > 0 seconds")
        if self.off_sd > self.on_sd:
            raise ConfigError(
                f"onset off_sd ({self.off_sd}) must not exceed on_sd ({self.on_sd}): the "
                "hysteresis needs the offset threshold below the onset threshold"
            )
        if any(not (math.isfinite(r) and r >= 0) for r in self.ramps_ms):
            raise ConfigError(f"onset ramps_ms {self.ramps_ms!r}: expected durations >= 0 ms")
        if self.off_fraction >= 1.0:
            raise ConfigError("onset off_fraction must be below 1")


@dataclass(frozen=True)
class OnsetEvent:
    """A detected onset or offset.

    Attributes
    ----------
    channel : int
        Channel number (0-based).
    kind : str
        ``"on"`` or ``"off"``.
    index : int
        Absolute sample index of the estimated true onset/offset (backdated).
    detected_index : int
        Absolute sample index at which the event was confirmed.
    delay_ms : float
        ``(detected_index − index) / fs`` in milliseconds.
    """

    channel: int
    kind: str
    index: int
    detected_index: int
    delay_ms: float


# Per-channel float state slots.
_F_SUM, _F_MU, _F_SD, _F_WMEAN, _F_WM2, _F_P0, _F_P0ACC, _F_LEVEL, _F_X1, _F_X2 = range(10)
_F_NF = 10
# Per-channel integer state slots.
(_I_POS, _I_SEEN, _I_LEARN, _I_ACTIVE, _I_RUN, _I_LASTEVT, _I_DOWN, _I_LEVELN, _I_READY,
 _I_HPOS, _I_ONSET, _I_PEND, _I_PENDLO, _I_ARMED) = range(14)
_I_NI = 14

# Integer parameters.
(_P_W, _P_MINON, _P_MINOFF, _P_LEARN, _P_MAXBACK, _P_TKEO, _P_HLEN, _P_SETTLE, _P_SMOOTH,
 _P_MARGIN, _P_REFINE) = range(11)
# Float parameters.
_Q_ON, _Q_OFF, _Q_OFFFRAC, _Q_MINSD, _Q_TEMP = range(5)


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
def _fit_rise(hist, c, hpos, hlen, idx, lo, hi, c0, p0, ramps, margin, sm, temp):
    """Refine a step change point ``c0`` into the start of a raised-cosine amplitude rise.

    Least squares between the logarithm of the conditioned signal and of the model
    ``p0 + (p1 − p0)·s(t)²`` (``s`` rising from 0 to 1 over ``r`` samples from ``t``),
    both smoothed by a centred ``sm``-sample moving mean. ``p0`` is the power just before
    the burst when at least ``8·sm`` samples of it are in the history (else the rest
    power from the baseline), ``p1`` the power well after ``c0``. Log-domain least
    squares on smoothed power is far less noisy than a sample-by-sample likelihood on
    correlated EMG samples. Tried: every rise length in ``ramps`` and every start in
    ``[c0 − r − margin, c0 + margin]``. The smoothed model of one rise length is the same
    curve shifted, so it is tabulated once and each candidate costs O(r + sm).

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
        p0 = max(csum[pre] / pre, 1e-30)
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
    best_err = 1e300
    best = c0
    for ri in range(ramps.size):
        r = ramps[ri]
        # Smoothed model as a function of d = j − t, for d in [dlo, dhi); 0 before, 1 after.
        dlo = half - sm + 1
        dhi = r + half + 1
        width = dhi - dlo
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
        lmodel = np.empty(width)
        for m in range(width):
            sm_mean = (prof[m + sm] - prof[m]) / sm
            lmodel[m] = math.log(p0 + (p1 - p0) * sm_mean)
        t_lo = max(c0 - r - margin, lo + sm)
        t_hi = min(c0 + margin, hi - r - 2 * sm)
        for t in range(t_lo, t_hi + 1):
            tt = t - lo
            a = min(max(tt + dlo, j0), j1)
            b = min(max(tt + dhi, j0), j1)
            err = (q0[a] - q0[j0]) + (q1[j1] - q1[b])
            for j in range(a, b):
                d = logv[j] - lmodel[j - tt - dlo]
                err += d * d
            errs[ri, t - t_base] = err
            if err < best_err:
                best_err = err
                best = t
    if temp <= 0.0:
        return best
    marg = np.zeros(n_t)
    for ri in range(ramps.size):
        for k in range(n_t):
            if errs[ri, k] < 1e299:
                marg[k] += math.exp(-(errs[ri, k] - best_err) / temp)
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
def _onset_kernel(x, first_index, iparams, fparams, ramps, fstate, istate, ring, hist,
                  ev_ch, ev_kind, ev_idx, ev_det):
    """Run the detector over ``x`` (n, ch); write events; return how many were written."""
    n, n_ch = x.shape
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
    on_sd = fparams[_Q_ON]
    off_sd = fparams[_Q_OFF]
    off_frac = fparams[_Q_OFFFRAC]
    min_sd_ratio = fparams[_Q_MINSD]
    temp = fparams[_Q_TEMP]
    n_ev = 0
    for c in range(n_ch):
        fs_ = fstate[c]
        is_ = istate[c]
        for i in range(n):
            idx = first_index + i
            v = x[i, c]
            if use_tkeo:
                cond = abs(fs_[_F_X1] * fs_[_F_X1] - v * fs_[_F_X2])
                fs_[_F_X2] = fs_[_F_X1]
                fs_[_F_X1] = v
            else:
                cond = v * v
            # Moving mean of the conditioned signal; the running sum is updated in the same
            # order whatever the block sizes, so results are identical across partitions.
            pos = is_[_I_POS]
            fs_[_F_SUM] += cond - ring[c, pos]
            ring[c, pos] = cond
            is_[_I_POS] = pos + 1 if pos + 1 < w else 0
            if fs_[_F_SUM] < 0.0:
                fs_[_F_SUM] = 0.0
            p = fs_[_F_SUM] / w
            e = math.sqrt(p)
            is_[_I_SEEN] += 1
            hpos = is_[_I_HPOS]
            hist[c, hpos] = cond
            hpos = hpos + 1 if hpos + 1 < hlen else 0
            is_[_I_HPOS] = hpos
            if is_[_I_SEEN] <= max(w, settle):
                # Window still filling or upstream filters still settling.
                is_[_I_LASTEVT] = idx
                continue
            if is_[_I_READY] == 0:
                # Welford: numerically stable mean/variance of the rest envelope.
                is_[_I_LEARN] += 1
                k = is_[_I_LEARN]
                delta = e - fs_[_F_WMEAN]
                fs_[_F_WMEAN] += delta / k
                fs_[_F_WM2] += delta * (e - fs_[_F_WMEAN])
                fs_[_F_P0ACC] += p
                if k >= n_learn_target:
                    fs_[_F_MU] = fs_[_F_WMEAN]
                    fs_[_F_SD] = math.sqrt(fs_[_F_WM2] / max(k - 1, 1))
                    fs_[_F_P0] = fs_[_F_P0ACC] / k
                    is_[_I_READY] = 1
                    is_[_I_LASTEVT] = idx
                continue
            mu = fs_[_F_MU]
            sd_eff = max(fs_[_F_SD], min_sd_ratio * mu, 1e-12)
            p0 = max(fs_[_F_P0], 1e-24)
            if is_[_I_PEND] == 1:
                # A confirmed onset waits for its rise to be fitted: after ``refine``
                # samples, or now if the burst is already ending (then only up to where
                # the envelope started to fall).
                ending = is_[_I_RUN] > 0 and is_[_I_RUN] + 1 >= min_off
                if idx >= is_[_I_ONSET] + refine or ending:
                    hi = min(idx, is_[_I_DOWN]) if ending else idx
                    lo = max(is_[_I_PENDLO], idx - hlen + 1)
                    onset = _fit_rise(hist, c, hpos, hlen, idx, lo, hi, is_[_I_ONSET], p0,
                                      ramps, margin, smooth, temp * smooth) \
                        if hi > lo else is_[_I_ONSET]
                    onset = max(onset, idx - max_back - refine)
                    ev_ch[n_ev] = c
                    ev_kind[n_ev] = 1
                    ev_idx[n_ev] = onset
                    ev_det[n_ev] = idx
                    n_ev += 1
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
                if is_[_I_RUN] >= min_on:
                    # Backdate: most likely change point from rest power to the power of the
                    # confirming run, within the history and after the previous event.
                    first = max(idx - max_back, is_[_I_LASTEVT] + 1, idx - hlen + 1)
                    p1 = _mean_hist(hist, c, hpos, hlen, idx, idx - min_on + 1, idx)
                    onset = idx - min_on + 1
                    if p1 > p0 and first <= idx:
                        onset = _change_point(hist, c, hpos, hlen, idx, first, idx, p0, p1)
                    if ramps.size and p1 > p0:
                        # The rise is fitted once ``refine`` samples past it are in.
                        is_[_I_PEND] = 1
                        is_[_I_PENDLO] = max(first, onset - ramps[-1] - w)
                    else:
                        ev_ch[n_ev] = c
                        ev_kind[n_ev] = 1
                        ev_idx[n_ev] = onset
                        ev_det[n_ev] = idx
                        n_ev += 1
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
                    ev_ch[n_ev] = c
                    ev_kind[n_ev] = 0
                    ev_idx[n_ev] = offset
                    ev_det[n_ev] = idx
                    n_ev += 1
                    is_[_I_ACTIVE] = 0
                    is_[_I_RUN] = 0
                    is_[_I_ARMED] = 0
                    is_[_I_LASTEVT] = offset
    return n_ev


class OnsetDetector:
    """Streaming onset/offset detector for several channels.

    Parameters
    ----------
    config : OnsetConfig
        Detector parameters.
    n_channels : int
        Number of channels.
    fs_hz : float
        Sample rate in hertz.

    Examples
    --------
    >>> det = OnsetDetector(OnsetConfig(), n_channels=2, fs_hz=2000.0)
    >>> events = det.process(filtered_uv, first_index=0)  # doctest: +SKIP
    """

    def __init__(self, config: OnsetConfig | None, n_channels: int, fs_hz: float):
        self.config = config or OnsetConfig()
        if n_channels < 1:
            raise ConfigError("onset detector needs at least one channel")
        if not fs_hz > 0:
            raise ConfigError(f"sample rate {fs_hz!r} Hz: expected > 0")
        self.n_channels = int(n_channels)
        self.fs_hz = float(fs_hz)
        cfg = self.config
        self._w = max(int(round(cfg.window_s * fs_hz)), 1)
        min_on = max(int(round(cfg.min_on_s * fs_hz)), 1)
        min_off = max(int(round(cfg.min_off_s * fs_hz)), 1)
        max_back = max(int(round(cfg.max_backdate_s * fs_hz)), 1)
        self._iparams = np.array(
            [self._w, min_on, min_off, max(int(round(cfg.baseline_s * fs_hz)), 2), max_back,
             int(cfg.conditioning == "tkeo"),
             max(max_back, min_on, 2 * self._w) + int(round(cfg.refine_s * fs_hz)) + 1,
             int(round(cfg.settle_s * fs_hz)), max(int(round(cfg.rise_smooth_s * fs_hz)), 1),
             max(int(round(0.05 * fs_hz)), 1), int(round(cfg.refine_s * fs_hz))],
            dtype=np.int64,
        )
        self._fparams = np.array(
            [cfg.on_sd, cfg.off_sd, cfg.off_fraction, cfg.min_sd_ratio, cfg.rise_temperature],
            dtype=np.float64,
        )
        ramps = sorted({int(round(r * fs_hz / 1000.0)) for r in cfg.ramps_ms})
        self._ramps = np.array(ramps, dtype=np.int64)
        if self._ramps.size and self._ramps[-1] >= max_back:
            raise ConfigError("onset ramps_ms must be shorter than max_backdate_s")
        self._min_gap = min(min_on, min_off)
        self.reset()

    def reset(self) -> None:
        """Forget all state, including the learned baseline."""
        ch = self.n_channels
        self._fstate = np.zeros((ch, _F_NF), dtype=np.float64)
        self._istate = np.zeros((ch, _I_NI), dtype=np.int64)
        self._ring = np.zeros((ch, self._w), dtype=np.float64)
        self._hist = np.zeros((ch, int(self._iparams[_P_HLEN])), dtype=np.float64)
        self._next_index: int | None = None

    @property
    def window_samples(self) -> int:
        """Length of the detection window in samples."""
        return self._w

    @property
    def baseline_ready(self) -> np.ndarray:
        """Per channel, whether the baseline is known (learned or set)."""
        return self._istate[:, _I_READY].astype(bool)

    @property
    def baseline(self) -> tuple[np.ndarray, np.ndarray]:
        """Baseline mean and SD of the detection envelope in µV (NaN until known)."""
        ready = self.baseline_ready
        mu = np.where(ready, self._fstate[:, _F_MU], np.nan)
        sd = np.where(ready, self._fstate[:, _F_SD], np.nan)
        return mu, sd

    @property
    def active(self) -> np.ndarray:
        """Per channel, whether a burst is in progress."""
        return self._istate[:, _I_ACTIVE].astype(bool)

    def set_baseline(self, mean_uv, sd_uv) -> None:
        """Set the resting baseline instead of learning it.

        Parameters
        ----------
        mean_uv : array_like
            Per channel, mean of the detection envelope at rest in µV. With the default
            ``"rms"`` conditioning this is the resting RMS of the band-passed signal.
        sd_uv : array_like
            Per channel, SD of the detection envelope at rest in µV
            (:func:`baseline_from_rest` computes both from a rest recording).
        """
        mu = np.broadcast_to(np.asarray(mean_uv, dtype=np.float64), (self.n_channels,))
        sd = np.broadcast_to(np.asarray(sd_uv, dtype=np.float64), (self.n_channels,))
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sd))) or np.any(mu < 0) \
                or np.any(sd < 0):
            raise ConfigError("baseline mean and SD must be finite and >= 0 µV")
        self._fstate[:, _F_MU] = mu
        self._fstate[:, _F_SD] = sd
        self._fstate[:, _F_P0] = mu * mu + sd * sd
        self._istate[:, _I_READY] = 1

    def process(self, filtered_uv, first_index: int | None = None) -> list[OnsetEvent]:
        """Feed band-passed samples; return the events confirmed in this block.

        Parameters
        ----------
        filtered_uv : array_like
            Band-passed signal in µV, shape ``(n_samples, n_channels)``. Non-finite
            samples (lost data) count as zero.
        first_index : int, optional
            Absolute index of the first sample; defaults to continuing the stream.

        Returns
        -------
        list of OnsetEvent
            In order of confirmation (then channel).
        """
        x = np.asarray(filtered_uv, dtype=np.float64)
        if x.ndim == 1 and self.n_channels == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ConfigError(
                f"onset detector expects (n_samples, {self.n_channels}) samples, got {x.shape}"
            )
        if first_index is None:
            first_index = self._next_index or 0
        n = x.shape[0]
        self._next_index = int(first_index) + n
        if n == 0:
            return []
        if not np.all(np.isfinite(x)):
            x = np.where(np.isfinite(x), x, 0.0)
        x = np.ascontiguousarray(x)
        # At most one event per min_on/min_off run, plus a held onset and its offset.
        cap = self.n_channels * (n // max(self._min_gap, 1) + 4)
        ev_ch = np.empty(cap, dtype=np.int64)
        ev_kind = np.empty(cap, dtype=np.int64)
        ev_idx = np.empty(cap, dtype=np.int64)
        ev_det = np.empty(cap, dtype=np.int64)
        k = _onset_kernel(x, np.int64(first_index), self._iparams, self._fparams, self._ramps,
                         self._fstate,
                          self._istate, self._ring, self._hist, ev_ch, ev_kind, ev_idx, ev_det)
        order = np.lexsort((ev_ch[:k], ev_det[:k]))
        ms_per_sample = 1000.0 / self.fs_hz
        return [
            OnsetEvent(int(ev_ch[j]), "on" if ev_kind[j] else "off", int(ev_idx[j]),
                       int(ev_det[j]), float((ev_det[j] - ev_idx[j]) * ms_per_sample))
            for j in order
        ]


def baseline_from_rest(filtered_uv, fs_hz: float, config: OnsetConfig | None = None):
    """Baseline mean and SD of the detection envelope over a rest recording.

    Parameters
    ----------
    filtered_uv : array_like
        Band-passed rest signal in µV, ``(n_samples, n_channels)``.
    fs_hz : float
        Sample rate in hertz.
    config : OnsetConfig, optional
        Detector parameters (window and conditioning matter).

    Returns
    -------
    tuple of numpy.ndarray
        ``(mean_uv, sd_uv)`` per channel, for :meth:`OnsetDetector.set_baseline`.
    """
    cfg = config or OnsetConfig()
    env = detection_envelope(filtered_uv, fs_hz, cfg)
    w = max(int(round(cfg.window_s * fs_hz)), 1)
    env = env[w:] if env.shape[0] > 2 * w else env
    if env.shape[0] < 2:
        raise ConfigError("rest recording too short for a baseline")
    return env.mean(axis=0), env.std(axis=0, ddof=1)


def detection_envelope(filtered_uv, fs_hz: float, config: OnsetConfig | None = None):
    """The detector's envelope (moving RMS or TKEO energy, in µV), computed offline.

    Parameters
    ----------
    filtered_uv : array_like
        Band-passed signal in µV, ``(n_samples, n_channels)``.
    fs_hz : float
        Sample rate in hertz.
    config : OnsetConfig, optional
        Detector parameters.

    Returns
    -------
    numpy.ndarray
        Causal envelope, same shape, the same values the streaming kernel compares.
    """
    cfg = config or OnsetConfig()
    x = np.asarray(filtered_uv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x = np.where(np.isfinite(x), x, 0.0)
    if cfg.conditioning == "tkeo":
        prev1 = np.vstack([np.zeros((1, x.shape[1])), x[:-1]])
        prev2 = np.vstack([np.zeros((2, x.shape[1])), x[:-2]])[: x.shape[0]]
        cond = np.abs(prev1 * prev1 - x * prev2)
    else:
        cond = x * x
    w = max(int(round(cfg.window_s * fs_hz)), 1)
    csum = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), cond]), axis=0)
    lagged = np.vstack([np.zeros((w, x.shape[1])), csum[:-w]])[: x.shape[0] + 1]
    p = (csum - lagged)[1:] / w
    return np.sqrt(np.maximum(p, 0.0))
