"""``emgfeedback baseline``: measure and store a resting baseline per channel.

Parse, record the rest period (:func:`~emgfeedback.commands._common.open_recording`),
measure it (:mod:`emgfeedback.runtime.rest_baseline`), print.
"""

from __future__ import annotations

import json
import sys

from emgfeedback.commands._common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    StopRequested,
    add_exit_codes_epilog,
    add_source_arguments,
    json_ready,
    open_recording,
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


def run(args) -> int:
    """Record a rest period, measure it and store the baseline; returns an exit status.

    A rest period that ended early (silent or unplugged board, a stop signal, storage
    failure) stores no baseline: the session is ``incomplete`` and the status non-zero.
    """
    with stop_on_signals() as gate:  # H7: SIGTERM/SIGHUP stop like Ctrl-C
        return _run(args, gate)


def _run(args, gate) -> int:
    from emgfeedback.commands.check import pre_session_check  # H9 (#20)
    from emgfeedback.commands.record import check_give_up
    from emgfeedback.runtime.rest_baseline import RestCollector

    give_up_s = check_give_up(args.give_up)
    signal = pre_session_check(args.source, None, args, "the baseline")  # None without --check
    rec = open_recording(args, args.source, session_protocol="baseline", signal=signal,
                         seconds=args.seconds, give_up_s=give_up_s, gate=gate)
    info, engine = rec.info, rec.engine
    rest = RestCollector(info.n_channels)
    engine.add_listener(rest)
    stopped = gate.held  # a stop signal while the session was set up
    results: list[dict] = []
    try:
        try:
            if stopped is None:
                engine.start()  # loads the kernels: a stop signal may well arrive here
                stopped = wait_recording(engine, args.seconds, "resting baseline: relax",
                                         "baseline")
        except StopRequested as stop:
            stopped = stop
        engine.stop()
        if stopped is not None or engine.end_reason is not None:
            return _not_measured(rec, stopped)
        results = rest.measure(info, rec.config, mains_hz=args.mains,
                               measured_floor_uv=args.floor_uv, names=rec.names)
        for result in results:
            rec.recorder.add_result("baseline", result, channel=result["channel"])
    finally:
        if rec.writer.final_status is None:
            outcome = rec.finish(stopped, command="baseline")
    summary = {"session": rec.session_id,
               "seconds": (rest.n_samples if results else 0) / info.fs_hz,
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
    print(f"stored as session {rec.session_id}", file=sys.stderr)
    return outcome.exit_code


def _not_measured(rec, stopped) -> int:
    """The rest period ended early: no baseline is stored, the session says why."""
    outcome = rec.finish(stopped, command="baseline")
    print(f"emgfeedback baseline: no baseline stored: the rest period ended early "
          f"({outcome.reason})", file=sys.stderr)
    return outcome.exit_code if outcome.exit_code != EXIT_OK else EXIT_INCOMPLETE
