"""Resting tone, the measurement floor, the amplitude distribution and recovery after effort.

Method
------
The definitions live in :mod:`emgfeedback.analysis.quantities` (and, for users, in
``docs/analysis.md``, "What each number means"); this module measures them.

* **Noise floor** per channel: :func:`~emgfeedback.analysis.quantities.noise_floor_uv`
  (quantisation ``q/√12`` scaled to the analysis band, combined with the sensor's input
  noise; a measured floor wins when larger).
* **Resting tone**: the band-passed signal is cut into ``window_s`` windows; over the rest
  windows (never padding, gaps or filter settling) the median of the window mean squares
  (robust to a stray twitch), scaled by what the pipeline's filters took from the band
  (:func:`~emgfeedback.analysis.quantities.filter_power_ratio`), is the raw in-band RMS,
  corrected for the floor: ``tone = √(rms² − floor²)``. A tone below twice the floor is
  reported but flagged invalid: it is not a measurement.
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

from emgfeedback.analysis._docs import shared_params
from emgfeedback.analysis.quantities import (
    VALID_FLOOR_RATIO,
    filter_power_ratio,
    noise_floor_uv,
    tone_from_windows,
)
from emgfeedback.analysis.rest import rest_from_spans, rest_mask
from emgfeedback.errors import ConfigError

__all__ = ["VALID_FLOOR_RATIO", "Recovery", "ToneResult", "first_run", "moving_rms",
           "noise_floor_uv", "recovery_after_bursts", "resting_tone"]


@dataclass(frozen=True)
class ToneResult:
    """Resting tone of one channel.

    Attributes
    ----------
    tone_uv : float
        Floor-corrected resting tone, µV RMS in the analysis band (0 when the raw RMS is
        below the floor).
    raw_rms_uv : float
        In-band RMS over rest before the floor correction, µV: the median window mean
        square times what the filters took from the band
        (:func:`~emgfeedback.analysis.quantities.filter_power_ratio`), square-rooted.
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


def moving_rms(x_uv, fs_hz: float, window_s: float = 0.1) -> np.ndarray:
    """Causal moving RMS over ``window_s`` (shorter at the start), µV."""
    x = np.asarray(x_uv, dtype=np.float64)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    w = max(int(round(window_s * fs_hz)), 1)
    n = x.shape[0]
    if not np.isfinite(x).all():
        x = np.nan_to_num(x)
    # Running sums of squares (a leading zero row), then window sums by slices: the start
    # divides by the samples so far, the rest by the window.
    c = np.empty((n + 1, x.shape[1]))
    c[0] = 0.0
    np.cumsum(x * x, axis=0, out=c[1:])
    out = np.empty(x.shape)
    head = min(w, n)
    np.divide(c[1: head + 1], np.arange(1, head + 1, dtype=np.float64)[:, None],
              out=out[:head])
    if n > w:
        np.subtract(c[w + 1:], c[1: n - w + 1], out=out[w:])
        out[w:] /= float(w)
    np.maximum(out, 0.0, out=out)
    np.sqrt(out, out=out)
    return out[:, 0] if squeeze else out


@shared_params
def resting_tone(filtered_uv, fs_hz: float, floors_uv=None, rest=None, window_s: float = 0.5,
                 envelope_window_s: float = 0.1, notch_hz: float | None = None,
                 notch_q: float = 30.0, band_hz=(20.0, 450.0), pipeline=None,
                 usable=None, output_kinds=None) -> list[ToneResult]:
    """Resting tone per channel, floor-corrected, with validity and APDF percentiles.

    Parameters
    ----------
    {filtered_uv}
    {fs_hz}
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
    notch_hz, notch_q, band_hz : optional
        The pipeline's mains notch and band, used when ``pipeline`` is not given.
    pipeline : PipelineConfig, optional
        The processing that produced ``filtered_uv``; what its filters took from the band
        is given back (:func:`~emgfeedback.analysis.quantities.filter_power_ratio`).
        Default: a pipeline with ``band_hz`` and the notch at ``notch_hz``.
    usable : array_like of bool, optional
        Samples that may be rest at all
        (:func:`~emgfeedback.analysis.quantities.usable_samples`); the rest mask is
        restricted to them, and so are the APDF percentiles.
    output_kinds : sequence of str, optional
        Sensor output per channel (``raw``, ``uv``, ``rect``, ``env``). RECT and ENV
        channels never went through the band-pass or notches
        (:class:`~emgfeedback.dsp.KindPipeline`), so nothing is given back for them (and an
        envelope's spectrum sits near 0 Hz, outside the band, by nature).

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
    if pipeline is None:
        pipeline = _default_pipeline(fs_hz, band_hz, notch_hz, notch_q)
    use = np.ones(x.shape, dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    if use.ndim == 1:
        use = np.repeat(use[:, None], n_ch, axis=1)
    use = use & np.isfinite(x)
    mask = _rest_mask(rest, np.where(use, x, np.nan), fs_hz, window_s) & use
    w = max(int(round(window_s * fs_hz)), 1)
    env = moving_rms(x, fs_hz, envelope_window_s)
    env = np.where(use, env, np.nan)
    results = []
    for c in range(n_ch):
        w_ok = _rest_windows(x[:, c], mask[:, c], w)
        finite_env = env[np.isfinite(env[:, c]), c]
        p10, p50, p90 = (np.percentile(finite_env, [10, 50, 90]) if finite_env.size
                         else (np.nan,) * 3)
        floor = float(floors[c])
        if w_ok.shape[0] == 0:
            results.append(ToneResult(math.nan, math.nan, floor, False, "no rest window found",
                                      float(p10), float(p50), float(p90), 0.0, 0))
            continue
        unfiltered = output_kinds is not None and output_kinds[c] in ("rect", "env")
        ratio = 1.0 if unfiltered else filter_power_ratio(w_ok, fs_hz, pipeline)
        tone, raw, valid, reason = tone_from_windows(np.mean(w_ok * w_ok, axis=1), ratio,
                                                     floor)
        results.append(ToneResult(tone, raw, floor, valid, reason, float(p10),
                                  float(p50), float(p90), w_ok.shape[0] * w / fs_hz,
                                  int(w_ok.shape[0])))
    return results


def _default_pipeline(fs_hz, band_hz, notch_hz, notch_q):
    from emgfeedback.dsp import PipelineConfig

    low, high = band_hz
    high = min(high, 0.45 * fs_hz)
    notch = notch_hz if notch_hz and notch_hz < fs_hz / 2 else None
    return PipelineConfig(fs_hz=fs_hz, band_hz=(min(low, high / 4.0), high), notch_hz=notch,
                          notch_q=notch_q)


@shared_params
def recovery_after_bursts(filtered_uv, fs_hz: float, bursts, pre_window_s: float = 2.0,
                          residual_delay_s: float = 1.0, residual_window_s: float = 2.0,
                          tolerance: float = 0.2, envelope_window_s: float = 0.25,
                          guard_s: float = 0.2, only: int | None = None) -> list[Recovery]:
    """Return-to-baseline time and residual tension after each burst of one channel.

    Parameters
    ----------
    filtered_uv : array_like
        Band-passed signal of one channel in µV, ``(n_samples,)``.
    {fs_hz}
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
    only : int, optional
        Measure burst ``only`` alone (its neighbours still bound its windows); the
        blocked analysis measures one burst per call.

    Returns
    -------
    list of Recovery
        One per burst (one, ``only``'s, with ``only``).
    """
    from emgfeedback.analysis.streaming_kernels import first_quiet_run  # Numba: when used

    x = np.asarray(filtered_uv, dtype=np.float64).ravel()
    b = np.asarray(bursts, dtype=np.int64).reshape(-1, 2)
    guard = int(round(guard_s * fs_hz))
    pre_n = int(round(pre_window_s * fs_hz))
    hold = max(int(round(envelope_window_s * fs_hz)), 1)
    out = []
    for k in range(len(b)) if only is None else (int(only),):
        on, off = b[k]
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
            # Only this stretch's envelope (full windows ending in it): a recording's bursts
            # cover most of it, and an envelope of the whole channel per burst cost O(n·k).
            s0, s1 = min(off + hold, x.size), max(next_on - guard, 0)
            # First sample from which the envelope stays within tolerance for one window:
            # first_run(moving_rms(stretch)[hold - 1:] <= limit, hold), compiled, stopping
            # there (the return is mostly soon after the offset, the stretch up to 30 s).
            first = (first_quiet_run(x[s0 - hold + 1:s1], hold, (1.0 + tolerance) * pre_uv)
                     if s1 > s0 else -1)
            if first >= 0:
                return_s = (first + hold) / fs_hz
        out.append(Recovery(int(on), int(off), pre_uv, burst_uv, post_uv, return_s, residual))
    return out


def first_run(flags, length: int) -> int:
    """Index of the first run of at least ``length`` True values in ``flags`` (-1: none)."""
    ok = np.asarray(flags, dtype=bool)
    if length < 1 or ok.size < length:
        return -1
    count = np.concatenate(([0], np.cumsum(ok, dtype=np.int64)))
    hits = np.flatnonzero(count[length:] - count[:-length] == length)
    return int(hits[0]) if hits.size else -1


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


