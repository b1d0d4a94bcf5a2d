"""Whole-recording analysis: onsets, tone, quality, timing and symmetry in one dictionary.

:func:`analyse` is what ``emgfeedback analyze`` prints; it is pure (arrays in, a
JSON-ready dictionary out) so the GUI and the session store can use it too.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from emgfeedback.analysis.offline import detect_bursts
from emgfeedback.analysis.quality import assess_quality, mains_ratio
from emgfeedback.analysis.quantities import channel_floors_uv, rest_quantities
from emgfeedback.analysis.symmetry import pair_symmetry
from emgfeedback.analysis.timing import analyse_timing
from emgfeedback.analysis.tone import recovery_after_bursts
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


def find_pairs(names, placements=None, sides=None) -> list[tuple[int, int]]:
    """Left/right pairs of the same placement
    (:func:`emgfeedback.analysis.symmetry.symmetry_pairs`); none when nothing pairs up."""
    from emgfeedback.analysis.symmetry import symmetry_pairs

    return [(left, right) for left, right, _ in symmetry_pairs(names, placements, sides)]


def analyse(x_uv, fs_hz: float, channel_names, detector: str = "streaming", is_emg=None,
            mains_hz: float | None = None, highpass_hz: float | None = None,
            quantisation_uv=None, reference: int = 0, progress=None,
            output_kinds=None, calibration=None) -> dict:
    """Analyse a recording.

    Parameters
    ----------
    x_uv : array_like
        Raw signal in µV, ``(n_samples, n_channels)``.
    fs_hz : float
        Sample rate in hertz.
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
        ``quantisation_uv``.
    reference : int
        Reference channel (index among the EMG channels) for timing.
    progress : callable, optional
        ``progress(message)`` for long recordings.
    output_kinds : sequence of str, optional
        Sensor output per channel of ``x_uv`` (``raw``, ``uv``, ``rect``, ``env``; default
        all ``raw``): decides each channel's processing chain
        (:class:`~emgfeedback.dsp.KindPipeline`) and quality checks.

    Returns
    -------
    dict
        JSON-ready (NaN replaced by None by :func:`json_ready`).
    """
    from emgfeedback.dsp import PipelineConfig, process_offline

    say = progress or (lambda msg: None)
    x = np.asarray(x_uv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
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
    band = (20.0, min(450.0, 0.45 * fs_hz))
    cfg = PipelineConfig(fs_hz=fs_hz, band_hz=band, notch_hz=mains_hz,
                         highpass_hz=highpass_hz)
    say("filtering")
    filtered, envelope = process_offline(finite, cfg, kinds=kinds)
    say("resting tone")
    if quantisation_uv is None and calibration is None:
        quantisation_uv = [estimate_quantisation_uv(xe[:, c]) for c in range(xe.shape[1])]
    floors = channel_floors_uv(fs_hz, band, kinds, quantisation_uv=quantisation_uv,
                               calibration=None if calibration is None
                               else [calibration[c] for c in cols])
    # One rule for every path (padding, gaps and filter settling are never rest).
    rest_numbers, mask = rest_quantities(xe, filtered, fs_hz, cfg, floors, output_kinds=kinds)
    say(f"detecting onsets ({detector})")
    bursts = detect_bursts(filtered, fs_hz, detector, rest=mask)
    say("quality")
    quality = assess_quality(xe, fs_hz, filtered_uv=filtered, mains_hz=mains_hz,
                             output_kinds=kinds)
    channels = []
    for c, name in enumerate(names):
        rec = recovery_after_bursts(filtered[:, c], fs_hz, bursts[c])
        channels.append({
            "name": name,
            "output": kinds[c],
            "onsets_s": [float(i) / fs_hz for i in bursts[c][:, 0]],
            "offsets_s": [float(i) / fs_hz for i in bursts[c][:, 1]],
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
        timing = analyse_timing([b[:, 0] for b in bursts], fs_hz, reference=ref)
        out["timing"] = timing.to_dict(fs_hz, names)
        sym = []
        for left, right in find_pairs(names):
            s = pair_symmetry(filtered, fs_hz, bursts, left, right)
            sym.append({
                "left": names[left], "right": names[right],
                "n_repetitions": s["n_repetitions"],
                "amplitude_index_pct": s["amplitude_index_pct"],
                "amplitude_index_sd": s["amplitude_index_sd"],
                "lag_ms_mean": s["lag_ms_mean"], "lag_ms_sd": s["lag_ms_sd"],
                "repetitions": [{"amplitude_index_pct": r["amplitude_index_pct"],
                                 "lag_ms": r["lag_ms"]} for r in s["repetitions"]],
            })
        out["symmetry"] = sym
    out["_arrays"] = {"filtered": filtered, "envelope": envelope, "rest": mask,
                      "bursts": bursts}
    return out


def json_ready(obj):
    """Copy with NaN/inf as None, NumPy values as Python ones, and no private keys.

    :func:`emgfeedback.jsonsafe.json_ready` with ``drop_private=True`` (the ``_arrays``
    of :func:`analyse` are not part of the report).
    """
    return _json_ready(obj, drop_private=True)


def text_report(result: dict, recording_notes=(), file=sys.stdout) -> None:
    """Print a readable report."""
    def f(v, fmt="{:.1f}"):
        return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) \
            else fmt.format(v)

    p = result["pipeline"]
    kinds = {ch.get("output", "raw") for ch in result["channels"]}
    band = (f"band {p['band_hz'][0]:g}-{p['band_hz'][1]:g} Hz, notch {p['notch_hz']:g} Hz"
            + ("" if kinds <= {"raw", "uv"} else " (RAW channels only)"))
    if kinds and kinds <= {"rect", "env"}:
        band = "no band-pass or notch (" + "/".join(sorted(k.upper() for k in kinds)) + \
            " outputs)"
    print(f"sample rate {result['fs_hz']:g} Hz, {result['duration_s']:.1f} s; {band}; "
          f"detector {result['detector']}", file=file)
    for note in recording_notes:
        print(f"  file: {note}", file=file)
    if result.get("skipped_channels"):
        print(f"  not EMG, skipped: {', '.join(result['skipped_channels'])}", file=file)
    for ch in result["channels"]:
        q = ch["quality"]
        print(f"\n{ch['name']}", file=file)
        tone = f(ch["resting_tone_uv"], "{:.2f}")
        valid = "" if ch["tone_valid"] else "  (INVALID: " + (ch["tone_note"] or "") + ")"
        print(f"  resting tone {tone} µV RMS, floor {f(ch['noise_floor_uv'], '{:.2f}')} µV, "
              f"static level p10 {f(ch['static_level_p10_uv'], '{:.2f}')} µV{valid}",
              file=file)
        spans = list(zip(ch["onsets_s"], ch["offsets_s"], strict=True))
        print(f"  {len(spans)} bursts:", ", ".join(f"{a:.3f}-{b:.3f} s" for a, b in spans[:12])
              + (" ..." if len(spans) > 12 else ""), file=file)
        mains = ("n/a on " + ch.get("output", "raw").upper()
                 if q["mains_ratio"] is None or not math.isfinite(q["mains_ratio"])
                 else f"{100 * q['mains_ratio']:.1f}% ({q['mains_hz']:g} Hz)")
        print(f"  output {ch.get('output', 'raw').upper()}; quality: mains {mains}, "
              f"clipped {q['clipped_pct']:.2f}%, SNR {f(q['snr_db'])} dB, lost "
              f"{q['lost_pct']:.2f}%, flags: {', '.join(q['flags']) or 'none'}", file=file)
        for advice in q["advice"]:
            print(f"  ! {advice}", file=file)
    if "timing" in result:
        t = result["timing"]
        s = t["summary"]
        print(f"\ntiming vs {t['reference']}: {s['n_repetitions']} repetitions, order "
              f"matched {f(s['order_matched_pct'], '{:.0f}')}%", file=file)
        for name, st in s["lag_ms"].items():
            print(f"  {name}: lag {st['mean']:+.0f} ± {st['sd']:.0f} ms (median "
                  f"{st['median']:+.0f}, n={st['n']})", file=file)
    for sym in result.get("symmetry", []):
        print(f"symmetry {sym['left']} / {sym['right']}: amplitude index "
              f"{f(sym['amplitude_index_pct'], '{:+.1f}')}%, right-left lag "
              f"{f(sym['lag_ms_mean'], '{:+.0f}')} ms over {sym['n_repetitions']} reps",
              file=file)
