"""The recorder: a background thread that writes a session's samples to the store.

The engine hands every chunk, marker and result to :class:`SessionWriter` (never blocking:
``add_*`` only queue). The thread commits what has arrived every ``commit_interval_s``
(default 0.2 s) in one transaction with ``synchronous=FULL``, so a crash, ``kill -9`` or
power cut loses at most that much. Consecutive chunks are merged and cut into rows of
just under 1 KB (see :data:`ROW_BYTES`), which keeps the file within a few percent of the raw
16-bit size. The thread holds the interpreter lock the engine thread needs as briefly as it
can: chunks are copied into preallocated buffers it takes in one step, and a large commit is
inserted in slices with a pause between them (see :data:`ROWS_PER_SLICE`).

When the disk is full or the location read-only, the commit is rolled back (what was
written before stays intact), the error is kept in :attr:`SessionWriter.error`, logged and
raised as an alarm (``on_alarm``) at once, and the data stays queued in memory and is
retried at each interval. Memory is bounded by ``max_pending_bytes``; beyond it new samples
are dropped and recorded as a gap (cause ``storage`` while storage fails, ``overrun`` when
it is only too slow) with an alarm, never silently. If storage still fails when the writer
closes, the samples it holds become ``storage`` gaps and the writer stores at least the
gaps and the session's status (``incomplete``, reason ``storage``); if even that fails the
session stays ``recording`` and the next open marks it ``interrupted``. A session that lost
samples to storage is never ``complete``.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emgfeedback.errors import ConfigError, StorageError
from emgfeedback.jsonsafe import json_ready
from emgfeedback.storage import db
from emgfeedback.types import Chunk, Gap

log = logging.getLogger(__name__)

#: Accepted range of the commit interval in seconds (the loss budget of a crash).
COMMIT_INTERVAL_RANGE_S = (0.1, 0.25)

#: Most bytes in one ``chunks`` row's blob. Rows (with ~25 bytes of row overhead) under a quarter of
#: SQLite's default 4 KiB page pack four to a page; rows just over half a page (0.2 s of
#: 8 channels is 6.4 KB) would waste a third of the file on partly filled pages.
ROW_BYTES = 960

#: Rows inserted per ``executemany`` call of a large commit, and the pause between two such
#: slices, in seconds. The pause hands the interpreter lock back to the engine thread: without
#: it the writer keeps the lock for its whole commit, because its own releases (one per row, a
#: few µs inside SQLite) are shorter than a waiting thread takes to wake up, so the waiting
#: engine thread never gets it (CPython has no fairness for voluntary releases), and one chunk
#: waited for the whole commit (issue 16: up to 7 ms). A paced session commits a few rows at a
#: time (one slice, no pause); a backlog or an unpaced stream is cut into slices.
ROWS_PER_SLICE = 16
YIELD_S = 0.0005

#: Samples per buffer the engine thread copies chunks into (see :class:`_Run`): the first
#: buffer of a run holds RUN_MIN_SAMPLES, each next one twice as many, up to RUN_SAMPLES (so
#: a gap before every chunk costs little memory beyond the samples counted).
RUN_SAMPLES = 4096
RUN_MIN_SAMPLES = 64

_INT16 = np.iinfo(np.int16)


@dataclass
class _Samples:
    first_index: int
    samples: np.ndarray  # int32 (n, ch), owned


@dataclass
class _Run:
    """Consecutive samples handed over and not yet taken by the writer thread.

    Samples do not go through the queue one chunk at a time: ``add_chunk`` copies each chunk
    into the end of a preallocated buffer, and the writer thread takes every buffer in one
    step, so its work (done while holding the interpreter lock the engine thread needs)
    does not grow with the number of chunks.
    """

    first_index: int
    data: np.ndarray  # int32 (capacity, ch), owned
    n: int = 0  # rows of data filled


@dataclass
class _Marker:
    index: int
    kind: str
    text: str
    data: str | None


@dataclass
class _Result:
    kind: str
    channel: str | None
    data: str
    created_utc: str


class SessionWriter:
    """Write one session's samples, gaps, markers and results from a background thread.

    Create it with :meth:`SessionStore.open_writer`. ``add_*`` never block and never raise
    on storage problems; check :attr:`error` / :attr:`failing` and :meth:`stats`.

    Parameters
    ----------
    path : path-like
        The database file.
    meta : SessionMeta
        The session (with its ``id``).
    commit_interval_s : float
        Time between commits, 0.1-0.25 s.
    max_pending_bytes : int
        Most sample bytes held in memory while the store cannot be written; beyond it
        new samples are dropped and recorded as a gap with an alarm.
    on_alarm : callable, optional
        Called with a message when samples are dropped or storage starts failing
        (from the caller's or the writer thread: keep it short and thread-safe).
    next_index : int, optional
        Index after the last stored sample when appending to a session (set by the store).
    max_pages : int, optional
        Cap on the database size in pages (``PRAGMA max_page_count``) for this writer's
        connection: writes beyond it fail as on a full disk (a quota; also used by tests).
    """

    def __init__(self, path, meta, *, commit_interval_s: float = 0.2,
                 max_pending_bytes: int = 64 * 2**20,
                 on_alarm: Callable[[str], None] | None = None,
                 next_index: int | None = None, max_pages: int | None = None) -> None:
        lo, hi = COMMIT_INTERVAL_RANGE_S
        if not lo <= commit_interval_s <= hi:
            raise ConfigError(
                f"commit interval {commit_interval_s} s: expected {lo}-{hi} s (the most a "
                "crash may lose)")
        if meta.id is None:
            raise ConfigError("open_writer needs a stored session (meta.id is None)")
        self.path = path
        self.session_id = int(meta.id)
        self.fs_hz = float(meta.fs_hz)
        self.n_channels = meta.n_channels
        self.commit_interval_s = float(commit_interval_s)
        self.max_pending_bytes = int(max_pending_bytes)
        self.on_alarm = on_alarm
        self.max_pages = max_pages
        #: The last storage error (``StorageError``) or an unexpected exception; sticky.
        self.error: BaseException | None = None
        #: True while the last commit attempt failed (data is waiting in memory).
        self.failing = False
        self.alarms: list[str] = []
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._runs: list[_Run] = []  # samples handed over (with the lock held)
        self._run_chunks = 0  # chunks in self._runs
        self._pending_bytes = 0  # sample bytes queued or held after a failed commit
        self._next_index: int | None = next_index
        self._first_sample_utc: str | None = meta.first_sample_utc
        self._drop_gap: list | None = None  # [start, n, cause] of samples being dropped
        self._closing = threading.Event()
        self._final_status: str | None = None
        #: The status and reason the session was closed with (after :meth:`close`).
        self.final_status: str | None = None
        self.end_reason: str | None = None
        self._closed = False
        self._stats = dict(samples_received=0, samples_written=0, samples_dropped=0,
                           samples_overlapping=0, gaps_recorded=0, markers=0, results=0,
                           commits=0, failed_commits=0, last_commit_ms=0.0,
                           max_commit_ms=0.0)
        db.mark_live(path, self.session_id)
        self._thread = threading.Thread(target=self._run, name=f"session-writer-{meta.id}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producer side

    def add_chunk(self, chunk: Chunk) -> None:
        """Queue a chunk of raw counts (and the gaps just before it).

        Overlapping samples (an index already written) are dropped and counted; an index
        jump the chunk's gaps do not explain is recorded as a gap with cause ``counter``.

        Raises
        ------
        ValueError
            If the chunk's channel count differs from the session's.
        StorageError
            If the writer is closed.
        """
        samples = np.asarray(chunk.samples)
        if samples.ndim != 2 or samples.shape[1] != self.n_channels:
            raise ValueError(f"chunk shape {samples.shape}: session {self.session_id} has "
                             f"{self.n_channels} channels")
        if self._closed:
            raise StorageError(f"writer of session {self.session_id} is closed")
        first = int(chunk.first_index)
        for gap in chunk.gaps:
            self.add_gap(gap)
        n = samples.shape[0]
        if n == 0:
            return
        with self._lock:
            self._stats["samples_received"] += n
            if self._next_index is not None and first < self._next_index:
                skip = min(n, self._next_index - first)
                self._stats["samples_overlapping"] += skip
                log.warning("session %s: %d samples at index %d overlap stored ones; dropped",
                            self.session_id, skip, first)
                samples, first, n = samples[skip:], first + skip, n - skip
                if n == 0:
                    return
            if self._first_sample_utc is None:
                self._first_sample_utc = self._first_sample_time(chunk, n)
                self._queue.put(("first", first, self._first_sample_utc))
            elif self._next_index is not None and first > self._next_index:
                explained = sum(g.n_samples for g in chunk.gaps)
                if explained < first - self._next_index:
                    self._queue.put(Gap(self._next_index + explained,
                                        first - self._next_index - explained, "counter"))
            self._next_index = first + n
            nbytes = n * self.n_channels * 4
            if self._pending_bytes + nbytes > self.max_pending_bytes:
                self._drop(first, n)
                return
            self._flush_drop_gap()
            self._pending_bytes += nbytes
            run = self._runs[-1] if self._runs else None
            if run is None or run.first_index + run.n != first:
                capacity = RUN_MIN_SAMPLES
            elif run.n + n > run.data.shape[0]:
                capacity = min(RUN_SAMPLES, 2 * run.data.shape[0])
            else:
                capacity = 0  # fits
            if capacity:
                run = _Run(first, np.empty((max(n, capacity), self.n_channels), np.int32))
                self._runs.append(run)
            run.data[run.n:run.n + n] = samples
            run.n += n
            self._run_chunks += 1

    def add_gap(self, gap: Gap) -> None:
        """Record samples known to be missing (usually via ``chunk.gaps``)."""
        if gap.n_samples > 0:
            self._queue.put(gap)

    def add_marker(self, index: int, kind: str, text: str = "", data: dict | None = None) -> None:
        """Queue a marker at a sample index (onset, protocol phase, user mark, ...)."""
        payload = None if data is None else json.dumps(json_ready(data), default=str)
        self._queue.put(_Marker(int(index), str(kind), str(text), payload))

    def add_result(self, kind: str, data: dict, channel: str | None = None) -> None:
        """Queue a result (baseline, MVC, phase metrics ...) as a JSON object."""
        self._queue.put(_Result(str(kind), channel, json.dumps(json_ready(data), default=str),
                                db.utc_now()))

    def close(self, status: str = "complete", timeout_s: float = 30.0,
              reason: str | None = None) -> bool:
        """Write what is queued, set the session's status and stop the thread.

        Parameters
        ----------
        status : str
            ``complete``, ``incomplete`` (ended early or lost data: give ``reason``) or
            ``interrupted``. ``complete`` becomes ``incomplete`` (reason ``storage``) when
            samples could not be stored.
        timeout_s : float
            Longest wait for the final commit while storage keeps failing.
        reason : str, optional
            Why the session is not complete (``no_data``, ``unplug``, ``signal SIGTERM``...).

        Returns
        -------
        bool
            True if everything handed over was stored; False if samples were dropped or
            storage failed (see :attr:`error`, :attr:`final_status`; if not even the status
            could be written the session stays ``recording`` until the next open marks it
            interrupted).

        Raises
        ------
        BaseException
            An unexpected (non-storage) exception from the writer thread, re-raised here.
        """
        if status not in ("complete", "incomplete", "interrupted"):
            raise ConfigError(f"writer status {status!r}: expected complete, incomplete or "
                              "interrupted")
        if not self._closed:
            self._closed = True
            with self._lock:
                self._flush_drop_gap()
                lost = self._stats["samples_dropped"]
            if lost and status == "complete":
                status, reason = "incomplete", "storage"
            self.final_status = status
            self.end_reason = reason if status != "complete" else None
            self._final_status = status
            self._closing.set()
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("session %s: writer did not finish within %.0f s; %d sample bytes "
                          "were not stored", self.session_id, timeout_s, self._pending_bytes)
        if self.error is not None and not isinstance(self.error, StorageError):
            raise self.error
        with self._lock:
            lost = self._stats["samples_dropped"]
        return not self.failing and not self._thread.is_alive() and not lost

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close("complete" if exc_type is None else "interrupted")

    def queue_depth(self) -> int:
        """Items (chunks, gaps, markers, results) handed over and not yet taken by the writer
        thread."""
        return self._queue.qsize() + self._run_chunks

    def stats(self) -> dict:
        """Counters: samples received/written/dropped, commits, failures, timings, backlog."""
        with self._lock:
            out = dict(self._stats)
            out["pending_bytes"] = self._pending_bytes
        out["queue_depth"] = self.queue_depth()
        out["failing"] = self.failing
        out["error"] = None if self.error is None else str(self.error)
        return out

    # ------------------------------------------------------------------ helpers (caller side)

    def _first_sample_time(self, chunk: Chunk, n: int) -> str:
        import datetime as dt

        now_utc = dt.datetime.now(dt.timezone.utc)
        age_s = time.monotonic() - float(chunk.arrival_s)
        if not 0.0 <= age_s < 60.0:  # arrival not on this clock (synthetic chunk)
            age_s = 0.0
        first = now_utc - dt.timedelta(seconds=age_s + (n - 1) / self.fs_hz)
        return first.isoformat(timespec="microseconds")

    def _drop(self, first: int, n: int) -> None:
        # Called with the lock held.
        self._stats["samples_dropped"] += n
        cause = "storage" if self.failing else "overrun"
        gap = self._drop_gap
        if gap is not None and gap[0] + gap[1] == first and gap[2] == cause:
            gap[1] += n
            return
        self._flush_drop_gap()
        self._drop_gap = [first, n, cause]
        why = "storage fails" if cause == "storage" else "storage is too slow"
        self._alarm(f"session {self.session_id}: {why} and the backlog is over "
                    f"{self.max_pending_bytes / 2**20:.0f} MB; dropping samples from index "
                    f"{first} (recorded as a gap, cause {cause})")

    def _flush_drop_gap(self) -> None:
        if self._drop_gap is not None:
            start, n, cause = self._drop_gap
            self._queue.put(Gap(start, n, cause))
            self._drop_gap = None

    def _alarm(self, message: str) -> None:
        self.alarms.append(message)
        log.error(message)
        if self.on_alarm is not None:
            try:
                self.on_alarm(message)
            except Exception:  # an alarm hook must not stop recording
                log.exception("alarm callback failed")

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        held: list = []  # items of failed commits, in order
        claimed = False
        deadline = time.monotonic()
        try:
            while True:
                # Commit on a fixed grid so commit time does not stretch the loss budget.
                deadline = max(deadline + self.commit_interval_s, time.monotonic())
                closing = self._closing.wait(max(0.0, deadline - time.monotonic()))
                items = held + self._drain()
                if closing:
                    items.append(("status", self.final_status, self.end_reason))
                if not claimed:
                    items.insert(0, ("claim",))
                try:
                    if conn is None:
                        conn = self._connect()
                    self._commit(conn, items)
                except (sqlite3.Error, StorageError) as exc:
                    held = [i for i in items
                            if not (isinstance(i, tuple) and i[0] in ("claim", "status"))]
                    self._storage_failed(exc)
                    if conn is not None:  # reconnect next time (remounted, space freed ...)
                        conn.close()
                        conn = None
                    if closing:
                        self._store_what_fits(items)
                        return
                    continue
                held = []
                claimed = True
                if closing:
                    return
        except BaseException as exc:  # a bug: keep it for close() and the log
            self.error = exc
            self.failing = True
            log.exception("session %s: writer thread failed", self.session_id)
        finally:
            if conn is not None:
                conn.close()
            db.mark_live(self.path, self.session_id, live=False)

    def _store_what_fits(self, items: list) -> None:
        """Storage still fails at close: the held samples become ``storage`` gaps; store the
        gaps, markers, results and status without them, else the status alone."""
        lost: list[Gap] = []
        rest = []
        for item in items:
            if isinstance(item, _Samples):
                start, n = item.first_index, item.samples.shape[0]
                if lost and lost[-1].end_index == start:
                    lost[-1] = Gap(lost[-1].start_index, lost[-1].n_samples + n, "storage")
                else:
                    lost.append(Gap(start, n, "storage"))
            elif not (isinstance(item, tuple) and item[0] == "status"):
                rest.append(item)
        n_lost = sum(g.n_samples for g in lost)
        with self._lock:
            self._stats["samples_dropped"] += n_lost
            self._pending_bytes = 0
        if self.final_status != "interrupted":
            self.final_status, self.end_reason = "incomplete", "storage"
        status = ("status", self.final_status, self.end_reason)
        log.error("session %s: storage failed at the end; %d samples were not stored",
                  self.session_id, n_lost)
        for attempt in ([*rest, *lost, status], [status]):
            conn = None
            try:
                conn = self._connect()
                self._commit(conn, attempt)
                return
            except (sqlite3.Error, StorageError) as exc:
                log.error("session %s: could not store the end of the session: %s",
                          self.session_id, exc)
            finally:
                if conn is not None:
                    conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = db.connect(self.path, create=False)
        # The writer only appends: SQLite's default 2 MiB page cache would hold pages it never
        # reads again (issue 16: 1.5 MB of the record path's memory).
        conn.execute("PRAGMA cache_size = -256")
        if self.max_pages is not None:
            conn.execute(f"PRAGMA max_page_count = {int(self.max_pages)}")
        return conn

    def _drain(self) -> list:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            runs, self._runs = self._runs, []
            self._run_chunks = 0
        for run in runs:
            block = run.data[:run.n]
            if 2 * run.n < run.data.shape[0]:  # hold (after a failed commit) only what is used
                block = block.copy()
            items.append(_Samples(run.first_index, block))
        return items

    def _storage_failed(self, exc: BaseException) -> None:
        first_failure = not self.failing
        self.failing = True
        with self._lock:
            self._stats["failed_commits"] += 1
        message = str(exc)
        if not isinstance(exc, StorageError):
            message = f"session store {self.path}: cannot write session {self.session_id}: " \
                      f"{exc}"
            if "readonly" in str(exc) or "read-only" in str(exc):
                message += " (the location is read-only)"
            elif "full" in str(exc):
                message += " (the disk is full; free space, the data is kept in memory)"
            exc = StorageError(message)
        self.error = exc
        if first_failure:
            self._alarm(message)

    def _commit(self, conn: sqlite3.Connection, items: list) -> None:
        row_blocks, gaps, markers, results = [], [], [], []
        sample_bytes = 0
        status = claim = first = None
        run: list[_Samples] = []

        def close_run() -> None:
            if run:
                block = run[0].samples if len(run) == 1 else np.concatenate(
                    [r.samples for r in run])
                fits16 = block.min() >= _INT16.min and block.max() <= _INT16.max
                per_row = max(1, ROW_BYTES // ((2 if fits16 else 4) * self.n_channels))
                row_blocks.append((run[0].first_index, block, fits16, per_row))
                run.clear()

        for item in items:
            if isinstance(item, _Samples):
                sample_bytes += item.samples.nbytes
                if run and run[-1].first_index + run[-1].samples.shape[0] != item.first_index:
                    close_run()
                run.append(item)
            elif isinstance(item, Gap):
                gaps.append((self.session_id, item.start_index, item.n_samples, item.cause))
            elif isinstance(item, _Marker):
                markers.append((self.session_id, item.index, item.kind, item.text, item.data))
            elif isinstance(item, _Result):
                results.append((self.session_id, item.kind, item.channel, item.data,
                                item.created_utc))
            elif item[0] == "status":
                status = item[1:]
            elif item[0] == "claim":
                claim = True
            elif item[0] == "first":
                first = item
        close_run()
        started = time.perf_counter()
        now = db.utc_now()
        try:
            conn.execute("BEGIN IMMEDIATE")
            if claim:
                conn.execute("UPDATE sessions SET writer_pid = ?, writer_host = ?, "
                             "writer_start = ? WHERE id = ?",
                             (_pid(), db.hostname(), db.process_start(_pid()), self.session_id))
            if first is not None:
                conn.execute("UPDATE sessions SET first_index = coalesce(first_index, ?), "
                             "first_sample_utc = coalesce(first_sample_utc, ?) WHERE id = ?",
                             (first[1], first[2], self.session_id))
            rows = _rows(self.session_id, row_blocks)
            batch = list(itertools.islice(rows, ROWS_PER_SLICE))
            while batch:
                conn.executemany("INSERT INTO chunks (session_id, first_index, n_samples, "
                                 "dtype, samples) VALUES (?, ?, ?, ?, ?)", batch)
                batch = list(itertools.islice(rows, ROWS_PER_SLICE))
                if batch:
                    time.sleep(YIELD_S)  # hand the interpreter lock over (ROWS_PER_SLICE)
            if gaps:
                conn.executemany("INSERT INTO gaps (session_id, start_index, n_samples, cause) "
                                 "VALUES (?, ?, ?, ?)", gaps)
            if markers:
                conn.executemany("INSERT INTO markers (session_id, sample_index, kind, text, "
                                 "data) VALUES (?, ?, ?, ?, ?)", markers)
            if results:
                conn.executemany("INSERT INTO results (session_id, kind, channel, data, "
                                 "created_utc) VALUES (?, ?, ?, ?, ?)", results)
            if status is not None:
                conn.execute("UPDATE sessions SET status = ?, end_reason = ?, ended_utc = ?, "
                             "heartbeat_utc = ? WHERE id = ?",
                             (status[0], status[1], now, now, self.session_id))
            else:
                conn.execute("UPDATE sessions SET heartbeat_utc = ? WHERE id = ?",
                             (now, self.session_id))
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.debug("rollback failed", exc_info=True)
            raise
        elapsed_ms = (time.perf_counter() - started) * 1e3
        if self.failing:
            log.warning("session %s: storage works again; backlog written", self.session_id)
        self.failing = False
        with self._lock:
            self._pending_bytes -= sample_bytes
            s = self._stats
            s["samples_written"] += sample_bytes // (4 * self.n_channels)
            s["gaps_recorded"] += len(gaps)
            s["markers"] += len(markers)
            s["results"] += len(results)
            s["commits"] += 1
            s["last_commit_ms"] = elapsed_ms
            s["max_commit_ms"] = max(s["max_commit_ms"], elapsed_ms)


def _rows(session_id: int, blocks: list):
    """The ``chunks`` rows of contiguous blocks ``(first_index, samples, fits16, per_row)``,
    ``per_row`` samples each (a block's last row may hold fewer): int16 when every value of
    the block fits, else int32, little-endian; made as they are inserted.

    Each block is converted and serialised once and the rows' blobs are slices of it (the
    same bytes as converting each row on its own, in a fraction of the interpreter's time).
    """
    for first_index, block, fits16, per_row in blocks:
        dtype = "<i2" if fits16 else "<i4"
        raw = np.ascontiguousarray(block, dtype=np.dtype(dtype)).tobytes()
        n = int(block.shape[0])
        stride = len(raw) // n  # bytes per sample
        for start in range(0, n, per_row):
            yield (session_id, int(first_index) + start, min(per_row, n - start), dtype,
                   raw[start * stride:(start + per_row) * stride])


def _pid() -> int:
    import os

    return os.getpid()
