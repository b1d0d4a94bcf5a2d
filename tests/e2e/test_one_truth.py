"""One measurement truth (#12.3, #12.5 history): one session, one number on every path.

Sessions are recorded with the real CLI (``record``, ``baseline``: simulator, engine,
writer, SQLite), exported with ``export`` as CSV and EDF, and their resting tone, noise
floor and static level are read back through ``analyze --session``, ``analyze`` of each
export, ``report --json`` and ``history --json``: they must agree to 3 significant digits.
Then the baseline that goals are scaled on: ``run --subject`` (stored baseline) and a
protocol's own baseline phase must give the same number, and ``history`` must say "below the
floor" rather than print a fake change.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import Gap
from emgfeedback.cli import main
from emgfeedback.storage import SessionMeta

#: ESP32 + MyoWare 2 RAW at 1 kHz: a 4 µV step, so the floor (1.1 µV in band) matters.
BOARD = "esp32-myoware2"
KEYS = ("resting_tone_uv", "noise_floor_uv", "static_level_p10_uv")

BASELINE_PROTOCOL = """
name = "baseline_then_relax"
title = "Baseline, then relax"
version = 1
description = "A 30 s baseline phase, then 5 s of rest below 1.5 x baseline."

[[channels]]
id = "a"
role = "target"

[[channels]]
id = "b"
role = "target"

[[phases]]
name = "base"
kind = "baseline"
duration_s = 30

[[phases]]
name = "relax"
kind = "rest"
duration_s = 5
measure = ["mean"]

[[phases.goals]]
type = "below"
channel = "a"
level = 1.5
unit = "baseline"
"""


def cli(capsys, *argv) -> str:
    """Run the real CLI in-process; returns stdout (exit status 0 required)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def cli_json(capsys, *argv) -> dict:
    return json.loads(cli(capsys, *argv, "--json"))


def recorded(*argv) -> str:
    """A recording command (``baseline``, ``run``) in its own process, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "emgfeedback", *map(str, argv)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def recorded_json(*argv) -> dict:
    return json.loads(recorded(*argv, "--json"))


def by_name(channels, name_key="name") -> dict:
    return {c[name_key]: c for c in channels}


def same3(a, b) -> bool:
    """Equal to 3 significant digits."""
    return a is not None and b is not None and float(f"{a:.3g}") == float(f"{b:.3g}")


def paths(capsys, tmp_path, db, session) -> dict[str, dict]:
    """Per path, ``{channel: numbers}``: analyze of the session and its exports, report."""
    out = {}
    out["analyze --session"] = by_name(cli_json(capsys, "analyze", db, "--session",
                                                session)["channels"])
    for fmt in ("csv", "edf"):
        path = tmp_path / f"s{session}.{fmt}"
        cli(capsys, "export", "--session", session, "--db", db, "--out", path)
        out[f"analyze {fmt}"] = by_name(cli_json(capsys, "analyze", path)["channels"])
    out["report --json"] = by_name(cli_json(capsys, "report", "--session", session, "--db",
                                            db)["channels"])
    return out


def assert_one_truth(results: dict[str, dict], keys=KEYS) -> None:
    ref_name, ref = next(iter(results.items()))
    assert ref, "no channels"
    for path, channels in results.items():
        assert set(channels) == set(ref), (path, list(channels))
        for name, numbers in channels.items():
            for key in keys:
                assert same3(numbers[key], ref[name][key]), (
                    f"{key} of {name}: {path} gives {numbers[key]}, {ref_name} "
                    f"{ref[name][key]}")


@pytest.mark.parametrize("board", [BOARD, "uno-myoware2"])
def test_recorded_session_gives_one_tone_on_every_path(capsys, tmp_path, board):
    """``record`` → analyze (session, CSV, EDF) and report agree to 3 digits.

    On b47e085, for one Uno + MyoWare session, the report printed a "p10 estimate" of the
    display envelope (8.18 µV, floor 7.05 µV) where analyze said 2.23 µV (floor 4.62 µV)
    and the EDF's padding was counted as rest (1.75 µV).
    """
    db = tmp_path / "s.sqlite"
    url = f"sim://?scenario=drill&seed=7&channels=2&board={board}&pace=fast"
    recorded("record", "--source", url, "--seconds", "20", "--db", db, "--subject", "S1")
    results = paths(capsys, tmp_path, db, 1)
    assert_one_truth(results)
    for numbers in results["report --json"].values():
        assert numbers["rest_s"] > 5
        # 4 µV steps resolve these tones; 24.4 µV steps (floor 4.6 µV) cannot.
        assert numbers["tone_valid"] is (board == BOARD), numbers


def test_baseline_session_gives_one_tone_on_every_path_and_history(capsys, tmp_path):
    """``baseline`` stores the tone it measured live: the same as every offline path."""
    db = tmp_path / "s.sqlite"
    url = f"sim://?scenario=rest&seed=5&channels=2&board={BOARD}&pace=fast"
    stored = recorded_json("baseline", "--source", url, "--seconds", "15", "--db", db,
                           "--subject", "S1")
    live = by_name(stored["channels"], "channel")
    results = {"baseline (live)": live, **paths(capsys, tmp_path, db, stored["session"])}
    for name in live:
        hist = cli_json(capsys, "history", "--subject", "S1", "--channel", name, "--db", db)
        (point,) = hist["points"]
        results.setdefault("history --json", {})[name] = {
            "resting_tone_uv": point["value"], "noise_floor_uv": point["floor_uv"],
            "static_level_p10_uv": live[name]["static_level_p10_uv"]}
        assert point["valid"] is True and point["below_floor_uv"] is None
    assert_one_truth(results)
    truth = Simulator("rest", 2, 1000.0, seed=5, board=BOARD).truth
    amp_in_band = truth.noise_uv * np.sqrt(430.0 / 500.0)  # white, 20-450 Hz of 0-500 Hz
    for name, tone in zip(live, truth.tone_uv, strict=True):
        # The simulator's amplifier noise is not part of the board's floor: it is "tone".
        assert live[name]["resting_tone_uv"] == pytest.approx(np.hypot(tone, amp_in_band),
                                                              rel=0.05)
        report = results["report --json"][name]
        assert report["stored_baseline"]["baseline_mean_uv"] == live[name]["baseline_mean_uv"]


def test_gaps_and_padding_never_count_as_rest_on_any_path(capsys, tmp_path, write_session):
    """A session with lost stretches: NaN in analyze, offset padding in the EDF; one tone."""
    db = tmp_path / "g.sqlite"
    fs = 1000.0
    sim = Simulator("rest", 2, fs, seed=9, board=BOARD)
    meta = SessionMeta(fs, ("trap L", "trap R"), sim.calibration, subject="S2", board=BOARD)
    gaps = {4000: Gap(4000, 3000, "unplug"), 12000: Gap(12000, 500, "crc")}
    counts = sim.next_counts(16000)
    sid = write_session(db, meta, counts, gaps)
    results = paths(capsys, tmp_path, db, sid)
    assert_one_truth(results)
    # No window of the gaps (or their padding) was rest: the tone is the simulator's.
    for (name, numbers), tone in zip(results["analyze --session"].items(),
                                     sim.truth.background_uv, strict=True):
        assert numbers["raw_rest_rms_uv"] == pytest.approx(tone, rel=0.10), name


def test_run_subject_and_the_protocols_own_baseline_phase_agree(capsys, tmp_path):
    """Goals in baseline units use one kind of baseline, wherever it was measured.

    Tension scenario, seed 3: on b47e085 ``run --subject`` used the stored floor-corrected
    resting tone (11.9 µV) while the protocol's baseline phase measured the mean envelope
    (13.0-15.6 µV): the same protocol was 10-33 % stricter depending on the source.
    """
    db = tmp_path / "t.sqlite"
    url = "sim://?scenario=tension&seed=3&channels=2"
    proto = tmp_path / "p.toml"
    proto.write_text(BASELINE_PROTOCOL)
    no_phase = tmp_path / "q.toml"
    text = BASELINE_PROTOCOL
    start = text.index('[[phases]]\nname = "base"')
    stop = text.index('[[phases]]\nname = "relax"')
    no_phase.write_text(text[:start] + text[stop:])

    stored = recorded_json("baseline", "--source", url + "&pace=fast", "--seconds", "30",
                           "--db", db, "--subject", "S3")
    own = recorded_json("run", "--protocol", proto, "--source", url, "--fast", "--no-record")
    from_store = recorded_json("run", "--protocol", no_phase, "--source", url, "--fast",
                               "--subject", "S3", "--db", db)
    stored_base = [c["baseline_mean_uv"] for c in stored["channels"]]
    assert list(from_store["baseline_uv"].values()) == pytest.approx(stored_base, rel=1e-9)
    assert list(own["baseline_uv"].values()) == pytest.approx(stored_base, rel=0.03)
    # ...and it is a different quantity from the floor-corrected tone, stored beside it.
    tones = [c["resting_tone_uv"] for c in stored["channels"]]
    assert all(b > 1.05 * t for b, t in zip(stored_base, tones, strict=True))


def test_history_says_below_the_floor_instead_of_a_fake_change(capsys, tmp_path):
    """First a measurable tone, then one below 2× a coarser board's floor."""
    db = tmp_path / "h.sqlite"
    for board in (BOARD, "uno-myoware2"):  # 4 µV steps, then 24 µV steps
        recorded("baseline", "--source",
                 f"sim://?scenario=rest&seed=5&channels=1&board={board}&pace=fast",
                 "--seconds", "5", "--db", db, "--subject", "S4")
    text = cli(capsys, "history", "--subject", "S4", "--channel", "ch1", "--db", db)
    assert "below the floor (<" in text
    assert "+0.00" not in text and "(+0 %)" not in text
    data = cli_json(capsys, "history", "--subject", "S4", "--channel", "ch1", "--db", db)
    first, last = data["points"]
    assert first["below_floor_uv"] is None and first["valid"]
    assert last["below_floor_uv"] == pytest.approx(2 * last["floor_uv"])
    assert data["trend"]["last_below_floor_uv"] == last["below_floor_uv"]
    # The baseline (mean envelope) is a number in every session: never "below the floor".
    base = cli_json(capsys, "history", "--subject", "S4", "--channel", "ch1", "--db", db,
                    "--metric", "baseline_mean_uv")
    assert [p["below_floor_uv"] for p in base["points"]] == [None, None]
    assert all(p["value"] > 0 for p in base["points"])
    html_path = tmp_path / "r.html"
    cli(capsys, "report", "--session", 2, "--db", db, "--out", html_path)
    assert "below the floor (&lt; " in html_path.read_text() or \
        "below the floor (< " in html_path.read_text()


def test_report_json_needs_no_out_and_report_needs_one_or_the_other(capsys, tmp_path):
    db = tmp_path / "s.sqlite"
    recorded("record", "--source", f"sim://?scenario=rest&seed=1&channels=1&board={BOARD}"
             "&pace=fast", "--seconds", "3", "--db", db)
    data = cli_json(capsys, "report", "--session", 1, "--db", db)
    assert np.isfinite(data["channels"][0]["resting_tone_uv"])
    capsys.readouterr()
    assert main(["report", "--session", "1", "--db", str(db)]) != 0
    assert "--out" in capsys.readouterr().err
