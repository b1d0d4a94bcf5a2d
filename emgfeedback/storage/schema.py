"""The session store's SQLite schema and its migrations.

The schema version lives in ``PRAGMA user_version``. :data:`MIGRATIONS` lists the SQL that
takes a database from version ``i`` to ``i + 1``; :func:`migrate` applies the missing steps
in one transaction, so a database is either at the old or at the new version, never between.
A database written by a newer emgfeedback (``user_version`` above :data:`SCHEMA_VERSION`) is
refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3

from emgfeedback.errors import StorageError

#: Statuses a session can have. ``recording`` while a writer is open; ``complete`` when it
#: holds everything that was asked; ``incomplete`` when it ended early or lost data it could
#: not store (the board went silent or was unplugged for good, the disk filled up, a stop
#: signal or Ctrl-C; ``sessions.end_reason`` says which); ``interrupted`` when the process
#: that recorded it died (crash, ``kill -9``, power loss) and a later open found it.
SESSION_STATUSES = ("recording", "complete", "incomplete", "interrupted")

_V1 = """
CREATE TABLE subjects (
    id          TEXT PRIMARY KEY,
    created_utc TEXT NOT NULL
);
CREATE TABLE sessions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    subject           TEXT REFERENCES subjects(id) ON DELETE CASCADE,
    note              TEXT NOT NULL DEFAULT '',
    started_utc       TEXT NOT NULL,
    ended_utc         TEXT,
    status            TEXT NOT NULL DEFAULT 'recording'
                      CHECK (status IN ('recording', 'complete', 'interrupted')),
    board             TEXT NOT NULL DEFAULT '',
    sensor            TEXT NOT NULL DEFAULT '',
    source_url        TEXT NOT NULL DEFAULT '',
    fs_hz             REAL NOT NULL CHECK (fs_hz > 0),
    n_channels        INTEGER NOT NULL CHECK (n_channels > 0),
    channels          TEXT NOT NULL,            -- JSON list: name, placement, side, calibration
    protocol          TEXT,
    app_version       TEXT NOT NULL,
    first_sample_utc  TEXT,                     -- wall-clock time of the first stored sample
    first_index       INTEGER,                  -- its absolute index
    extra             TEXT NOT NULL DEFAULT '{}',
    writer_pid        INTEGER,                  -- the process recording it (crash detection)
    writer_host       TEXT,
    writer_start      TEXT,                     -- that process's start time (pid reuse)
    heartbeat_utc     TEXT                      -- last commit by the writer
);
CREATE INDEX sessions_by_subject ON sessions(subject, started_utc);
CREATE TABLE chunks (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    first_index INTEGER NOT NULL,
    n_samples   INTEGER NOT NULL CHECK (n_samples > 0),
    dtype       TEXT NOT NULL CHECK (dtype IN ('<i2', '<i4')),
    samples     BLOB NOT NULL,                  -- (n_samples, n_channels) little-endian, C order
    UNIQUE (session_id, first_index)
);
CREATE TABLE gaps (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    start_index INTEGER NOT NULL,
    n_samples   INTEGER NOT NULL CHECK (n_samples > 0),
    cause       TEXT NOT NULL
);
CREATE INDEX gaps_by_session ON gaps(session_id, start_index);
CREATE TABLE markers (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    sample_index INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    text         TEXT NOT NULL DEFAULT '',
    data         TEXT                           -- JSON or NULL
);
CREATE INDEX markers_by_session ON markers(session_id, sample_index);
CREATE TABLE results (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    channel     TEXT,
    data        TEXT NOT NULL,                  -- JSON object
    created_utc TEXT NOT NULL
);
CREATE INDEX results_by_session ON results(session_id, kind);
"""

# Version 2: status 'incomplete' and the reason a session ended early (``end_reason``).
# SQLite cannot change a CHECK constraint in place: the table is rebuilt (foreign keys are
# switched off around the transaction by :func:`migrate`, so dropping the old table does not
# cascade to the samples) and the AUTOINCREMENT counter is carried over (ids never reused).
_V2 = """
CREATE TABLE sessions_v2 (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    subject           TEXT REFERENCES subjects(id) ON DELETE CASCADE,
    note              TEXT NOT NULL DEFAULT '',
    started_utc       TEXT NOT NULL,
    ended_utc         TEXT,
    status            TEXT NOT NULL DEFAULT 'recording'
                      CHECK (status IN ('recording', 'complete', 'incomplete', 'interrupted')),
    board             TEXT NOT NULL DEFAULT '',
    sensor            TEXT NOT NULL DEFAULT '',
    source_url        TEXT NOT NULL DEFAULT '',
    fs_hz             REAL NOT NULL CHECK (fs_hz > 0),
    n_channels        INTEGER NOT NULL CHECK (n_channels > 0),
    channels          TEXT NOT NULL,
    protocol          TEXT,
    app_version       TEXT NOT NULL,
    first_sample_utc  TEXT,
    first_index       INTEGER,
    extra             TEXT NOT NULL DEFAULT '{}',
    writer_pid        INTEGER,
    writer_host       TEXT,
    writer_start      TEXT,
    heartbeat_utc     TEXT,
    end_reason        TEXT                      -- why a session is incomplete (None if not)
);
INSERT INTO sessions_v2 (id, subject, note, started_utc, ended_utc, status, board, sensor,
    source_url, fs_hz, n_channels, channels, protocol, app_version, first_sample_utc,
    first_index, extra, writer_pid, writer_host, writer_start, heartbeat_utc)
    SELECT id, subject, note, started_utc, ended_utc, status, board, sensor, source_url, fs_hz,
    n_channels, channels, protocol, app_version, first_sample_utc, first_index, extra,
    writer_pid, writer_host, writer_start, heartbeat_utc FROM sessions;
UPDATE sqlite_sequence SET seq = max(seq, coalesce(
    (SELECT seq FROM sqlite_sequence WHERE name = 'sessions'), 0)) WHERE name = 'sessions_v2';
INSERT INTO sqlite_sequence (name, seq) SELECT 'sessions_v2', seq FROM sqlite_sequence
    WHERE name = 'sessions' AND NOT EXISTS (
        SELECT 1 FROM sqlite_sequence WHERE name = 'sessions_v2');
DROP TABLE sessions;
ALTER TABLE sessions_v2 RENAME TO sessions;
CREATE INDEX sessions_by_subject ON sessions(subject, started_utc);
"""

#: ``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``.
MIGRATIONS: tuple[str, ...] = (_V1, _V2)

#: The version this code writes.
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """Return the database's ``PRAGMA user_version``."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: str = "") -> int:
    """Bring a database to :data:`SCHEMA_VERSION`.

    Parameters
    ----------
    conn : sqlite3.Connection
        An open connection in autocommit mode (``isolation_level=None``).
    path : str
        The file name, for error messages.

    Returns
    -------
    int
        The version the database had before.

    Raises
    ------
    StorageError
        If the database was written by a newer version, or a migration fails.
    """
    before = schema_version(conn)
    if before > SCHEMA_VERSION:
        raise StorageError(
            f"session store {path}: schema version {before} is newer than this emgfeedback "
            f"understands ({SCHEMA_VERSION}); upgrade emgfeedback to open it"
        )
    if before == SCHEMA_VERSION:
        return before
    if getattr(conn, "read_only", False) and before >= 1:
        # A read-only store (read-only media) cannot be migrated: it is read as it is; the
        # readers accept every older version's columns.
        return before
    # A migration may rebuild a table: with foreign keys on, dropping the old one would
    # cascade to every row that refers to it. The pragma is a no-op inside a transaction.
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        # Another process may have migrated while we waited for the write lock.
        current = schema_version(conn)
        for version in range(current, SCHEMA_VERSION):
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise sqlite3.IntegrityError(f"{len(broken)} rows lost their reference")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StorageError(
            f"session store {path}: could not migrate schema from version {before} to "
            f"{SCHEMA_VERSION}: {exc}"
        ) from exc
    finally:
        conn.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
    return before


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit early)."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out
