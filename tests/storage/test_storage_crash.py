"""Crash safety: kill -9 while recording, disk full, read-only location."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import Chunk
from emgfeedback.storage import SessionMeta, SessionStore

CHILD = textwrap.dedent("""
    import sys, time
    from emgfeedback.acquisition.simulator import Simulator
    from emgfeedback.acquisition.source import Chunk
    from emgfeedback.storage import SessionMeta, SessionStore

    sim = Simulator(scenario="drill", n_channels=4, fs_hz=2000.0, seed=7)
    store = SessionStore(sys.argv[1])
    sid = store.create_session(SessionMeta(2000.0, sim.channel_names, sim.calibration,
                                           subject="crash"))
    writer = store.open_writer(sid, commit_interval_s=0.2)
    print("SID", sid, flush=True)
    chunk, index, t0 = 200, 0, time.monotonic()   # 100 ms chunks at 2 kHz
    while True:
        block = sim.next_counts(chunk)
        writer.add_chunk(Chunk(block, index, time.monotonic()))
        index += chunk
        print(index, time.monotonic(), flush=True)  # end index handed over, when
        time.sleep(max(0.0, t0 + index / 2000.0 - time.monotonic()))
""")


def _integrity(path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.mark.timeout(60)
def test_kill_9_loses_at_most_250_ms(tmp_path):
    path = tmp_path / "crash.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                            text=True)
    handed: list[tuple[int, float]] = []
    try:
        sid = int(proc.stdout.readline().split()[1])
        while len(handed) < 25:  # about 2.5 s of recording
            end, when = proc.stdout.readline().split()
            handed.append((int(end), float(when)))
        time.sleep(0.137)  # kill at an arbitrary point between chunks
        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    for line in proc.stdout:  # lines written before the kill
        end, when = line.split()
        handed.append((int(end), float(when)))
    assert _integrity(path) == "ok"
    with SessionStore(path) as store:
        assert store.recovered == [sid]
        meta = store.session(sid)
        assert meta.status == "interrupted" and meta.ended_utc
        indices, counts = store.read_samples(sid)
    stored_end = int(indices[-1]) + 1
    # Everything handed over more than 250 ms before the kill is on disk ...
    due = max(end for end, when in handed if when <= killed_at - 0.25)
    assert stored_end >= due, (stored_end, due, handed[-5:], killed_at)
    # ... and what is stored is exactly the stream, without holes.
    np.testing.assert_array_equal(indices, np.arange(stored_end))
    expected = Simulator(scenario="drill", n_channels=4, fs_hz=2000.0, seed=7).next_counts(
        stored_end)
    np.testing.assert_array_equal(counts, expected)
    # The interrupted session stays fully usable.
    from emgfeedback.io.export import export_csv

    with SessionStore(path) as store:
        assert export_csv(store, sid, tmp_path / "crash.csv").n_samples == stored_end


def _record_until(writer, sim, start, condition, limit=400):
    """Feed 0.1 s chunks until ``condition()`` holds; returns the next index."""
    index = start
    for _ in range(limit):
        writer.add_chunk(Chunk(sim.next_counts(200), index, time.monotonic()))
        index += 200
        time.sleep(0.01)
        if condition():
            return index
    raise AssertionError("condition never held")


@pytest.mark.timeout(60)
def test_disk_full_keeps_earlier_data_and_keeps_accepting(tmp_path):
    path = tmp_path / "full.sqlite"
    store = SessionStore(path)
    sim = Simulator(scenario="drill", n_channels=8, fs_hz=2000.0, seed=3)
    sid = store.create_session(SessionMeta(2000.0, sim.channel_names, sim.calibration))
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    alarms = []
    writer = store.open_writer(sid, max_pages=pages + 40, max_pending_bytes=200_000,
                               on_alarm=alarms.append)
    end = _record_until(writer, sim, 0, lambda: writer.failing)
    assert "full" in str(writer.error)
    written_before = store.sample_count(sid)
    assert written_before > 0
    # The writer goes on accepting (memory first, then dropping with a recorded gap).
    end = _record_until(writer, sim, end, lambda: writer.stats()["samples_dropped"] > 0)
    for _ in range(5):
        writer.add_chunk(Chunk(sim.next_counts(200), end, time.monotonic()))
        end += 200
    assert writer._thread.is_alive()
    assert any("dropping" in a for a in alarms) and any("full" in a for a in alarms)
    assert writer.close() is False
    assert _integrity(path) == "ok"
    indices, counts = store.read_samples(sid)
    assert indices.size == written_before  # nothing half-written
    np.testing.assert_array_equal(indices, np.arange(written_before))
    expected = Simulator(scenario="drill", n_channels=8, fs_hz=2000.0, seed=3).next_counts(
        written_before)
    np.testing.assert_array_equal(counts, expected)
    # Everything not stored is a gap with cause storage; the session says why it is short.
    gaps = store.gaps(sid)
    assert {g.cause for g in gaps} == {"storage"}
    assert written_before + sum(g.n_samples for g in gaps) == end
    meta = store.session(sid)
    assert (meta.status, meta.end_reason) == ("incomplete", "storage")
    store.close()


def _make_read_only(path):
    if os.geteuid() == 0:  # root ignores permission bits; the immutable flag binds root too
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: apt-get install e2fsprogs")
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"file system refuses chattr +i: {done.stderr.decode().strip()}")
        return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)
    os.chmod(path, 0o400)
    return lambda: os.chmod(path, 0o600)


@pytest.mark.timeout(60)
def test_read_only_location_reports_and_recovers(tmp_path):
    path = tmp_path / "ro.sqlite"
    sim = Simulator(scenario="drill", n_channels=2, fs_hz=2000.0, seed=5)
    with SessionStore(path) as store:
        sid = store.create_session(SessionMeta(2000.0, sim.channel_names, sim.calibration))
    undo = _make_read_only(path)
    try:
        store = SessionStore(path)  # reading still works
        assert store.session(sid).status == "recording"
        writer = store.open_writer(sid, max_pending_bytes=2 * 200 * 2 * 4)
        end = _record_until(writer, sim, 0, lambda: writer.failing)
        assert "read" in str(writer.error).lower() and "only" in str(writer.error).lower()
        end = _record_until(writer, sim, end, lambda: writer.stats()["samples_dropped"] > 0)
    finally:
        undo()
    # Writable again: the backlog is written, the dropped stretch is a gap.
    end = _record_until(writer, sim, end, lambda: not writer.failing)
    assert writer.close() is False  # samples were dropped while it failed
    dropped = writer.stats()["samples_dropped"]
    assert dropped > 0
    indices, _ = store.read_samples(sid)
    gaps = store.gaps(sid)
    # Dropped before the first commit failed: the backlog overran; after it: storage.
    assert "storage" in {g.cause for g in gaps} <= {"storage", "overrun"}
    assert sum(g.n_samples for g in gaps) == dropped
    assert indices.size + dropped == end
    meta = store.session(sid)
    assert (meta.status, meta.end_reason) == ("incomplete", "storage")
    store.close()
    assert _integrity(path) == "ok"


def test_store_in_unwritable_folder_is_a_clear_error(tmp_path):
    from emgfeedback.errors import StorageError

    folder = tmp_path / "locked"
    folder.mkdir()
    blocker = folder / "sub"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(StorageError, match="cannot create"):
        SessionStore(blocker / "sessions.sqlite")
