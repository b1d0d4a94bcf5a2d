"""``emgfeedback report``: a self-contained HTML report of a session."""

from __future__ import annotations

import argparse
from pathlib import Path

from emgfeedback.commands.sessions import add_db_argument
from emgfeedback.storage import SessionStore, default_db_path
from emgfeedback.storage.report import write_report


def register(subparsers) -> None:
    """Add the ``report`` sub-command."""
    p = subparsers.add_parser(
        "report", help="write a self-contained HTML report of a session",
        description="Write one HTML file (no scripts, no network) with envelopes, onsets and "
                    "phases, resting tone against the floor, timing per repetition, symmetry, "
                    "signal quality and the subject's baseline trend.")
    p.add_argument("--session", type=int, required=True, metavar="ID")
    add_db_argument(p)
    p.add_argument("--out", type=Path, required=True, metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report; prints where."""
    with SessionStore(args.db or default_db_path(), create=False) as store:
        path = write_report(store, args.session, args.out)
    print(f"wrote report of session {args.session} to {path}")
    return 0
