"""Recording from the virtual board on a real pty: every sample stored, unplug recorded as a gap."""

from __future__ import annotations

import csv
import subprocess
import sys

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


def test_unplug_during_recording_is_a_gap_and_recording_continues(tmp_path):
    link = str(tmp_path / "board-by-id")
    device = VirtualDevice(framing="emgf", channels=2, fs_hz=1000.0, link=link,
                           reset_on_open=False,
                           faults=Faults(unplug_after_s=1.0, replug_after_s=0.5)).start()
    try:
        db = tmp_path / "s.sqlite"
        session = record(f"serial://{link}?framing=emgf&reset_wait=0.2", 3.0, db)
    finally:
        device.stop()
    with SessionStore(db) as store:
        meta = store.session(session)
        gaps = store.gaps(session)
        indices, samples = store.read_samples(session)
    assert meta.status == "complete"
    assert [g.cause for g in gaps] == ["unplug"]
    gap = gaps[0]
    assert gap.n_samples == device.lost_samples(kinds=("unplug", "not_listening"),
                                                before_index=gap.end_index)
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
