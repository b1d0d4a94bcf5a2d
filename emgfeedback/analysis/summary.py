"""Whole-recording analysis: onsets, tone, quality, timing and symmetry in one dictionary.

:func:`analyse` is what ``emgfeedback analyze`` prints; it is pure (arrays in, a
JSON-ready dictionary out) so the GUI and the session report use it too. Printing it is
:func:`emgfeedback.reports.text.text_report`'s job.
"""

from __future__ import annotations

import math

import numpy as np

from emgfeedback.analysis._docs import shared_params
from emgfeedback.analysis.offline import burst_times, detect_bursts, known_onsets
from emgfeedback.analysis.quality import assess_quality, mains_ratio
from emgfeedback.analysis.quantities import channel_floors_uv, rest_quantities
from emgfeedback.analysis.symmetry import pair_symmetry
from emgfeedback.analysis.timing import analyse_timing
from emgfeedback.analysis.tone import recovery_after_bursts
from emgfeedback.errors import ConfigError
from emgfeedback.jsonsafe import json_ready as _json_ready


def estimate_quantisation_uv(x_uv) -> float:
    """Smallest step between distinct sample values (the file's resolution), µV.

    Returns NaN when the values look continuous (more than 50,000 distinct values).
    """
    x = np.asarray(x_uv, dtype=np.float64)
    x = x[np.isfinite(x)]
    u = np.unique(np.round(x, 9))
    if u.size < 2 or u.size > 50_000:
        return math.nan
    steps = np.diff(u)
    steps = steps[steps > 1e-9 * max(np.max(np.abs(u)), 1e-12)]
    return float(np.min(steps)) if steps.size else math.nan


@shared_params
def analysis_band_hz(fs_hz: float) -> tuple[float, float]:
    """The band every offline number is measured in: 20-450 Hz, the upper corner at most
    45 % of the rate (below Nyquist for slow sources).

    Parameters
    ----------
    {fs_hz}

    Returns
    -------
    tuple of float
        ``(low_hz, high_hz)``.
    """
    return (20.0, min(450.0, 0.45 * fs_hz))


#: A recording shorter than this cannot be analysed (one mains spectrum segment, a few
#: rest windows), s.
MIN_DURATION_S = 1.0


class TooShortError(ConfigError):
    """The recording is shorter than :data:`MIN_DURATION_S`; the message says how long it
    is (:func:`analyse_recording` puts the recording's name in front)."""


def check_duration(n_samples: int, fs_hz: float) -> None:
    """Raise :class:`TooShortError` for fewer than :data:`MIN_DURATION_S` of samples.

    One check, before anything is measured, for every path (``analyze FILE``, ``analyze
    --session``, the session report), so every too-short recording gets the same message
    (not one about whatever measure happened to fail first, e.g. a NaN mains frequency).
    """
    duration = n_samples / fs_hz if fs_hz > 0 else 0.0
    if duration < MIN_DURATION_S:
        raise TooShortError(f"{duration:.3g} s of data ({n_samples} samples at {fs_hz:g} Hz); "
                            f"need at least {MIN_DURATION_S:g} s")


def channel_setup(meta: dict, names) -> tuple[list | None, list | None, list | None]:
    """Per channel of ``names``: the placements, sides and calibrations a recording's
    ``meta`` gives (:func:`emgfeedback.io.recordings.open_session`, a CSV export's header).

    Each of ``meta["placements"]``, ``["sides"]``, ``["calibration"]`` may be a mapping
    channel name -> value, or a list per channel of the recording (used only when its
    length is the number of ``names``: a list for channels that were not selected cannot be
    matched to them). Missing or unmatched: None (symmetry pairs from the names; no
    calibration).
    """
    names = list(names)
    out = []
    for key in ("placements", "sides", "calibration"):
        v = meta.get(key)
        if isinstance(v, dict):
            vals = [v.get(n) for n in names]
            vals = None if any(x is None for x in vals) else vals
        elif isinstance(v, (list, tuple)) and len(v) == len(names) and len(v):
            vals = list(v)
        else:
            vals = None
        out.append(vals)
    if out[0] is not None:
        out[0] = [str(p or "") for p in out[0]]
    if out[1] is not None:
        out[1] = [str(s or "") for s in out[1]]
    return out[0], out[1], out[2]


def analysis_pipeline_config(fs_hz: float, mains_hz: float | None,
                             highpass_hz: float | None = None):
    """The processing every offline number is measured after (every analysis path).

    The band of :func:`analysis_band_hz`, the mains notches, the optional extra high-pass;
    the filters start in the steady state of the first sample (``start="steady"``), as
    the live engine's do, so a DC offset (raw ADC values, a sensor output at mid-rail, a
    constant channel) leaves no start-up transient that would read as a burst or inflate
    the SNR.

    Parameters
    ----------
    fs_hz : float
    mains_hz : float or None
        Notch frequency (50 or 60 Hz), or None.
    highpass_hz : float or None

    Returns
    -------
    PipelineConfig
    """
    from emgfeedback.dsp import PipelineConfig

    return PipelineConfig(fs_hz=fs_hz, band_hz=analysis_band_hz(fs_hz), notch_hz=mains_hz,
                          highpass_hz=highpass_hz, start="steady")


def find_pairs(names, placements=None, sides=None) -> list[tuple[int, int]]:
    """Left/right pairs of the same placement
    (:func:`emgfeedback.analysis.symmetry.symmetry_pairs`); none when nothing pairs up."""
    from emgfeedback.analysis.symmetry import symmetry_pairs

    return [(left, right) for left, right, _ in symmetry_pairs(names, placements, sides)]


@shared_params
def analyse(x_uv, fs_hz: float, channel_names, detector: str = "streaming", is_emg=None,
            mains_hz: float | None = None, highpass_hz: float | None = None,
            quantisation_uv=None, reference: int = 0, progress=None,
            output_kinds=None, calibration=None, placements=None, sides=None) -> dict:
    """Analyse a recording.

    Parameters
    ----------
    {raw_uv}
    {fs_hz}
    channel_names : sequence of str
    detector : str
        Onset detector name (:data:`~emgfeedback.analysis.offline.DETECTORS`).
    is_emg : sequence of bool, optional
        Channels to analyse as EMG (others, e.g. a goniometer, are skipped).
    mains_hz : float, optional
        50 or 60; detected from the spectrum when None.
    highpass_hz : float, optional
        Extra high-pass (30 Hz against ECG).
    quantisation_uv : sequence of float, optional
        Per channel step in µV (board quantisation); estimated from the values if None.
    calibration : sequence of ChannelCalibration, optional
        Per channel (all channels, as ``x_uv``): the noise floor comes from it
        (:func:`~emgfeedback.analysis.quantities.noise_floor_uv`) rather than from
        ``quantisation_uv``; clipping and the ADC rails are read from the counts it gives.
    placements, sides : sequence of str, optional
        Per channel (all channels): the set-up that pairs left and right channels for the
        symmetry (:func:`find_pairs`); from the names when not given.
    reference : int
        Reference channel (index among the EMG channels) for timing.
    progress : callable, optional
        ``progress(message)`` for long recordings.
    {output_kinds}

    Returns
    -------
    dict
        JSON-ready (NaN replaced by None by :func:`json_ready`).

    Raises
    ------
    TooShortError
        For less than :data:`MIN_DURATION_S` of samples.
    """
    from emgfeedback.dsp import process_offline

    say = progress or (lambda msg: None)
    x = np.asarray(x_uv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    check_duration(x.shape[0], fs_hz)
    emg = np.ones(x.shape[1], bool) if is_emg is None else np.asarray(is_emg, bool)
    cols = np.flatnonzero(emg)
    names = [channel_names[c] for c in cols]
    xe = x[:, cols]
    kinds = ["raw"] * x.shape[1] if output_kinds is None else [str(k) for k in output_kinds]
    kinds = [kinds[c] for c in cols]
    finite = np.where(np.isfinite(xe), xe, 0.0)
    if mains_hz is None:
        # Only bipolar channels show hum as lines (an envelope or rectified signal cannot).
        votes = [mains_ratio(finite[:, c], fs_hz) for c in range(xe.shape[1])
                 if kinds[c] in ("raw", "uv")]
        mains_hz = max(votes, key=lambda v: v[0])[1] if votes else 50.0
    band = analysis_band_hz(fs_hz)
    cfg = analysis_pipeline_config(fs_hz, mains_hz, highpass_hz)
    say("filtering")
    # Missing samples (gaps, padding) go in as NaN: the filters restart after each one from
    # the steady state of the next sample, as the live engine's do at a gap (a DC offset
    # then leaves no transient there either); the outputs there are 0.
    present = np.isfinite(xe)
    filtered, envelope = process_offline(xe if present.all() else np.where(present, xe, np.nan),
                                         cfg, kinds=kinds)
    if not present.all():
        filtered[~present] = 0.0
        envelope[~present] = 0.0
    say("resting tone")
    if quantisation_uv is None and calibration is None:
        quantisation_uv = [estimate_quantisation_uv(xe[:, c]) for c in range(xe.shape[1])]
    floors = channel_floors_uv(fs_hz, band, kinds, quantisation_uv=quantisation_uv,
                               calibration=None if calibration is None
                               else [calibration[c] for c in cols])
    # One rule for every path (padding, gaps and filter settling are never rest).
    rest_numbers, mask = rest_quantities(xe, filtered, fs_hz, cfg, floors, output_kinds=kinds)
    say(f"detecting onsets ({detector})")
    # The step per channel (calibration, given or estimated): the detectors' rest floor.
    steps = ([calibration[c].uv_per_count for c in cols] if calibration is not None
             else list(quantisation_uv))
    bursts = detect_bursts(filtered, fs_hz, detector, rest=mask, quantisation_uv=steps,
                           pipeline=cfg, output_kinds=kinds)
    say("quality")
    quality = assess_quality(xe, fs_hz, filtered_uv=filtered, mains_hz=mains_hz,
                             output_kinds=kinds,
                             calibration=None if calibration is None
                             else [calibration[c] for c in cols])
    channels = []
    for c, name in enumerate(names):
        rec = recovery_after_bursts(filtered[:, c], fs_hz, bursts[c])
        channels.append({
            "name": name,
            "output": kinds[c],
            **burst_times(bursts[c], fs_hz),
            **rest_numbers[c],
            "peak_envelope_uv": float(np.max(envelope[:, c])) if envelope.size else None,
            "recovery": [{"onset_s": r.onset / fs_hz, "return_s": r.return_s,
                          "residual_pct": r.residual_pct} for r in rec],
            "quality": quality[c],
        })
    out = {
        "fs_hz": float(fs_hz),
        "duration_s": x.shape[0] / fs_hz,
        "detector": detector,
        "pipeline": {"band_hz": list(band), "notch_hz": mains_hz, "highpass_hz": highpass_hz},
        "channels": channels,
        "skipped_channels": [channel_names[c] for c in np.flatnonzero(~emg)],
    }
    if len(names) > 1:
        ref = min(max(int(reference), 0), len(names) - 1)
        timing = analyse_timing(known_onsets(bursts), fs_hz, reference=ref)
        out["timing"] = timing.to_dict(fs_hz, names)
        sym = []
        pl = None if placements is None else [placements[c] for c in cols]
        sd = None if sides is None else [sides[c] for c in cols]
        for left, right in find_pairs(names, pl, sd):
            sym.append(symmetry_entry(names[left], names[right],
                                      pair_symmetry(filtered, fs_hz, bursts, left, right)))
        out["symmetry"] = sym
    out["_arrays"] = {"filtered": filtered, "envelope": envelope, "rest": mask,
                      "bursts": bursts}
    return out


def symmetry_entry(left: str, right: str, pair: dict) -> dict:
    """One pair's entry of the result's ``symmetry`` list.

    Parameters
    ----------
    left, right : str
        The pair's channel names.
    pair : dict
        :func:`~emgfeedback.analysis.symmetry.pair_symmetry`'s result for the pair.

    Returns
    -------
    dict
        ``left``, ``right``, ``n_repetitions``, the amplitude index (mean and SD, %), the
        right-left lag (mean and SD, ms) and per repetition its index and lag.
    """
    return {
        "left": left, "right": right,
        "n_repetitions": pair["n_repetitions"],
        "amplitude_index_pct": pair["amplitude_index_pct"],
        "amplitude_index_sd": pair["amplitude_index_sd"],
        "lag_ms_mean": pair["lag_ms_mean"], "lag_ms_sd": pair["lag_ms_sd"],
        "repetitions": [{"amplitude_index_pct": r["amplitude_index_pct"],
                         "lag_ms": r["lag_ms"]} for r in pair["repetitions"]],
    }


def json_ready(obj):
    """Copy with NaN/inf as None, NumPy values as Python ones, and no private keys.

    :func:`emgfeedback.jsonsafe.json_ready` with ``drop_private=True`` (the ``_arrays``
    of :func:`analyse` are not part of the report).
    """
    return _json_ready(obj, drop_private=True)


@shared_params
def analyse_recording(src, fs_hz: float, *, is_emg, units: str | None = None,
                      uv_per_count: float = 1.0, detector: str = "streaming",
                      mains_hz: float | None = None, highpass_hz: float | None = None,
                      reference: int = 0, progress=None, name=None) -> dict:
    """Analyse a recording source: :func:`analyse` with what the file said added.

    The ``streaming`` detector reads the source in blocks
    (:func:`~emgfeedback.analysis.streaming.analyse_source`: memory does not grow with the
    recording); the zero-phase detectors need the whole recording in memory
    (``src.read()`` and :func:`analyse`). Both give the same dictionary, completed with
    ``file``, ``format``, ``file_notes``, ``units``, ``markers`` and ``gaps`` (times in s).

    Parameters
    ----------
    src : RecordingSource
        The recording (:func:`emgfeedback.io.recordings.open_recording` or
        :func:`~emgfeedback.io.recordings.open_session`); its ``meta["output_kinds"]``, when
        present, gives each channel's sensor output, its ``placements``, ``sides`` and
        ``calibration`` (:func:`channel_setup`) the symmetry pairs and the ADC facts
        (noise floor, clipping, rails: a stored session's, as the session report uses).
    {fs_hz}
    is_emg : sequence of bool
        Per channel of ``src`` (:func:`emgfeedback.analysis.units.emg_channels`).
    units, uv_per_count
        As :func:`~emgfeedback.analysis.units.to_uv`.
    detector : str
        Onset detector name (:data:`~emgfeedback.analysis.offline.DETECTORS`).
    mains_hz, highpass_hz, reference, progress
        As :func:`analyse`.
    name : str, optional
        What the result and messages call the recording (default ``src.path``).

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        When the recording is shorter than :data:`MIN_DURATION_S` (the same message for
        any length below it).
    """
    from emgfeedback.analysis.streaming import analyse_source
    from emgfeedback.analysis.units import to_uv

    say = progress or (lambda msg: None)
    name = src.path if name is None else name
    n_emg = int(sum(bool(e) for e in is_emg))
    quant = [uv_per_count] * n_emg if units == "counts" else None
    kinds_all = [src.meta.get("output_kinds", {}).get(n, "raw") for n in src.channel_names]
    placements, sides, cal = channel_setup(src.meta, src.channel_names)
    if units not in (None, "uv", "µv"):
        cal = None  # the stored counts' calibration gives µV, not what --units says
    try:
        if detector == "streaming":
            say(f"{n_emg} EMG channel(s), reading in blocks")
            result = analyse_source(src, fs_hz, units=units, uv_per_count=uv_per_count,
                                    mains_hz=mains_hz, highpass_hz=highpass_hz,
                                    quantisation_uv=quant, reference=reference,
                                    progress=progress, output_kinds=kinds_all,
                                    calibration=cal)
        else:
            rec = src.read()
            x, is_emg_arr = to_uv(rec, units, uv_per_count)
            say(f"read {x.shape[0] / fs_hz:.0f} s, {n_emg} EMG channel(s)")
            result = analyse(x, fs_hz, rec.channel_names, detector=detector, is_emg=is_emg_arr,
                             mains_hz=mains_hz, highpass_hz=highpass_hz, quantisation_uv=quant,
                             reference=reference, progress=progress, output_kinds=kinds_all,
                             calibration=cal, placements=placements, sides=sides)
    except TooShortError as e:
        raise ConfigError(f"{name}: {e}") from None
    result["file"] = str(name)
    result["format"] = src.format
    result["file_notes"] = src.notes
    # The source's markers and gaps are complete once its blocks were read.
    result["units"] = {n: (u or "uV") for n, u, e in
                       zip(src.channel_names, src.units, is_emg, strict=True) if e}
    result["markers"] = [{"time_s": m["index"] / fs_hz, "label": m["label"]}
                         for m in src.markers]
    result["gaps"] = [{"start_s": g["start"] / fs_hz, "n_samples": int(g["n_samples"]),
                       "cause": g["cause"]} for g in src.gaps]
    if units == "counts" and uv_per_count == 1.0:
        result["file_notes"].append("units are counts: µV values below are counts")
    return result
