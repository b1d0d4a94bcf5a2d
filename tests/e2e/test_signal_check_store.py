"""The signal grade stored with sessions (#20): run's minimum grade and its override, and the
grade in ``sessions``, ``history`` and ``report``, through the real CLI and SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emgfeedback.cli import main
from emgfeedback.protocol import load_protocol
from emgfeedback.storage import SessionStore

CLEAN = "sim://?scenario=check&channels=1&board=esp32-myoware2&hum=0.5"
RAILED = CLEAN + "&fault=rail"


@pytest.fixture
def checked_protocol(tmp_path) -> Path:
    """The shipped resting baseline, requiring a usable signal."""
    shipped = Path(load_protocol("resting_baseline").path)
    text = Path(__file__).parents[2].joinpath("protocols", shipped.name).read_text()
    text = text.replace('name = "resting_baseline"', 'name = "rb_checked"', 1)
    path = tmp_path / "rb_checked.toml"
    path.write_text('min_signal_grade = "usable"\n' + text)
    assert load_protocol(str(path)).min_signal_grade == "usable"
    return path


def run(db, protocol, url, *extra) -> int:
    return main(["run", "--protocol", str(protocol), "--source", url, "--fast", "--db", str(db),
                 "--subject", "p1", *extra])


def test_min_grade_refuses_then_override_is_stored(tmp_path, checked_protocol, capsys):
    db = tmp_path / "s.db"
    assert run(db, checked_protocol, RAILED) == 2
    captured = capsys.readouterr()
    assert "stuck at full scale" in captured.out
    assert "below this protocol's min_signal_grade 'usable'" in captured.err
    assert "--accept-poor-signal" in captured.err and "Traceback" not in captured.err
    assert not db.exists() or SessionStore(db).sessions() == []  # nothing recorded

    assert run(db, checked_protocol, RAILED, "--accept-poor-signal") == 0
    assert run(db, checked_protocol, CLEAN) == 0
    capsys.readouterr()
    with SessionStore(db) as store:
        poor, good = store.sessions()
        (r,) = store.results(poor.id, "signal_check")
        assert r.channel == poor.channel_names[0]
        assert r.data["grade"] == "not usable" and r.data["accepted_poor_signal"] is True
        assert r.data["min_signal_grade"] == "usable"
        assert [x["code"] for x in r.data["reasons"] if x["severity"] == "fail"] == ["rail"]
        assert store.results(good.id, "signal_check")[0].data["grade"] == "good"

    assert main(["sessions", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("signal=not-usable (accepted)")
    assert lines[1].endswith("signal=good")

    out = tmp_path / "r.html"
    assert main(["report", "--session", str(poor.id), "--db", str(db), "--out", str(out),
                 "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["signal_check"]["grade"] == "not usable"
    assert numbers["signal_check"]["accepted"] is True
    html = out.read_text()
    assert "Signal check before the session" in html and "stuck at full scale" in html
    assert "accepted by the user" in html


def test_history_marks_trends_built_on_poor_signals(tmp_path, capsys):
    db = tmp_path / "s.db"
    base = ["baseline", "--seconds", "8", "--db", str(db), "--subject", "p1", "--check",
            "--names", "trap"]
    # Clean (good), drifting (usable), stuck at the rail (not usable).
    assert main([*base, "--source", CLEAN + "&pace=fast"]) == 0
    assert main([*base, "--source", CLEAN + "&pace=fast&fault=drift"]) == 0
    assert main([*base, "--source", CLEAN + "&pace=fast&fault=rail"]) == 0
    capsys.readouterr()
    assert main(["history", "--db", str(db), "--subject", "p1", "--channel", "trap",
                 "--json"]) == 0
    hist = json.loads(capsys.readouterr().out)
    assert [p["signal_grade"] for p in hist["points"]] == ["good", "usable", "not usable"]
    poor_id = hist["points"][2]["session_id"]
    assert hist["trend"]["poor_signal_sessions"] == [poor_id]
    # The railed session's tone is not valid, so the tone trend does not rest on it...
    assert hist["trend"]["built_on_poor_signal"] is False
    # ...but its mean envelope is a number, and a trend of it would.
    assert main(["history", "--db", str(db), "--subject", "p1", "--channel", "trap",
                 "--metric", "baseline_mean_uv"]) == 0
    text = capsys.readouterr().out
    assert "signal good" in text and "signal usable" in text and "POOR SIGNAL" in text
    assert f"warning: this trend is built on poor signals: the signal check graded trap " \
           f"not usable in session(s) {poor_id}" in text


def test_bad_min_grade_in_a_protocol_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    text = Path(__file__).parents[2].joinpath("protocols", "resting_baseline.toml").read_text()
    path.write_text('min_signal_grade = "great"\n' + text)
    assert main(["protocols", "check", str(path)]) == 2
    err = capsys.readouterr()
    assert "min_signal_grade" in err.out + err.err and "good, usable, not usable" in \
        err.out + err.err


@pytest.mark.parametrize("url, grade", [(CLEAN, "good"), (RAILED, "not-usable")])
def test_record_check_stores_the_grade_with_the_session(tmp_path, capsys, url, grade):
    db = tmp_path / "r.db"
    assert main(["record", "--source", url + "&pace=fast", "--seconds", "2", "--check",
                 "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["sessions", "--db", str(db)]) == 0
    listed = capsys.readouterr().out
    assert f"signal={grade}" in listed
