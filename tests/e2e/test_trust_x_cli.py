"""What a new user types, taken at its word (through the real CLI, real SQLite).

* ``analyze --session ID`` (the form README and docs use) analyses the stored session of
  the store every other command uses (``--db``, ``$EMGFEEDBACK_DB``); it used to stop with
  "the following arguments are required: file".
* ``export --format csv --out x.edf`` wrote CSV text into a file named ``.edf``, which
  ``analyze`` (and every EDF reader) then refused; a suffix that names another export format
  is now refused before anything is written.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from emgfeedback.cli import main


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    db = tmp_path_factory.mktemp("trust_x_cli") / "sessions.sqlite"
    code, out, err = cli("record", "--source", "sim://?channels=2&fs=1000&seed=4&pace=fast",
                         "--seconds", "2", "--db", db)
    assert code == 0, err
    return db, int(out.strip().splitlines()[-1])


def test_analyze_session_without_a_file_reads_the_usual_store(stored, monkeypatch):
    db, sid = stored
    code, out, err = cli("analyze", db, "--session", sid, "--json")
    assert code == 0, err
    by_file = json.loads(out)
    monkeypatch.setenv("EMGFEEDBACK_DB", str(db))
    code, out, err = cli("analyze", "--session", sid, "--json")
    assert code == 0, err
    by_env = json.loads(out)
    assert by_env["channels"] == by_file["channels"]
    monkeypatch.delenv("EMGFEEDBACK_DB")
    code, out, err = cli("analyze", "--session", sid, "--db", db, "--json")
    assert code == 0, err
    assert json.loads(out)["channels"] == by_file["channels"]


def test_analyze_without_anything_to_analyse_says_what_to_give(capsys):
    code, out, err = cli("analyze")
    assert code == 2
    assert "give a recording FILE" in err and "--session ID" in err


@pytest.mark.parametrize(("fmt", "name"), [("csv", "x.edf"), ("edf", "x.bdf"),
                                           ("bdf", "x.CSV")])
def test_export_refuses_a_name_of_another_format(stored, tmp_path, fmt, name):
    db, sid = stored
    code, out, err = cli("export", "--db", db, "--session", sid, "--format", fmt,
                         "--out", tmp_path / name)
    assert code == 2, (out, err)
    assert f"--format {fmt} but --out" in err
    assert list(tmp_path.iterdir()) == []


def _write_csv(path, x, header):
    import numpy as np

    np.savetxt(path, x, delimiter=",", header=header, comments="")


def test_millivolts_read_as_microvolts_are_pointed_out(tmp_path):
    """A CSV of mV without a unit is read as µV (the documented default): every figure is
    then 1000 times too small, and used to be printed as a valid measurement without a word."""
    import numpy as np

    rng = np.random.default_rng(1)
    x_uv = rng.normal(0.0, 10.0, (3000, 2))
    x_uv[1000:2000] *= 10
    _write_csv(tmp_path / "mv.csv", x_uv / 1000.0, "a,b")
    code, out, err = cli("analyze", tmp_path / "mv.csv", "--fs", "1000", "--json")
    assert code == 0, err
    as_uv = json.loads(out)
    notes = [n for n in as_uv["file_notes"] if "pass --units mv" in n]
    assert [n.split(":")[0] for n in notes] == ["a", "b"]
    code, out, err = cli("analyze", tmp_path / "mv.csv", "--fs", "1000", "--units", "mv",
                         "--json")
    assert code == 0, err
    as_mv = json.loads(out)
    assert not [n for n in as_mv["file_notes"] if "pass --units mv" in n]
    for a, b in zip(as_uv["channels"], as_mv["channels"], strict=True):
        assert b["raw_rest_rms_uv"] == pytest.approx(1000 * a["raw_rest_rms_uv"], rel=1e-6)
    # The same signal in µV, said by the header or not, gets no note.
    _write_csv(tmp_path / "uv.csv", x_uv, "a,b")
    code, out, err = cli("analyze", tmp_path / "uv.csv", "--fs", "1000")
    assert code == 0, err
    assert "pass --units mv" not in out
    assert "n/a%" not in out
    assert not [ln for ln in out.splitlines() if ln.rstrip().endswith("bursts:")]


def test_history_of_a_subject_or_channel_not_in_the_store_is_an_error(stored, tmp_path):
    """A typo in --subject or --channel printed "no results" and exit 0, like an empty trend."""
    db, _ = stored
    code, out, err = cli("baseline", "--source",
                         "sim://?channels=2&fs=1000&scenario=rest&seed=7&pace=fast",
                         "--seconds", "5", "--subject", "S02", "--names",
                         "glute med L,glute med R", "--db", db)
    assert code == 0, err
    code, out, err = cli("history", "--db", db, "--subject", "S02", "--channel", "glute med L")
    assert code == 0, err
    assert "resting_tone_uv of glute med L" in out
    code, out, err = cli("history", "--db", db, "--subject", "S2", "--channel", "glute med L")
    assert code == 2 and "no subject 'S2'" in err and "S02" in err
    code, out, err = cli("history", "--db", db, "--subject", "S02", "--channel", "glute_med L",
                         "--json")
    assert code == 2 and "no channel 'glute_med L'" in err and "glute med L" in err
    code, out, err = cli("history", "--db", tmp_path / "missing.sqlite", "--subject", "S02",
                         "--channel", "glute med L")
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "missing.sqlite").exists()
