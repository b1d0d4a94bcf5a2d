"""The session store against real SQLite files: round trip, schema, modes, recovery."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from emgfeedback.acquisition.boards import uv_calibration
from emgfeedback.acquisition.source import Chunk, Gap
from emgfeedback.errors import ConfigError, StorageError
from emgfeedback.storage import SessionMeta, SessionStore, default_db_path
from emgfeedback.storage.schema import SCHEMA_VERSION


@pytest.mark.parametrize("chunk", [1, 37, 200])
def test_simulator_samples_read_back_identical(store, recorder, chunk):
    rec = recorder(store, n_channels=3, seconds=1.5, chunk=chunk,
                   gap_at=[(1000, 123, "crc"), (2400, 5, "unplug")], offset=17)
    indices, counts = store.read_samples(rec.sid)
    assert counts.dtype == np.int32 and indices.dtype == np.int64
    np.testing.assert_array_equal(counts, rec.counts)
    np.testing.assert_array_equal(indices, rec.indices)
    assert store.gaps(rec.sid) == rec.gaps
    meta = store.session(rec.sid)
    assert meta.status == "complete" and meta.first_index == 17
    assert meta.calibration == rec.meta.calibration
    assert meta.channel_names == rec.meta.channel_names
    # iter_chunks gives the same samples in index order, and respects a range.
    firsts = [f for f, _ in store.iter_chunks(rec.sid)]
    assert firsts == sorted(firsts)
    part = list(store.iter_chunks(rec.sid, start_index=2000, stop_index=2100))
    assert part and part[0][0] <= 2000 < part[-1][0] + part[-1][1].shape[0]


def test_chunks_are_merged_into_sizeable_rows(store, recorder):
    rec = recorder(store, n_channels=2, seconds=2.0, chunk=20)
    with sqlite3.connect(store.path) as conn:
        n_rows, max_n, max_bytes = conn.execute(
            "SELECT count(*), max(n_samples), max(length(samples)) FROM chunks "
            "WHERE session_id = ?", (rec.sid,)).fetchone()
    assert n_rows < 200 / 4  # 200 chunks of 20 samples were handed over
    assert max_n == 240 and max_bytes == 960  # about 1 KB rows: 4 per 4 KiB page


def test_values_beyond_int16_are_stored_as_int32(store):
    cal = uv_calibration(2)
    sid = store.create_session(SessionMeta(250.0, ("a", "b"), cal))
    x = np.array([[2**31 - 1, -(2**31)], [70000, -70000], [1, 2]], dtype=np.int32)
    with store.open_writer(sid) as w:
        w.add_chunk(Chunk(x, 0, time.monotonic()))
    _, back = store.read_samples(sid)
    np.testing.assert_array_equal(back, x)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT dtype FROM chunks").fetchone()[0] == "<i4"


def test_overlap_is_dropped_and_unexplained_jump_becomes_gap(store):
    sid = store.create_session(SessionMeta(1000.0, ("a",), uv_calibration(1)))
    with store.open_writer(sid) as w:
        w.add_chunk(Chunk(np.arange(10, dtype=np.int32)[:, None], 0, time.monotonic()))
        w.add_chunk(Chunk(np.arange(100, 110, dtype=np.int32)[:, None], 5, time.monotonic()))
        w.add_chunk(Chunk(np.zeros((3, 1), np.int32), 30, time.monotonic()))
        stats = w.stats()
    idx, x = store.read_samples(sid)
    np.testing.assert_array_equal(idx, [*range(15), 30, 31, 32])
    np.testing.assert_array_equal(x[:15, 0], [*range(10), 105, 106, 107, 108, 109])
    assert store.gaps(sid) == [Gap(15, 15, "counter")]
    assert stats["samples_overlapping"] == 5


def test_markers_results_and_history(store, recorder):
    import datetime as dt

    sids = []
    for week, tone in enumerate([9.0, 7.5, 6.0]):
        start = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc) + dt.timedelta(weeks=week)
        rec = recorder(store, seconds=0.2, started_utc=start.isoformat(),
                       names=("L trap", "R trap"))
        store.add_result(rec.sid, "baseline", {"tone_uv": tone, "floor_uv": 1.5,
                                               "valid": True}, channel="L trap")
        sids.append(rec.sid)
    other = recorder(store, seconds=0.2, subject="someone-else", names=("L trap", "R trap"))
    store.add_result(other.sid, "baseline", {"tone_uv": 99.0}, channel="L trap")
    hist = store.history("p01", "L trap")
    assert [p.session_id for p in hist] == sids
    assert [p.value for p in hist] == [9.0, 7.5, 6.0]
    assert hist[0].floor_uv == 1.5 and hist[0].valid is True
    assert store.history("p01", "R trap") == []
    assert [s.id for s in store.sessions("p01")] == sids
    sid = sids[0]
    with store.open_writer(sid) as w:
        w.add_marker(5, "phase", "rest", {"event": "start"})
        w.add_marker(3, "onset", "", {"channel": "L trap", "kind": "on"})
        w.add_result("mvc", {"mvc_uv": np.float64(250.0)}, channel="L trap")
    marks = store.markers(sid)
    assert [(m.index, m.kind) for m in marks] == [(3, "onset"), (5, "phase")]
    assert marks[1].data == {"event": "start"} and marks[1].text == "rest"
    assert store.results(sid, "mvc")[0].data == {"mvc_uv": 250.0}
    assert store.history("p01", "L trap", "mvc_uv")[0].value == 250.0


def test_schema_is_versioned_and_newer_versions_are_refused(db_path):
    SessionStore(db_path).close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError, match="newer"):
        SessionStore(db_path)


def test_new_files_are_private(db_path, recorder):
    with SessionStore(db_path) as store:
        recorder(store, seconds=0.2)
        files = [db_path, db_path.with_name(db_path.name + "-wal"),
                 db_path.with_name(db_path.name + "-shm")]
        for f in files:
            assert f.exists(), f
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700


def test_default_location_and_env_override(monkeypatch, tmp_path):
    monkeypatch.delenv("EMGFEEDBACK_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_db_path() == tmp_path / "xdg" / "emgfeedback" / "sessions.sqlite"
    monkeypatch.setenv("EMGFEEDBACK_DB", str(tmp_path / "mine.sqlite"))
    assert default_db_path() == tmp_path / "mine.sqlite"


def test_bad_session_parameters_are_refused(store):
    with pytest.raises(ConfigError):
        store.create_session(SessionMeta(0.0, ("a",)))
    with pytest.raises(ConfigError, match="calibration"):
        store.create_session(SessionMeta(100.0, ("a", "b"), uv_calibration(1)))
    with pytest.raises(StorageError, match="no session 42"):
        store.session(42)
    sid = store.create_session(SessionMeta(100.0, ("a",)))
    with pytest.raises(ConfigError):
        store.open_writer(sid, commit_interval_s=2.0)


def test_live_recording_is_not_marked_but_a_dead_one_is(db_path):
    with SessionStore(db_path) as store:
        live = store.create_session(SessionMeta(100.0, ("a",)))
        dead = store.create_session(SessionMeta(100.0, ("a",)))
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    with sqlite3.connect(db_path) as conn:  # a recorder that has exited
        conn.execute("UPDATE sessions SET writer_pid = ?, writer_start = NULL WHERE id = ?",
                     (int(child.stdout), dead))
    with SessionStore(db_path) as again:
        assert again.recovered == [dead]
        assert again.session(dead).status == "interrupted"
        assert again.session(live).status == "recording"  # this process is alive
        with pytest.raises(StorageError, match="being recorded"):
            again.delete_session(live)


def test_missing_store_without_create(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        SessionStore(tmp_path / "nope.sqlite", create=False)


def test_delete_removes_the_data_for_good(db_path, recorder):
    secret_note = "SECRET-NOTE-7f3a"
    pattern = np.tile(np.array([[1001, 777], [313, 999], [4, 1020], [555, 3]], np.int32),
                      (500, 1))
    needle = pattern[:8].astype("<i2").tobytes()
    with SessionStore(db_path) as store:
        keep = recorder(store, seconds=0.5, subject="keeper")
        gone = recorder(store, seconds=0.0, note=secret_note, subject="leaver",
                        extra_samples=pattern)
        also = recorder(store, seconds=0.3, subject="leaver")
        raw = b"".join(f.read_bytes() for f in db_path.parent.iterdir())
        assert needle in raw and secret_note.encode() in raw  # the scan can see them
        assert store.delete_subject("leaver") == 2
        assert [s.id for s in store.sessions()] == [keep.sid]
        for sid in (gone.sid, also.sid):
            with pytest.raises(StorageError):
                store.session(sid)
        assert store.subjects() == ["keeper"]
        _, back = store.read_samples(keep.sid)
        np.testing.assert_array_equal(back, keep.counts)
    raw = b"".join(f.read_bytes() for f in db_path.parent.iterdir())
    assert needle not in raw
    assert secret_note.encode() not in raw
    assert b"leaver" not in raw
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM chunks WHERE session_id != ?",
                            (keep.sid,)).fetchone()[0] == 0


def test_reopened_writer_appends(store, recorder):
    rec = recorder(store, seconds=0.2)
    with store.open_writer(rec.sid) as w:
        w.add_chunk(Chunk(rec.counts[:10], int(rec.indices[-1]) + 1, time.monotonic()))
        w.add_chunk(Chunk(rec.counts[:10], int(rec.indices[0]), time.monotonic()))  # overlap
    idx, x = store.read_samples(rec.sid)
    assert idx.size == rec.indices.size + 10
    assert np.all(np.diff(idx) == 1)
    assert os.path.exists(store.path)


def test_migrations_apply_in_one_transaction(db_path, recorder, monkeypatch):
    from emgfeedback.storage import schema

    with SessionStore(db_path) as store:
        rec = recorder(store, seconds=0.2)
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS,
                                               "ALTER TABLE nope ADD COLUMN x TEXT;"))
    current = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    with pytest.raises(StorageError, match=f"from version {current} to {current + 1}"):
        SessionStore(db_path)
    with sqlite3.connect(db_path) as conn:  # the failed step left everything as it was
        assert conn.execute("PRAGMA user_version").fetchone()[0] == current
    monkeypatch.setattr(schema, "MIGRATIONS", (
        *schema.MIGRATIONS[:current],
        "ALTER TABLE sessions ADD COLUMN room TEXT;\nCREATE INDEX by_room ON sessions(room);"))
    with SessionStore(db_path) as store:
        _, back = store.read_samples(rec.sid)
        np.testing.assert_array_equal(back, rec.counts)
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == current + 1
        cols = [r[1] for r in store.conn.execute("PRAGMA table_info(sessions)")]
        assert "room" in cols
