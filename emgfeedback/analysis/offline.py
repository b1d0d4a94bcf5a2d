"""Offline onset detection on whole recordings, with detectors chosen by name.

Every detector takes the band-passed signal in µV and a rest mask (where to learn the
baseline; found automatically when not given) and returns, per channel, an ``(k, 2)``
int64 array of ``(onset_index, offset_index)`` bursts (offset exclusive).

Detectors
---------
``streaming``
    :class:`~emgfeedback.analysis.onset.OnsetDetector` with its baseline set from the rest
    mask, run over the whole recording: the same numbers the live display shows.
``hodges_bui``
    Hodges & Bui (1996): rectified signal low-passed (zero phase, ``lowpass_hz``); onset
    where the mean over ``window_s`` exceeds baseline mean + ``k``·SD.
``bonato``
    Bonato et al. (1998): test function ``(x[k]² + x[k+1]²)/σ²`` against ``zeta``; active
    when at least ``r0`` of ``m`` successive values exceed it for ``min_on_s``.
``tkeo``
    Solnik/Li: Teager-Kaiser energy, rectified and low-passed, then a Hodges-Bui threshold.
"""

from __future__ import annotations

import numpy as np

from emgfeedback.analysis._docs import shared_params
from emgfeedback.analysis.onset import OnsetConfig, OnsetDetector
from emgfeedback.analysis.rest import rest_mask
from emgfeedback.errors import ConfigError

DETECTORS = ("streaming", "glr", "hodges_bui", "bonato", "tkeo")

#: Bursts starting in the first SETTLE_S seconds are dropped (filter start-up transient),
#: as the streaming detector's ``settle_s`` does.
SETTLE_S = 0.25

#: Default parameters of each offline detector (units in the names).
DEFAULTS: dict[str, dict] = {
    "streaming": {},
    "glr": {},
    "hodges_bui": {"lowpass_hz": 50.0, "window_s": 0.05, "k": 3.0, "min_on_s": 0.1,
                   "min_off_s": 0.1},
    # zeta well above the white-noise value (≈ 6-9): band-passed EMG samples are correlated,
    # so consecutive samples exceed together and a low threshold flickers at rest.
    "bonato": {"zeta": 20.0, "m": 5, "r0": 1, "min_on_s": 0.1, "min_off_s": 0.1},
    "tkeo": {"lowpass_hz": 50.0, "window_s": 0.05, "k": 5.0, "min_on_s": 0.1,
             "min_off_s": 0.1},
}


@shared_params
def detect_bursts(filtered_uv, fs_hz: float, method: str = "streaming", rest=None,
                  quantisation_uv=None, pipeline=None, output_kinds=None,
                  **params) -> list[np.ndarray]:
    """Detect bursts in a recording.

    Parameters
    ----------
    {filtered_uv}
    {fs_hz}
    method : str
        One of :data:`DETECTORS`.
    rest : array_like of bool, optional
        ``(n_samples, n_channels)`` mask of rest samples for the baseline; by default
        :func:`~emgfeedback.analysis.rest.rest_mask`.
    quantisation_uv : sequence of float, optional
        Per channel, the step of the samples before ``pipeline`` (µV; None/NaN: unknown):
        the ``streaming`` and ``glr`` detectors' rest floor
        (:func:`~emgfeedback.analysis.quantities.onset_rest_floor`).
    pipeline : PipelineConfig, optional
        The processing that made ``filtered_uv`` (needed with ``quantisation_uv``).
    output_kinds : sequence of str, optional
        Output kind per channel (default ``raw``).
    **params
        Detector parameters overriding :data:`DEFAULTS`; for ``streaming``, any
        :class:`~emgfeedback.analysis.onset.OnsetConfig` field.

    Returns
    -------
    list of numpy.ndarray
        Per channel, ``(k, 2)`` int64 ``(onset, offset)`` sample indices.
    """
    if method not in DETECTORS:
        raise ConfigError(f"unknown detector {method!r}; known: {', '.join(DETECTORS)}")
    x = np.asarray(filtered_uv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x = np.where(np.isfinite(x), x, 0.0)
    mask = rest_mask(x, fs_hz) if rest is None else np.asarray(rest, dtype=bool)
    if mask.ndim == 1:
        mask = np.repeat(mask[:, None], x.shape[1], axis=1)
    if mask.shape != x.shape:
        raise ConfigError(f"rest mask shape {mask.shape} does not match signal {x.shape}")
    floor = (quantisation_uv, pipeline, output_kinds)
    if method == "streaming":
        return _streaming(x, fs_hz, mask, OnsetConfig(**params), floor)
    if method == "glr":
        from emgfeedback.analysis.onset_glr import detect_glr

        return detect_glr(x, fs_hz, rest=mask, floor=floor, **params)
    unknown = set(params) - set(DEFAULTS[method])
    if unknown:
        raise ConfigError(
            f"detector {method}: unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(DEFAULTS[method])}"
        )
    p = {**DEFAULTS[method], **params}
    runner = {"hodges_bui": _hodges_bui, "bonato": _bonato, "tkeo": _tkeo}[method]
    settle = int(round(SETTLE_S * fs_hz))
    out = []
    for c in range(x.shape[1]):
        bursts = runner(x[:, c], fs_hz, mask[:, c], p)
        out.append(bursts[bursts[:, 0] >= settle])
    return out


def _streaming(x, fs_hz, mask, cfg: OnsetConfig, floor=(None, None, None)) -> list[np.ndarray]:
    from emgfeedback.analysis.onset import detection_envelope

    env = detection_envelope(x, fs_hz, cfg)
    w = max(int(round(cfg.window_s * fs_hz)), 1)
    valid = mask.copy()
    valid[:w] = False  # the moving window is still filling
    mu = np.empty(x.shape[1])
    sd = np.empty(x.shape[1])
    for c in range(x.shape[1]):
        vals = env[valid[:, c], c]
        if vals.size < 2:
            vals = env[w:, c] if env.shape[0] > w + 1 else env[:, c]
        mu[c] = vals.mean()
        sd[c] = vals.std(ddof=1) if vals.size > 1 else 0.0
    det = OnsetDetector(cfg, x.shape[1], fs_hz)
    det.set_baseline(mu, sd)
    if floor[0] is not None:
        det.set_quantisation_step(*floor)
    events = det.process(x, 0)
    return events_to_bursts(events, x.shape[1], x.shape[0])


def events_to_bursts(events, n_channels: int, n_samples: int | None = None) -> list[np.ndarray]:
    """Pair streaming on/off events into ``(onset, offset)`` bursts per channel.

    A burst still open at the end is closed at ``n_samples`` when given, else dropped.
    """
    out: list[list[tuple[int, int]]] = [[] for _ in range(n_channels)]
    open_on: list[int | None] = [None] * n_channels
    for ev in events:
        if ev.kind == "on":
            open_on[ev.channel] = ev.index
        elif open_on[ev.channel] is not None:
            on = open_on[ev.channel]
            out[ev.channel].append((on, max(ev.index, on + 1)))
            open_on[ev.channel] = None
    for c, on in enumerate(open_on):
        if on is not None and n_samples is not None:
            out[c].append((on, n_samples))
    return [np.array(b, dtype=np.int64).reshape(-1, 2) for b in out]


def burst_times(bursts, fs_hz: float) -> dict:
    """One channel's bursts as the report gives them: onset and offset times, seconds.

    A burst whose onset is the recording's first sample is the detectors' mark for a
    recording that began mid-contraction (:attr:`OnsetEvent.unknown`): the muscle was
    already active, so that time is no onset; ``onset_unknown`` says so per burst.

    Parameters
    ----------
    bursts : array_like
        ``(k, 2)`` ``(onset, offset)`` sample indices from the recording's start.
    fs_hz : float
        Sample rate in hertz.

    Returns
    -------
    dict
        ``onsets_s``, ``offsets_s`` (lists of float) and ``onset_unknown`` (list of bool).
    """
    b = np.asarray(bursts, dtype=np.int64).reshape(-1, 2)
    return {"onsets_s": [float(i) / fs_hz for i in b[:, 0]],
            "offsets_s": [float(i) / fs_hz for i in b[:, 1]],
            "onset_unknown": [bool(i == 0) for i in b[:, 0]]}


def known_onsets(bursts_per_channel) -> list[np.ndarray]:
    """Per channel, the onset indices that are real onsets (not a recording's first sample,
    see :func:`burst_times`): what activation timing and firing order may use."""
    out = []
    for b in bursts_per_channel:
        on = np.asarray(b, dtype=np.int64).reshape(-1, 2)[:, 0]
        out.append(on[on > 0])
    return out


def mask_to_bursts(active, fs_hz: float, min_on_s: float, min_off_s: float) -> np.ndarray:
    """Bursts from a boolean activity mask: bridge gaps < ``min_off_s``, drop bursts < ``min_on_s``.

    Returns
    -------
    numpy.ndarray
        ``(k, 2)`` int64 ``(onset, offset)`` with offset exclusive.
    """
    a = np.asarray(active, dtype=bool)
    edges = np.diff(np.concatenate([[0], a.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    if starts.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    min_off = int(round(min_off_s * fs_hz))
    min_on = int(round(min_on_s * fs_hz))
    merged = [[starts[0], stops[0]]]
    for s, e in zip(starts[1:], stops[1:], strict=True):
        if s - merged[-1][1] < min_off:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    bursts = [(s, e) for s, e in merged if e - s >= min_on]
    return np.array(bursts, dtype=np.int64).reshape(-1, 2)


def _baseline(values, mask):
    rest = values[mask]
    if rest.size < 2:
        rest = values
    return float(rest.mean()), float(rest.std(ddof=1)) if rest.size > 1 else 0.0


def _lowpass_zero_phase(x, fs_hz, cutoff_hz):
    from scipy import signal  # here: analyze's streaming path never needs SciPy's start-up

    cutoff = min(cutoff_hz, 0.45 * fs_hz)
    sos = signal.butter(2, cutoff, fs=fs_hz, output="sos")
    return signal.sosfiltfilt(sos, x) if x.size > 15 else x


def _forward_mean(x, w):
    """Mean of ``x[i:i+w]`` for each i (shorter at the end)."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    stop = np.minimum(np.arange(x.size) + w, x.size)
    return (c[stop] - c[: x.size]) / (stop - np.arange(x.size))


def _threshold_detector(env, fs_hz, mask, p):
    w = max(int(round(p["window_s"] * fs_hz)), 1)
    m = _forward_mean(env, w)
    mu, sd = _baseline(env, mask)
    return mask_to_bursts(m > mu + p["k"] * sd, fs_hz, p["min_on_s"], p["min_off_s"])


def _hodges_bui(x, fs_hz, mask, p):
    env = _lowpass_zero_phase(np.abs(x), fs_hz, p["lowpass_hz"])
    return _threshold_detector(env, fs_hz, mask, p)


def _tkeo(x, fs_hz, mask, p):
    psi = np.zeros_like(x)
    psi[1:-1] = x[1:-1] ** 2 - x[2:] * x[:-2]
    env = _lowpass_zero_phase(np.abs(psi), fs_hz, p["lowpass_hz"])
    return _threshold_detector(env, fs_hz, mask, p)


def _bonato(x, fs_hz, mask, p):
    var = float(np.mean(x[mask] ** 2)) if mask.sum() > 1 else float(np.mean(x**2))
    var = max(var, 1e-24)
    g = np.zeros_like(x)
    g[:-1] = (x[:-1] ** 2 + x[1:] ** 2) / var
    above = (g > p["zeta"]).astype(np.float64)
    m = int(p["m"])
    counts = np.convolve(above, np.ones(m), mode="full")[: x.size]  # last m samples
    active = counts >= p["r0"]
    bursts = mask_to_bursts(active, fs_hz, p["min_on_s"], p["min_off_s"])
    # The trailing window makes each burst start at its first exceedance: no shift needed;
    # the end lags by m − 1 samples.
    if bursts.size:
        bursts[:, 1] = np.maximum(bursts[:, 1] - (m - 1), bursts[:, 0] + 1)
    return bursts
