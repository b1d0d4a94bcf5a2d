"""The session store: one SQLite file holding every session, its raw samples and results.

A session row says who, what and when (subject, note, board, sensor, source, rate, channel
names, placements, sides and calibration, protocol). Its raw integer samples live in
``chunks`` rows (a little-endian blob each, with the absolute index of the first sample),
missing stretches in ``gaps`` (with their cause), onsets / protocol phases / user marks in
``markers`` and computed numbers (baselines, MVCs, per-phase metrics) in ``results``.
Samples are written by a :class:`~emgfeedback.storage.writer.SessionWriter` thread that
commits every ~200 ms.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emgfeedback import __version__
from emgfeedback.errors import ConfigError, StorageError
from emgfeedback.storage import db
from emgfeedback.storage.schema import migrate
from emgfeedback.types import ChannelCalibration, Gap

log = logging.getLogger(__name__)

#: Environment variable that overrides the default database location.
DB_ENV = "EMGFEEDBACK_DB"

#: A recording on another host is only declared interrupted after this long without a commit.
FOREIGN_HOST_STALE_S = 600.0

#: Metric aliases used by :meth:`SessionStore.history` (what the baseline result stores).
METRIC_ALIASES = {"resting_tone_uv": ("resting_tone_uv", "tone_uv")}


def default_db_path() -> Path:
    """Where the session store lives unless ``--db`` says otherwise.

    ``$EMGFEEDBACK_DB`` if set; else ``$XDG_DATA_HOME/emgfeedback/sessions.sqlite``
    (``~/.local/share/emgfeedback/sessions.sqlite``) on Linux and other Unix,
    ``~/Library/Application Support/emgfeedback/sessions.sqlite`` on macOS and
    ``%LOCALAPPDATA%\\emgfeedback\\sessions.sqlite`` on Windows.

    Returns
    -------
    pathlib.Path
    """
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    from emgfeedback.host import user_data_dir

    return user_data_dir() / "sessions.sqlite"


@dataclass(frozen=True)
class SessionMeta:
    """Who, what and when of a session.

    Give the first group when creating a session; the store fills the second group when
    reading one back.

    Attributes
    ----------
    fs_hz : float
        Sample rate in hertz.
    channel_names : tuple of str
        One name per channel, e.g. ``("L trapezius", "R trapezius")``.
    calibration : tuple of ChannelCalibration
        Counts → µV per channel (stored so the raw counts stay interpretable).
    subject : str or None
        A pseudonymous subject id (avoid real names: the file holds health data).
    note : str
        Free text.
    board, sensor : str
        Board descriptor name and sensor name.
    source_url : str
        The URL the samples came from.
    placements, sides : tuple of str
        Per channel electrode placement (e.g. ``"upper trapezius, C7-acromion midpoint"``)
        and side (``"left"``, ``"right"``, ``""``); empty strings when unknown.
    protocol : str or None
        Exercise protocol name.
    started_utc : str or None
        ISO 8601 UTC; now when None.
    extra : dict
        Anything else (firmware info ...), stored as JSON.
    id, status, ended_utc, first_sample_utc, first_index, app_version
        Filled in by the store.
    end_reason : str or None
        Why an ``incomplete`` session ended early or lost data (``no_data``, ``unplug``,
        ``storage``, ``signal SIGTERM``...); None otherwise. Filled in by the writer.
    """

    fs_hz: float
    channel_names: tuple[str, ...]
    calibration: tuple = ()
    subject: str | None = None
    note: str = ""
    board: str = ""
    sensor: str = ""
    source_url: str = ""
    placements: tuple[str, ...] = ()
    sides: tuple[str, ...] = ()
    protocol: str | None = None
    started_utc: str | None = None
    extra: dict = field(default_factory=dict)
    id: int | None = None
    status: str | None = None
    ended_utc: str | None = None
    first_sample_utc: str | None = None
    first_index: int | None = None
    app_version: str = __version__
    end_reason: str | None = None

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channel_names)


@dataclass(frozen=True)
class Marker:
    """An event at a sample index: ``kind`` is e.g. ``onset``, ``phase``, ``user``, ``device``."""

    index: int
    kind: str
    text: str = ""
    data: dict | None = None


@dataclass(frozen=True)
class Result:
    """A computed result (``kind`` e.g. ``baseline``, ``mvc``, ``phase``, ``repetition``)."""

    kind: str
    data: dict
    channel: str | None = None
    created_utc: str = ""
    session_id: int | None = None


@dataclass(frozen=True)
class HistoryPoint:
    """One session's value of a metric for one channel (see :meth:`SessionStore.history`)."""

    session_id: int
    started_utc: str
    value: float
    valid: bool | None
    floor_uv: float | None
    kind: str
    status: str


def _channels_json(meta: SessionMeta) -> str:
    n = len(meta.channel_names)
    if n == 0:
        raise ConfigError("a session needs at least one channel name")
    for name, seq in (("calibration", meta.calibration), ("placements", meta.placements),
                      ("sides", meta.sides)):
        if seq and len(seq) != n:
            raise ConfigError(f"session: {len(seq)} {name} for {n} channels")
    channels = []
    for i, name in enumerate(meta.channel_names):
        cal = meta.calibration[i] if meta.calibration else None
        channels.append({
            "name": str(name),
            "placement": meta.placements[i] if meta.placements else "",
            "side": meta.sides[i] if meta.sides else "",
            "calibration": dataclasses.asdict(cal) if cal is not None else None,
        })
    return json.dumps(channels)


def _meta_from_row(row: sqlite3.Row) -> SessionMeta:
    channels = json.loads(row["channels"])
    cals = tuple(ChannelCalibration(**c["calibration"]) for c in channels if c["calibration"])
    return SessionMeta(
        fs_hz=row["fs_hz"],
        channel_names=tuple(c["name"] for c in channels),
        calibration=cals if len(cals) == len(channels) else (),
        subject=row["subject"],
        note=row["note"],
        board=row["board"],
        sensor=row["sensor"],
        source_url=row["source_url"],
        placements=tuple(c["placement"] for c in channels),
        sides=tuple(c["side"] for c in channels),
        protocol=row["protocol"],
        started_utc=row["started_utc"],
        extra=json.loads(row["extra"] or "{}"),
        id=row["id"],
        status=row["status"],
        ended_utc=row["ended_utc"],
        first_sample_utc=row["first_sample_utc"],
        first_index=row["first_index"],
        app_version=row["app_version"],
        end_reason=row["end_reason"] if "end_reason" in row.keys() else None,
    )


def decode_blob(blob: bytes, dtype: str, n_samples: int, n_channels: int) -> np.ndarray:
    """Turn a stored chunk blob into ``int32 (n_samples, n_channels)``."""
    arr = np.frombuffer(blob, dtype=np.dtype(dtype))
    if arr.size != n_samples * n_channels:
        raise StorageError(
            f"chunk blob holds {arr.size} values, expected {n_samples}×{n_channels}"
        )
    return arr.reshape(n_samples, n_channels).astype(np.int32)


class SessionStore:
    """The SQLite session store.

    Opening creates the file (mode 0600) and migrates the schema; sessions left in status
    ``recording`` by a process that no longer runs are marked ``interrupted`` (listed in
    :attr:`recovered`) and stay fully readable.

    Parameters
    ----------
    path : path-like, optional
        The database file; :func:`default_db_path` when None.
    create : bool
        Create a missing file (else :class:`StorageError`).

    Examples
    --------
    >>> store = SessionStore("sessions.sqlite")                       # doctest: +SKIP
    >>> sid = store.create_session(SessionMeta(2000.0, ("L", "R"), cals))  # doctest: +SKIP
    >>> with store.open_writer(sid) as writer:                         # doctest: +SKIP
    ...     writer.add_chunk(chunk)
    """

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self._lock = threading.RLock()
        self._conn = db.connect(self.path, create=create)
        self._conn.row_factory = sqlite3.Row
        try:
            migrate(self._conn, str(self.path))
        except StorageError:
            self._conn.close()
            raise
        try:
            self.recovered: list[int] = self._recover_interrupted()
        except sqlite3.DatabaseError as exc:  # a damaged sessions table (H8): still list
            log.warning("session store %s: cannot check for interrupted sessions: %s",
                        self.path, exc)
            self.recovered = []

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (raises once closed)."""
        if self._conn is None:
            raise StorageError(f"session store {self.path} is closed")
        return self._conn

    def _write(self, sql: str, params: Sequence = ()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self.conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise StorageError(f"session store {self.path}: {exc}") from exc

    def _recover_interrupted(self) -> list[int]:
        rows = self.conn.execute(
            "SELECT id, writer_pid, writer_host, writer_start, heartbeat_utc, started_utc "
            "FROM sessions WHERE status = 'recording'"
        ).fetchall()
        here = db.hostname()
        marked = []
        for row in rows:
            if row["writer_host"] == here and row["writer_pid"] == os.getpid():
                dead = not db.is_live_here(self.path, row["id"])
            elif row["writer_host"] == here:
                dead = not db.process_alive(row["writer_pid"] or 0, row["writer_start"])
            else:
                last = db.parse_utc(row["heartbeat_utc"] or row["started_utc"])
                age = (db.parse_utc(db.utc_now()) - last).total_seconds()
                dead = age > FOREIGN_HOST_STALE_S
            if not dead:
                continue
            try:
                self.conn.execute(
                    "UPDATE sessions SET status = 'interrupted', "
                    "ended_utc = coalesce(heartbeat_utc, started_utc) "
                    "WHERE id = ? AND status = 'recording'",
                    (row["id"],),
                )
            except sqlite3.Error as exc:  # read-only store: still readable
                log.warning("session store %s: cannot mark session %s interrupted: %s",
                            self.path, row["id"], exc)
                continue
            log.warning("session %s was interrupted (its recorder died); marked as such",
                        row["id"])
            marked.append(int(row["id"]))
        return marked

    # ------------------------------------------------------------------ writing

    def create_session(self, meta: SessionMeta) -> int:
        """Create a session in status ``recording``.

        Parameters
        ----------
        meta : SessionMeta
            Who, what and when (``id`` and ``status`` are ignored).

        Returns
        -------
        int
            The new session id (never reused, even after deletion).
        """
        if not meta.fs_hz or meta.fs_hz <= 0:
            raise ConfigError(f"session: sample rate must be positive, got {meta.fs_hz}")
        from emgfeedback.bounds import check_session_text  # H8: bounded printable text

        check_session_text(meta.subject, meta.note, meta.channel_names, meta.placements,
                           meta.sides)
        channels = _channels_json(meta)
        started = db.to_utc_text(meta.started_utc) or db.utc_now()
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                if meta.subject is not None:
                    self.conn.execute(
                        "INSERT OR IGNORE INTO subjects (id, created_utc) VALUES (?, ?)",
                        (meta.subject, db.utc_now()),
                    )
                cur = self.conn.execute(
                    "INSERT INTO sessions (subject, note, started_utc, status, board, sensor, "
                    "source_url, fs_hz, n_channels, channels, protocol, app_version, extra, "
                    "heartbeat_utc, writer_pid, writer_host, writer_start) "
                    "VALUES (?, ?, ?, 'recording', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (meta.subject, meta.note, started, meta.board, meta.sensor, meta.source_url,
                     float(meta.fs_hz), meta.n_channels, channels, meta.protocol,
                     meta.app_version, json.dumps(meta.extra, default=str), db.utc_now(),
                     os.getpid(), db.hostname(), db.process_start(os.getpid())),
                )
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise StorageError(
                    f"session store {self.path}: cannot create a session: {exc}"
                ) from exc
        db.mark_live(self.path, cur.lastrowid)
        return int(cur.lastrowid)

    def open_writer(self, session_id: int, **options):
        """Start the background writer for a session (see :class:`SessionWriter`).

        Parameters
        ----------
        session_id : int
            A session created by :meth:`create_session`.
        **options
            ``commit_interval_s`` (0.1-0.25), ``max_pending_bytes``.

        Returns
        -------
        SessionWriter
        """
        from emgfeedback.storage.writer import SessionWriter

        meta = self.session(session_id)
        with self._lock:
            end = self.conn.execute("SELECT max(first_index + n_samples) FROM chunks "
                                    "WHERE session_id = ?", (meta.id,)).fetchone()[0]
            # Claim it for this process at once, so no other process marks it interrupted.
            # If the store cannot be written, the writer reports it and keeps the data.
            try:
                self._write("UPDATE sessions SET status = 'recording', writer_pid = ?, "
                            "writer_host = ?, writer_start = ? WHERE id = ?",
                            (os.getpid(), db.hostname(), db.process_start(os.getpid()),
                             meta.id))
            except StorageError as exc:
                log.warning("%s", exc)
        return SessionWriter(self.path, meta, next_index=end, **options)

    def add_result(self, session_id: int, kind: str, data: dict,
                   channel: str | None = None) -> None:
        """Store a result directly (outside a writer), e.g. a report computed later."""
        self.session(session_id)
        self._write("INSERT INTO results (session_id, kind, channel, data, created_utc) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (session_id, kind, channel, json.dumps(data, default=float), db.utc_now()))

    # ------------------------------------------------------------------ reading

    def session(self, session_id: int) -> SessionMeta:
        """The session's metadata.

        Raises
        ------
        StorageError
            If there is no such session (the message lists how to find ids).
        """
        with self._lock:
            row = self.conn.execute("SELECT * FROM sessions WHERE id = ?",
                                    (int(session_id),)).fetchone()
        if row is None:
            raise StorageError(
                f"session store {self.path}: no session {session_id} "
                "(list them with: emgfeedback sessions)"
            )
        return _meta_from_row(row)

    def sessions(self, subject: str | None = None) -> list[SessionMeta]:
        """All sessions (of one subject if given), oldest first."""
        with self._lock:
            if subject is None:
                rows = self.conn.execute("SELECT * FROM sessions ORDER BY started_utc, id")
            else:
                rows = self.conn.execute(
                    "SELECT * FROM sessions WHERE subject = ? ORDER BY started_utc, id",
                    (subject,))
            return [_meta_from_row(r) for r in rows.fetchall()]

    def subjects(self) -> list[str]:
        """Every subject id in the store."""
        with self._lock:
            return [r[0] for r in self.conn.execute("SELECT id FROM subjects ORDER BY id")]

    def sample_count(self, session_id: int) -> int:
        """Number of stored samples (gaps excluded)."""
        with self._lock:
            row = self.conn.execute(
                "SELECT coalesce(sum(n_samples), 0) FROM chunks WHERE session_id = ?",
                (session_id,)).fetchone()
        return int(row[0])

    def sample_counts(self) -> dict[int, int]:
        """Stored samples per session id (sessions without samples are absent)."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT session_id, sum(n_samples) FROM chunks GROUP BY session_id").fetchall()
        return {int(a): int(b) for a, b in rows}

    def lost_counts(self) -> dict[int, int]:
        """Samples recorded as missing (gaps) per session id."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT session_id, sum(n_samples) FROM gaps GROUP BY session_id").fetchall()
        return {int(a): int(b) for a, b in rows}

    def iter_chunks(self, session_id: int, start_index: int | None = None,
                    stop_index: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_index, samples int32 (n, ch))`` in index order.

        Parameters
        ----------
        session_id : int
        start_index, stop_index : int, optional
            Only chunks overlapping ``[start_index, stop_index)`` (whole chunks are yielded).
        """
        meta = self.session(session_id)
        sql = "SELECT first_index, n_samples, dtype, samples FROM chunks WHERE session_id = ?"
        params: list = [session_id]
        if start_index is not None:
            sql += " AND first_index + n_samples > ?"
            params.append(int(start_index))
        if stop_index is not None:
            sql += " AND first_index < ?"
            params.append(int(stop_index))
        sql += " ORDER BY first_index"
        last = None
        while True:
            # Page through by index so no cursor stays open across yields.
            page_sql = sql if last is None else sql.replace(
                " ORDER BY", " AND first_index > ? ORDER BY")
            page_params = params if last is None else [*params, last]
            with self._lock:
                try:
                    rows = self.conn.execute(page_sql + " LIMIT 256", page_params).fetchall()
                except sqlite3.DatabaseError as exc:  # a damaged page (H8): say which session
                    from emgfeedback.storage.integrity import damaged_error

                    raise damaged_error(self.path, session_id, exc) from exc
            if not rows:
                return
            for first, n, dtype, blob in rows:
                yield int(first), decode_blob(blob, dtype, n, meta.n_channels)
            last = rows[-1][0]

    def read_samples(self, session_id: int) -> tuple[np.ndarray, np.ndarray]:
        """All stored samples of a session.

        Returns
        -------
        indices : numpy.ndarray
            int64 absolute sample indices (jumps where there are gaps).
        samples : numpy.ndarray
            int32 counts, shape ``(n_samples, n_channels)``.
        """
        meta = self.session(session_id)
        blocks, idx = [], []
        for first, samples in self.iter_chunks(session_id):
            blocks.append(samples)
            idx.append(np.arange(first, first + samples.shape[0], dtype=np.int64))
        if not blocks:
            return np.zeros(0, np.int64), np.zeros((0, meta.n_channels), np.int32)
        return np.concatenate(idx), np.concatenate(blocks)

    def gaps(self, session_id: int) -> list[Gap]:
        """Missing stretches, in index order."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT start_index, n_samples, cause FROM gaps WHERE session_id = ? "
                "ORDER BY start_index", (session_id,)).fetchall()
        return [Gap(int(a), int(n), c) for a, n, c in rows]

    def markers(self, session_id: int, kind: str | None = None) -> list[Marker]:
        """Markers in index order (of one kind if given)."""
        sql = "SELECT sample_index, kind, text, data FROM markers WHERE session_id = ?"
        params: list = [session_id]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY sample_index, id", params).fetchall()
        return [Marker(int(i), k, t, json.loads(d) if d else None) for i, k, t, d in rows]

    def results(self, session_id: int, kind: str | None = None) -> list[Result]:
        """Results in the order they were stored (of one kind if given)."""
        sql = "SELECT kind, data, channel, created_utc FROM results WHERE session_id = ?"
        params: list = [session_id]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY id", params).fetchall()
        return [Result(k, json.loads(d), c, t, session_id) for k, d, c, t in rows]

    def history(self, subject: str, channel: str, metric: str = "resting_tone_uv",
                kind: str | None = None) -> list[HistoryPoint]:
        """A metric's value for one channel across a subject's sessions, oldest first.

        Looks at results for ``channel`` whose data holds ``metric`` (for
        ``resting_tone_uv`` also ``tone_uv``, as baseline results store it). When a
        session holds several, the last one counts.

        Parameters
        ----------
        subject : str
        channel : str
            Channel name as stored in the results.
        metric : str
            Key in the result data, e.g. ``resting_tone_uv``, ``floor_uv``, ``mvc_uv``.
        kind : str, optional
            Only results of this kind (e.g. ``baseline``).

        Returns
        -------
        list of HistoryPoint
        """
        keys = METRIC_ALIASES.get(metric, (metric,))
        sql = ("SELECT s.id, s.started_utc, s.status, r.kind, r.data FROM results r "
               "JOIN sessions s ON s.id = r.session_id WHERE s.subject = ? AND r.channel = ?")
        params: list = [subject, channel]
        if kind is not None:
            sql += " AND r.kind = ?"
            params.append(kind)
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY s.started_utc, s.id, r.id",
                                     params).fetchall()
        latest: dict[int, HistoryPoint] = {}
        for sid, started, status, rkind, data_text in rows:
            data = json.loads(data_text)
            key = next((k for k in keys if isinstance(data.get(k), (int, float))), None)
            if key is None:
                continue
            valid = data.get("valid")
            floor = data.get("floor_uv", data.get("noise_floor_uv"))
            latest[sid] = HistoryPoint(
                int(sid), started, float(data[key]), None if valid is None else bool(valid),
                float(floor) if isinstance(floor, (int, float)) else None, rkind, status)
        return list(latest.values())

    # ------------------------------------------------------------------ deleting

    def delete_session(self, session_id: int) -> int:
        """Remove a session and everything recorded in it, for good.

        Rows are deleted with ``secure_delete`` on, then the file is vacuumed and the WAL
        truncated, so the samples do not linger in free pages.

        Returns
        -------
        int
            Number of sessions removed (1).

        Raises
        ------
        StorageError
            If there is no such session or it is being recorded by a running process.
        """
        meta = self.session(session_id)
        self._refuse_live([meta.id])
        self._delete("DELETE FROM sessions WHERE id = ?", (meta.id,))
        return 1

    def delete_subject(self, subject: str) -> int:
        """Remove a subject with all their sessions, for good (see :meth:`delete_session`).

        Returns
        -------
        int
            Number of sessions removed.
        """
        sessions = self.sessions(subject)
        if not sessions and subject not in self.subjects():
            raise StorageError(f"session store {self.path}: no subject {subject!r}")
        self._refuse_live([s.id for s in sessions])
        self._delete("DELETE FROM sessions WHERE subject = ?", (subject,),
                     "DELETE FROM subjects WHERE id = ?")
        return len(sessions)

    def _refuse_live(self, ids: list[int]) -> None:
        self._recover_interrupted()
        for sid in ids:
            if self.session(sid).status == "recording":
                raise StorageError(
                    f"session {sid} is being recorded right now; stop the recording first"
                )

    def _delete(self, sql: str, params: Sequence, *more: str) -> None:
        with self._lock:
            conn = self.conn
            try:
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, params)
                for extra in more:
                    conn.execute(extra, params)
                conn.execute("COMMIT")
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError(f"session store {self.path}: delete failed: {exc}") from exc
