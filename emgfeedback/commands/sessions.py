"""``emgfeedback sessions``: list stored sessions, or delete a session or a subject for good.

Listing works on a read-only database (read-only media, a folder you cannot write) and on a
damaged one: every session that can be read is listed, the damaged ones are marked
``DAMAGED`` and named on stderr, and the exit status is 1. Deleting asks for confirmation on
a terminal and needs ``--yes`` otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emgfeedback import bounds
from emgfeedback.errors import ConfigError, StorageError
from emgfeedback.storage import SessionStore, default_db_path


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--db PATH`` option shared by the storage commands."""
    parser.add_argument("--db", type=Path, default=None, metavar="PATH",
                        help="session store file (default: $EMGFEEDBACK_DB or "
                             f"{default_db_path()})")


def session_id_arg(text: str) -> int:
    """``argparse`` type of a session id (a whole number, 1 to 2**63-1)."""
    return bounds.SESSION_ID.arg(text)


def damaged_session_error(path, session_id: int, exc: BaseException) -> StorageError:
    """The error for a session whose data cannot be read (a damaged page)."""
    from emgfeedback.storage.integrity import damaged_error

    return damaged_error(path, session_id, exc)


def confirm(question: str, yes: bool) -> None:
    """Ask ``question`` on a terminal unless ``yes``; refuse without a terminal.

    Raises
    ------
    ConfigError
        When the user does not answer yes, or there is no terminal and no ``--yes``.
    """
    if yes:
        return
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise ConfigError("this deletes data for good and there is no terminal to ask on; "
                          "add --yes to confirm")
    sys.stderr.write(f"{question} This cannot be undone. Type 'yes' to confirm: ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise ConfigError("not confirmed; nothing was deleted")


def register(subparsers) -> None:
    """Add the ``sessions`` sub-command."""
    p = subparsers.add_parser(
        "sessions", help="list stored sessions; delete a session or a subject for good",
        description="List stored sessions, one per line starting with the id (interrupted "
                    "and damaged sessions are marked), or delete data for good (rows removed, "
                    "file vacuumed so nothing is left in free pages). A read-only database "
                    "is listed read-only. Exit status: 0 listed, 1 listed but some sessions "
                    "are damaged (named on stderr), 2 error.")
    add_db_argument(p)
    p.add_argument("--subject", type=bounds.SUBJECT_ID.arg,
                   help="only this subject's sessions")
    p.add_argument("--check", action="store_true",
                   help="also read every stored sample and run SQLite's integrity check "
                        "(slower: reads the whole file)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--delete", type=session_id_arg, metavar="ID",
                       help="delete session ID for good (asks first; --yes to skip)")
    group.add_argument("--delete-subject", type=bounds.SUBJECT_ID.arg, metavar="SUBJECT",
                       help="delete a subject and all their sessions for good (asks first; "
                            "--yes to skip)")
    p.add_argument("--yes", action="store_true",
                   help="confirm a deletion without asking (needed when not on a terminal)")
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
            meta = store.session(args.delete)
            n = store.sample_count(args.delete)
            confirm(f"Delete session {meta.id} (subject {bounds.printable(meta.subject or '-')}, "
                    f"{n} samples) from {path} for good?", args.yes)
            store.delete_session(args.delete)
            print(f"deleted session {args.delete} ({n} samples) from {path} for good "
                  "(rows removed, file vacuumed)")
            return 0
        if args.delete_subject is not None:
            n_sessions = len(store.sessions(args.delete_subject))
            if n_sessions == 0 and args.delete_subject not in store.subjects():
                raise StorageError(f"session store {path}: no subject "
                                   f"{bounds.printable(args.delete_subject)!r}")
            confirm(f"Delete subject {bounds.printable(args.delete_subject)!r} and their "
                    f"{n_sessions} session(s) from {path} for good?", args.yes)
            count = store.delete_subject(args.delete_subject)
            print(f"deleted subject {bounds.printable(args.delete_subject)!r} and {count} "
                  f"session(s) from {path} for good (rows removed, file vacuumed)")
            return 0
        return _list(store, path, args)


def _list(store, path, args) -> int:
    from emgfeedback.storage import integrity

    if getattr(store.conn, "read_only", False):
        print(f"note: session store {path} is read-only; opened for reading only",
              file=sys.stderr)
    found = integrity.survey(store, args.subject, check=args.check)
    sessions, damaged, problems = found.sessions, found.damaged, found.problems
    counts, lost = found.samples, found.lost
    if not sessions and not damaged:
        who = f" for subject {bounds.printable(args.subject)!r}" if args.subject else ""
        print(f"no sessions{who} in {path}")
        return 0
    from emgfeedback.reports.signal_checks import grade_text, session_grades  # H9 (#20)

    grades = session_grades(store, [m.id for m in sessions if m.id not in damaged])
    for meta in sessions:
        line = format_session_line(meta, counts.get(meta.id, 0), lost.get(meta.id, 0),
                                   damaged=meta.id in damaged)
        signal = grade_text(grades.get(meta.id))  # H9: "signal=good" when a check was stored
        print(f"{line}  {signal}" if signal else line)
    listed = {m.id for m in sessions}
    for sid in sorted(set(damaged) - listed):
        print(f"{sid}  DAMAGED (its session row cannot be read)")
    if damaged:
        ids = ", ".join(str(i) for i in sorted(damaged))
        others = ("every other session listed is intact and can be exported or reported"
                  if len(damaged) < len(listed | set(damaged)) else "no session can be read")
        print(f"warning: session store {path} is damaged: session(s) {ids} cannot be read "
              f"in full; {others}. Keep a copy of the file before changing it.",
              file=sys.stderr)
        for sid in sorted(damaged):
            print(f"  session {sid}: {bounds.printable(damaged[sid])}", file=sys.stderr)
        return 1
    if problems:
        print(f"warning: session store {path}: SQLite's integrity check reports "
              f"{len(problems)} problem(s) outside the sessions' data:", file=sys.stderr)
        for text in problems:
            for line in text.splitlines():
                print(f"  {bounds.printable(line)}", file=sys.stderr)
        return 1
    return 0


def format_session_line(meta, n_samples: int, n_lost: int, damaged: bool = False) -> str:
    """One line describing a session, starting with its id (text made safe to print)."""
    status = {"interrupted": "INTERRUPTED", "recording": "recording"}.get(meta.status,
                                                                         meta.status)
    if damaged:
        status = "DAMAGED"
    started = (meta.started_utc or "")[:19].replace("T", " ") + "Z"
    seconds = n_samples / meta.fs_hz
    lost = f" lost {n_lost}" if n_lost else ""
    safe = bounds.printable
    parts = [
        f"{meta.id}", safe(started), f"{safe(status):<11}", f"subject={safe(meta.subject or '-')}",
        "?" if damaged else f"{seconds:.1f} s{lost}", f"{meta.n_channels} ch @ {meta.fs_hz:g} Hz",
        f"[{', '.join(safe(n) for n in meta.channel_names)}]",
    ]
    if meta.board:
        parts.append(f"board={safe(meta.board)}")
    if meta.protocol:
        parts.append(f"protocol={safe(meta.protocol)}")
    if meta.note:
        parts.append(f'"{safe(" ".join(meta.note.split()))}"')
    return "  ".join(parts)
