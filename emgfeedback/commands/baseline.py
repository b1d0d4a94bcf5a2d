"""``emgfeedback baseline``: measure and store a resting baseline per channel."""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from emgfeedback.commands._common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    add_exit_codes_epilog,
    add_source_arguments,
    channel_setup,
    finish_recording,
    json_ready,
    make_outlets,
    new_session,
    open_store,
    stop_on_signals,
    wait_recording,
)


def register(sub) -> None:
    """Add the ``baseline`` parser."""
    p = sub.add_parser("baseline", help="measure the resting tone of each channel and store it")
    add_source_arguments(p)
    from emgfeedback import bounds  # H8: checked before anything opens

    p.add_argument("--seconds", type=bounds.BASELINE_S.arg, default=60.0,
                   help=f"rest duration, s (default 60; {bounds.BASELINE_S.describe()})")
    p.add_argument("--floor-uv", type=bounds.MICROVOLTS.arg, default=None,
                   help="a measured noise floor in µV RMS (e.g. with shorted inputs; "
                        f"{bounds.MICROVOLTS.describe()})")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    from emgfeedback.commands.record import add_give_up_argument  # H7: exit codes, give-up

    add_give_up_argument(p)
    from emgfeedback.commands.check import add_check_arguments  # H9 (#20): --check

    add_check_arguments(p)
    add_exit_codes_epilog(p)
    p.set_defaults(func=run)


def measure_baseline(raw_uv: np.ndarray, filtered_uv: np.ndarray, envelope_uv: np.ndarray,
                     info, config, measured_floor_uv=None, quality=None,
                     names=None) -> list[dict]:
    """Resting tone, floor, baseline and validity per channel from a rest recording.

    The numbers are :func:`~emgfeedback.analysis.quantities.rest_quantities`, the rule
    ``analyze`` and ``report`` use too, so ``analyze --session`` of the stored session
    gives the same tone and floor.

    Parameters
    ----------
    raw_uv : numpy.ndarray
        Unfiltered signal in µV, ``(n_samples, n_channels)``, NaN where samples were lost.
    filtered_uv, envelope_uv : numpy.ndarray
        The live pipeline's filtered signal and envelope, same shape.
    info : SourceInfo
        Gives the rate, channel names and calibration.
    config : PipelineConfig
        The pipeline that filtered the signal.
    measured_floor_uv : float, optional
        A measured floor that overrides a lower theoretical one.
    quality : list of dict, optional
        Per-channel quality to attach.
    names : sequence of str, optional
        Channel names to store the results under (default: the source's).

    Returns
    -------
    list of dict
        One JSON-ready result per channel: the quantities of ``analyze`` (see
        ``docs/analysis.md``, "What each number means") plus ``baseline_mean_uv`` (what
        goals in baseline units are scaled on), ``valid``/``reason`` (as ``tone_valid``/
        ``tone_note``, for older readers) and ``quantisation_uv``.
    """
    from emgfeedback.analysis.quantities import channel_floors_uv, rest_quantities

    kinds = [cal.output for cal in info.calibration]
    floors = channel_floors_uv(info.fs_hz, tuple(config.band_hz), kinds,
                               calibration=info.calibration, measured_uv=measured_floor_uv)
    numbers, _ = rest_quantities(raw_uv, filtered_uv, info.fs_hz, config, floors,
                                 envelope_uv=envelope_uv, output_kinds=kinds)
    names = list(names or info.channel_names)
    results = []
    for c, d in enumerate(numbers):
        result = {"channel": names[c]}
        result.update({k: (_num(v) if isinstance(v, float) else v) for k, v in d.items()})
        result.update(valid=d["tone_valid"], reason=d["tone_note"],
                      quantisation_uv=info.calibration[c].quantisation_uv,
                      quality=quality[c] if quality else None)
        results.append(result)
    return results


def timeline(starts, blocks, n_channels: int) -> np.ndarray:
    """Blocks placed at their sample indices from the first, NaN where samples are missing.

    Parameters
    ----------
    starts : sequence of int
        First sample index of each block.
    blocks : sequence of numpy.ndarray
        ``(n_i, n_channels)`` blocks.
    n_channels : int

    Returns
    -------
    numpy.ndarray
        ``(last_index + 1 - first_index, n_channels)``.
    """
    if not blocks:
        return np.zeros((0, n_channels))
    first = int(starts[0])
    end = max(int(s) + len(b) for s, b in zip(starts, blocks, strict=True))
    out = np.full((end - first, n_channels), np.nan)
    for s, b in zip(starts, blocks, strict=True):
        out[int(s) - first: int(s) - first + len(b)] = b
    return out


def _num(value: float):
    return None if value is None or not math.isfinite(value) else float(value)


def run(args) -> int:
    """Record a rest period, measure it and store the baseline; returns an exit status.

    A rest period that ended early (silent or unplugged board, a stop signal, storage
    failure) stores no baseline: the session is ``incomplete`` and the status non-zero.
    """
    with stop_on_signals():  # H7: SIGTERM/SIGHUP stop like Ctrl-C
        return _run(args)


def _run(args) -> int:
    from emgfeedback.acquisition import open_source
    from emgfeedback.commands.record import check_give_up
    from emgfeedback.runtime import Engine, Processor, default_pipeline_config

    give_up_s = check_give_up(args.give_up)
    from emgfeedback.commands.check import pre_session_check, store_session_check  # H9

    signal = pre_session_check(args.source, None, args, "the baseline")  # None without --check
    source = open_source(args.source)
    source.open()
    info = source.info
    store = open_store(args.db)
    session_id = new_session(store, info, args, protocol="baseline")
    store_session_check(store, session_id, signal)  # H9 (#20)
    writer = store.open_writer(session_id)
    config = default_pipeline_config(info.fs_hz, args.mains)
    engine = Engine(source, processor_factory=lambda i: Processor(i, config, mains_hz=args.mains),
                    writer=writer, outlets=make_outlets(args, info), stop_after_s=args.seconds,
                    give_up_s=give_up_s)
    raw_blocks: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    env_blocks: list[np.ndarray] = []
    starts: list[int] = []

    def keep(processed) -> None:
        starts.append(processed.chunk.first_index)
        raw_blocks.append(processed.uv)
        blocks.append(processed.filtered_uv)
        env_blocks.append(processed.envelope_uv)

    engine.add_listener(keep)
    stopped = None
    results: list[dict] = []
    filtered = np.zeros((0, info.n_channels))
    try:
        engine.start()
        stopped = wait_recording(engine, args.seconds, "resting baseline: relax", "baseline")
        engine.stop()
        if stopped is not None or engine.end_reason is not None:
            return _not_measured(engine, writer, session_id, stopped)
        # Lost samples stay NaN (never rest), as when the stored session is analysed.
        filtered = timeline(starts, blocks, info.n_channels)
        raw = timeline(starts, raw_blocks, info.n_channels)
        envelope = timeline(starts, env_blocks, info.n_channels)
        quality = _whole_quality(raw, filtered, info, config, args.mains)
        results = measure_baseline(raw, filtered, envelope, info, config, args.floor_uv,
                                   quality, names=channel_setup(info, args).names)
        for result in results:
            writer.add_result("baseline", result, channel=result["channel"])
    finally:
        if writer.final_status is None:
            outcome = finish_recording(engine, writer, session_id, stopped=stopped,
                                       command="baseline")
    summary = {"session": session_id, "seconds": len(filtered) / info.fs_hz,
               "fs_hz": info.fs_hz, "lost_samples": engine.health.lost_samples,
               "channels": results}
    if args.json:
        print(json.dumps(json_ready(summary)))
        return outcome.exit_code
    for r in results:
        tone = r["resting_tone_uv"]
        shown = f"{tone:7.2f} µV" if tone is not None else "    n/a"
        verdict = "valid" if r["tone_valid"] else f"NOT VALID: {r['tone_note']}"
        flags = ", ".join((r["quality"] or {}).get("flags", [])) or "none"
        base = r.get("baseline_mean_uv")
        shown_base = f"{base:.2f} µV" if base is not None else "n/a"
        print(f"{r['channel']:<16} tone {shown}  floor {r['noise_floor_uv']:.2f} µV  "
              f"baseline (mean envelope) {shown_base}  {verdict}  quality flags: {flags}")
    print(f"stored as session {session_id}", file=sys.stderr)
    return outcome.exit_code


def _not_measured(engine, writer, session_id, stopped) -> int:
    """The rest period ended early: no baseline is stored, the session says why."""
    outcome = finish_recording(engine, writer, session_id, stopped=stopped, command="baseline")
    print(f"emgfeedback baseline: no baseline stored: the rest period ended early "
          f"({outcome.reason})", file=sys.stderr)
    return outcome.exit_code if outcome.exit_code != EXIT_OK else EXIT_INCOMPLETE


def _whole_quality(raw_uv, filtered_uv, info, config, mains_hz):
    from emgfeedback.analysis.quality import assess_quality

    if len(filtered_uv) < info.fs_hz:
        return None
    return assess_quality(raw_uv, info.fs_hz, filtered_uv=filtered_uv,
                          calibration=info.calibration, mains_hz=mains_hz,
                          band_hz=tuple(config.band_hz))
