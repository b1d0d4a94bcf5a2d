"""Channel identity survives an EDF/BDF export whatever the names (real CLI, real files).

EDF and BDF labels hold 16 ASCII characters. Names that differ only after the 16th
character (``quadratus lumborum L`` / ``... R``: the CLI accepts 64) were both cut to
``quadratus lumbor``: the exported file had two identical labels, ``analyze`` of it lost
the side, the left/right pair (no symmetry) and one channel's onsets in the timing table
(keyed by name). Accented letters became ``?``. Now labels stay distinct and keep the side,
the export says which labels differ from the names, and the file gives the numbers the
session gives.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

pytest.importorskip("edfio")

from emgfeedback.cli import main  # noqa: E402

URL = "sim://?channels=2&fs=1000&scenario=asymmetry&seed=8&pace=fast"


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("fmt", ["edf", "bdf"])
def test_long_left_right_names_keep_their_side_and_pair_in_edf(tmp_path, fmt):
    db = tmp_path / "s.sqlite"
    code, out, err = cli("record", "--source", URL, "--seconds", "12", "--db", db,
                         "--names", "quadratus lumborum L,quadratus lumborum R")
    assert code == 0, err
    sid = int(out.strip().splitlines()[-1])
    code, out, err = cli("analyze", db, "--session", sid, "--json")
    assert code == 0, err
    stored = json.loads(out)
    (sym,) = stored["symmetry"]
    assert sym["n_repetitions"] >= 2

    path = tmp_path / f"s.{fmt}"
    code, out, err = cli("export", "--db", db, "--session", sid, "--out", path)
    assert code == 0, err
    said = out
    code, out, err = cli("analyze", path, "--json")
    assert code == 0, err
    exported = json.loads(out)
    names = [c["name"] for c in exported["channels"]]
    assert names == ["quadratus lumb L", "quadratus lumb R"]
    (esym,) = exported["symmetry"]
    assert (esym["left"], esym["right"]) == tuple(names)
    assert esym["n_repetitions"] == sym["n_repetitions"]
    assert esym["amplitude_index_pct"] == pytest.approx(sym["amplitude_index_pct"], rel=1e-5)
    assert esym["lag_ms_mean"] == pytest.approx(sym["lag_ms_mean"])
    # Both channels' onsets are in every repetition of the timing table.
    for rep in exported["timing"]["repetitions"]:
        assert set(rep["onsets_s"]) == set(names)
    assert "'quadratus lumborum L' is labelled 'quadratus lumb L'" in said


def test_accented_names_lose_the_accent_not_the_letter():
    from emgfeedback.io.export import edf_labels

    assert edf_labels(["Glutäus médius L", "Glutäus médius R"]) == ["Glutaus medius L",
                                                                  "Glutaus medius R"]
    labels = edf_labels(["a" * 30, "a" * 30, "a" * 30])
    assert len(set(labels)) == 3 and all(len(x) <= 16 for x in labels)
