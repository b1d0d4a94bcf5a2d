"""``emgfeedback sessions``: list stored sessions, or delete a session or a subject for good."""

from __future__ import annotations

import argparse
from pathlib import Path

from emgfeedback.storage import SessionStore, default_db_path


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--db PATH`` option shared by the storage commands."""
    parser.add_argument("--db", type=Path, default=None, metavar="PATH",
                        help="session store file (default: $EMGFEEDBACK_DB or "
                             f"{default_db_path()})")


def register(subparsers) -> None:
    """Add the ``sessions`` sub-command."""
    p = subparsers.add_parser(
        "sessions", help="list stored sessions; delete a session or a subject for good",
        description="List stored sessions, one per line starting with the id (interrupted "
                    "sessions are marked), or delete data for good (rows removed, file "
                    "vacuumed so nothing is left in free pages).")
    add_db_argument(p)
    p.add_argument("--subject", help="only this subject's sessions")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--delete", type=int, metavar="ID", help="delete session ID for good")
    group.add_argument("--delete-subject", metavar="SUBJECT",
                       help="delete a subject and all their sessions for good")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List or delete; returns the exit status."""
    path = args.db or default_db_path()
    if not Path(path).exists():
        if args.delete is not None or args.delete_subject is not None:
            print(f"no session store at {path}; nothing to delete")
            return 2
        print(f"no sessions yet (no session store at {path})")
        return 0
    with SessionStore(path, create=False) as store:
        if args.delete is not None:
            n = store.sample_count(args.delete)
            store.delete_session(args.delete)
            print(f"deleted session {args.delete} ({n} samples) from {path} for good "
                  "(rows removed, file vacuumed)")
            return 0
        if args.delete_subject is not None:
            count = store.delete_subject(args.delete_subject)
            print(f"deleted subject {args.delete_subject!r} and {count} session(s) from {path} "
                  "for good (rows removed, file vacuumed)")
            return 0
        sessions = store.sessions(args.subject)
        counts, lost = store.sample_counts(), store.lost_counts()
        if not sessions:
            who = f" for subject {args.subject!r}" if args.subject else ""
            print(f"no sessions{who} in {path}")
            return 0
        for meta in sessions:
            print(format_session_line(meta, counts.get(meta.id, 0), lost.get(meta.id, 0)))
    return 0


def format_session_line(meta, n_samples: int, n_lost: int) -> str:
    """One line describing a session, starting with its id."""
    status = {"interrupted": "INTERRUPTED", "recording": "recording"}.get(meta.status,
                                                                         meta.status)
    started = (meta.started_utc or "")[:19].replace("T", " ") + "Z"
    seconds = n_samples / meta.fs_hz
    lost = f" lost {n_lost}" if n_lost else ""
    parts = [
        f"{meta.id}", started, f"{status:<11}", f"subject={meta.subject or '-'}",
        f"{seconds:.1f} s{lost}", f"{meta.n_channels} ch @ {meta.fs_hz:g} Hz",
        f"[{', '.join(meta.channel_names)}]",
    ]
    if meta.board:
        parts.append(f"board={meta.board}")
    if meta.protocol:
        parts.append(f"protocol={meta.protocol}")
    if meta.note:
        parts.append(f'"{" ".join(meta.note.split())}"')
    return "  ".join(parts)
