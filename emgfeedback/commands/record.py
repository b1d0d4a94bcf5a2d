"""``emgfeedback record``: record a session headless; prints its id as the last line.

What happens when things go wrong (see docs/storage.md, "What happens when..."): alarms
(silent board, unplug, storage failing) are printed on stderr as they happen and recorded as
markers; a board that stays silent for ``--give-up`` seconds ends the recording early with
what arrived (the missing rest is a gap); SIGINT, SIGTERM and SIGHUP stop it cleanly. The
exit status says whether everything asked was recorded (:data:`EXIT_CODES`).
"""

from __future__ import annotations

import sys

from emgfeedback.commands._common import (
    StopRequested,
    add_exit_codes_epilog,
    add_source_arguments,
    open_recording,
    stop_on_signals,
    wait_recording,
)
from emgfeedback.errors import ConfigError
from emgfeedback.runtime.engine import GIVE_UP_S


def register(sub) -> None:
    """Add the ``record`` parser."""
    p = sub.add_parser(
        "record", help="record a session into the session store",
        description="Record --seconds of a source into the session store. Alarms are printed "
                    "on stderr as they happen; the session id is the last line on stdout.")
    add_source_arguments(p)
    from emgfeedback import bounds  # H8: checked before anything opens

    p.add_argument("--seconds", type=bounds.DURATION_S.arg, required=True,
                   help=f"seconds of signal to record ({bounds.DURATION_S.describe()}); "
                        "samples lost on the link are gaps on top, so the session then "
                        "spans longer (the summary says how long)")
    add_give_up_argument(p)
    from emgfeedback.commands.check import add_check_arguments

    add_check_arguments(p)  # --check: the signal check first, its grade stored (issue 20)
    add_exit_codes_epilog(p)
    p.set_defaults(func=run)


def add_give_up_argument(parser) -> None:
    """``--give-up S``: how long a silent or unplugged source may stay silent."""
    parser.add_argument(
        "--give-up", type=float, default=GIVE_UP_S, metavar="S",
        help="end the recording early, keeping what arrived, after this many seconds without "
             f"samples while the device is silent or unplugged (default {GIVE_UP_S:g})")


def check_give_up(value: float) -> float:
    """Validate ``--give-up`` (seconds, > 0 and finite)."""
    if not 0 < value < 1e6:
        raise ConfigError(f"--give-up {value}: expected a number of seconds > 0")
    return float(value)


def run(args) -> int:
    """Record ``--seconds`` of the source into the store; returns an exit status."""
    give_up_s = check_give_up(args.give_up)
    from emgfeedback.commands.check import pre_session_check

    signal = pre_session_check(args.source, None, args, "the recording")  # None without --check
    with stop_on_signals() as gate:
        rec = open_recording(args, args.source, signal=signal, seconds=args.seconds,
                             give_up_s=give_up_s, gate=gate)
        stopped = gate.held  # a stop signal while the session was set up
        try:
            if stopped is None:
                rec.engine.start()  # loads the kernels: a stop signal may well arrive here
                stopped = wait_recording(rec.engine, args.seconds,
                                         f"recording session {rec.session_id}", "record")
        except StopRequested as stop:
            stopped = stop
        finally:
            outcome = rec.finish(stopped, command="record")
        print(rec.session_id)
        sys.stdout.flush()
    return outcome.exit_code
