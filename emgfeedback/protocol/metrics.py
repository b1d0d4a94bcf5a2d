"""Per-phase and per-repetition measures on envelope segments (pure numpy).

Every function takes a 1-D envelope in µV (NaN marks lost samples) and the sampling rate,
and returns a dict of plain floats (``None`` where the measure is undefined), so results can
be stored and printed as JSON.
"""

from __future__ import annotations

import math

import numpy as np

#: Moving-mean window for the MVC estimate: a held maximum, not a single spike.
MVC_WINDOW_S = 0.5
#: Rate the falling envelope is resampled to before smoothness measures (derivatives of a
#: 2 kHz envelope amplify ripple that a person cannot control).
SMOOTHNESS_RATE_HZ = 20.0
#: Centred smoothing applied before reading rise and recovery times.
TIMING_SMOOTH_S = 0.05


def _f(value) -> float | None:
    """A finite float, or None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _valid(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


def baseline_level(x: np.ndarray) -> float | None:
    """The baseline of a baseline phase: mean envelope over its valid samples, µV.

    :func:`emgfeedback.analysis.quantities.baseline_mean_uv`, the definition ``baseline``
    stores (as ``baseline_mean_uv``), ``run --subject`` reads back and the GUI captures, so
    goals in baseline units mean the same whichever measured the baseline.
    """
    from emgfeedback.analysis.quantities import baseline_mean_uv

    return _f(baseline_mean_uv(x)[0]) if len(x) else None


def level_stats(x: np.ndarray) -> dict:
    """Mean, standard deviation and coefficient of variation of an envelope segment.

    Parameters
    ----------
    x : ndarray
        Envelope in µV (NaN = lost sample, ignored).

    Returns
    -------
    dict
        ``mean_uv`` (:func:`baseline_level`: in a baseline phase it is the baseline),
        ``sd_uv``, ``cv_pct`` (SD / mean x 100).
    """
    v = _valid(x)
    if v.size == 0:
        return {"mean_uv": None, "sd_uv": None, "cv_pct": None}
    mean = baseline_level(v)
    sd = float(np.std(v))
    return {"mean_uv": _f(mean), "sd_uv": _f(sd), "cv_pct": _f(100.0 * sd / mean) if mean > 0
            else None}


def apdf(x: np.ndarray) -> dict:
    """Amplitude probability distribution: 10th (static level), 50th and 90th percentiles."""
    v = _valid(x)
    if v.size == 0:
        return {"p10_uv": None, "p50_uv": None, "p90_uv": None}
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return {"p10_uv": _f(p10), "p50_uv": _f(p50), "p90_uv": _f(p90)}


def peak(x: np.ndarray) -> dict:
    """Peak amplitude of a segment."""
    v = _valid(x)
    return {"peak_uv": _f(np.max(v)) if v.size else None}


def moving_mean_max(x: np.ndarray, fs_hz: float, window_s: float = MVC_WINDOW_S) -> float | None:
    """Largest mean over any ``window_s`` window (the MVC estimate), in µV.

    :func:`emgfeedback.analysis.mvc.capture_mvc` (the GUI's MVC capture), over the whole
    segment when it is shorter than one window.
    """
    from emgfeedback.analysis.mvc import capture_mvc

    if len(x) == 0:
        return None
    n = max(1, min(len(x), int(round(window_s * fs_hz))))
    return _f(capture_mvc(np.asarray(x, dtype=np.float64), fs_hz, n / fs_hz)[0])


def flick(x: np.ndarray, fs_hz: float) -> dict:
    """Peak, rise time (10 % to 90 %) and recovery time of one quick contraction.

    Levels are relative to the segment's resting level (its 10th percentile), so a raised
    resting tone does not shorten the times, and are read on a 50 ms centred moving mean.

    Parameters
    ----------
    x : ndarray
        Envelope in µV over one repetition (contraction and the rest after it).
    fs_hz : float
        Sampling rate.

    Returns
    -------
    dict
        ``peak_uv``, ``rise_time_ms`` (last 10 % crossing before the peak to the first 90 %
        crossing), ``recovery_time_ms`` (peak to the first sample back below 10 %; None if
        the envelope never got back down within the segment).
    """
    out = {"peak_uv": None, "rise_time_ms": None, "recovery_time_ms": None}
    if not np.isfinite(x).any():
        return out
    out["peak_uv"] = _f(np.nanmax(x))
    # Times are read on a lightly smoothed copy so one ripple on the peak does not move the
    # 90 % level (and with it the rise time) by tens of milliseconds.
    v = np.nan_to_num(_centred_mean(x, max(1, int(round(TIMING_SMOOTH_S * fs_hz)))),
                      nan=-np.inf)
    i_peak = int(np.argmax(v))
    top = float(v[i_peak])
    base = float(np.percentile(_valid(x), 10))
    span = top - base
    if span <= 0:
        return out
    lo, hi = base + 0.1 * span, base + 0.9 * span
    before = v[: i_peak + 1]
    below_lo = np.flatnonzero(before <= lo)
    start = int(below_lo[-1]) if below_lo.size else 0
    reach_hi = start + int(np.argmax(before[start:] >= hi))
    out["rise_time_ms"] = _f(1000.0 * (reach_hi - start) / fs_hz)
    after = np.flatnonzero(v[i_peak:] <= lo)
    if after.size:
        back = i_peak + int(after[0])
        # From the last sample still at 90 % (the end of the contraction, not the peak,
        # which lands anywhere on a plateau) down to 10 %.
        still_high = i_peak + int(np.flatnonzero(v[i_peak:back] >= hi)[-1])
        out["recovery_time_ms"] = _f(1000.0 * (back - still_high) / fs_hz)
    return out


def _centred_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving mean over ``n`` samples (shorter at the edges), NaN-aware."""
    ok = np.isfinite(x)
    vals = np.concatenate(([0.0], np.cumsum(np.where(ok, x, 0.0))))
    cnt = np.concatenate(([0], np.cumsum(ok)))
    idx = np.arange(len(x))
    lo = np.clip(idx - n // 2, 0, len(x))
    hi = np.clip(idx - n // 2 + n, 0, len(x))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (vals[hi] - vals[lo]) / (cnt[hi] - cnt[lo])


def decline(x: np.ndarray, fs_hz: float) -> dict:
    """Fatigue over a sustained hold: linear slope and first-third vs last-third change.

    Returns
    -------
    dict
        ``slope_uv_per_s`` (least squares over valid samples), ``first_third_uv``,
        ``last_third_uv`` and ``decline_pct`` = 100 x (first - last) / first (positive when
        the amplitude fell).
    """
    out = {"slope_uv_per_s": None, "first_third_uv": None, "last_third_uv": None,
           "decline_pct": None}
    n = len(x)
    ok = np.isfinite(x)
    if ok.sum() < 3:
        return out
    t = np.arange(n, dtype=np.float64)[ok] / fs_hz
    y = x[ok]
    tc = t - t.mean()
    out["slope_uv_per_s"] = _f(np.dot(tc, y - y.mean()) / np.dot(tc, tc))
    third = n // 3
    first = _valid(x[:third])
    last = _valid(x[n - third:])
    if first.size and last.size:
        f, la = float(first.mean()), float(last.mean())
        out["first_third_uv"], out["last_third_uv"] = _f(f), _f(la)
        out["decline_pct"] = _f(100.0 * (f - la) / f) if f > 0 else None
    return out


def release(rep: np.ndarray, release_start: int, release_end: int, fs_hz: float) -> dict:
    """Smoothness and completeness of the slow release of one repetition.

    Parameters
    ----------
    rep : ndarray
        Envelope in µV over the whole repetition (contraction, release, rest).
    release_start, release_end : int
        Sample offsets of the release part within ``rep``.
    fs_hz : float
        Sampling rate.

    Returns
    -------
    dict
        ``peak_uv`` (over contraction and release), ``residual_pct`` (level at the end of
        the release above the resting level, as % of the peak above it; 0 = fully let go),
        ``completeness_pct`` (100 - residual, clipped to 0-100), ``release_time_s`` (peak to
        the first sample within 10 % of the resting level; None if never), ``monotonicity_pct``
        (net fall / total variation of the falling envelope resampled at 20 Hz; 100 = never
        rose again while letting go) and ``log_dimensionless_jerk`` (of that falling envelope;
        closer to zero = smoother; about -6 or above is smooth, far below is jerky).
    """
    out = {"peak_uv": None, "residual_pct": None, "completeness_pct": None,
           "release_time_s": None, "monotonicity_pct": None, "log_dimensionless_jerk": None}
    valid = _valid(rep)
    head = np.nan_to_num(rep[:release_end], nan=-np.inf)
    if valid.size == 0 or not np.isfinite(head).any():
        return out
    base = float(np.percentile(valid, 10))
    i_peak = int(np.argmax(head))
    top = float(head[i_peak])
    out["peak_uv"] = _f(top)
    span = top - base
    if span <= 0:
        return out
    tail_n = max(1, min(release_end - release_start, int(round(0.5 * fs_hz))))
    end_level = _valid(rep[release_end - tail_n:release_end])
    if end_level.size:
        residual = 100.0 * (float(end_level.mean()) - base) / span
        out["residual_pct"] = _f(residual)
        out["completeness_pct"] = _f(min(100.0, max(0.0, 100.0 - residual)))
    fall = rep[i_peak:release_end]
    back = np.flatnonzero(rep[i_peak:] <= base + 0.1 * span)
    if back.size:
        out["release_time_s"] = _f(int(back[0]) / fs_hz)
    step = max(1, int(round(fs_hz / SMOOTHNESS_RATE_HZ)))
    nbin = len(fall) // step
    if nbin >= 5:
        bins = fall[: nbin * step].reshape(nbin, step)
        with np.errstate(invalid="ignore"):
            y = np.nanmean(bins, axis=1) if np.isfinite(bins).any() else None
        if y is not None and np.isfinite(y).all():
            tv = float(np.sum(np.abs(np.diff(y))))
            net = float(y[0] - y[-1])
            out["monotonicity_pct"] = _f(100.0 * net / tv) if tv > 0 else 100.0
            dt = step / fs_hz
            duration = (nbin - 1) * dt
            amp = abs(net)
            if amp > 0 and nbin >= 4:
                jerk = np.diff(y, 3) / dt**3
                integral = float(np.sum(jerk**2) * dt)
                if integral > 0:
                    out["log_dimensionless_jerk"] = _f(
                        -math.log(integral * duration**5 / amp**2))
    return out


def symmetry_index(left: float | None, right: float | None) -> float | None:
    """Symmetry index 200 |L - R| / (L + R), in % (0 = symmetric, 200 = one side silent).

    The magnitude of :func:`emgfeedback.analysis.symmetry.amplitude_index`: a protocol goal
    bounds the asymmetry whichever side is stronger.
    """
    from emgfeedback.analysis.symmetry import amplitude_index

    if left is None or right is None or left + right <= 0:
        return None
    return _f(abs(amplitude_index(right, left)))


def in_zone(cond: np.ndarray, fs_hz: float) -> dict:
    """Time in zone of a per-sample goal condition: seconds, % and the longest run."""
    n = len(cond)
    count = int(np.count_nonzero(cond))
    longest = 0
    if count:
        padded = np.concatenate(([False], cond, [False])).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        longest = int(np.max(edges[1::2] - edges[0::2]))
    return {"in_zone_s": count / fs_hz, "in_zone_pct": 100.0 * count / n if n else None,
            "longest_s": longest / fs_hz}


def summarise(per_rep: list[dict]) -> dict:
    """Mean over repetitions of every numeric measure (None values skipped)."""
    keys: list[str] = []
    for d in per_rep:
        keys.extend(k for k in d if k not in keys)
    out = {}
    for k in keys:
        vals = [d[k] for d in per_rep if isinstance(d.get(k), (int, float))
                and not isinstance(d.get(k), bool)]
        out[k] = _f(np.mean(vals)) if vals else None
    return out


def preload() -> None:
    """Import what the measures import on first use (the analysis modules, SciPy with them).

    Called when a runner is built, so the first phase end of a session, on the engine
    thread, does not import them (a second or more on a cold start).
    """
    import emgfeedback.analysis.mvc  # noqa: F401
    import emgfeedback.analysis.quantities  # noqa: F401
    import emgfeedback.analysis.symmetry  # noqa: F401


def warm_up(fs_hz: float) -> None:
    """Run every measure once on a short made-up envelope (first-call costs paid now).

    Parameters
    ----------
    fs_hz : float
        Sample rate in hertz.
    """
    preload()
    n = max(64, int(2 * fs_hz))
    x = 5.0 + np.abs(np.sin(np.arange(n) * (math.pi / n))) * 20.0
    per = [level_stats(x), apdf(x), peak(x), flick(x, fs_hz), decline(x, fs_hz),
           release(x, n // 4, n // 2, fs_hz), in_zone(x > 10.0, fs_hz)]
    moving_mean_max(x, fs_hz)
    symmetry_index(1.0, 2.0)
    summarise(per)
