"""Recording from the virtual board on a real pty: every sample stored, unplug recorded as a gap."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
import time

import numpy as np

from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.virtual_device import Faults, VirtualDevice
from emgfeedback.storage import SessionStore


def device_counts(device: VirtualDevice, n: int) -> np.ndarray:
    sim = Simulator(scenario=device.scenario, n_channels=device.channels, fs_hz=device.fs_hz,
                    seed=device.seed, board=device.board, mains_hz=device.mains_hz)
    return sim.next_counts(n)


def record(url: str, seconds: float, db) -> int:
    done = subprocess.run([sys.executable, "-m", "emgfeedback", "record", "--source", url,
                           "--seconds", str(seconds), "--db", str(db)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def stored_samples(db) -> int:
    """Samples committed so far (read-only; 0 before the database exists)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT coalesce(sum(n_samples), 0) FROM chunks")
                       .fetchone()[0])
    except sqlite3.Error:
        return 0


def test_unplug_during_recording_is_a_gap_and_recording_continues(tmp_path):
    # The unplug is injected once samples are stored (not at a wall-clock time, which a
    # loaded machine may reach before the recording has started).
    link = str(tmp_path / "board-by-id")
    device = VirtualDevice(framing="emgf", channels=2, fs_hz=1000.0, link=link,
                           reset_on_open=False).start()
    db = tmp_path / "s.sqlite"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emgfeedback", "record", "--source",
             f"serial://{link}?framing=emgf&reset_wait=0.2", "--seconds", "10", "--db",
             str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 90
        while stored_samples(db) < 200 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        device.faults = Faults(unplug_after_s=0.0, replug_after_s=0.5)
        out, err = proc.communicate(timeout=120)
    finally:
        device.stop()
    assert proc.returncode == 0, err
    session = int(out.strip().splitlines()[-1])
    with SessionStore(db) as store:
        meta = store.session(session)
        gaps = store.gaps(session)
        indices, samples = store.read_samples(session)
    assert meta.status == "complete"  # the board came back: nothing asked is missing
    assert indices.size == 10_000
    assert [g.cause for g in gaps] == ["unplug"]
    gap = gaps[0]
    # Exact accounting. The device logs what it never sent (from `unsent` on); frames it had
    # already written into the pty but the host had not read yet are lost with the pty, as
    # with a real USB-serial unplug, and no ioctl tells them reliably (FIONREAD on a pty
    # lags the writes). So the host's gap is: those in-flight samples [gap start, unsent),
    # then exactly what the device logged, ending where the device sent again.
    logged = [r for r in device.fault_log
              if r.kind in ("unplug", "not_listening") and r.first_index < gap.end_index]
    unsent = min(r.first_index for r in logged)
    assert gap.start_index <= unsent
    assert gap.end_index == max(r.first_index + r.n_samples for r in logged)
    assert gap.n_samples == (unsent - gap.start_index) + sum(r.n_samples for r in logged)
    assert unsent - gap.start_index < 2_000, "over 2 s of signal lost in flight"
    assert indices[-1] > gap.end_index + 500, "recording did not continue after the replug"
    assert not np.isin(np.arange(gap.start_index, gap.end_index), indices).any()
    np.testing.assert_array_equal(samples, device_counts(device, indices[-1] + 1)[indices])


def test_recorded_device_session_exports_every_sample_to_csv(tmp_path):
    device = VirtualDevice(framing="emgf", channels=3, fs_hz=2000.0, reset_on_open=False).start()
    try:
        db = tmp_path / "s.sqlite"
        session = record(f"serial://{device.path}?framing=emgf&reset_wait=0.2", 1.5, db)
    finally:
        device.stop()
    out = tmp_path / "s.csv"
    done = subprocess.run([sys.executable, "-m", "emgfeedback", "export", "--session",
                           str(session), "--db", str(db), "--format", "csv", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    with SessionStore(db) as store:
        calibration = store.session(session).calibration
        indices, samples = store.read_samples(session)
    rows = [r for r in csv.reader(line for line in out.open() if not line.startswith("#"))]
    header, body = rows[0], rows[1:]
    assert len(body) == len(indices) >= 2000
    exported_index = np.array([int(r[0]) for r in body])
    exported_uv = np.array([[float(v) for v in r[2:]] for r in body])
    np.testing.assert_array_equal(exported_index, indices)
    expected_uv = np.column_stack([calibration[c].to_uv(samples[:, c]) for c in range(3)])
    np.testing.assert_allclose(exported_uv, expected_uv, atol=1e-3)
    assert len(header) == 5
    np.testing.assert_array_equal(samples, device_counts(device, indices[-1] + 1)[indices])
