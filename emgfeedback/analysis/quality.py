"""Signal quality per channel: mains hum, clipping, electrode off, ECG, SNR, lost samples.

Each measure is computed on the *raw* signal in µV (before the band-pass, so that hum and
ECG are visible) and, for clipping and rails, on the ADC counts when the calibration is
known. Thresholds are module constants, documented in ``docs/analysis.md``.

Which checks run depends on the channel's output kind (:data:`CHECKS_BY_KIND`): every kind
gets clipping, electrode off (rail or flat line), SNR and lost samples. The mains ratio
needs the bipolar signal's spectrum, so it is only measured on RAW and µV channels (an
envelope has no 50 Hz line left, and a rectified signal has its hum folded to DC and 2f);
ECG is looked for on RAW, µV and RECT channels. On RECT and ENV channels zero is the
natural resting level, so only the upper ADC rail counts as clipping or a rail.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from emgfeedback.analysis._docs import shared_params
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
#: A filtered signal whose RMS is below this (µV) is the filters' floating-point rounding,
#: e.g. a constant channel (stuck at an ADC rail, unplugged) through the band-pass or the
#: ECG band: no SNR and no ECG is read from it (1 pV: far below any amplifier's noise,
#: ~0.3 µV, and far above the rounding of a constant of 10^6 µV, ~10^-9 µV).
NUMERICAL_ZERO_UV = 1e-6
ECG_ADVICE = "ECG on this channel: high-pass at 30 Hz (PipelineConfig(highpass_hz=30.0))"
#: Checks run per output kind (``snr`` and ``lost`` always run).
CHECKS_BY_KIND = {
    "raw": ("mains", "clipping", "electrode_off", "ecg"),
    "uv": ("mains", "clipping", "electrode_off", "ecg"),
    "rect": ("clipping", "electrode_off", "ecg"),
    "env": ("clipping", "electrode_off"),
}


@shared_params
def mains_ratio(x_uv, fs_hz: float, mains_hz: float | None = None,
                band_hz=(20.0, 450.0)) -> tuple[float, float]:
    """Power at the mains frequency and its harmonics relative to the EMG-band power.

    The excess over the neighbouring spectrum (Welch, 1 Hz bins) within ±1 Hz of each
    harmonic inside the band is summed and divided by the power in ``band_hz``.

    Parameters
    ----------
    x_uv : array_like
        One channel of raw signal in µV.
    {fs_hz}
    mains_hz : float, optional
        50 or 60; when None both are tried and the stronger is reported.
    band_hz : tuple of float
        EMG band in hertz.

    Returns
    -------
    tuple of float
        ``(ratio, mains_hz)``.
    """
    return _run_steps(_mains_steps(x_uv, fs_hz, mains_hz, band_hz))


def _run_steps(steps):
    """Run a generator of steps to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def mains_ratio_from_psd(f, p, fs_hz: float, mains_hz: float | None = None,
                         band_hz=(20.0, 450.0)) -> tuple[float, float]:
    """:func:`mains_ratio` from a Welch spectrum ``(f, p)`` (for recordings read in blocks,
    whose spectrum is averaged block by block)."""
    f = np.asarray(f, dtype=np.float64)
    df = f[1] - f[0]
    lo, hi = band_hz[0], min(band_hz[1], 0.49 * fs_hz)
    # Which bins are in the band and near each line depends on the frequencies only: built
    # once per spectrum geometry (the quality steps run on the engine thread).
    band, rows = _line_geometry(f.tobytes(), float(lo), float(hi), mains_hz)
    band_power = float(np.sum(p[band]) * df)
    if band_power <= 0:
        return 0.0, mains_hz or 50.0
    best = (0.0, mains_hz or 50.0)
    for m, geometry in rows:
        excess = 0.0
        if geometry is not None:
            idx, line, side, positive, middle_at, harmonics = geometry
            ps = p[idx]
            # The median of each row's side bins (mean of the two middle ones), 0 if none.
            ordered = np.sort(np.where(side, ps, np.inf), axis=1)
            middle = 0.5 * (ordered[harmonics, middle_at[0]] + ordered[harmonics, middle_at[1]])
            floor = np.where(positive, middle, 0.0)
            over = np.where(line, np.maximum(ps - floor[:, None], 0.0), 0.0)
            for e in over.sum(axis=1):  # harmonic by harmonic, in order
                excess += float(e * df)
        ratio = excess / band_power
        if ratio >= best[0]:
            best = (ratio, m)
    return best


@functools.lru_cache(maxsize=32)
def _line_geometry(f_bytes: bytes, lo: float, hi: float, mains_hz):
    """The band's bins (a slice: ``f`` ascends) and, per candidate mains frequency, the
    bins around its harmonics inside the band: ``(m, None)`` without any, else ``(m,
    (idx, line, side, has_side, middle_at, harmonics))`` with one row of neighbouring bins
    per harmonic, padded (``line``: within ±(1 Hz + half a bin) of it; ``side``: 3-8 Hz
    away; ``middle_at``: the row positions of the side bins' two middle values)."""
    f = np.frombuffer(f_bytes, dtype=np.float64)
    df = f[1] - f[0]
    in_band = np.flatnonzero((f >= lo) & (f <= hi))
    band = slice(int(in_band[0]), int(in_band[-1]) + 1) if in_band.size else slice(0, 0)
    # Only the bins within `reach` of a line can be in its line or side masks. All the
    # harmonics are taken at once: a loop over them cost ~30 µs per harmonic.
    reach = max(8.0, 1.0 + 0.5 * df) + abs(df)
    rows = []
    for m in ([mains_hz] if mains_hz else [50.0, 60.0]):
        fk = m * np.arange(1, int(hi // m) + 2)
        fk = fk[(fk >= lo) & (fk <= hi)]
        if not fk.size:
            rows.append((m, None))
            continue
        a, b = np.searchsorted(f, fk - reach), np.searchsorted(f, fk + reach)
        idx = a[:, None] + np.arange(max(int(np.max(b - a)), 1))
        inside = idx < b[:, None]
        idx = np.minimum(idx, f.size - 1)
        dist = np.abs(f[idx] - fk[:, None])
        line = inside & (dist <= 1.0 + 0.5 * df)
        side = inside & (dist > 3.0) & (dist <= 8.0)
        count = side.sum(axis=1)
        middle_at = (np.maximum(count - 1, 0) // 2, count // 2)
        arrays = (idx, line, side, count > 0, *middle_at, np.arange(fk.size))
        for a in arrays:  # shared by every later call: read only
            a.flags.writeable = False
        rows.append((m, (arrays[0], arrays[1], arrays[2], arrays[3], arrays[4:6], arrays[6])))
    return band, tuple(rows)


def clipped_percent(counts, adc_min: int, adc_max: int) -> float:
    """Percentage of samples at either ADC rail."""
    c = np.asarray(counts).ravel()
    if c.size == 0:
        return 0.0
    return 100.0 * float(np.count_nonzero((c <= adc_min) | (c >= adc_max))) / c.size


@shared_params
def electrode_off(counts_or_uv, fs_hz: float, flat_step: float, rails=None) -> tuple[bool, str]:
    """Whether a channel looks disconnected: flat, or sitting at a rail, most of the time.

    Parameters
    ----------
    counts_or_uv : array_like
        One channel (counts when ``flat_step`` is a count, µV otherwise).
    {fs_hz}
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
    return electrode_off_from_windows(flat, at_rail)


def electrode_off_from_windows(flat, at_rail) -> tuple[bool, str]:
    """:func:`electrode_off` from its per-second window flags (flat, mostly at a rail)."""
    flat = np.asarray(flat, dtype=bool)
    at_rail = np.asarray(at_rail, dtype=bool)
    n_win = flat.size
    if n_win == 0:
        return False, ""
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
    return _run_steps(_ecg_steps(x_uv, fs_hz))


def _ecg_low(x, fs_hz: float) -> np.ndarray:
    # SciPy-free (analysis/zero_phase.py): this runs in every recording process.
    from emgfeedback.analysis.zero_phase import sosfiltfilt

    return sosfiltfilt(_ecg_sos(float(fs_hz)), x)


@functools.lru_cache(maxsize=16)
def _ecg_sos(fs_hz: float) -> np.ndarray:
    # The 5-30 Hz band-pass (designing it costs as much as filtering a 2 s window), with
    # SciPy's coefficients bit for bit (dsp/iir_design.py) without importing SciPy.
    from emgfeedback.dsp.iir_design import butter_sos

    sos = butter_sos(2, [5.0, min(30.0, 0.45 * fs_hz)], "bandpass", fs_hz)
    sos.flags.writeable = False
    return sos


def _ecg_energy(low, fs_hz: float) -> np.ndarray:
    # Low-band energy (squared, smoothed over 40 ms), at the full rate.
    energy = low * low
    k = max(int(0.04 * fs_hz), 1)
    return np.convolve(energy, np.ones(k) / k, mode="same")


def ecg_from_energy(e, fs_e: float) -> tuple[bool, float, float]:
    """:func:`ecg_contamination` from its decimated low-band energy ``e`` (rate ``fs_e``)."""
    e = np.asarray(e, dtype=np.float64)
    if not e.size or e.mean() < NUMERICAL_ZERO_UV ** 2:
        # No low-band energy but rounding (a constant channel): its autocorrelation is that
        # of the rounding, which can peak anywhere (a stuck channel read "ECG 92 bpm").
        return False, math.nan, 0.0
    e = e - e.mean()
    if not np.any(e):
        return False, math.nan, 0.0
    n = e.size
    spec = np.fft.rfft(e, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    ac = ac / ac[0]
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
    return snr_from_window_rms(rms)


def snr_from_window_rms(rms) -> float:
    """:func:`snr_db` from the window RMS values.

    NaN (not measured) with fewer than 2 windows, or when the rest level (10th percentile)
    is below :data:`NUMERICAL_ZERO_UV`: a flat rest (a constant channel, a channel at an ADC
    rail) has no noise to compare the activity with, and its ratio would be one of rounding
    errors (hundreds of dB).
    """
    rms = np.asarray(rms, dtype=np.float64)
    rms = rms[np.isfinite(rms)].ravel()
    if rms.size < 2:
        return math.nan
    lo, hi = _percentiles_linear(rms, (10.0, 95.0))
    return 20.0 * math.log10(hi / lo) if lo >= NUMERICAL_ZERO_UV else math.nan


def _percentiles_linear(values: np.ndarray, q) -> np.ndarray:
    # np.percentile(values, q) (method "linear") of a 1-D array without NaN, with NumPy's
    # index arithmetic and interpolation (protocol.accumulate.percentiles does the same from
    # order statistics; tests compare both with NumPy): the same bits at a third of the
    # cost, which matters on the engine thread (a quality step per channel).
    s = np.sort(values)
    n = s.size
    virtual = (n - 1) * (np.asarray(q, dtype=np.float64) / 100.0)
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev[above] = n - 1
    nxt[above] = n - 1
    a, b = s[prev.astype(np.int64)], s[nxt.astype(np.int64)]
    gamma = virtual - np.floor(virtual)
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


@shared_params
def assess_quality(x_uv, fs_hz: float, filtered_uv=None, counts=None, calibration=None,
                   mains_hz: float | None = None, lost_samples=None,
                   band_hz=(20.0, 450.0), output_kinds=None) -> list[dict]:
    """Quality measures and flags per channel.

    Parameters
    ----------
    x_uv : array_like
        Raw signal in µV, ``(n_samples, n_channels)``; NaN marks lost samples.
    {fs_hz}
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
    output_kinds : sequence of str, optional
        Output kind per channel (``raw``, ``uv``, ``rect``, ``env``); taken from the
        calibration when not given, else ``raw``. Decides the checks
        (:data:`CHECKS_BY_KIND`).

    Returns
    -------
    list of dict
        Per channel: ``output`` (the kind), ``checks`` (the checks run), ``mains_hz``,
        ``mains_ratio`` (NaN when not measured), ``clipped_pct``, ``electrode_off``,
        ``ecg``, ``ecg_rate_bpm``, ``snr_db``, ``lost_pct``, ``flags`` (list of short
        names: ``mains``, ``clipping``, ``electrode_off``, ``ecg``, ``lost``) and
        ``advice`` (list of sentences).
    """
    return _run_steps(assess_quality_steps(x_uv, fs_hz, filtered_uv, counts, calibration,
                                           mains_hz, lost_samples, band_hz, output_kinds))


def assess_quality_steps(x_uv, fs_hz: float, filtered_uv=None, counts=None, calibration=None,
                         mains_hz: float | None = None, lost_samples=None,
                         band_hz=(20.0, 450.0), output_kinds=None):
    """:func:`assess_quality` in small steps, for callers that must not block for long.

    A generator: each ``next()`` does one measure of one channel (the mains spectrum, the
    rails and flat lines, the ECG search, ...) and yields its name; the list of per-channel
    dictionaries is the ``StopIteration`` value. Same arguments and same results as
    :func:`assess_quality`, which is this generator run to its end. The caller must not
    change the arrays it passed until the generator has finished.

    Yields
    ------
    str
        The name of the step just done (``mains_psd``, ``mains_lines``, ``rails``,
        ``ecg_filter``, ``ecg_energy``, ``ecg_snr``), for profiling.
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
    if output_kinds is None:
        output_kinds = [getattr(calibration[c], "output", "raw") if calibration is not None
                        else "raw" for c in range(n_ch)]
    out = []
    for c in range(n_ch):
        xc = x[:, c]
        cal = calibration[c] if calibration is not None else None
        kind = str(output_kinds[c] or "raw").lower()
        checks = CHECKS_BY_KIND.get(kind, CHECKS_BY_KIND["raw"])
        if "mains" in checks:
            ratio, mains = yield from _mains_steps(xc, fs_hz, mains_hz, band_hz)
        else:
            ratio, mains = math.nan, (mains_hz or math.nan)
        one_sided = kind in ("rect", "env")
        if counts is not None:
            cc = np.asarray(counts)[:, c] if np.ndim(counts) == 2 else np.asarray(counts)
        elif cal is not None and cal.uv_per_count > 0:
            cc = cal.to_counts(np.where(np.isfinite(xc), xc, cal.offset_counts))
        else:
            cc = None
        if cc is not None and cal is not None:
            # Zero is where a rectified signal or an envelope rests: only the top rail clips.
            low = cal.adc_min - 1 if one_sided else cal.adc_min
            # Of the samples received (the lost ones are lost_pct): a channel at the rail
            # for every sample it has is 100 % clipped, as the live 2 s windows say.
            present = np.isfinite(xc)
            clipped = clipped_percent(cc if present.all() else cc[present], low, cal.adc_max)
            off, off_reason = electrode_off(cc, fs_hz, 0.0, (low, cal.adc_max))
        else:
            clipped = 0.0
            off, off_reason = electrode_off(xc, fs_hz, 0.01)
        yield "rails"
        if "ecg" in checks:
            ecg, rate, _ = yield from _ecg_steps(xc, fs_hz)
        else:
            ecg, rate = False, math.nan
        n_nan = int(np.count_nonzero(~np.isfinite(xc)))
        total_lost = n_nan + lost[c]
        lost_pct = 100.0 * total_lost / max(n + lost[c], 1)
        snr = snr_db(filt[:, c], fs_hz)
        out.append(channel_quality(kind, checks, ratio, mains, clipped, off, off_reason, ecg,
                                   rate, snr, lost_pct))
        yield "ecg_snr"
    return out


def _mains_steps(xc, fs_hz: float, mains_hz, band_hz):
    # mains_ratio() in small steps: Welch's spectrum (scipy.signal.welch's defaults:
    # periodic Hann window, 50 % overlap, constant detrend, one-sided density) one segment
    # per step (one FFT of about a second of signal), then the lines. NumPy only, with the
    # arithmetic of analysis.blocks.Welch fed the same samples: no SciPy in the recording
    # process, and no window built per channel (that cost as much as a segment).
    x = np.asarray(xc, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    nper = int(min(x.size, round(fs_hz)))
    if nper < 64:
        return math.nan, mains_hz or math.nan
    win, scale = _hann(nper), _density_scale(nper, float(fs_hz))
    x = x - x.mean()
    step = nper - nper // 2
    total = np.zeros(nper // 2 + 1)
    count = 0
    for start in range(0, x.size - nper + 1, step):
        seg = x[start:start + nper]
        seg = seg - seg.mean()
        seg *= win
        spec = np.fft.rfft(seg)
        p = np.square(spec.real)
        p += np.square(spec.imag)
        p *= scale
        if nper % 2:
            p[1:] *= 2.0
        else:
            p[1:-1] *= 2.0
        total += p
        count += 1
        yield "mains_psd"
    f = np.fft.rfftfreq(nper, 1.0 / fs_hz)
    ratio = mains_ratio_from_psd(f, total / max(count, 1), fs_hz, mains_hz, band_hz)
    yield "mains_lines"
    return ratio


@functools.lru_cache(maxsize=16)
def _hann(n: int) -> np.ndarray:
    # scipy.signal.get_window("hann", n), bit for bit without SciPy, built once per length.
    from emgfeedback.analysis.blocks import hann_window

    w = hann_window(n)
    w.flags.writeable = False
    return w


@functools.lru_cache(maxsize=16)
def _density_scale(n: int, fs_hz: float) -> float:
    # Welch's density scaling: 1 / (fs · Σ w²).
    win = _hann(n)
    return 1.0 / (fs_hz * float(np.sum(win * win)))


def _ecg_steps(x_uv, fs_hz: float):
    # ecg_contamination() in two steps (the filter, then the energy's autocorrelation).
    x = np.asarray(x_uv, dtype=np.float64).ravel()
    if x.size < 4 * fs_hz:
        return False, math.nan, 0.0
    low = _ecg_low(np.where(np.isfinite(x), x, 0.0), fs_hz)
    yield "ecg_filter"
    energy = _ecg_energy(low, fs_hz)
    # Decimate to 100 Hz for a cheap autocorrelation.
    step = max(int(fs_hz // 100), 1)
    found = ecg_from_energy(energy[::step], fs_hz / step)
    yield "ecg_energy"
    return found


def channel_quality(kind: str, checks, ratio: float, mains: float, clipped: float, off: bool,
                    off_reason: str, ecg: bool, rate: float, snr: float,
                    lost_pct: float) -> dict:
    """One channel's quality dictionary (flags and advice) from its measures
    (see :func:`assess_quality`)."""
    flags, advice = [], []
    if ratio > MAINS_FLAG_RATIO:  # False for NaN (not measured)
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
    return {
        "output": kind,
        "checks": list(checks),
        "mains_hz": float(mains),
        "mains_ratio": float(ratio),
        "clipped_pct": float(clipped),
        "electrode_off": bool(off),
        "electrode_off_reason": off_reason,
        "ecg": bool(ecg),
        "ecg_rate_bpm": float(rate),
        "snr_db": float(snr),
        "lost_pct": float(lost_pct),
        "flags": flags,
        "advice": advice,
    }
