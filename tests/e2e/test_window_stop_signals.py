"""Ctrl-C and SIGTERM close the live window like its close button, through the real CLI.

Before, Ctrl-C raised inside a Qt slot (a traceback, PyQt aborts) and SIGTERM killed the
process with its session still open. Now the window closes, the recording is kept as
``incomplete`` with the signal as its reason (as ``record`` does), ``--json`` still prints
its report and the exit code is 128 + the signal number.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from emgfeedback.storage import SessionStore


def _stored_samples(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute(
                "SELECT coalesce(sum(n_samples), 0) FROM chunks").fetchone()[0] or 0)
    except sqlite3.Error:
        return 0


@pytest.mark.timeout(240)
def test_ctrl_c_closes_the_window_keeps_the_recording_and_prints_the_report(tmp_path):
    db = tmp_path / "s.sqlite"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", EMGFEEDBACK_CONFIG=str(tmp_path / "config"))
    # The child starts with SIGINT's default action: a suite started in the background by
    # a non-interactive shell ignores SIGINT, and an ignored signal rightly stays ignored.
    proc = subprocess.Popen(
        [sys.executable, "-m", "emgfeedback", "live", "--source", "sim://?channels=2&fs=1000",
         "--record", "--db", str(db), "--seconds", "600", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 150
        while _stored_samples(db) < 500:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no samples stored within 150 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "Traceback" not in err, err
    assert "Ctrl-C (SIGINT): closing the window" in err
    report = json.loads(out.strip().splitlines()[-1])
    sid = report["session_id"]
    assert report["health"]["samples_in"] >= 500
    with SessionStore(db) as store:
        meta = store.session(sid)
        stored = store.sample_count(sid)
    assert (meta.status, meta.end_reason) == ("incomplete", "stopped by Ctrl-C (SIGINT)")
    assert stored >= 500
