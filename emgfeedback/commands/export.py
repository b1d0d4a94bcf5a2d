"""``emgfeedback export``: a stored session as CSV or EDF+/BDF+."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from emgfeedback import outputs
from emgfeedback.commands.sessions import (
    add_db_argument,
    damaged_session_error,
    session_id_arg,
)
from emgfeedback.errors import StorageError
from emgfeedback.io.export import FORMATS, export_session
from emgfeedback.storage import SessionStore, default_db_path


def register(subparsers) -> None:
    """Add the ``export`` sub-command."""
    p = subparsers.add_parser(
        "export", help="export a session as CSV or EDF+/BDF+",
        description="Export a stored session: CSV (sample index, time, µV per channel; gaps "
                    "listed in # comment lines) or EDF+/BDF+ (µV, exact raw counts, "
                    "annotations for markers, gaps and protocol phases). The file is written "
                    "to a temporary name and renamed into place, readable by you only "
                    "(0600). An existing file is replaced only with --force; the session "
                    "database, folders, devices and symbolic links are never written. "
                    "Works on a read-only database, and exports the healthy sessions of a "
                    "damaged one.")
    p.add_argument("--session", type=session_id_arg, required=True, metavar="ID")
    add_db_argument(p)
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="csv, edf or bdf (default: from the --out suffix)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE")
    outputs.add_force_argument(p)
    p.set_defaults(func=run)



def run(args: argparse.Namespace) -> int:
    """Export; prints a one-line summary."""
    suffix = args.out.suffix.lower().lstrip(".")
    fmt = args.format or suffix
    if fmt not in FORMATS:
        raise StorageError(f"export: cannot tell the format from {args.out}; "
                           f"give --format {'|'.join(FORMATS)}")
    if suffix in FORMATS and suffix != fmt:
        # A CSV named .edf (or EDF named .csv) is read as the wrong format by every tool,
        # analyze included: refuse rather than write a file no reader can open.
        raise StorageError(f"export: --format {fmt} but --out {args.out} ends in .{suffix}; "
                           f"name the file .{fmt} or give --format {suffix}")
    path = args.db or default_db_path()
    protect = outputs.database_files(path)
    outputs.check_target(args.out, force=args.force, protect=protect)
    with SessionStore(path, create=False) as store:
        try:
            store.session(args.session)  # a clear error for an unknown id, before any file
            with outputs.output_path(args.out, force=args.force, protect=protect) as tmp:
                summary = export_session(store, args.session, tmp, fmt)
        except sqlite3.DatabaseError as exc:
            raise damaged_session_error(path, args.session, exc) from None
    exact = "exact counts" if summary.exact else "rescaled (counts exceed the format's range)"
    print(f"exported session {args.session} to {args.out} ({fmt}, {summary.n_samples} "
          f"samples × {summary.n_channels} channels, {summary.n_gaps} gap(s), "
          f"{summary.n_annotations} annotation(s), {exact})")
    for name, label in summary.renamed:  # EDF/BDF labels: 16 ASCII characters, all different
        print(f"  channel {name!r} is labelled {label!r} in the {fmt.upper()} file "
              "(labels hold 16 ASCII characters)")
    return 0
