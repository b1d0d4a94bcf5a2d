"""``emgfeedback baseline``: measure and store a resting baseline per channel."""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from emgfeedback.commands._common import (
    add_source_arguments,
    channel_names,
    json_ready,
    make_outlets,
    new_session,
    open_store,
    run_for,
)


def register(sub) -> None:
    """Add the ``baseline`` parser."""
    p = sub.add_parser("baseline", help="measure the resting tone of each channel and store it")
    add_source_arguments(p)
    p.add_argument("--seconds", type=float, default=60.0, help="rest duration, s (default 60)")
    p.add_argument("--floor-uv", type=float, default=None,
                   help="a measured noise floor in µV RMS (e.g. with shorted inputs)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def measure_baseline(filtered_uv: np.ndarray, info, config, measured_floor_uv=None,
                     quality=None, names=None) -> list[dict]:
    """Resting tone, floor and validity per channel from a rest recording.

    Parameters
    ----------
    filtered_uv : numpy.ndarray
        Band-passed signal in µV, ``(n_samples, n_channels)``.
    info : SourceInfo
        Gives the rate, channel names and calibration.
    config : PipelineConfig
        The pipeline that filtered the signal: the quantisation floor is scaled to its pass
        band, and the power its notches removed from the EMG is restored.
    measured_floor_uv : float, optional
        A measured floor that overrides a lower theoretical one.
    quality : list of dict, optional
        Per-channel quality to attach.
    names : sequence of str, optional
        Channel names to store the results under (default: the source's).

    Returns
    -------
    list of dict
        One JSON-ready result per channel.
    """
    from emgfeedback.analysis.tone import noise_floor_uv, resting_tone

    band_hz = tuple(config.band_hz)
    floors = [noise_floor_uv(cal, info.fs_hz, band_hz, measured_floor_uv)
              for cal in info.calibration]
    tones = resting_tone(filtered_uv, info.fs_hz, floors_uv=floors, notch_hz=config.notch_hz,
                         notch_q=config.notch_q, band_hz=band_hz)
    names = list(names or info.channel_names)
    results = []
    for c, tone in enumerate(tones):
        rest = filtered_uv[:, c]
        results.append({
            "channel": names[c],
            "resting_tone_uv": _num(tone.tone_uv),
            "raw_rms_uv": _num(tone.raw_rms_uv),
            "noise_floor_uv": _num(tone.floor_uv),
            "quantisation_uv": info.calibration[c].quantisation_uv,
            "valid": tone.valid,
            "reason": tone.reason,
            "p10_uv": _num(tone.p10_uv),
            "p50_uv": _num(tone.p50_uv),
            "p90_uv": _num(tone.p90_uv),
            "rest_s": tone.rest_s,
            "mean_abs_uv": _num(float(np.nanmean(np.abs(rest)))) if len(rest) else None,
            "quality": quality[c] if quality else None,
        })
    return results


def _num(value: float):
    return None if value is None or not math.isfinite(value) else float(value)


def run(args) -> int:
    """Record a rest period, measure it and store the baseline."""
    from emgfeedback.acquisition import open_source
    from emgfeedback.runtime import Engine, Processor, default_pipeline_config

    source = open_source(args.source)
    source.open()
    info = source.info
    store = open_store(args.db)
    session_id = new_session(store, info, args, protocol="baseline")
    writer = store.open_writer(session_id)
    config = default_pipeline_config(info.fs_hz, args.mains)
    engine = Engine(source, processor_factory=lambda i: Processor(i, config, mains_hz=args.mains),
                    writer=writer, outlets=make_outlets(args, info), stop_after_s=args.seconds)
    raw_blocks: list[np.ndarray] = []
    blocks: list[np.ndarray] = []

    def keep(processed) -> None:
        raw_blocks.append(processed.uv)
        blocks.append(processed.filtered_uv)

    engine.add_listener(keep)
    status = "interrupted"
    try:
        engine.start()
        run_for(engine, args.seconds, "resting baseline: relax")
        engine.stop()
        empty = np.zeros((0, info.n_channels))
        filtered = np.concatenate(blocks) if blocks else empty
        raw = np.concatenate(raw_blocks) if raw_blocks else empty
        quality = _whole_quality(raw, filtered, info, config, args.mains)
        results = measure_baseline(filtered, info, config, args.floor_uv, quality,
                                   names=channel_names(info, args.names))
        for result in results:
            writer.add_result("baseline", result, channel=result["channel"])
        status = "complete"
    finally:
        engine.stop()
        writer.close(status=status)
    summary = {"session": session_id, "seconds": len(filtered) / info.fs_hz,
               "fs_hz": info.fs_hz, "lost_samples": engine.health.lost_samples,
               "channels": results}
    if args.json:
        print(json.dumps(json_ready(summary)))
        return 0
    for r in results:
        tone = r["resting_tone_uv"]
        shown = f"{tone:7.2f} µV" if tone is not None else "    n/a"
        verdict = "valid" if r["valid"] else f"NOT VALID: {r['reason']}"
        flags = ", ".join((r["quality"] or {}).get("flags", [])) or "none"
        print(f"{r['channel']:<16} tone {shown}  floor {r['noise_floor_uv']:.2f} µV  "
              f"{verdict}  quality flags: {flags}")
    print(f"stored as session {session_id}", file=sys.stderr)
    return 0


def _whole_quality(raw_uv, filtered_uv, info, config, mains_hz):
    from emgfeedback.analysis.quality import assess_quality

    if len(filtered_uv) < info.fs_hz:
        return None
    return assess_quality(raw_uv, info.fs_hz, filtered_uv=filtered_uv,
                          calibration=info.calibration, mains_hz=mains_hz,
                          band_hz=tuple(config.band_hz))
