"""Ctrl-C while a session is being set up is recorded as Ctrl-C, not as something else.

``record``, ``baseline`` and ``run`` create the session row, open its writer, build the
engine and load its kernels before the first sample. A stop signal in that second used to
escape the command: the session stayed ``recording`` (marked ``interrupted``, "its recorder
died", by the next process) or was closed as ``incomplete (too_slow)``, and the command
printed only "interrupted". Now the signal is held while the session is set up and the
session is closed as stopped by it, with the usual summary and exit status 128 + signal.

The signal is sent as soon as the session row exists (a condition on the real SQLite file,
polled, with a generous deadline): whenever it lands from then on, the outcome must be the
same.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from emgfeedback.commands._common import EXIT_SIGNAL_BASE
from emgfeedback.storage import SessionStore


def _session_rows(db) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        try:
            return con.execute("SELECT count(*) FROM sessions").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:  # not created yet, or its schema not yet written
        return 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("command", [
    ["record", "--source", "sim://?channels=2&fs=1000", "--seconds", "600"],
    ["baseline", "--source", "sim://?channels=2&fs=1000", "--seconds", "600"],
    ["run", "--protocol", "uptraining", "--source", "sim://?client=compliant&seed=1"],
])
def test_ctrl_c_as_the_session_starts_is_recorded_as_ctrl_c(tmp_path, command):
    db = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emgfeedback", *command, "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 90
        while not _session_rows(db):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no session row"
            time.sleep(0.002)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_SIGNAL_BASE + signal.SIGINT, err
    assert "Traceback" not in err
    with SessionStore(db) as store:
        (meta,) = store.sessions()
        stored = store.sample_count(meta.id)
    assert (meta.status, meta.end_reason) == ("incomplete", "stopped by Ctrl-C (SIGINT)")
    assert f"stopped by Ctrl-C (SIGINT): session {meta.id} kept, {stored} samples" in err
    assert "nan s" not in err
