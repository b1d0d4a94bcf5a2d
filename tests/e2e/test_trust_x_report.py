"""The report gives the numbers ``analyze --session`` gives (one definition per quantity).

A session is recorded through the real CLI (simulator, writer, SQLite); ``analyze --session
--json`` and ``report --json`` / ``report --out`` are run on it. The symmetry of a left/right
pair and each channel's SNR must be the same figures on both paths: before, the report
computed its own symmetry (mean display envelope over the whole session, rest included:
-25 % where analyze said -38 %) and its own SNR (from the unfiltered signal: 21.6 dB where
analyze said 23.3 dB).
"""

from __future__ import annotations

import html
import json
import re

import pytest

from emgfeedback.cli import main

URL = "sim://?channels=2&fs=1000&scenario=asymmetry&seed=8&pace=fast"


@pytest.fixture(scope="module")
def asymmetric_session(tmp_path_factory):
    """A recorded 2-channel session of a left/right pair with the right side weaker."""
    import contextlib
    import io

    db = tmp_path_factory.mktemp("trust_x") / "s.sqlite"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["record", "--source", URL, "--seconds", "12", "--db", str(db)])
    assert code == 0
    return db, int(out.getvalue().strip().splitlines()[-1])


def _text(path) -> str:
    t = path.read_text(encoding="utf-8")
    t = re.sub(r"<style.*?</style>|<svg.*?</svg>", "", t, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", t)))


@pytest.fixture(scope="module")
def both(asymmetric_session, tmp_path_factory):
    """``analyze --session --json``, ``report --json`` and the report's text, of one session."""
    import contextlib
    import io

    db, sid = asymmetric_session
    out = tmp_path_factory.mktemp("trust_x_report") / "r.html"
    results = []
    for argv in (["analyze", str(db), "--session", str(sid), "--json"],
                 ["report", "--db", str(db), "--session", str(sid), "--json", "--out", str(out)]):
        buf, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
            code = main(argv)
        assert code == 0, err.getvalue()
        results.append(json.loads(buf.getvalue()))
    return results[0], results[1], _text(out)


def test_report_html_symmetry_is_that_of_analyze_session(both):
    analysed, _, text = both
    (sym,) = analysed["symmetry"]
    assert sym["n_repetitions"] >= 2 and sym["amplitude_index_pct"] < -20  # right weaker
    site = text[text.index("Left/right symmetry"):text.index("Signal quality")]
    assert f"{sym['amplitude_index_pct']:+.0f} %" in site
    per_rep = ", ".join(f"{r['amplitude_index_pct']:+.0f}" for r in sym["repetitions"])
    assert per_rep in site


def test_report_json_symmetry_is_that_of_analyze_session(both):
    analysed, reported, _ = both
    (sym,) = analysed["symmetry"]
    (rsym,) = reported["symmetry"]
    assert (rsym["left"], rsym["right"]) == (sym["left"], sym["right"])
    assert rsym["amplitude_index_pct"] == pytest.approx(sym["amplitude_index_pct"], rel=1e-9)
    assert [r["amplitude_index_pct"] for r in rsym["repetitions"]] == pytest.approx(
        [r["amplitude_index_pct"] for r in sym["repetitions"]], rel=1e-9)
    assert rsym["lag_ms_mean"] == pytest.approx(sym["lag_ms_mean"])


def test_report_quality_snr_is_that_of_analyze_session(both):
    analysed, _, text = both
    quality = text[text.index("Signal quality"):]
    for ch in analysed["channels"]:
        # channel, clipped, mains, electrode off, ECG, SNR, flags
        row = re.search(re.escape(ch["name"]) + r" \S+ \S+ (?:yes|no) (?:yes|no) (\S+) ",
                        quality)
        assert row is not None, quality[:400]
        assert row.group(1) == f"{ch['quality']['snr_db']:.1f}", ch["name"]


def test_report_timing_table_is_that_of_analyze_session(both):
    """The report's repetition table used the live onset markers (a different detector
    state: +44/+46 ms where analyze says +42/+44 ms on this session)."""
    analysed, _, text = both
    timing = analysed["timing"]
    section = text[text.index("Onset timing per repetition"):text.index("Left/right symmetry")]
    other = [n for n in timing["expected_order"] if n != timing["reference"]]
    assert timing["repetitions"]
    for k, rep in enumerate(timing["repetitions"], start=1):
        first = min(rep["onsets_s"].values())
        cells = [f"{rep['lags_ms'][n]:+.0f}" if n in rep["lags_ms"] else "–"
                 for n in [timing["reference"], *other]]
        row = f" {k} {first:.2f} {rep['order'][0]} " + " ".join(cells) + " "
        assert row in section, (row, section[:600])
