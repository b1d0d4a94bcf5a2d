"""The GUI's goals use the subject's stored baseline, the same quantity as ``run --subject``.

A baseline measured with ``emgfeedback baseline`` stores ``baseline_mean_uv`` (the mean
feedback envelope) beside the floor-corrected tone; a GUI started for that subject, with no
baseline captured in the GUI yet, scales its goals on exactly that number (#12.3).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

URL = "sim://?scenario=rest&seed=5&channels=2&board=esp32-myoware2"


def test_gui_goals_start_from_the_stored_baseline_mean(make_window, tmp_path):
    db = tmp_path / "s.sqlite"
    proc = subprocess.run([sys.executable, "-m", "emgfeedback", "baseline", "--source",
                           URL + "&pace=fast", "--seconds", "5", "--db", str(db), "--subject",
                           "S7", "--json"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    stored = [c["baseline_mean_uv"] for c in json.loads(proc.stdout)["channels"]]
    tones = [c["resting_tone_uv"] for c in json.loads(proc.stdout)["channels"]]
    win = make_window(URL, db_path=db, subject="S7")
    assert win.session.goals.baseline_uv == pytest.approx(stored, rel=1e-12)
    assert stored != pytest.approx(tones, rel=1e-3)  # the baseline, not the tone
    # Goals follow it: downtraining at its multiple of the stored baseline.
    assert win.session.goals.down_goal_uv(0) == pytest.approx(
        win.session.goals.down_factor * stored[0])


def test_gui_without_a_stored_baseline_has_none(make_window, tmp_path):
    win = make_window(URL, db_path=tmp_path / "none.sqlite", subject="S8")
    assert not any(v == v for v in win.session.goals.baseline_uv)  # all NaN or empty
