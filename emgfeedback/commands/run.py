"""``emgfeedback run``: run an exercise protocol headless, printing cues as they happen."""

from __future__ import annotations

import json
import sys
import time

from emgfeedback.commands._common import (
    add_source_arguments,
    channel_names,
    json_ready,
    make_outlets,
    new_session,
    open_store,
    progress,
)
from emgfeedback.errors import ConfigError

#: Sources whose pace can be lifted with --fast (they are not tied to a real device).
FAST_SCHEMES = ("sim", "file")


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
    p.set_defaults(func=run)


def fast_url(url: str) -> str:
    """The URL with ``pace=fast`` (only for sources that have a pace)."""
    from emgfeedback.acquisition.source import parse_source_url

    parsed = parse_source_url(url)
    if parsed.scheme not in FAST_SCHEMES:
        raise ConfigError(f"--fast works with {', '.join(s + '://' for s in FAST_SCHEMES)} "
                          f"sources only, not {parsed.scheme}:// (a device runs in real time)")
    if "pace" in parsed.options:
        return url
    return url + ("&" if "?" in url else "?") + "pace=fast"


def stored_baseline(store, subject: str, names) -> list[float] | None:
    """The subject's latest valid resting tone per channel, if every channel has one."""
    if not subject:
        return None
    values = []
    for name in names:
        points = [p for p in store.history(subject, name, "resting_tone_uv", kind="baseline")
                  if p.valid]
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
    return f"{cue.index / fs_hz:8.2f} s  {cue.phase_name:<18} {cue.kind:<13} {text}"


def run(args) -> int:
    """Run the protocol on the source; store and print the results."""
    from emgfeedback.acquisition import open_source
    from emgfeedback.protocol import ProtocolRunner, load_protocol
    from emgfeedback.runtime import Engine, Processor, default_pipeline_config

    protocol = load_protocol(args.protocol)
    url = fast_url(args.source) if args.fast else args.source
    source = open_source(url)
    source.open()
    info = source.info
    names = channel_names(info, args.names)
    store = None if args.no_record else open_store(args.db)
    baseline = stored_baseline(store, args.subject, names) if store is not None else None
    runner = ProtocolRunner(protocol, info.fs_hz, names, baseline_uv=baseline)
    config = default_pipeline_config(info.fs_hz, args.mains)
    session_id = None
    writer = None
    if store is not None:
        session_id = new_session(store, info, args, protocol=protocol.name)
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
    status = "interrupted"
    print(f"{protocol.title}: {len(protocol.phases)} phases, {protocol.total_s:.0f} s"
          + ("  (fast)" if args.fast else ""), file=cue_stream)
    try:
        if args.fast:
            engine.run_to_end()
        else:
            engine.start()
            deadline = time.monotonic() + protocol.total_s * 2 + 30
            while not engine.finished and time.monotonic() < deadline:
                engine.wait(0.2)
        status = "complete" if runner.finished else "interrupted"
    finally:
        engine.stop()
        if writer is not None:
            writer.close(status=status)
    results = engine.results or runner.results()
    results = dict(results, session=session_id)
    if args.json:
        print(json.dumps(json_ready(results)))
    else:
        for phase in results.get("phases", []):
            verdict = {True: "passed", False: "not passed"}.get(phase.get("passed"), "")
            print(f"{phase.get('name', ''):<20} {verdict}")
        if session_id is not None:
            print(f"stored as session {session_id}")
    return 0 if runner.finished else 1
