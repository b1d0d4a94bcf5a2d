"""record, baseline and run end to end: real simulator, real SQLite, real playback."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.storage import SessionStore

SHORT_PROTOCOL = """
name = "short"
title = "Short test protocol"
version = 1
description = "Baseline, two lifts, a rest."

[[channels]]
id = "glute_med"
role = "target"

[[channels]]
id = "tfl"
role = "compensator"

[[phases]]
name = "baseline"
kind = "baseline"
duration_s = 2

[[phases]]
name = "lifts"
kind = "work"
reps = 2
work_s = 1.5
rest_s = 1.0
cue = "Lift"
measure = ["mean", "peak"]

[[phases.goals]]
type = "above"
channel = "glute_med"
level = 2.0
unit = "baseline"
during = "work"

[[phases]]
name = "rest"
kind = "rest"
duration_s = 1
"""


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "emgfeedback", *args], capture_output=True,
                          text=True, timeout=300, check=False)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_record_prints_the_session_id_last_and_stores_every_sample(tmp_path):
    db = tmp_path / "s.sqlite"
    url = "sim://?channels=2&fs=2000&scenario=drill&seed=9&pace=fast"
    done = cli("record", "--source", url, "--seconds", "3", "--db", str(db), "--subject", "p1",
               "--note", "first try", "--names", "glute med R,TFL R")
    session_id = int(done.stdout.strip().splitlines()[-1])
    with SessionStore(db) as store:
        meta = store.session(session_id)
        assert meta.status == "complete"
        assert meta.subject == "p1" and meta.note == "first try"
        assert tuple(meta.channel_names) == ("glute med R", "TFL R")
        indices, samples = store.read_samples(session_id)
    assert len(samples) >= 6000
    expected = Simulator("drill", 2, 2000.0, seed=9).next_counts(len(samples))
    np.testing.assert_array_equal(samples, expected)
    np.testing.assert_array_equal(indices, np.arange(len(samples)))


def test_baseline_stores_a_tone_per_channel_and_history_shows_it(tmp_path):
    db = tmp_path / "s.sqlite"
    url = "sim://?channels=2&fs=2000&scenario=rest&seed=5&pace=fast&board=olimex-ekg-emg"
    done = cli("baseline", "--source", url, "--seconds", "10", "--db", str(db), "--subject",
               "p2", "--json")
    result = json.loads(done.stdout)
    truth = Simulator("rest", 2, 2000.0, seed=5, board="olimex-ekg-emg").truth
    assert [c["channel"] for c in result["channels"]] == ["ch1", "ch2"]
    for channel, tone in zip(result["channels"], truth.tone_uv, strict=True):
        assert channel["noise_floor_uv"] > 0
        if tone >= 2 * channel["noise_floor_uv"]:
            assert channel["valid"]
            assert abs(channel["resting_tone_uv"] - tone) <= 0.1 * tone
    with SessionStore(db) as store:
        points = store.history("p2", "ch1", "resting_tone_uv", kind="baseline")
    assert [p.session_id for p in points] == [result["session"]]


def test_baseline_refuses_to_call_a_tone_below_the_floor_a_measurement(tmp_path):
    url = "sim://?channels=1&fs=2000&scenario=rest&seed=5&pace=fast&board=uno-myoware2"
    done = cli("baseline", "--source", url, "--seconds", "5", "--db", str(tmp_path / "b.db"),
               "--json")
    channel = json.loads(done.stdout)["channels"][0]
    assert channel["quantisation_uv"] > 20
    assert not channel["valid"]
    assert "floor" in channel["reason"]


def test_protocol_results_are_identical_paced_fast_and_replayed(tmp_path):
    proto = tmp_path / "short.toml"
    proto.write_text(SHORT_PROTOCOL)
    db = tmp_path / "s.sqlite"
    url = "sim://?channels=2&fs=1000&scenario=drill&seed=3"
    fast = json.loads(cli("run", "--protocol", str(proto), "--source", url, "--fast",
                          "--db", str(db), "--json").stdout)
    # paced at 4x real time: the same paced path (chunks due by the monotonic clock), 2 s
    paced = json.loads(cli("run", "--protocol", str(proto), "--source", url + "&speed=4",
                           "--no-record", "--json").stdout)
    replay_url = f"file://{db}?session={fast['session']}"
    replayed = json.loads(cli("run", "--protocol", str(proto), "--source", replay_url,
                              "--fast", "--no-record", "--json").stdout)
    assert fast["phases"] and len(fast["phases"]) == 3
    for other in (paced, replayed):
        assert other["phases"] == fast["phases"]
    with SessionStore(db) as store:
        stored = store.results(fast["session"], kind="protocol")
        cues = store.markers(fast["session"])
    assert stored and stored[-1].data["phases"] == json.loads(json.dumps(fast["phases"]))
    assert any(m.kind == "cue:phase_start" for m in cues)


def test_fast_is_refused_for_a_real_device():
    done = cli("run", "--protocol", "demo", "--source", "serial:///dev/ttyACM0", "--fast",
               "--no-record", check=False)
    assert done.returncode == 2
    assert "--fast works with" in done.stderr
    assert "Traceback" not in done.stderr


def test_analyze_reads_a_stored_session(tmp_path):
    db = tmp_path / "s.sqlite"
    url = "sim://?channels=2&fs=2000&scenario=drill&seed=6&pace=fast&board=olimex-ekg-emg"
    session = int(cli("record", "--source", url, "--seconds", "20", "--db", str(db))
                  .stdout.strip().splitlines()[-1])
    report = json.loads(cli("analyze", str(db), "--session", str(session), "--json").stdout)
    assert report["fs_hz"] == 2000.0
    assert [c["name"] for c in report["channels"]] == ["glute_med", "tfl"]
    truth = Simulator("drill", 2, 2000.0, seed=6, board="olimex-ekg-emg").truth
    true_onsets_s = [a[0] / 2000.0 for a in truth.activations[0] if a[0] < 40000 - 400]
    found = report["channels"][0]["onsets_s"]
    assert len(found) == len(true_onsets_s)
    assert max(abs(f - t) for f, t in zip(found, true_onsets_s, strict=True)) < 0.05
    missing = cli("analyze", str(db), "--session", "999", check=False)
    assert missing.returncode == 2 and "999" in missing.stderr


def test_baseline_results_follow_the_given_channel_names_into_history(tmp_path):
    db = tmp_path / "s.sqlite"
    url = "sim://?channels=2&fs=2000&scenario=rest&seed=2&pace=fast&board=olimex-ekg-emg"
    for _ in range(2):
        cli("baseline", "--source", url, "--seconds", "5", "--db", str(db), "--subject", "p3",
            "--names", "L trap,R trap")
    with SessionStore(db) as store:
        points = store.history("p3", "R trap", "resting_tone_uv", kind="baseline")
    assert len(points) == 2 and all(p.valid for p in points)
    report = tmp_path / "r.html"
    cli("report", "--session", str(points[-1].session_id), "--db", str(db), "--out", str(report))
    html = report.read_text()
    assert "No baseline measurements stored" not in html
    assert "resting tone trend of R trap" in html
