"""Signal quality per channel: mains hum, clipping, electrode off, ECG, SNR, lost samples.

Each measure is computed on the *raw* signal in µV (before the band-pass, so that hum and
ECG are visible) and, for clipping and rails, on the ADC counts when the calibration is
known. Thresholds are module constants, documented in ``docs/analysis.md``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from emgfeedback.analysis.rest import windowed_rms

#: Mains hum is flagged when the excess power at the mains lines exceeds this fraction of
#: the power in the EMG band.
MAINS_FLAG_RATIO = 0.1
#: Clipping is flagged above this percentage of samples at a rail.
CLIP_FLAG_PCT = 0.1
#: Electrode off: this fraction of all 1 s windows flat (constant counts) or mostly at a
#: rail...
OFF_WINDOW_FRACTION = 0.5
#: ... or this many consecutive seconds at a rail, or flat.
RAIL_RUN_S = 2
FLAT_RUN_S = 5
#: ECG: normalised autocorrelation peak of the low-band energy at a heart period.
ECG_MIN_PEAK = 0.3
ECG_MIN_PROMINENCE = 0.2
#: Heart periods considered, seconds (120-48 beats per minute, 0.8-2 Hz).
ECG_PERIOD_S = (0.5, 1.25)
ECG_ADVICE = "ECG on this channel: high-pass at 30 Hz (PipelineConfig(highpass_hz=30.0))"


def mains_ratio(x_uv, fs_hz: float, mains_hz: float | None = None,
                band_hz=(20.0, 450.0)) -> tuple[float, float]:
    """Power at the mains frequency and its harmonics relative to the EMG-band power.

    The excess over the neighbouring spectrum (Welch, 1 Hz bins) within ±1 Hz of each
    harmonic inside the band is summed and divided by the power in ``band_hz``.

    Parameters
    ----------
    x_uv : array_like
        One channel of raw signal in µV.
    fs_hz : float
        Sample rate in hertz.
    mains_hz : float, optional
        50 or 60; when None both are tried and the stronger is reported.
    band_hz : tuple of float
        EMG band in hertz.

    Returns
    -------
    tuple of float
        ``(ratio, mains_hz)``.
    """
    x = np.asarray(x_uv, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    nper = int(min(x.size, round(fs_hz)))
    if nper < 64:
        return math.nan, mains_hz or math.nan
    f, p = signal.welch(x - x.mean(), fs=fs_hz, nperseg=nper, detrend="constant")
    df = f[1] - f[0]
    lo, hi = band_hz[0], min(band_hz[1], 0.49 * fs_hz)
    in_band = (f >= lo) & (f <= hi)
    band_power = float(np.sum(p[in_band]) * df)
    if band_power <= 0:
        return 0.0, mains_hz or 50.0
    best = (0.0, mains_hz or 50.0)
    for m in ([mains_hz] if mains_hz else [50.0, 60.0]):
        excess = 0.0
        k = 1
        while k * m <= hi:
            fk = k * m
            if fk >= lo:
                line = np.abs(f - fk) <= 1.0 + 0.5 * df
                side = (np.abs(f - fk) > 3.0) & (np.abs(f - fk) <= 8.0)
                floor = float(np.median(p[side])) if np.any(side) else 0.0
                excess += float(np.sum(np.maximum(p[line] - floor, 0.0)) * df)
            k += 1
        ratio = excess / band_power
        if ratio >= best[0]:
            best = (ratio, m)
    return best


def clipped_percent(counts, adc_min: int, adc_max: int) -> float:
    """Percentage of samples at either ADC rail."""
    c = np.asarray(counts).ravel()
    if c.size == 0:
        return 0.0
    return 100.0 * float(np.count_nonzero((c <= adc_min) | (c >= adc_max))) / c.size


def electrode_off(counts_or_uv, fs_hz: float, flat_step: float, rails=None) -> tuple[bool, str]:
    """Whether a channel looks disconnected: flat, or sitting at a rail, most of the time.

    Parameters
    ----------
    counts_or_uv : array_like
        One channel (counts when ``flat_step`` is a count, µV otherwise).
    fs_hz : float
        Sample rate in hertz.
    flat_step : float
        A window whose peak-to-peak is at most this is flat (0 for counts: constant; a
        small µV value otherwise).
    rails : tuple, optional
        ``(low, high)`` rail values.

    Returns
    -------
    tuple
        ``(off, reason)``.
    """
    x = np.asarray(counts_or_uv, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    w = max(int(round(fs_hz)), 1)
    n_win = x.size // w
    if n_win == 0:
        return False, ""
    blocks = x[: n_win * w].reshape(n_win, w)
    flat = np.ptp(blocks, axis=1) <= flat_step
    at_rail = np.zeros(n_win, dtype=bool)
    if rails is not None:
        at_rail = np.mean((blocks <= rails[0]) | (blocks >= rails[1]), axis=1) > 0.5
    # A rail is unambiguous after 2 s; a flat line needs longer, because a coarse ADC
    # (24 µV per count) can read a quiet rest as constant counts for a few seconds.
    if _longest_run(at_rail) >= RAIL_RUN_S or np.mean(at_rail) >= OFF_WINDOW_FRACTION:
        return True, f"at an ADC rail for {int(at_rail.sum())} s of {n_win} s"
    if _longest_run(flat) >= FLAT_RUN_S or np.mean(flat) >= OFF_WINDOW_FRACTION:
        return True, f"flat for {int(flat.sum())} s of {n_win} s"
    return False, ""


def _longest_run(mask) -> int:
    best = run = 0
    for v in mask:
        run = run + 1 if v else 0
        best = max(best, run)
    return best


def ecg_contamination(x_uv, fs_hz: float) -> tuple[bool, float, float]:
    """Detect periodic QRS-like spikes (0.8-2 Hz) in the low band (5-30 Hz).

    The low-band energy (squared, smoothed over 40 ms) is autocorrelated; ECG shows as a
    peak at a heart period that stands out from the lags before it (a smooth EMG burst
    gives a falling autocorrelation without such a peak).

    Returns
    -------
    tuple
        ``(flag, heart_rate_bpm, peak)`` (rate NaN when not flagged).
    """
    x = np.asarray(x_uv, dtype=np.float64).ravel()
    x = np.where(np.isfinite(x), x, 0.0)
    if x.size < 4 * fs_hz:
        return False, math.nan, 0.0
    sos = signal.butter(2, [5.0, min(30.0, 0.45 * fs_hz)], btype="band", fs=fs_hz,
                        output="sos")
    low = signal.sosfiltfilt(sos, x)
    energy = low * low
    k = max(int(0.04 * fs_hz), 1)
    energy = np.convolve(energy, np.ones(k) / k, mode="same")
    # Decimate to 100 Hz for a cheap autocorrelation.
    step = max(int(fs_hz // 100), 1)
    e = energy[::step]
    e = e - e.mean()
    if not np.any(e):
        return False, math.nan, 0.0
    n = e.size
    spec = np.fft.rfft(e, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    ac = ac / ac[0]
    fs_e = fs_hz / step
    l0, l1 = int(ECG_PERIOD_S[0] * fs_e), int(ECG_PERIOD_S[1] * fs_e)
    if l1 >= n:
        return False, math.nan, 0.0
    seg = ac[l0: l1 + 1]
    j = int(np.argmax(seg))
    lag = l0 + j
    peak = float(seg[j])
    trough = float(np.min(ac[int(0.15 * fs_e): lag + 1]))
    flag = peak >= ECG_MIN_PEAK and peak - trough >= ECG_MIN_PROMINENCE
    return bool(flag), (60.0 * fs_e / lag if flag else math.nan), peak


def snr_db(filtered_uv, fs_hz: float, window_s: float = 0.5) -> float:
    """SNR of activity over rest: 20·log10(95th / 10th percentile of window RMS), dB."""
    rms = windowed_rms(np.asarray(filtered_uv, dtype=np.float64).ravel(), fs_hz, window_s)
    rms = rms[np.isfinite(rms)].ravel()
    if rms.size < 2:
        return math.nan
    lo, hi = np.percentile(rms, [10, 95])
    return 20.0 * math.log10(hi / lo) if lo > 0 else math.inf


def assess_quality(x_uv, fs_hz: float, filtered_uv=None, counts=None, calibration=None,
                   mains_hz: float | None = None, lost_samples=None,
                   band_hz=(20.0, 450.0)) -> list[dict]:
    """Quality measures and flags per channel.

    Parameters
    ----------
    x_uv : array_like
        Raw signal in µV, ``(n_samples, n_channels)``; NaN marks lost samples.
    fs_hz : float
        Sample rate in hertz.
    filtered_uv : array_like, optional
        Band-passed signal (for the SNR); ``x_uv`` is used when not given.
    counts : array_like, optional
        ADC counts, same shape (for clipping and rails); derived from ``x_uv`` and the
        calibration when not given.
    calibration : sequence of ChannelCalibration, optional
        Per channel (ADC rails and quantisation step).
    mains_hz : float, optional
        50 or 60; detected when None.
    lost_samples : int or sequence of int, optional
        Samples lost per channel (e.g. the decoder's ``lost_samples`` counter), added to
        the NaN samples.
    band_hz : tuple of float
        EMG band used for the mains ratio.

    Returns
    -------
    list of dict
        Per channel: ``mains_hz``, ``mains_ratio``, ``clipped_pct``, ``electrode_off``,
        ``ecg``, ``ecg_rate_bpm``, ``snr_db``, ``lost_pct``, ``flags`` (list of short
        names: ``mains``, ``clipping``, ``electrode_off``, ``ecg``, ``lost``) and
        ``advice`` (list of sentences).
    """
    x = np.asarray(x_uv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n, n_ch = x.shape
    filt = x if filtered_uv is None else np.asarray(filtered_uv, dtype=np.float64)
    if filt.ndim == 1:
        filt = filt[:, None]
    if np.isscalar(lost_samples) or lost_samples is None:
        lost = [int(lost_samples or 0)] * n_ch
    else:
        lost = [int(v) for v in lost_samples]
    out = []
    for c in range(n_ch):
        xc = x[:, c]
        cal = calibration[c] if calibration is not None else None
        ratio, mains = mains_ratio(xc, fs_hz, mains_hz, band_hz)
        if counts is not None:
            cc = np.asarray(counts)[:, c] if np.ndim(counts) == 2 else np.asarray(counts)
        elif cal is not None and cal.uv_per_count > 0:
            cc = cal.to_counts(np.where(np.isfinite(xc), xc, cal.offset_counts))
        else:
            cc = None
        if cc is not None and cal is not None:
            clipped = clipped_percent(cc, cal.adc_min, cal.adc_max)
            off, off_reason = electrode_off(cc, fs_hz, 0.0, (cal.adc_min, cal.adc_max))
        else:
            clipped = 0.0
            off, off_reason = electrode_off(xc, fs_hz, 0.01)
        ecg, rate, _ = ecg_contamination(xc, fs_hz)
        n_nan = int(np.count_nonzero(~np.isfinite(xc)))
        total_lost = n_nan + lost[c]
        lost_pct = 100.0 * total_lost / max(n + lost[c], 1)
        flags, advice = [], []
        if ratio > MAINS_FLAG_RATIO:
            flags.append("mains")
            advice.append(f"mains hum at {mains:g} Hz is {100 * ratio:.0f}% of the EMG band "
                          "power: check the reference electrode, run on battery, enable the "
                          f"{mains:g} Hz notch")
        if clipped > CLIP_FLAG_PCT:
            flags.append("clipping")
            advice.append(f"{clipped:.1f}% of samples at an ADC rail: lower the gain")
        if off:
            flags.append("electrode_off")
            advice.append(f"electrode off? signal {off_reason}: check the electrodes and leads")
        if ecg:
            flags.append("ecg")
            advice.append(ECG_ADVICE)
        if lost_pct > 0.1:
            flags.append("lost")
            advice.append(f"{lost_pct:.2f}% of samples lost: check the cable and baud rate")
        out.append({
            "mains_hz": float(mains),
            "mains_ratio": float(ratio),
            "clipped_pct": float(clipped),
            "electrode_off": bool(off),
            "electrode_off_reason": off_reason,
            "ecg": bool(ecg),
            "ecg_rate_bpm": float(rate),
            "snr_db": float(snr_db(filt[:, c], fs_hz)),
            "lost_pct": float(lost_pct),
            "flags": flags,
            "advice": advice,
        })
    return out
