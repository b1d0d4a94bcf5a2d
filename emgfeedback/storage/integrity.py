"""Reading what can be read from a damaged session store.

A page of an SQLite file can be destroyed (a failing SD card, a bad sector, a copy cut
short). SQLite then answers "database disk image is malformed" for any statement that
touches the page, so one damaged session would hide every healthy one. The functions here
read session by session, so that ``sessions``, ``export`` and ``report`` still list, export
and report every healthy session and name the damaged ones.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from emgfeedback.errors import StorageError

#: Words in SQLite's messages that mean the file itself is damaged.
_DAMAGE_WORDS = ("malformed", "corrupt", "not a database", "disk i/o error",
                 "database or disk is full")


class DamagedSessionError(StorageError):
    """A session's rows cannot be read: the database file is damaged where they are."""


def damaged_error(path, session_id: int, exc: BaseException) -> DamagedSessionError:
    """The error for a session whose data cannot be read (a damaged page)."""
    return DamagedSessionError(
        f"session store {path}: session {session_id} is damaged and cannot be read in full "
        f"({exc}); nothing was written. Other sessions may still be readable: list them "
        "with `emgfeedback sessions --db PATH --check`, and keep a copy of the file")


def is_damage(exc: BaseException) -> bool:
    """True if ``exc`` says the database file is damaged (not a usage error)."""
    if isinstance(exc, sqlite3.DatabaseError):
        text = str(exc).lower()
        return any(word in text for word in _DAMAGE_WORDS) or not isinstance(
            exc, (sqlite3.OperationalError, sqlite3.IntegrityError, sqlite3.ProgrammingError))
    return False


def read_sessions(store, subject: str | None = None) -> tuple[list, dict[int, str]]:
    """Every session's metadata, skipping rows that cannot be read.

    Parameters
    ----------
    store : SessionStore
    subject : str, optional
        Only this subject's sessions.

    Returns
    -------
    sessions : list of SessionMeta
        Oldest first.
    damaged : dict
        ``session id -> reason`` for session rows that could not be read.
    """
    try:
        return store.sessions(subject), {}
    except (sqlite3.DatabaseError, StorageError, ValueError) as exc:
        if isinstance(exc, sqlite3.DatabaseError) and not is_damage(exc):
            raise
    from emgfeedback.storage.store import _meta_from_row

    conn = store.conn
    highest = 0
    for sql in ("SELECT seq FROM sqlite_sequence WHERE name = 'sessions'",
                "SELECT max(id) FROM sessions"):
        try:
            row = conn.execute(sql).fetchone()
            highest = max(highest, int(row[0] or 0) if row else 0)
        except sqlite3.DatabaseError:
            continue
    metas, damaged = [], {}
    for sid in range(1, highest + 1):
        try:
            row = conn.execute("SELECT * FROM sessions WHERE id = ?", (sid,)).fetchone()
            if row is None:
                continue
            meta = _meta_from_row(row)
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
            damaged[sid] = f"its session row cannot be read ({exc})"
            continue
        if subject is None or meta.subject == subject:
            metas.append(meta)
    metas.sort(key=lambda m: (m.started_utc or "", m.id))
    return metas, damaged


def session_problem(store, session_id: int, *, read_samples: bool = False) -> str | None:
    """Why a session cannot be read in full, or None if it can.

    Parameters
    ----------
    store : SessionStore
    session_id : int
    read_samples : bool
        Also read every stored sample block (finds damage inside the sample data, at the
        cost of reading the whole session); else only the row counts are read.

    Returns
    -------
    str or None
    """
    conn = store.conn
    queries = [
        "SELECT count(*), coalesce(sum(n_samples), 0) FROM chunks WHERE session_id = ?",
        "SELECT count(*), coalesce(sum(n_samples), 0) FROM gaps WHERE session_id = ?",
        "SELECT count(*), max(length(text)), max(length(data)) FROM markers "
        "WHERE session_id = ?",
        "SELECT count(*), max(length(data)) FROM results WHERE session_id = ?",
    ]
    try:
        for sql in queries:
            conn.execute(sql, (session_id,)).fetchall()
        if read_samples:
            for _ in store.iter_chunks(session_id):
                pass
    except (sqlite3.DatabaseError, StorageError, ValueError) as exc:
        return str(exc)
    return None


def counts(store, sessions) -> tuple[dict[int, int], dict[int, int], dict[int, str]]:
    """Stored and lost samples per session, reading session by session if need be.

    Returns
    -------
    stored, lost : dict
        ``session id -> samples``.
    damaged : dict
        ``session id -> reason`` for sessions whose rows cannot be read.
    """
    try:
        return store.sample_counts(), store.lost_counts(), {}
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
    stored, lost, damaged = {}, {}, {}
    conn = store.conn
    for meta in sessions:
        problem = session_problem(store, meta.id)
        if problem is not None:
            damaged[meta.id] = problem
            continue
        stored[meta.id] = int(conn.execute(
            "SELECT coalesce(sum(n_samples), 0) FROM chunks WHERE session_id = ?",
            (meta.id,)).fetchone()[0])
        lost[meta.id] = int(conn.execute(
            "SELECT coalesce(sum(n_samples), 0) FROM gaps WHERE session_id = ?",
            (meta.id,)).fetchone()[0])
    return stored, lost, damaged


def quick_check(store, max_errors: int = 20) -> list[str]:
    """SQLite's ``PRAGMA quick_check``: an empty list when the file is sound."""
    try:
        rows = store.conn.execute(f"PRAGMA quick_check({int(max_errors)})").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else found


@dataclass
class Survey:
    """What ``sessions`` lists: every readable session, what is damaged, and the counts.

    Attributes
    ----------
    sessions : list of SessionMeta
        The session rows that could be read, in the store's order.
    damaged : dict of int to str
        Session id → why it cannot be read in full.
    samples, lost : dict of int to int
        Stored and lost samples per session id.
    problems : list of str
        SQLite's integrity-check messages outside the sessions' data (only with ``check``).
    """

    sessions: list
    damaged: dict
    samples: dict
    lost: dict
    problems: list = field(default_factory=list)


def survey(store, subject: str | None = None, check: bool = False) -> Survey:
    """Read every session's row and counts; with ``check``, read every sample too.

    Parameters
    ----------
    store : SessionStore
        An open store.
    subject : str, optional
        Only this subject's sessions.
    check : bool
        Also read each session's samples and run SQLite's integrity check (slow).

    Returns
    -------
    Survey
    """
    sessions, damaged = read_sessions(store, subject)
    samples, lost, more = counts(store, sessions)
    damaged.update(more)
    problems = []
    if check:
        for meta in sessions:
            if meta.id not in damaged:
                problem = session_problem(store, meta.id, read_samples=True)
                if problem is not None:
                    damaged[meta.id] = problem
        problems = quick_check(store)
    return Survey(sessions, damaged, samples, lost, problems)
