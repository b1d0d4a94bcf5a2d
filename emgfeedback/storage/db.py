"""Opening the SQLite file safely, wall-clock stamps and process identity.

Health data is private: the database (and SQLite's ``-wal``/``-shm`` side files) is created
readable and writable by the user only (mode 0600), in a folder only the user can enter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import sqlite3
import sys
import threading
from pathlib import Path

from emgfeedback.errors import StorageError

#: How long a connection waits for another process's write lock, in seconds.
BUSY_TIMEOUT_S = 10.0

_umask_lock = threading.Lock()


@contextlib.contextmanager
def private_umask():
    """Create files as 0600 / folders as 0700 inside the block (umask is process-wide)."""
    with _umask_lock:
        old = os.umask(0o077)
        try:
            yield
        finally:
            os.umask(old)


def connect(path: str | os.PathLike, *, create: bool = True) -> sqlite3.Connection:
    """Open the store with the settings every connection needs.

    WAL journal, ``synchronous=FULL`` (a commit is on disk when it returns), foreign keys,
    a busy timeout, autocommit mode (transactions are explicit). A new file is created with
    mode 0600 before SQLite touches it.

    Parameters
    ----------
    path : path-like
        The database file.
    create : bool
        Create the file (and its folder) if missing; else a missing file is an error.

    Returns
    -------
    sqlite3.Connection

    Raises
    ------
    StorageError
        Naming the file and the reason (missing, not writable, not a database...).
    """
    path = Path(path)
    try:
        with private_umask():
            if not path.exists():
                if not create:
                    raise StorageError(f"session store {path} does not exist")
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                    os.close(fd)
                except FileExistsError:
                    pass  # another process created it just now

            conn = sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
                # A read creates -wal/-shm now, while the private umask is in force.
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error:
                conn.close()
                raise
    except OSError as exc:
        raise StorageError(
            f"session store {path}: cannot create the file ({exc.strerror}); choose a writable "
            "location with --db PATH or EMGFEEDBACK_DB"
        ) from exc
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"session store {path}: cannot open it as a database: {exc}") from exc
    if str(mode).lower() != "wal":
        # Read-only media or a file system without shared memory: still readable.
        conn.execute("PRAGMA foreign_keys=ON")
    return conn


_live_lock = threading.Lock()
_live: set[tuple[str, int]] = set()


def _live_key(path, session_id: int) -> tuple[str, int]:
    return (os.path.realpath(str(path)), int(session_id))


def mark_live(path, session_id: int, live: bool = True) -> None:
    """Note that this process is (or no longer is) recording a session."""
    with _live_lock:
        if live:
            _live.add(_live_key(path, session_id))
        else:
            _live.discard(_live_key(path, session_id))


def is_live_here(path, session_id: int) -> bool:
    """True if this process created the session and its writer has not finished."""
    with _live_lock:
        return _live_key(path, session_id) in _live


def utc_now() -> str:
    """The current UTC time as ISO 8601 with microseconds and ``+00:00``."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def to_utc_text(value: dt.datetime | str | None) -> str | None:
    """Normalise a datetime (naive means UTC) or ISO string to UTC ISO 8601 text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def parse_utc(text: str | None) -> dt.datetime | None:
    """Parse what :func:`utc_now` / :func:`to_utc_text` wrote."""
    if not text:
        return None
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def hostname() -> str:
    """This machine's name (a recording on another host cannot be checked for liveness)."""
    return socket.gethostname()


def process_start(pid: int) -> str | None:
    """An identifier of when process ``pid`` started, to tell a reused pid apart (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19].decode() if len(fields) > 19 else None


def process_alive(pid: int, start: str | None) -> bool:
    """True if process ``pid`` runs (and, where known, is the one that started at ``start``)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            state = stat.read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = b""
        if state in (b"Z", b"X"):
            return False  # a zombie has stopped writing for good
        if start is not None and process_start(pid) not in (None, start):
            return False
    return True


def _windows_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
