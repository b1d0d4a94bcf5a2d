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
import threading
import urllib.parse
from pathlib import Path

from emgfeedback import host
from emgfeedback.errors import StorageError

#: How long a connection waits for another process's write lock, in seconds.
BUSY_TIMEOUT_S = 10.0

_umask_lock = threading.Lock()


@contextlib.contextmanager
def private_umask():
    """Create files as 0600 / folders as 0700 inside the block (umask is process-wide).

    On Windows the umask only decides the read-only flag; there the privacy of the store
    comes from the folder it is in (the user's profile, whose default ACLs let only that
    user and the administrators in), see :mod:`emgfeedback.host`.
    """
    with _umask_lock:
        old = os.umask(0o077)
        try:
            yield
        finally:
            os.umask(old)


class StoreConnection(sqlite3.Connection):
    """An SQLite connection that knows whether it was opened read-only.

    Attributes
    ----------
    read_only : bool
        True when the file could not be opened for writing (read-only media, a file or
        folder without write permission) and was opened for reading only.
    immutable : bool
        True when even SQLite's shared-memory file could not be created, so the file was
        opened as unchanging (nothing else may write it meanwhile: on read-only media
        nothing can).
    """

    read_only = False
    immutable = False


def _connect_read_only(path: Path) -> StoreConnection:
    """Open an existing store for reading only (see :class:`StoreConnection`).

    First ``mode=ro`` (works when SQLite can use or create the ``-shm`` file), then
    ``immutable=1`` (read-only media with no ``-shm``: the file cannot change under us).

    Raises
    ------
    sqlite3.Error
        When neither works.
    """
    uri = "file:" + urllib.parse.quote(os.path.abspath(path))
    last: sqlite3.Error | None = None
    for query, immutable in (("?mode=ro", False), ("?mode=ro&immutable=1", True)):
        try:
            conn = sqlite3.connect(uri + query, uri=True, timeout=BUSY_TIMEOUT_S,
                                   isolation_level=None, check_same_thread=False,
                                   factory=StoreConnection)
        except sqlite3.Error as exc:
            last = exc
            continue
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            conn.close()
            last = exc
            continue
        conn.read_only = True
        conn.immutable = immutable
        if immutable:
            wal = Path(str(path) + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                import logging

                logging.getLogger(__name__).warning(
                    "session store %s is on read-only media with an unmerged %s: the last "
                    "commits in it are not shown; copy both files to a writable folder to "
                    "see them", path, wal.name)
        return conn
    assert last is not None
    raise last


def _read_only_reason(exc: sqlite3.Error) -> bool:
    """True if opening for writing failed because the file or folder is not writable."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and any(
        w in text for w in ("readonly", "read-only", "unable to open", "permission",
                            "disk i/o error"))


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

    An existing file that cannot be written (read-only media, no write permission on the
    file or its folder) is opened for reading only: the connection's ``read_only`` is True
    and any write raises. Listing, analysis and export work as usual.

    Returns
    -------
    StoreConnection

    Raises
    ------
    StorageError
        Naming the file and the reason (missing, not writable, not a database...).
    """
    path = Path(path)
    if path.exists() and not _writable(path):
        return _open_read_only(path)
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
                str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
                factory=StoreConnection,
            )
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
                # A read creates -wal/-shm now, while the private umask is in force.
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error as exc:
                conn.close()
                if path.exists() and _read_only_reason(exc):
                    return _open_read_only(path)
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


def _writable(path: Path) -> bool:
    """Whether SQLite can write the store: the file, and its folder for the side files.

    ``os.access`` answers for read-only mounts even as root; for permissions, root may write
    anyway, which is then simply allowed.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if not os.access(path, os.W_OK):
        return False
    if os.access(folder, os.W_OK):
        return True
    # A read-only folder is fine when both side files exist and are writable.
    return all(os.access(str(path) + suffix, os.W_OK) for suffix in ("-wal", "-shm"))


def _open_read_only(path: Path) -> StoreConnection:
    try:
        return _connect_read_only(path)
    except sqlite3.DatabaseError as exc:
        raise StorageError(
            f"session store {path}: cannot open it, even read-only: {exc}. Copy the file to "
            "a folder you can write and open the copy"
        ) from exc


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
    if host.is_windows():
        # (os.kill(pid, 0) would terminate the process there: never call it on Windows)
        return host.process_alive_windows(pid)
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
