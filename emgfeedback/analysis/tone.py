"""Resting tone, the measurement floor, the amplitude distribution and recovery after effort.

Method
------
* **Noise floor** per channel: the board's theoretical floor
  (:attr:`~emgfeedback.acquisition.boards.ChannelCalibration.floor_uv`: quantisation
  ``q/√12`` combined with the sensor's input noise), with the quantisation part scaled to
  the analysis band when ``band_hz`` is given (white quantisation noise spreads over
  0..fs/2). A *measured* floor (e.g. RMS of the band-passed signal with the electrodes
  shorted) already contains quantisation, so the larger of the two is used.
* **Resting tone**: the band-passed signal is cut into ``window_s`` windows; over the rest
  windows the median of the window RMS values (robust to a stray twitch), scaled back up
  by what the mains notch removed from the rest spectrum (:func:`notch_correction`), is
  the raw tone, corrected for the floor: ``tone = √(rms² − floor²)``. A tone below twice
  the floor is reported but flagged invalid: it is not a measurement.
* **APDF** percentiles of the moving-RMS envelope over the analysed span; the 10th
  percentile is the "static level" of ergonomics, used for held tension.
* **Recovery** after each burst: the time from the burst's offset until the envelope
  stays within ``tolerance`` of the pre-burst rest level, and the residual tension: how
  much of the burst's rise above rest is still there ``residual_window_s`` after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from emgfeedback.analysis.rest import rest_from_spans, rest_mask
from emgfeedback.errors import ConfigError

#: A tone must be at least this many times the floor to count as a measurement.
VALID_FLOOR_RATIO = 2.0


@dataclass(frozen=True)
class ToneResult:
    """Resting tone of one channel.

    Attributes
    ----------
    tone_uv : float
        Floor-corrected resting tone, µV RMS (0 when the raw RMS is below the floor).
    raw_rms_uv : float
        Median window RMS over rest (times the notch correction) before the floor
        correction, µV.
    floor_uv : float
        Noise floor used for the correction, µV RMS.
    valid : bool
        False when ``tone_uv`` < 2 × ``floor_uv`` or no rest was found.
    reason : str
        Why the tone is invalid ("" when valid).
    p10_uv, p50_uv, p90_uv : float
        APDF percentiles of the moving-RMS envelope over the analysed span, µV
        (p10 is the static level).
    rest_s : float
        Seconds of rest the tone was measured over.
    n_windows : int
        Number of rest windows.
    """

    tone_uv: float
    raw_rms_uv: float
    floor_uv: float
    valid: bool
    reason: str
    p10_uv: float
    p50_uv: float
    p90_uv: float
    rest_s: float
    n_windows: int
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Recovery:
    """How a channel let go after one burst.

    Attributes
    ----------
    onset, offset : int
        The burst's sample indices.
    pre_uv : float
        RMS over the rest window before the burst, µV.
    burst_uv : float
        RMS during the burst, µV.
    post_uv : float
        RMS over the residual window after the burst, µV.
    return_s : float
        Seconds from the offset until the envelope stayed within tolerance of ``pre_uv``
        (NaN if it never did before the next burst or the end).
    residual_pct : float
        ``100 · (post − pre) / (burst − pre)``: residual tension in % of the burst's rise.
    """

    onset: int
    offset: int
    pre_uv: float
    burst_uv: float
    post_uv: float
    return_s: float
    residual_pct: float


def noise_floor_uv(calibration=None, fs_hz: float | None = None, band_hz=None,
                   measured_uv: float | None = None) -> float:
    """Noise floor of one channel in µV RMS.

    Parameters
    ----------
    calibration : ChannelCalibration, optional
        The channel's calibration (quantisation step and sensor noise).
    fs_hz : float, optional
        Sample rate, needed to scale quantisation noise to ``band_hz``.
    band_hz : tuple of float, optional
        ``(low, high)`` analysis band in hertz; quantisation noise outside it is removed.
    measured_uv : float, optional
        A measured floor (band-passed RMS with shorted inputs), µV.

    Returns
    -------
    float
        The floor in µV RMS (0 when nothing is known).
    """
    theoretical = 0.0
    if calibration is not None:
        q_rms = calibration.uv_per_count / math.sqrt(12.0)
        if band_hz is not None and fs_hz:
            low, high = band_hz
            high = min(high, fs_hz / 2.0)
            q_rms *= math.sqrt(max(high - low, 0.0) / (fs_hz / 2.0))
        theoretical = math.hypot(q_rms, calibration.sensor_noise_uv)
    if measured_uv is not None:
        if not (math.isfinite(measured_uv) and measured_uv >= 0):
            raise ConfigError(f"measured floor {measured_uv!r} µV: expected a number >= 0")
        return max(theoretical, float(measured_uv))
    return theoretical


def notch_correction(rest_uv, fs_hz: float, notch_hz: float | None, q: float = 30.0,
                     band_hz=(20.0, 450.0)) -> float:
    """Factor that undoes the RMS the mains notch took from the EMG at rest.

    A notch at the mains frequency and its harmonics (Q = 30) removes several per cent of
    the RMS of broadband EMG. The spectrum of the (notched) rest signal is estimated
    (Welch, ~1 Hz bins); around each harmonic the dip is filled with the median level of
    the neighbouring bins, and the factor is ``√(filled power / measured power)``.

    Parameters
    ----------
    rest_uv : array_like
        Band-passed, notched rest samples of one channel, µV.
    fs_hz : float
        Sample rate in hertz.
    notch_hz : float or None
        Mains frequency the notch was at (None: no notch, factor 1).
    q : float
        Quality factor of the notch.
    band_hz : tuple of float
        Analysis band in hertz.

    Returns
    -------
    float
        The factor (≥ 1), 1.0 without a notch or with too little rest.
    """
    x = np.asarray(rest_uv, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    nper = int(round(fs_hz))
    if notch_hz is None or x.size < 2 * nper:
        return 1.0
    f, p = signal.welch(x, fs=fs_hz, nperseg=nper)
    lo, hi = band_hz[0], min(band_hz[1], 0.49 * fs_hz)
    in_band = (f >= lo) & (f <= hi)
    measured = float(np.sum(p[in_band]))
    filled = p.copy()
    k = 1
    while k * notch_hz <= hi:
        fk = k * notch_hz
        bw = max(fk / q, 1.0)
        dip = np.abs(f - fk) <= 2.0 * bw
        side = (np.abs(f - fk) > 2.5 * bw) & (np.abs(f - fk) <= 5.0 * bw)
        if np.any(side):
            filled[dip] = np.maximum(p[dip], np.median(p[side]))
        k += 1
    restored = float(np.sum(filled[in_band]))
    return math.sqrt(restored / measured) if measured > 0 else 1.0


def moving_rms(x_uv, fs_hz: float, window_s: float = 0.1) -> np.ndarray:
    """Causal moving RMS over ``window_s`` (shorter at the start), µV."""
    x = np.asarray(x_uv, dtype=np.float64)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    w = max(int(round(window_s * fs_hz)), 1)
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), np.nan_to_num(x) ** 2]), axis=0)
    idx = np.arange(1, x.shape[0] + 1)
    start = np.maximum(idx - w, 0)
    ms = (c[idx] - c[start]) / (idx - start)[:, None]
    out = np.sqrt(np.maximum(ms, 0.0))
    return out[:, 0] if squeeze else out


def resting_tone(filtered_uv, fs_hz: float, floors_uv=None, rest=None, window_s: float = 0.5,
                 envelope_window_s: float = 0.1, notch_hz: float | None = None,
                 notch_q: float = 30.0, band_hz=(20.0, 450.0)) -> list[ToneResult]:
    """Resting tone per channel, floor-corrected, with validity and APDF percentiles.

    Parameters
    ----------
    filtered_uv : array_like
        Band-passed signal in µV, ``(n_samples, n_channels)``.
    fs_hz : float
        Sample rate in hertz.
    floors_uv : array_like, optional
        Noise floor per channel in µV RMS (see :func:`noise_floor_uv`); 0 if not given.
    rest : optional
        Where the rest is: a boolean ``(n_samples, n_channels)`` (or ``(n_samples,)``) mask,
        a list of ``(start, stop)`` sample spans, or None to find it
        (:func:`~emgfeedback.analysis.rest.rest_mask`).
    window_s : float
        Length of the RMS windows in seconds (default 0.5).
    envelope_window_s : float
        Moving-RMS window for the APDF percentiles, seconds (default 0.1).
    notch_hz, notch_q : float, optional
        The pipeline's mains notch; when given the tone is scaled back up by what the
        notch removed (:func:`notch_correction`).
    band_hz : tuple of float
        The pipeline's band, for the notch correction.

    Returns
    -------
    list of ToneResult
        One per channel.
    """
    x = np.asarray(filtered_uv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n, n_ch = x.shape
    floors = np.zeros(n_ch) if floors_uv is None else \
        np.broadcast_to(np.asarray(floors_uv, dtype=np.float64), (n_ch,))
    mask = _rest_mask(rest, x, fs_hz, window_s)
    w = max(int(round(window_s * fs_hz)), 1)
    env = moving_rms(x, fs_hz, envelope_window_s)
    results = []
    for c in range(n_ch):
        win_rms = _rest_window_rms(x[:, c], mask[:, c], w)
        p10, p50, p90 = (np.nanpercentile(env[:, c], [10, 50, 90]) if n else (np.nan,) * 3)
        floor = float(floors[c])
        if win_rms.size == 0:
            results.append(ToneResult(math.nan, math.nan, floor, False, "no rest window found",
                                      float(p10), float(p50), float(p90), 0.0, 0))
            continue
        w_ok = _rest_windows(x[:, c], mask[:, c], w)
        correction = notch_correction(w_ok, fs_hz, notch_hz, notch_q, band_hz)
        raw = float(np.median(win_rms)) * correction
        tone = math.sqrt(max(raw * raw - floor * floor, 0.0))
        valid = tone >= VALID_FLOOR_RATIO * floor and tone > 0
        reason = "" if valid else (
            f"tone {tone:.2f} µV is below {VALID_FLOOR_RATIO:g}× the noise floor "
            f"({floor:.2f} µV): not a measurement"
        )
        results.append(ToneResult(tone, raw, floor, bool(valid), reason, float(p10),
                                  float(p50), float(p90), win_rms.size * w / fs_hz,
                                  int(win_rms.size)))
    return results


def recovery_after_bursts(filtered_uv, fs_hz: float, bursts, pre_window_s: float = 2.0,
                          residual_delay_s: float = 1.0, residual_window_s: float = 2.0,
                          tolerance: float = 0.2, envelope_window_s: float = 0.25,
                          guard_s: float = 0.2) -> list[Recovery]:
    """Return-to-baseline time and residual tension after each burst of one channel.

    Parameters
    ----------
    filtered_uv : array_like
        Band-passed signal of one channel in µV, ``(n_samples,)``.
    fs_hz : float
        Sample rate in hertz.
    bursts : array_like
        ``(k, 2)`` ``(onset, offset)`` sample indices, sorted.
    pre_window_s : float
        Rest window before each onset (ending ``guard_s`` before it), seconds (default 2).
    residual_delay_s : float
        Start of the residual window after the offset, seconds (default 1).
    residual_window_s : float
        Length of the residual window, seconds (default 2).
    tolerance : float
        The envelope has returned when it stays at or below ``(1 + tolerance)·pre``
        (default 0.2, i.e. within 20 %).
    envelope_window_s : float
        Moving-RMS window for the return time, seconds (default 0.25).
    guard_s : float
        Margin kept away from onsets and offsets, seconds (default 0.2).

    Returns
    -------
    list of Recovery
    """
    x = np.asarray(filtered_uv, dtype=np.float64).ravel()
    b = np.asarray(bursts, dtype=np.int64).reshape(-1, 2)
    env = moving_rms(x, fs_hz, envelope_window_s)
    guard = int(round(guard_s * fs_hz))
    pre_n = int(round(pre_window_s * fs_hz))
    hold = max(int(round(envelope_window_s * fs_hz)), 1)
    out = []
    for k, (on, off) in enumerate(b):
        prev_off = b[k - 1, 1] if k else 0
        next_on = b[k + 1, 0] if k + 1 < len(b) else x.size
        pre = x[max(on - guard - pre_n, prev_off + guard, 0): max(on - guard, 0)]
        pre_uv = _rms(pre)
        burst_uv = _rms(x[on:off])
        r0 = off + int(round(residual_delay_s * fs_hz))
        r1 = min(r0 + int(round(residual_window_s * fs_hz)), next_on - guard)
        post_uv = _rms(x[r0:r1]) if r1 - r0 > hold else math.nan
        residual = 100.0 * (post_uv - pre_uv) / (burst_uv - pre_uv) \
            if burst_uv > pre_uv and math.isfinite(post_uv) else math.nan
        return_s = math.nan
        if math.isfinite(pre_uv):
            # The moving RMS lags by its window, so look from offset + window on.
            seg = env[min(off + hold, x.size): max(next_on - guard, 0)]
            ok = seg <= (1.0 + tolerance) * pre_uv
            if ok.size < hold:
                ok = np.zeros(0, dtype=bool)
            # First sample from which the envelope stays within tolerance for one window.
            run = np.convolve(ok.astype(np.int64), np.ones(hold, dtype=np.int64), "valid") \
                if ok.size else np.zeros(0)
            hits = np.flatnonzero(run == hold)
            if hits.size:
                return_s = (hits[0] + hold) / fs_hz
        out.append(Recovery(int(on), int(off), pre_uv, burst_uv, post_uv, return_s, residual))
    return out


def _rms(seg) -> float:
    seg = np.asarray(seg)
    return float(np.sqrt(np.mean(seg * seg))) if seg.size else math.nan


def _rest_mask(rest, x, fs_hz, window_s):
    n, n_ch = x.shape
    if rest is None:
        return rest_mask(x, fs_hz, window_s=window_s)
    arr = np.asarray(rest)
    if arr.dtype == bool:
        if arr.ndim == 1:
            arr = np.repeat(arr[:, None], n_ch, axis=1)
        if arr.shape != x.shape:
            raise ConfigError(f"rest mask shape {arr.shape} does not match signal {x.shape}")
        return arr
    return rest_from_spans(n, n_ch, rest)


def _rest_windows(x, mask, w):
    """Samples of the full ``w``-sample windows lying entirely in rest, ``(k, w)``."""
    n_win = x.size // w
    if n_win == 0:
        return np.empty((0, w))
    xs = x[: n_win * w].reshape(n_win, w)
    ms = mask[: n_win * w].reshape(n_win, w).all(axis=1)
    xs = xs[ms]
    return xs[np.all(np.isfinite(xs), axis=1)]


def _rest_window_rms(x, mask, w):
    """RMS of each full ``w``-sample window lying entirely in rest."""
    xs = _rest_windows(x, mask, w)
    return np.sqrt(np.mean(xs * xs, axis=1)) if xs.size else np.empty(0)
