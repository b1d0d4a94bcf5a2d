"""``emgfeedback run``: run an exercise protocol headless, printing cues as they happen."""

from __future__ import annotations

import json
import sys
import time

from emgfeedback.commands._common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    StopRequested,
    add_exit_codes_epilog,
    add_source_arguments,
    json_ready,
    open_recording,
    print_new_events,
    progress,
    stop_on_signals,
)
from emgfeedback.errors import ConfigError


def register(sub) -> None:
    """Add the ``run`` parser."""
    p = sub.add_parser("run", help="run an exercise protocol headless")
    p.add_argument("--protocol", required=True, metavar="NAME|FILE",
                   help="a shipped protocol (see 'emgfeedback protocols') or a TOML file")
    add_source_arguments(p)
    p.add_argument("--fast", action="store_true",
                   help="run faster than real time (simulator and playback sources only)")
    p.add_argument("--no-record", action="store_true", help="do not store the session")
    p.add_argument("--json", action="store_true",
                   help="print the results as one JSON object (cues go to stderr)")
    from emgfeedback.commands.record import add_give_up_argument

    add_give_up_argument(p)  # a silent or unplugged board ends the run, as in `record`
    from emgfeedback.commands.check import add_check_arguments  # H9 (#20)

    add_check_arguments(p)
    add_exit_codes_epilog(p)  # H7
    p.set_defaults(func=run)


def client_url(url: str, requested: str) -> str:
    """A ``sim://?client=...`` URL made to follow the protocol this run uses.

    A simulated client runs its own copy of the protocol's timeline, so it must follow the
    same protocol as the runner: without ``protocol=`` in the URL this adds it; a URL that
    names another protocol is an error. Other URLs are returned unchanged.
    """
    from urllib.parse import quote

    from emgfeedback.acquisition.source import parse_source_url

    parsed = parse_source_url(url)
    if parsed.scheme != "sim" or "client" not in parsed.options:
        return url
    named = parsed.options.get("protocol")
    if named is None:
        return url + ("&" if "?" in url else "?") + "protocol=" + quote(requested, safe="")
    if named != requested:
        raise ConfigError(f"the simulated client follows protocol {named!r} but --protocol is "
                          f"{requested!r}; fix: remove protocol= from the source URL (run "
                          "fills it in) or make them the same")
    return url


def describe_cue(cue, fs_hz: float) -> str:
    """One readable line for a cue."""
    text = cue.text or ""
    if cue.kind == "phase_end":
        passed = cue.data.get("passed")
        text = {True: "passed", False: "not passed"}.get(passed, "done")
    elif cue.kind == "rep_counted" and cue.data.get("passed") is not None:
        text = f"rep {text} " + ("passed" if cue.data["passed"] else "not passed")
    return f"{cue.index / fs_hz:8.2f} s  {cue.phase_name:<18} {cue.kind:<13} {text}"


def run(args) -> int:
    """Run the protocol on the source; store and print the results."""
    from emgfeedback.acquisition.pace import fast_url
    from emgfeedback.commands.record import check_give_up
    from emgfeedback.protocol import ProtocolRunner, load_protocol
    from emgfeedback.storage.baselines import stored_baseline

    give_up_s = check_give_up(args.give_up)
    protocol = load_protocol(args.protocol)
    url = client_url(args.source, args.protocol)
    url = fast_url(url) if args.fast else url
    from emgfeedback.commands.check import pre_session_check  # H9

    signal = pre_session_check(url, protocol, args)  # H9 (#20): None unless asked/required

    def make_runner(info, names, store):
        baseline = stored_baseline(store, args.subject, names) if store is not None else None
        return ProtocolRunner(protocol, info.fs_hz, names, baseline_uv=baseline)

    # H7: stop signals end the run like Ctrl-C; alarms are printed at once; the session is
    # incomplete (and the status non-zero, see EXIT_CODES) unless the protocol finished.
    with stop_on_signals() as gate:
        rec = open_recording(args, url, record=not args.no_record,
                             session_protocol=protocol.name, signal=signal,
                             give_up_s=give_up_s, make_runner=make_runner, gate=gate)
        return _run_recording(args, protocol, rec, gate.held)


def _run_recording(args, protocol, rec, stopped) -> int:
    """Run the set-up protocol to its end (or a stop signal); print and return the status."""
    info, engine, runner, session_id = rec.info, rec.engine, rec.runner, rec.session_id
    cue_stream = sys.stderr if args.json else sys.stdout

    def show(processed) -> None:
        for cue in processed.cues:
            if cue.kind == "countdown":
                continue
            if sys.stderr.isatty():
                sys.stderr.write("\r\033[K")
            print(describe_cue(cue, info.fs_hz), file=cue_stream, flush=True)
        if sys.stderr.isatty():
            done, total = runner.phase_progress()
            phase = runner.current_phase
            label = protocol.phases[phase].name if phase is not None else "done"
            progress(f"{label:<18}", done / info.fs_hz, total / info.fs_hz)

    engine.add_listener(show)
    outcome = None
    print(f"{protocol.title}: {len(protocol.phases)} phases, {protocol.total_s:.0f} s"
          + ("  (fast)" if args.fast else ""), file=cue_stream)
    try:
        if stopped is None and args.fast:
            engine.run_to_end()
        elif stopped is None:  # (a stop signal held while the session was set up: none)
            engine.start()
            deadline = time.monotonic() + protocol.total_s * 2 + 30
            seq = 0
            while not engine.finished and time.monotonic() < deadline:
                engine.wait(0.2)
                seq = print_new_events(engine, seq, "run")
    except StopRequested as stop:
        stopped = stop
    finally:
        outcome = rec.finish(stopped, command="run",
                             incomplete=None if runner.finished else "protocol not finished")
    results = engine.results or runner.results()
    results = dict(results, session=session_id)
    if args.json:
        print(json.dumps(json_ready(results)))
    else:
        from emgfeedback.protocol.explain import results_lines

        print("\n".join(results_lines(protocol, results)))
        if session_id is not None:
            print(f"stored as session {session_id}")
    if stopped is not None:
        return stopped.exit_code
    if outcome is not None:
        return outcome.exit_code
    return EXIT_OK if runner.finished else EXIT_INCOMPLETE
