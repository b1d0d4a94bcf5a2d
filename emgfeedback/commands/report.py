"""``emgfeedback report``: a self-contained HTML report of a session."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

from emgfeedback import outputs
from emgfeedback.commands.sessions import (
    add_db_argument,
    damaged_session_error,
    session_id_arg,
)
from emgfeedback.errors import ConfigError
from emgfeedback.reports.session_report import session_quantities, write_report
from emgfeedback.storage import SessionStore, default_db_path


def register(subparsers) -> None:
    """Add the ``report`` sub-command."""
    p = subparsers.add_parser(
        "report", help="write a self-contained HTML report of a session",
        description="Write one HTML file (no scripts, no network) with envelopes, onsets and "
                    "phases, resting tone against the floor, timing per repetition, symmetry, "
                    "signal quality and the subject's baseline trend.")
    p.add_argument("--session", type=session_id_arg, required=True, metavar="ID")
    add_db_argument(p)
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="HTML file to write (0600, atomically; an existing file only with "
                        "--force; never the session database, a folder, device or link); "
                        "required unless --json")
    outputs.add_force_argument(p)
    p.add_argument("--json", action="store_true",  # H2
                   help="print the session's numbers (resting tone, floor, static level, "
                        "stored baselines per channel, as analyze names them) as one JSON "
                        "object; with --out the HTML is written too")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report; prints where."""
    db_path = args.db or default_db_path()
    want_json = getattr(args, "json", False)
    if args.out is None and not want_json:
        raise ConfigError("report: give --out FILE.html (or --json to print the numbers)")
    protect = outputs.database_files(db_path)
    if args.out is not None:
        outputs.check_target(args.out, force=args.force, protect=protect)
    with SessionStore(db_path, create=False) as store:
        try:
            store.session(args.session)  # a clear error for an unknown id, before any file
            if args.out is not None:
                with outputs.output_path(args.out, force=args.force, protect=protect) as tmp:
                    write_report(store, args.session, tmp)
            numbers = session_quantities(store, args.session) if want_json else None
            if numbers is not None:  # H9 (#20): the grade stored with the session, or None
                from emgfeedback.reports.signal_checks import stored_check

                numbers["signal_check"] = stored_check(store, args.session)
        except sqlite3.DatabaseError as exc:
            raise damaged_session_error(db_path, args.session, exc) from None
    if want_json:
        if args.out is not None:
            numbers["out"] = str(args.out)
        from emgfeedback.analysis.summary import json_ready  # H10: no SciPy at start-up

        print(json.dumps(json_ready(numbers), indent=1, allow_nan=False))
        return 0
    path = args.out
    print(f"wrote report of session {args.session} to {path}")
    return 0
