"""``emgfeedback record``: record a session headless; prints its id as the last line."""

from __future__ import annotations

import sys

from emgfeedback.commands._common import (
    add_source_arguments,
    make_outlets,
    new_session,
    open_store,
    run_for,
)


def register(sub) -> None:
    """Add the ``record`` parser."""
    p = sub.add_parser("record", help="record a session into the session store")
    add_source_arguments(p)
    p.add_argument("--seconds", type=float, required=True, help="how long to record, s")
    p.set_defaults(func=run)


def run(args) -> int:
    """Record ``--seconds`` of the source into the store."""
    from emgfeedback.acquisition import open_source
    from emgfeedback.runtime import Engine, Processor, default_pipeline_config

    source = open_source(args.source)
    source.open()
    store = open_store(args.db)
    session_id = new_session(store, source.info, args)
    writer = store.open_writer(session_id)
    engine = Engine(
        source,
        processor_factory=lambda info: Processor(
            info, default_pipeline_config(info.fs_hz, args.mains), mains_hz=args.mains),
        writer=writer, outlets=make_outlets(args, source.info), stop_after_s=args.seconds)
    status = "interrupted"
    try:
        engine.start()
        run_for(engine, args.seconds, f"recording session {session_id}")
        status = "complete"
    finally:
        try:
            engine.stop()
        finally:
            writer.close(status=status)
    health = engine.health.as_dict()
    print(f"recorded {health['samples_in']} samples, lost {health['lost_samples']} "
          f"({health['lost_percent']:.3f}%)", file=sys.stderr)
    if writer.error is not None:
        print(f"warning: the recorder reported: {writer.error}", file=sys.stderr)
    print(session_id)
    return 0
