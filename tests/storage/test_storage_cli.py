"""The sessions, history, export and report commands, run as a user would (subprocess)."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import stat
import subprocess
import sys

import numpy as np
import pytest

from emgfeedback.acquisition.boards import counts_to_uv
from emgfeedback.storage import SessionStore


def run_cli(*args, env_db=None):
    import os

    env = dict(os.environ)
    env.pop("EMGFEEDBACK_DB", None)
    if env_db is not None:
        env["EMGFEEDBACK_DB"] = str(env_db)
    return subprocess.run([sys.executable, "-m", "emgfeedback", *map(str, args)],
                          capture_output=True, text=True, timeout=120, env=env, check=False)


@pytest.fixture
def populated(db_path, recorder):
    """Three weekly sessions of p01 with baselines and onsets, one interrupted session."""
    names = ("L trap", "R trap")
    with SessionStore(db_path) as store:
        recs = []
        for week, tone in enumerate([9.0, 7.0, 5.5]):
            start = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc) + dt.timedelta(weeks=week)
            rec = recorder(store, seconds=4.0, names=names, sides=("left", "right"),
                           started_utc=start.isoformat(), note=f"week {week}",
                           gap_at=[(4000, 100, "unplug")], seed=week)
            with store.open_writer(rec.sid) as w:
                # Protocol cues and onsets as the engine stores them ...
                w.add_marker(0, "cue:phase_start", "relax", {"phase_name": "rest"})
                w.add_marker(3000, "cue:phase_end", "", {"phase_name": "rest"})
                w.add_marker(3000, "cue:phase_start", "lift", {"phase_name": "drill"})
                w.add_marker(3200, "on", names[0], {"channel": 0})
                w.add_marker(5500, "off", names[0], {"channel": 0})
                # ... and in the generic form.
                w.add_marker(3440, "onset", data={"channel": names[1], "kind": "on"})
                w.add_marker(5500, "onset", data={"channel": 1, "kind": "off"})
                w.add_marker(6000, "user", "felt a twinge")
                w.add_result("protocol", {"protocol": "drill", "title": "Glute drill",
                                          "passed": True,
                                          "phases": [{"name": "rest", "mean_uv": 5.0},
                                                     {"name": "drill", "lag_ms": 120.0}]})
                for name in names:
                    w.add_result("baseline", {"tone_uv": tone, "floor_uv": 1.2,
                                              "valid": True}, channel=name)
                w.add_result("phase", {"phase": "drill", "mean_uv": 40.0}, channel="L trap")
            recs.append(rec)
        crashed = recorder(store, seconds=0.5, names=names, subject="p02")
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    with sqlite3.connect(db_path) as conn:  # as if its recorder had died mid-session
        conn.execute("UPDATE sessions SET status = 'recording', writer_pid = ?, "
                     "writer_start = NULL WHERE id = ?", (int(done.stdout), crashed.sid))
    return recs, crashed


def test_sessions_lists_marks_and_deletes(db_path, populated):
    recs, crashed = populated
    out = run_cli("sessions", "--db", db_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [int(line.split()[0]) for line in lines] == [r.sid for r in recs] + [crashed.sid]
    assert "INTERRUPTED" in lines[-1] and "INTERRUPTED" not in lines[0]
    assert "subject=p01" in lines[0] and '"week 0"' in lines[0]
    sub = run_cli("sessions", "--subject", "p02", env_db=db_path)  # the env var is honoured
    assert [int(x.split()[0]) for x in sub.stdout.splitlines()] == [crashed.sid]
    refused = run_cli("sessions", "--db", db_path, "--delete", recs[1].sid)  # no terminal
    assert refused.returncode == 2 and "--yes" in refused.stderr
    gone = run_cli("sessions", "--db", db_path, "--delete", recs[1].sid, "--yes")
    assert gone.returncode == 0, gone.stderr
    assert f"deleted session {recs[1].sid}" in gone.stdout and "for good" in gone.stdout
    after = run_cli("sessions", "--db", db_path).stdout.splitlines()
    assert recs[1].sid not in [int(line.split()[0]) for line in after]
    with sqlite3.connect(db_path) as conn:
        for table in ("chunks", "gaps", "markers", "results"):
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE session_id = ?",
                             (recs[1].sid,)).fetchone()[0]
            assert n == 0, table
    bad = run_cli("sessions", "--db", db_path, "--delete", 999, "--yes")
    assert bad.returncode == 2 and "no session 999" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_history_shows_the_trend(db_path, populated):
    recs, _ = populated
    out = run_cli("history", "--db", db_path, "--subject", "p01", "--channel", "L trap",
                  "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [p["session_id"] for p in data["points"]] == [r.sid for r in recs]
    assert [p["value"] for p in data["points"]] == [9.0, 7.0, 5.5]
    assert data["trend"]["change"] == pytest.approx(-3.5)
    assert data["trend"]["slope_per_week"] == pytest.approx(-1.75)
    text = run_cli("history", "--db", db_path, "--subject", "p01", "--channel", "R trap")
    assert "change since first valid session: -3.50 µV" in text.stdout
    assert "-1.75 µV/week" in text.stdout


def test_export_commands(db_path, populated, tmp_path):
    recs, _ = populated
    rec = recs[0]
    csv_out, edf_out = tmp_path / "a.csv", tmp_path / "a.edf"
    out = run_cli("export", "--db", db_path, "--session", rec.sid, "--format", "csv",
                  "--out", csv_out)
    assert out.returncode == 0, out.stderr
    out = run_cli("export", "--db", db_path, "--session", rec.sid, "--out", edf_out)
    assert out.returncode == 0, out.stderr
    assert "edf" in out.stdout and "1 gap(s)" in out.stdout and "exact counts" in out.stdout
    for f in (csv_out, edf_out):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    lines = csv_out.read_text(encoding="utf-8").splitlines()
    n_head = sum(line.startswith("#") for line in lines) + 1
    assert lines[n_head - 1].startswith("sample_index,time_s,")
    table = np.loadtxt(csv_out, delimiter=",", skiprows=n_head)
    expected = counts_to_uv(rec.counts, rec.meta.calibration)
    np.testing.assert_allclose(table[:, 2:], expected, atol=1e-9)
    import edfio

    from emgfeedback.storage.db import parse_utc

    edf = edfio.read_edf(edf_out)
    with SessionStore(db_path) as store:
        first = parse_utc(store.session(rec.sid).first_sample_utc).replace(tzinfo=None)
    pad = int(round((first - edf.startdatetime).total_seconds() * 2000))  # whole-second start
    q = rec.meta.calibration[0].uv_per_count
    np.testing.assert_allclose(edf.signals[1].data[rec.indices + pad], expected[:, 1],
                               atol=q / 2)
    bad = run_cli("export", "--db", db_path, "--session", rec.sid, "--out", tmp_path / "a.xyz")
    assert bad.returncode == 2 and "--format" in bad.stderr


def test_report_is_self_contained(db_path, populated, tmp_path):
    recs, crashed = populated
    out_file = tmp_path / "r.html"
    out = run_cli("report", "--db", db_path, "--session", recs[-1].sid, "--out", out_file)
    assert out.returncode == 0, out.stderr
    html = out_file.read_text(encoding="utf-8")
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert html.count("<svg") == 5  # 2 envelopes, tone vs floor, 2 trends (1 repetition)
    for heading in ("Envelopes", "Resting tone and measurement floor", "Onset timing",
                    "Left/right symmetry", "Signal quality", "Resting baseline across"):
        assert heading in html
    assert "<script" not in html and not re.search(r"(src|href)=\"https?:", html)
    assert "drill" in html and "gap (unplug)" in html and "+120" in html
    assert "Glute drill – passed" in html and "felt a twinge" in html
    crashed_report = tmp_path / "c.html"
    out = run_cli("report", "--db", db_path, "--session", crashed.sid, "--out", crashed_report)
    assert out.returncode == 0, out.stderr
    assert "was interrupted" in crashed_report.read_text(encoding="utf-8")


def test_playback_through_the_live_pipeline_reproduces_the_session(tmp_path):
    """Record from the simulator, replay the stored session through ``record`` again."""
    first_db, second_db = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    live = run_cli("record", "--source", "sim://?channels=2&scenario=drill&seed=4&pace=fast",
                   "--seconds", 12, "--db", first_db)
    assert live.returncode == 0, live.stderr
    sid = int(live.stdout.split()[-1])
    replay = run_cli("record", "--source", f"file://{first_db}?session={sid}&pace=fast",
                     "--seconds", 12, "--db", second_db)  # the whole session
    assert replay.returncode == 0, replay.stderr
    sid2 = int(replay.stdout.split()[-1])
    with SessionStore(first_db) as a, SessionStore(second_db) as b:
        ia, xa = a.read_samples(sid)
        ib, xb = b.read_samples(sid2)
        np.testing.assert_array_equal(ib, ia)
        np.testing.assert_array_equal(xb, xa)
        onsets_a = [(m.index, m.kind, m.text) for m in a.markers(sid) if m.kind in ("on", "off")]
        onsets_b = [(m.index, m.kind, m.text) for m in b.markers(sid2) if m.kind in ("on", "off")]
        assert onsets_a and onsets_b == onsets_a
        assert b.session(sid2).calibration == a.session(sid).calibration
