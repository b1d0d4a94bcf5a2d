"""Line endings: every text file the project writes ends its lines with ``\\n`` (the same
bytes on Windows, macOS and Linux), and every text file it reads may use ``\\r\\n`` (a CSV
saved by Excel or Notepad on Windows, a protocol edited there).

Run through the real CLI (``emgfeedback.cli.main``) on a simulated session.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from emgfeedback.cli import main

SIM = "sim://?channels=2&fs=1000&scenario=drill&seed=3&pace=fast"


def _lf_only(data: bytes) -> None:
    assert b"\r" not in data, "a \\r in a file we wrote"
    assert data.endswith(b"\n")


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A 3 s simulated session in a fresh store: (db path, session id)."""
    folder = tmp_path_factory.mktemp("lines")
    db = folder / "s.sqlite"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["record", "--source", SIM, "--seconds", "3", "--db", str(db),
                     "--subject", "S1"]) == 0
    return db, int(out.getvalue().strip().splitlines()[-1])


def test_exported_csv_and_report_use_lf(session, tmp_path, capsys):
    db, sid = session
    csv = tmp_path / "s.csv"
    html = tmp_path / "s.html"
    assert main(["export", "--session", str(sid), "--db", str(db), "--out", str(csv)]) == 0
    assert main(["report", "--session", str(sid), "--db", str(db), "--out", str(html)]) == 0
    capsys.readouterr()
    for path in (csv, html):
        _lf_only(path.read_bytes())
    assert csv.read_bytes().count(b"\n") > 3000  # a line per sample, and the header


def test_capture_csv_uses_lf(tmp_path, capsys):
    out = tmp_path / "c.csv"
    assert main(["capture", "--source", SIM + "&seconds=1", "--seconds", "1", "--out",
                 str(out), "--quiet"]) == 0
    capsys.readouterr()
    _lf_only(out.read_bytes())


def test_settings_and_subject_setups_use_lf_and_read_crlf(tmp_path):
    from emgfeedback.gui.settings import Settings, load_settings, save_settings

    path = save_settings(Settings(window_s=7.0, last_subject="S9"), tmp_path)
    data = path.read_bytes()
    assert b"\r" not in data
    path.write_bytes(data.replace(b"\n", b"\r\n"))  # edited in Notepad
    again = load_settings(tmp_path)
    assert again.window_s == 7.0 and again.last_subject == "S9"


def test_analyze_reads_a_crlf_csv_like_the_lf_one(session, tmp_path, capsys):
    db, sid = session
    lf = tmp_path / "lf.csv"
    assert main(["export", "--session", str(sid), "--db", str(db), "--out", str(lf)]) == 0
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(lf.read_bytes().replace(b"\n", b"\r\n"))  # saved by a Windows program
    capsys.readouterr()
    results = []
    for path in (lf, crlf):
        assert main(["analyze", str(path), "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    a, b = results
    a.pop("file", None), b.pop("file", None)
    assert json.dumps(a, sort_keys=True).replace("lf.csv", "X") == \
        json.dumps(b, sort_keys=True).replace("crlf.csv", "X")


def test_a_protocol_with_crlf_loads_like_the_lf_one():
    from importlib import resources

    from emgfeedback.protocol.schema import loads_protocol

    text = next(p for p in resources.files("emgfeedback._protocols").iterdir()
                if p.name.endswith(".toml")).read_text(encoding="utf-8")
    lf = loads_protocol(text, "lf.toml")
    crlf = loads_protocol(text.replace("\n", "\r\n"), "crlf.toml")
    assert [ph.name for ph in crlf.phases] == [ph.name for ph in lf.phases]
    assert np.isclose(sum(ph.duration_s for ph in crlf.phases),
                      sum(ph.duration_s for ph in lf.phases))
