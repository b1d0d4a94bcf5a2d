"""One definition of each resting quantity: noise floor, resting tone, baseline, static level.

Every path that shows one of these numbers (``analyze``, ``baseline``, ``report``,
``history``, a protocol's baseline phase, ``run --subject`` and the GUI's goals) computes it
here, so one session gives one number. ``docs/analysis.md`` ("What each number means")
states the definitions for users; in short:

* **noise floor** (``noise_floor_uv``): the RMS, in the analysis band, of what the
  measurement adds by itself: quantisation ``q/√12`` (spread over 0..fs/2, so scaled to the
  band) combined with the sensor's input noise, or a measured floor if larger.
* **resting tone** (``resting_tone_uv``): the RMS of the EMG at rest *in the analysis band*
  (20-450 Hz by default), with the floor removed in quadrature. It is estimated on the
  band-passed, notched signal, and what the pipeline's filters took from the band (the
  band-pass skirts, the mains notches) is given back from the measured spectrum: the
  estimate is unbiased for any spectrum and any hum (see :func:`filter_power_ratio`).
* **baseline** (``baseline_mean_uv``): the mean of the feedback envelope (the pipeline's
  moving RMS, what the bars show) over a baseline period, floor and all. Goals in
  "baseline" units are multiples of it, whether it came from ``baseline``, from a
  protocol's baseline phase or from the GUI's capture.
* **static level** (``static_level_p10_uv``): the 10th percentile of the 100 ms moving-RMS
  envelope over the analysed span (the APDF "static level" of ergonomics).

* **detector rest floor** (:func:`onset_rest_floor`): the lowest rest level an onset
  detector may assume on a channel read with a quantisation step ``q``: the statistic it
  compares (mean and SD of its detection envelope, mean conditioned power) for a signal
  that flickers between two adjacent codes half the time each, the largest power
  (``q²/4``) a rest that moves by less than one step can record, after the pipeline's
  filters (their white-noise power gain, computed from the design).

Padding, gaps and the filters' settling after the start of the stream and after each gap
are never rest (:func:`usable_samples`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from emgfeedback.analysis._docs import shared_params
from emgfeedback.errors import ConfigError
from emgfeedback.types import quantisation_floor_uv

#: Length of the windows the resting tone is measured over, seconds.
TONE_WINDOW_S = 0.5
#: Samples this long after the start of a stream or the end of a gap are filter settling,
#: not rest, seconds.
SETTLE_S = 0.5
#: A tone must be at least this many times the floor to count as a measurement.
VALID_FLOOR_RATIO = 2.0
#: Notch response (power) below which the spectrum is interpolated rather than divided.
_NOTCH_KEEP = 0.3
#: How far the mains frequency may drift from nominal, Hz.
_MAINS_DRIFT_HZ = 0.5
#: Band-pass response (power) below which a bin is not used to estimate the input spectrum.
_BAND_KEEP = 0.05
#: Mean square, in steps², of the loudest signal a rest below one quantisation step can
#: record: two adjacent codes, half the time each (a ±q/2 flicker), ``q²/4``. Uniform
#: quantisation noise, ``q²/12``, is the average over where the input sits between two
#: codes; a rest quieter than one step records anything from one constant code (0) to this
#: as its level drifts across a code boundary (docs/analysis.md, "Quantisation floor").
FLICKER_POWER_PER_STEP2 = 0.25
#: Seconds of the two-code sequence :func:`onset_rest_floor` measures the detector's
#: statistic over, after :data:`_FLOOR_SETTLE_S` of filter settling.
_FLOOR_SEQUENCE_S = 60.0
_FLOOR_SETTLE_S = 2.0


def noise_floor_uv(calibration=None, fs_hz: float | None = None, band_hz=None,
                   measured_uv: float | None = None,
                   quantisation_uv: float | None = None) -> float:
    """Noise floor of one channel in µV RMS, in the analysis band.

    Parameters
    ----------
    calibration : ChannelCalibration, optional
        The channel's calibration (quantisation step and sensor noise).
    fs_hz : float, optional
        Sample rate, needed to scale quantisation noise to ``band_hz``.
    band_hz : tuple of float, optional
        ``(low, high)`` analysis band in hertz; quantisation noise outside it is removed.
    measured_uv : float, optional
        A measured floor (band-passed RMS with shorted inputs), µV; wins when larger.
    quantisation_uv : float, optional
        The quantisation step in µV when no calibration is known (e.g. estimated from a
        file's values); ignored when ``calibration`` is given.

    Returns
    -------
    float
        The floor in µV RMS (0 when nothing is known).
    """
    step = calibration.uv_per_count if calibration is not None else quantisation_uv
    sensor = calibration.sensor_noise_uv if calibration is not None else 0.0
    fraction = 1.0
    if band_hz is not None and fs_hz:
        low, high = band_hz
        high = min(high, fs_hz / 2.0)
        fraction = max(high - low, 0.0) / (fs_hz / 2.0)
    theoretical = quantisation_floor_uv(step, sensor, fraction)
    if measured_uv is not None:
        if not (math.isfinite(measured_uv) and measured_uv >= 0):
            raise ConfigError(f"measured floor {measured_uv!r} µV: expected a number >= 0")
        return max(theoretical, float(measured_uv))
    return theoretical


@shared_params
def usable_samples(raw_uv, fs_hz: float, settle_s: float = SETTLE_S,
                   flat_s: float = 0.25) -> np.ndarray:
    """Samples that may count as rest: present, not padding, and after the filters settled.

    A sample is unusable when it is missing (NaN: a gap or padding), within ``settle_s``
    after the start or after a missing stretch (causal filters ring there), or part of a
    run of at least ``flat_s`` of identical values (padding written as a constant, or a
    disconnected input) in a channel that is not flat most of the time (a very quiet
    muscle behind a coarse ADC legitimately reads one count for seconds: its tone is then
    "below the floor", not "no rest").

    Parameters
    ----------
    raw_uv : array_like
        Unfiltered signal in µV, ``(n_samples, n_channels)`` (or 1-D).
    {fs_hz}
    settle_s, flat_s : float
        Settling time and shortest flat run, seconds.

    Returns
    -------
    numpy.ndarray
        Boolean, same shape as ``raw_uv`` (2-D).
    """
    x = np.asarray(raw_uv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n, n_ch = x.shape
    ok = np.isfinite(x)
    flat_n = max(int(round(flat_s * fs_hz)), 2)
    for c in range(n_ch):
        col = x[:, c]
        same = np.zeros(n, dtype=bool)
        if n > 1:
            same[1:] = col[1:] == col[:-1]
        starts, stops = _runs(same)
        long = (stops - starts + 1) >= flat_n
        if np.sum(stops[long] - starts[long] + 1) > 0.5 * n:
            continue  # flat most of the time: the signal, not padding
        for a, b in zip(starts[long], stops[long], strict=True):
            ok[max(a - 1, 0):b, c] = False
    settle = int(round(settle_s * fs_hz))
    if settle:
        for c in range(n_ch):
            bad = ~ok[:, c]
            # Resumes: the first good sample after a bad one, and the very first sample.
            resume = np.flatnonzero(~bad & np.r_[True, bad[:-1]])
            for r in resume:
                ok[r: r + settle, c] = False
    return ok


def _runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) stops of the True runs of a boolean vector."""
    d = np.diff(np.r_[0, flags.astype(np.int8), 0])
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


@shared_params
def filter_power_ratio(rest_windows_uv, fs_hz: float, pipeline) -> float:
    """Power of the input in the analysis band over the power measured after the filters.

    The filtered rest signal's spectrum ``P(f) = S(f)·|H(f)|²`` is measured (Welch over the
    rest windows). Where the pipeline's band-pass and high-pass pass the signal, ``S`` is
    recovered as ``P / |H|²``; around each mains notch, where ``|H|²`` changes faster than a
    spectral bin and any hum sits, ``S`` is interpolated from the neighbouring bins. The
    ratio ``∫ S df`` over the band to ``∫ P df`` over all frequencies turns the measured
    mean square into the band's: it gives back what the notches and the band-pass skirts
    removed from the EMG (5-10 % of the RMS of broadband EMG), and leaves the hum out.

    Parameters
    ----------
    rest_windows_uv : array_like
        ``(n_windows, window_samples)`` filtered rest samples, µV.
    {fs_hz}
    pipeline : PipelineConfig
        The processing the samples went through.

    Returns
    -------
    float
        The power ratio (1.0 when there is too little rest to tell).
    """

    xs = np.asarray(rest_windows_uv, dtype=np.float64)
    if xs.ndim != 2 or xs.shape[0] == 0 or xs.shape[1] < 16:
        return 1.0
    from scipy import signal  # only the analysis paths need it, not recording

    f, p = signal.welch(xs, fs=fs_hz, nperseg=xs.shape[1], axis=1)
    return filter_power_ratio_from_psd(f, np.mean(p, axis=0), fs_hz, pipeline)


def filter_power_ratio_from_psd(f, p, fs_hz: float, pipeline) -> float:
    """:func:`filter_power_ratio` from the rest windows' mean Welch spectrum ``(f, p)``
    (one segment per window; for recordings read in blocks)."""
    from emgfeedback.dsp.iir_design import sos_response
    from emgfeedback.dsp.pipeline import design_stages

    measured = float(np.sum(p))
    if not measured > 0:
        return 1.0
    smooth = np.ones_like(f)
    notch = np.ones_like(f)
    for name, sos in design_stages(pipeline):
        h = sos_response(sos, f, fs_hz)  # scipy.signal.sosfreqz's values, without SciPy
        if name == "notch":
            notch *= np.abs(h) ** 2
        else:
            smooth *= np.abs(h) ** 2
    lo, hi = pipeline.band_hz
    if pipeline.highpass_hz:
        lo = max(lo, float(pipeline.highpass_hz))
    hi = min(hi, 0.5 * fs_hz)
    in_band = (f >= lo) & (f <= hi)
    # Around each mains harmonic (± 2 bins, whatever the notch) any hum left over leaks into
    # the neighbouring bins, and the notch's response changes faster than a bin.
    dip = notch < _NOTCH_KEEP
    if pipeline.notch_hz:
        df = float(f[1] - f[0])
        k = np.maximum(np.rint(f / pipeline.notch_hz), 1.0)
        dip |= np.abs(f - k * pipeline.notch_hz) <= 2.0 * df + _MAINS_DRIFT_HZ
    good = in_band & ~dip & (smooth > _BAND_KEEP)
    if np.count_nonzero(good) < 3:
        return 1.0
    est = np.zeros_like(f)
    est[good] = p[good] / (smooth[good] * notch[good])
    fill = in_band & ~good
    est[fill] = np.interp(f[fill], f[good], est[good])
    weight = in_band.astype(np.float64)
    # Trapezoid over the band: the edge bins count half.
    edges = np.flatnonzero(in_band)
    weight[edges[0]] = weight[edges[-1]] = 0.5
    return float(np.sum(est * weight)) / measured


def tone_from_windows(window_ms_uv2, power_ratio: float,
                      floor_uv: float) -> tuple[float, float, bool, str]:
    """The resting tone from the mean squares of the rest windows: the one formula.

    The raw in-band RMS is the square root of the median window mean square (robust to a
    stray twitch) times what the filters took from the band (:func:`filter_power_ratio`);
    the tone is that RMS with the floor removed in quadrature, ``√(raw² − floor²)``, and
    is a measurement only when at least :data:`VALID_FLOOR_RATIO` × the floor.

    Parameters
    ----------
    window_ms_uv2 : array_like
        Mean square of each rest window, µV² (at least one).
    power_ratio : float
        :func:`filter_power_ratio` of those windows (1.0 for unfiltered outputs).
    floor_uv : float
        The channel's noise floor, µV RMS.

    Returns
    -------
    tone_uv, raw_rms_uv : float
        The floor-corrected tone and the in-band RMS before the correction, µV.
    valid : bool
        Whether the tone is a measurement.
    reason : str
        Why not ("" when valid).
    """
    floor = float(floor_uv)
    raw = math.sqrt(float(np.median(window_ms_uv2)) * power_ratio)
    tone = math.sqrt(max(raw * raw - floor * floor, 0.0))
    valid = bool(tone >= VALID_FLOOR_RATIO * floor and tone > 0)
    reason = "" if valid else (
        f"tone {tone:.2f} µV is below {VALID_FLOOR_RATIO:g}× the noise floor "
        f"({floor:.2f} µV): not a measurement")
    return tone, raw, valid, reason


def _envelope_and_usable(envelope_uv, usable) -> tuple[np.ndarray, np.ndarray]:
    """An envelope as ``(n, channels)`` float64 and the mask of its usable finite samples."""
    env = np.asarray(envelope_uv, dtype=np.float64)
    if env.ndim == 1:
        env = env[:, None]
    ok = np.isfinite(env)
    if usable is not None:
        use = np.asarray(usable, dtype=bool)
        ok &= use if use.ndim == 2 else use[:, None]
    return env, ok


def baseline_mean_uv(envelope_uv, usable=None) -> np.ndarray:
    """Baseline per channel: the mean feedback envelope over a baseline period, µV.

    Parameters
    ----------
    envelope_uv : array_like
        The pipeline's envelope over the baseline period, ``(n_samples, n_channels)`` or
        1-D; NaN marks lost samples.
    usable : array_like of bool, optional
        Samples to use (:func:`usable_samples`); default: every finite sample.

    Returns
    -------
    numpy.ndarray
        One value per channel (NaN where no sample is usable).
    """
    env, ok = _envelope_and_usable(envelope_uv, usable)
    count = ok.sum(axis=0)
    total = np.where(ok, env, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def static_level_uv(envelope_uv, usable=None) -> np.ndarray:
    """Static level per channel: 10th percentile of the envelope (APDF p10), µV."""
    return apdf_uv(envelope_uv, usable)[0]


def apdf_uv(envelope_uv, usable=None, percentiles=(10, 50, 90)) -> np.ndarray:
    """APDF percentiles per channel of an envelope over its usable samples, µV.

    Returns
    -------
    numpy.ndarray
        ``(len(percentiles), n_channels)``; NaN where no sample is usable.
    """
    env, ok = _envelope_and_usable(envelope_uv, usable)
    out = np.full((len(percentiles), env.shape[1]), np.nan)
    for c in range(env.shape[1]):
        v = env[ok[:, c], c]
        if v.size:
            out[:, c] = np.percentile(v, percentiles)
    return out


@shared_params
def rest_quantities(raw_uv, filtered_uv, fs_hz: float, pipeline, floors_uv,
                    envelope_uv=None, output_kinds=None) -> tuple[list[dict], np.ndarray]:
    """Every resting quantity of a recording, per channel, by the one rule all paths share.

    Rest is found in the usable samples (:func:`usable_samples`: never padding, gaps or
    filter settling) with :func:`~emgfeedback.analysis.rest.rest_mask`; the tone is
    measured over it (:func:`~emgfeedback.analysis.tone.resting_tone`).

    Parameters
    ----------
    raw_uv : array_like
        Unfiltered signal in µV, ``(n_samples, n_channels)``, NaN where missing.
    filtered_uv : array_like
        The pipeline's filtered signal (same shape; any value where ``raw_uv`` is NaN).
    {fs_hz}
    pipeline : PipelineConfig
        The processing that produced ``filtered_uv``.
    floors_uv : sequence of float
        Noise floor per channel (:func:`noise_floor_uv`).
    envelope_uv : array_like, optional
        The pipeline's envelope over a *baseline period* (the person was told to relax):
        adds ``baseline_mean_uv`` (:func:`baseline_mean_uv` over the usable samples).
    output_kinds : sequence of str, optional
        Sensor output per channel (``raw``, ``uv``, ``rect``, ``env``).

    Returns
    -------
    channels : list of dict
        Per channel: ``resting_tone_uv``, ``noise_floor_uv``, ``tone_valid``, ``tone_note``,
        ``raw_rest_rms_uv``, ``rest_s``, ``static_level_p10_uv``, ``apdf_p50_uv``,
        ``apdf_p90_uv`` (and ``baseline_mean_uv``).
    rest : numpy.ndarray
        The boolean rest mask, ``(n_samples, n_channels)``.
    """
    from emgfeedback.analysis.rest import rest_mask
    from emgfeedback.analysis.tone import resting_tone

    filtered = np.asarray(filtered_uv, dtype=np.float64)
    if filtered.ndim == 1:
        filtered = filtered[:, None]
    usable = usable_samples(raw_uv, fs_hz)
    env_cols = [c for c, k in enumerate(output_kinds or ()) if k == "env"]
    if env_cols:
        # A smooth envelope read with a coarse ADC step holds one value for seconds at rest:
        # on ENV channels only a flat run as long as quality's flat-line rule is unusable.
        from emgfeedback.analysis.quality import FLAT_RUN_S

        raw2 = np.asarray(raw_uv, dtype=np.float64).reshape(len(usable), -1)
        usable[:, env_cols] = usable_samples(raw2[:, env_cols], fs_hz, flat_s=FLAT_RUN_S)
    mask = rest_mask(np.where(usable, filtered, np.nan), fs_hz, window_s=TONE_WINDOW_S) & usable
    tones = resting_tone(filtered, fs_hz, floors_uv=floors_uv, rest=mask,
                         window_s=TONE_WINDOW_S, pipeline=pipeline, usable=usable,
                         output_kinds=output_kinds)
    base = None if envelope_uv is None else baseline_mean_uv(envelope_uv, usable)
    channels = []
    for c, t in enumerate(tones):
        d = {"resting_tone_uv": t.tone_uv, "noise_floor_uv": t.floor_uv,
             "tone_valid": t.valid, "tone_note": t.reason, "raw_rest_rms_uv": t.raw_rms_uv,
             "rest_s": t.rest_s, "static_level_p10_uv": t.p10_uv, "apdf_p50_uv": t.p50_uv,
             "apdf_p90_uv": t.p90_uv}
        if base is not None:
            d["baseline_mean_uv"] = float(base[c])
        channels.append(d)
    return channels, mask


@shared_params
def channel_floors_uv(fs_hz: float, band_hz, output_kinds=None, quantisation_uv=None,
                      calibration=None, measured_uv: float | None = None) -> list[float]:
    """Noise floor per channel (µV RMS in ``band_hz``): the one rule every path uses.

    From the calibration when it is known (a live source, a stored session), else from the
    quantisation step (a file: given, or estimated from its values); see
    :func:`noise_floor_uv`. An ENV channel's step is in ARV µV while its tone is an RMS, so
    its floor is scaled by :data:`~emgfeedback.dsp.RMS_PER_ARV`.

    Parameters
    ----------
    {fs_hz}
    band_hz : tuple of float
        The analysis band.
    output_kinds : sequence of str, optional
        Output kind per channel (default ``raw``).
    quantisation_uv : sequence of float, optional
        Step per channel, µV (used without ``calibration``).
    calibration : sequence of ChannelCalibration, optional
        Calibration per channel.
    measured_uv : float, optional
        A measured floor, µV RMS (wins when larger).

    Returns
    -------
    list of float
    """
    from emgfeedback.dsp import RMS_PER_ARV

    if calibration is not None:
        floors = [noise_floor_uv(cal, fs_hz, band_hz, measured_uv) for cal in calibration]
    else:
        floors = [noise_floor_uv(None, fs_hz, band_hz, measured_uv, quantisation_uv=q)
                  for q in (quantisation_uv or [])]
    kinds = output_kinds or ["raw"] * len(floors)
    return [f * RMS_PER_ARV if k == "env" else f for f, k in zip(floors, kinds, strict=True)]


def below_floor_uv(value: float | None, valid: bool | None,
                   floor_uv: float | None) -> float | None:
    """The smallest measurable tone when a stored tone fell below it, else None.

    A resting tone under :data:`VALID_FLOOR_RATIO` times its floor is not a measurement:
    all that is known is that the tone is below that limit (for downtraining, the success
    case). ``history`` and the report print "below the floor (< X µV)" with it.

    Parameters
    ----------
    value : float or None
        The stored (floor-corrected) tone, µV.
    valid : bool or None
        The stored validity.
    floor_uv : float or None
        The stored floor, µV RMS.

    Returns
    -------
    float or None
        ``VALID_FLOOR_RATIO × floor_uv`` in µV, or None when the value is a measurement (or
        invalid for another reason, e.g. no rest found).
    """
    if valid is not False or floor_uv is None or not floor_uv > 0:
        return None
    limit = VALID_FLOOR_RATIO * float(floor_uv)
    if value is None or not math.isfinite(value) or value < limit:
        return limit
    return None


def per_channel_steps(step_uv, output_kinds, n_channels: int) -> tuple[list, list]:
    """Quantisation steps and output kinds, one per onset channel (for the detectors'
    ``set_quantisation_step``).

    Parameters
    ----------
    step_uv : float, sequence of float or None
        One step for every channel, or one per channel (None or NaN: unknown).
    output_kinds : sequence of str or None
        Output kind per channel (default ``raw`` for all).
    n_channels : int
        Number of onset channels.

    Returns
    -------
    steps, kinds : list
        ``n_channels`` entries each.

    Raises
    ------
    ConfigError
        When a sequence has another length.
    """
    from emgfeedback.errors import ConfigError

    n = int(n_channels)
    steps = [step_uv] * n if step_uv is None or np.ndim(step_uv) == 0 else list(step_uv)
    kinds = list(output_kinds) if output_kinds is not None else ["raw"] * n
    if len(steps) != n or len(kinds) != n:
        raise ConfigError(f"{len(steps)} quantisation steps and {len(kinds)} output kinds "
                          f"for {n} onset channels")
    return steps, kinds


def onset_rest_floor(step_uv, pipeline, chain: str = "raw",
                     config=None) -> tuple[float, float, float]:
    """The lowest rest level an onset detector may assume on one channel: the one rule.

    A channel read with a quantisation step ``q`` whose rest moves by less than one step
    (a quiet muscle behind a coarse ADC: the default simulated board's 3 µV tone under a
    24.4 µV step) records one code most of the time with a flicker to the next whose rate
    follows where the rest's level sits between two codes: its recorded power wanders from
    0 to ``q²/4`` (:data:`FLICKER_POWER_PER_STEP2`) with the drift, without any muscle
    activity. A detector that learned its rest from a quiet stretch (one code: power near
    0) calls every louder stretch of flicker a burst. This floor is the detector's statistic
    for that loudest flicker after the pipeline's filters: the mean and SD of the detection
    envelope and the mean conditioned power, so a detector's rest is at least that. The
    flicker is the sign of a rest varying in the band the chain keeps (white noise through
    the same filters, pseudo-random with a fixed seed) times ``q/2``: its power in the EMG
    band is about twice that of white ±q/2 flicker (measured on the default board's
    drill, a 50/50 flicker's envelope reaches 9 µV where white flicker gives 7.1). Where
    ``q`` is far below the rest noise (the usual case) the learned rest is far above it and
    nothing changes.

    Parameters
    ----------
    step_uv : float or None
        The quantisation step in µV at the electrode (ARV µV for an ENV channel); None,
        NaN or not > 0: unknown, only :data:`~emgfeedback.analysis.quality.NUMERICAL_ZERO_UV`.
    pipeline : PipelineConfig
        The processing the detector's input went through.
    chain : {"raw", "rect", "env"}
        The channel's processing chain (:func:`~emgfeedback.dsp.chain_for`).
    config : OnsetConfig, optional
        The detector's parameters (its window and conditioning decide the statistic).

    Returns
    -------
    mean_uv, sd_uv : float
        Mean and SD of the detection envelope, µV.
    power_uv2 : float
        Mean of the conditioned signal (the rest power the backdating compares with), µV².
    """
    from emgfeedback.analysis.quality import NUMERICAL_ZERO_UV

    zero = (NUMERICAL_ZERO_UV, NUMERICAL_ZERO_UV, NUMERICAL_ZERO_UV ** 2)
    if step_uv is None or not (math.isfinite(step_uv) and step_uv > 0):
        return zero
    window_s = 0.2 if config is None else float(config.window_s)
    conditioning = "rms" if config is None else str(config.conditioning)
    mean, sd, power = _unit_flicker_statistic(pipeline, chain, window_s, conditioning)
    q = float(step_uv)
    return (max(mean * q, zero[0]), max(sd * q, zero[1]), max(power * q * q, zero[2]))


@functools.lru_cache(maxsize=32)
def _unit_flicker_statistic(pipeline, chain: str, window_s: float,
                            conditioning: str) -> tuple[float, float, float]:
    """:func:`onset_rest_floor` for a step of 1 (it scales with the step)."""
    from emgfeedback.analysis.onset import OnsetConfig, detection_envelope

    y = onset_floor_signal(pipeline, chain)
    cfg = OnsetConfig(window_s=window_s, conditioning=conditioning)
    w = max(int(round(window_s * float(pipeline.fs_hz))), 1)
    env = detection_envelope(y, float(pipeline.fs_hz), cfg)[w:, 0]  # after its first window
    x1, x2 = y[1:-1], y[:-2]
    cond = np.abs(x1 * x1 - y[2:] * x2) if conditioning == "tkeo" else y * y
    return float(env.mean()), float(env.std(ddof=1)), float(cond.mean())


@functools.lru_cache(maxsize=8)
def onset_floor_signal(pipeline, chain: str = "raw") -> np.ndarray:
    """The loudest flicker of a rest below one step, for a step of 1 µV, after ``pipeline``.

    The sign of a rest varying in the band ``chain`` keeps (white noise through the same
    filters, pseudo-random with a fixed seed) times ``√FLICKER_POWER_PER_STEP2``, filtered
    again, its filters' settling cut: what :func:`onset_rest_floor` measures a detector's
    statistic on (the ``glr`` detector whitens it with its own rest model). Read-only.

    Parameters
    ----------
    pipeline : PipelineConfig
        The detector input's processing.
    chain : {"raw", "rect", "env"}
        The channel's processing chain.

    Returns
    -------
    numpy.ndarray
        ``(n, 1)`` float64, µV per µV of step (:data:`_FLOOR_SEQUENCE_S` seconds).
    """
    from dataclasses import replace

    from emgfeedback.dsp import process_offline

    fs = float(pipeline.fs_hz)
    settle = int(round(_FLOOR_SETTLE_S * fs))
    n = settle + int(round(_FLOOR_SEQUENCE_S * fs))
    rng = np.random.default_rng(0)  # fixed: the floor is a definition, not a draw
    # The pipeline's own filters from rest (the chain's kernel: no SciPy start-up here).
    cfg = replace(pipeline, start="rest")
    # A rest's variation lies in the band the chain keeps (the EMG band on a raw channel):
    # below one step it records as the sign of that variation, a ±q/2 flicker with its timing.
    rest = process_offline(rng.standard_normal((n, 1)), cfg, kinds=[chain])[0][:, 0]
    flicker = np.where(rest < 0.0, -1.0, 1.0) * math.sqrt(FLICKER_POWER_PER_STEP2)
    y = np.ascontiguousarray(process_offline(flicker[:, None], cfg, kinds=[chain])[0][settle:])
    y.flags.writeable = False
    return y
