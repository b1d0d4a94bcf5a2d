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
    channel_setup,
    finish_recording,
    json_ready,
    make_outlets,
    new_session,
    open_store,
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


def stored_baseline(store, subject: str, names) -> list[float] | None:
    """The subject's latest baseline per channel, if every channel has one.

    The baseline is ``baseline_mean_uv`` (mean feedback envelope at rest, H2: the kind a
    protocol's own baseline phase measures), never the floor-corrected resting tone, so
    goals in baseline units mean the same whichever measured it. Baselines stored before
    it existed are not used.
    """
    if not subject:
        return None
    values = []
    for name in names:
        points = [p for p in store.history(subject, name, "baseline_mean_uv", kind="baseline")
                  if p.value > 0]
        if not points:
            return None
        values.append(points[-1].value)
    return values


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
    from emgfeedback.acquisition import open_source
    from emgfeedback.acquisition.pace import fast_url
    from emgfeedback.protocol import ProtocolRunner, load_protocol
    from emgfeedback.runtime import Engine, Processor, default_pipeline_config

    protocol = load_protocol(args.protocol)
    url = client_url(args.source, args.protocol)
    url = fast_url(url) if args.fast else url
    from emgfeedback.commands.check import pre_session_check, store_session_check  # H9

    signal = pre_session_check(url, protocol, args)  # H9 (#20): None unless asked/required
    source = open_source(url)
    source.open()
    info = source.info
    names = channel_setup(info, args).names
    store = None if args.no_record else open_store(args.db)
    baseline = stored_baseline(store, args.subject, names) if store is not None else None
    runner = ProtocolRunner(protocol, info.fs_hz, names, baseline_uv=baseline)
    config = default_pipeline_config(info.fs_hz, args.mains)
    session_id = None
    writer = None
    if store is not None:
        session_id = new_session(store, info, args, protocol=protocol.name)
        store_session_check(store, session_id, signal)  # H9 (#20)
        writer = store.open_writer(session_id)
    engine = Engine(source, processor_factory=lambda i: Processor(i, config, runner=runner,
                                                                  mains_hz=args.mains),
                    writer=writer, outlets=make_outlets(args, info))
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
    stopped = outcome = None
    print(f"{protocol.title}: {len(protocol.phases)} phases, {protocol.total_s:.0f} s"
          + ("  (fast)" if args.fast else ""), file=cue_stream)
    # H7: stop signals end the run like Ctrl-C; alarms are printed at once; the session is
    # incomplete (and the status non-zero, see EXIT_CODES) unless the protocol finished.
    with stop_on_signals():
        try:
            if args.fast:
                engine.run_to_end()
            else:
                engine.start()
                deadline = time.monotonic() + protocol.total_s * 2 + 30
                seq = 0
                while not engine.finished and time.monotonic() < deadline:
                    engine.wait(0.2)
                    seq = print_new_events(engine, seq, "run")
        except StopRequested as stop:
            stopped = stop
        finally:
            if writer is not None:
                outcome = finish_recording(
                    engine, writer, session_id, stopped=stopped, command="run",
                    incomplete=None if runner.finished else "protocol not finished")
            else:
                engine.stop()
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
