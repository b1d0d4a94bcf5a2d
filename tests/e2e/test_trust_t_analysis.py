"""The same muscle gives the same numbers on every analysis path, and a number that cannot be
right is not printed as valid (helper T, session 7; NOTES-X.md X1, X2, X5, X10).

Everything runs through the real CLI (``emgfeedback.cli.main`` in-process) on real files and
real session stores (SQLite, the session writer):

- a DC offset (raw ADC values, a sensor output at mid-rail) or a constant channel made a
  phantom burst "active from the start" and an SNR of 22-230 dB: the band-pass started from
  zero state and its start-up transient read as activity (X1);
- a channel stuck at the ADC rail was "clipped 0.00 %" in ``analyze --session`` (its stored
  calibration was not used) and "ECG 92 bpm" in its EDF export (the rounding of a constant
  through the ECG band filter read as a heartbeat) (X5);
- too-short files got three different messages, one about a NaN notch frequency (X2);
- left/right pairs set by the session's sides/placements gave a symmetry in ``report`` and
  none in ``analyze`` (find_pairs ignored them);
- ``record --seconds 3`` on a lossy link said "received 3000 samples (3.0 s)" for a session
  spanning 3.8 s: ``--seconds`` is signal (received samples), and the summary now says the
  stream it spans (X10).
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from emgfeedback.acquisition.source import Gap
from emgfeedback.cli import main
from emgfeedback.storage import SessionMeta, SessionStore
from emgfeedback.types import ChannelCalibration


def _cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def _analyze_json(*argv) -> dict:
    code, out, err = _cli("analyze", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def _channels(result: dict) -> dict:
    return {c["name"]: c for c in result["channels"]}


def _csv(path, x, names):
    np.savetxt(path, x, delimiter=",", header=",".join(names), comments="")
    return path


def _offset_recording(n: int, fs: float = 1000.0) -> np.ndarray:
    """Three channels: noise on a 2500 µV offset, a constant 5 µV, and noise with one
    burst (1.992-3.0 s) as the control."""
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 10.0, (n, 3))
    x[:, 0] += 2500.0
    x[:, 1] = 5.0
    x[int(2.0 * fs): int(3.0 * fs), 2] *= 8.0
    return x


@pytest.mark.parametrize("seconds", [5, 21], ids=["whole-array", "blocks"])
def test_dc_offset_and_constant_channel_make_no_burst_and_no_snr(tmp_path, seconds):
    # 5 s goes through analysis.summary.analyse, 21 s through the blocked streaming path.
    path = _csv(tmp_path / "dc.csv", _offset_recording(seconds * 1000), ["dc", "flat", "emg"])
    ch = _channels(_analyze_json(path, "--fs", "1000"))
    assert ch["dc"]["onsets_s"] == [] and ch["flat"]["onsets_s"] == []
    # Noise over noise: no activity (was 21.9 dB on the offset, 110-230 dB on the constant).
    assert abs(ch["dc"]["quality"]["snr_db"]) < 3.0
    assert ch["flat"]["quality"]["snr_db"] is None  # a flat rest has nothing to compare with
    assert ch["flat"]["quality"]["ecg"] is False
    # The offset changes nothing else: the offset channel reads as plain noise.
    assert ch["dc"]["resting_tone_uv"] == pytest.approx(10.0, rel=0.1)
    # The control channel's burst is still found where it is.
    assert len(ch["emg"]["onsets_s"]) == 1
    assert ch["emg"]["onsets_s"][0] == pytest.approx(2.0, abs=0.05)
    assert ch["emg"]["offsets_s"][0] == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("rows", [2, 400, 600, 999])
def test_every_too_short_file_gets_the_same_message(tmp_path, rows):
    path = _csv(tmp_path / f"short{rows}.csv", np.ones((rows, 2)), ["a", "b"])
    code, out, err = _cli("analyze", path, "--fs", "1000")
    assert code == 2 and out == ""
    assert "Traceback" not in err and "nan" not in err
    assert f"{path}: {rows / 1000:.3g} s of data ({rows} samples at 1000 Hz); need at least 1 s" \
        in err


RAIL = ChannelCalibration(uv_per_count=24.4140625, offset_counts=512.0, adc_min=0,
                          adc_max=1023)


def _rail_session(db, write_session, seconds: float = 6.0) -> int:
    """Two channels of a 10-bit board: bursts on ``emg``, ``stuck`` at the top rail; 300
    samples lost at 4 s."""
    fs = 1000.0
    n = int(seconds * fs)
    rng = np.random.default_rng(3)
    emg = rng.normal(0.0, 8.0, n)
    emg[int(2 * fs): int(3.5 * fs)] *= 10.0
    counts = np.empty((n, 2), dtype=np.int32)
    counts[:, 0] = np.clip(np.round(512 + emg), 0, 1023)
    counts[:, 1] = 1023
    meta = SessionMeta(fs, ("emg", "stuck"), (RAIL, RAIL), board="uno-myoware2")
    return write_session(db, meta, counts, {4000: Gap(4000, 300, "crc")})


def test_a_channel_at_the_adc_rail_reads_the_same_on_every_path(tmp_path, write_session):
    db = tmp_path / "s.sqlite"
    sid = _rail_session(db, write_session)
    results = {"analyze --session": _analyze_json("--db", db, "--session", sid)}
    for fmt in ("edf", "bdf", "csv"):
        out = tmp_path / f"s.{fmt}"
        code, _, err = _cli("export", "--db", db, "--session", sid, "--format", fmt,
                            "--out", out)
        assert code == 0, err
        results[f"{fmt} export"] = _analyze_json(out)
    stored = _channels(results["analyze --session"])
    # The stored calibration is used: the rail is clipping, 100 % of the samples received
    # (the lost ones are lost_pct), as the live 2 s windows and the report say.
    assert stored["stuck"]["quality"]["clipped_pct"] == 100.0
    assert stored["stuck"]["quality"]["lost_pct"] > 4.0
    assert "clipping" in stored["stuck"]["quality"]["flags"]
    assert stored["stuck"]["noise_floor_uv"] > 0  # the board's quantisation, not 0
    for path, result in results.items():
        ch = _channels(result)
        assert ch["stuck"]["onsets_s"] == [], path
        assert ch["stuck"]["quality"]["ecg"] is False, path
        assert ch["stuck"]["quality"]["snr_db"] is None, path
        assert "electrode_off" in ch["stuck"]["quality"]["flags"], path
        # The other channel: one burst, the same on every path.
        assert ch["emg"]["onsets_s"] == stored["emg"]["onsets_s"], path
        assert ch["emg"]["quality"]["snr_db"] == pytest.approx(
            stored["emg"]["quality"]["snr_db"], abs=0.05), path


def test_report_and_analyze_pair_channels_by_the_sessions_sides(tmp_path, write_session):
    """Names without a side word, sides set in the session: one symmetry on both paths."""
    fs = 1000.0
    n = int(8 * fs)
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 5.0, (n, 2))
    for a in (2.0, 5.0):
        i = int(a * fs)
        x[i: i + 1000, 0] *= 12.0
        x[i + 40: i + 1040, 1] *= 8.0  # weaker, 40 ms later
    cal = ChannelCalibration(uv_per_count=0.5, offset_counts=0.0, adc_min=-32768,
                             adc_max=32767)
    counts = np.round(x / 0.5).astype(np.int32)
    meta = SessionMeta(fs, ("gm a", "gm b"), (cal, cal), placements=("glute med", "glute med"),
                       sides=("left", "right"))
    db = tmp_path / "p.sqlite"
    sid = write_session(db, meta, counts)
    analyzed = _analyze_json("--db", db, "--session", sid)
    code, out, err = _cli("report", "--db", db, "--session", sid, "--json",
                          "--out", tmp_path / "r.html")
    assert code == 0, err
    reported = json.loads(out)
    (sym,) = analyzed["symmetry"]
    (rep,) = reported["symmetry"]
    assert (sym["left"], sym["right"]) == ("gm a", "gm b")
    assert sym["n_repetitions"] == rep["n_repetitions"] == 2
    assert sym["amplitude_index_pct"] == pytest.approx(rep["amplitude_index_pct"], abs=1e-9)
    assert sym["amplitude_index_pct"] < -20  # the right side is weaker
    assert sym["lag_ms_mean"] == pytest.approx(rep["lag_ms_mean"], abs=1e-9)
    # The same pair, the same figure, whatever the channels' order on the command line and
    # in the session's CSV export (its header carries the placements and sides).
    code, _, err = _cli("export", "--db", db, "--session", sid, "--format", "csv",
                        "--out", tmp_path / "p.csv")
    assert code == 0, err
    for again in (_analyze_json("--db", db, "--session", sid, "--channels", "gm b", "gm a"),
                  _analyze_json(tmp_path / "p.csv")):
        (other,) = again["symmetry"]
        assert (other["left"], other["right"]) == ("gm a", "gm b")
        assert other["amplitude_index_pct"] == pytest.approx(sym["amplitude_index_pct"],
                                                             abs=1e-6)


def test_record_seconds_is_signal_and_the_summary_says_the_stream_it_spans(tmp_path,
                                                                            write_session):
    """``record --seconds 3`` of a replayed session with 800 lost samples holds 3000 samples
    (3 s of signal; the lost ones are gaps on top: the session spans 3.8 s) and says so
    (it said only "received 3000 samples (3.0 s)", which read as a 3 s session)."""
    fs = 1000.0
    src_db = tmp_path / "lossy.sqlite"
    counts = np.random.default_rng(1).integers(400, 600, (6000, 2)).astype(np.int32)
    meta = SessionMeta(fs, ("a", "b"), (RAIL, RAIL))
    gaps = {1000: Gap(1000, 500, "crc"), 2900: Gap(2900, 300, "crc")}
    sid = write_session(src_db, meta, counts, gaps)
    db = tmp_path / "rec.sqlite"
    code, out, err = _cli("record", "--source", f"file://{src_db}?session={sid}&pace=fast",
                          "--seconds", "3", "--db", db)
    assert code == 0, err
    new = int(out.strip().splitlines()[-1])
    with SessionStore(db, create=False) as store:
        indices, _ = store.read_samples(new)
        lost = store.gaps(new)
    assert indices.size == 3000
    assert [(g.start_index, g.n_samples) for g in lost] == [(1000, 500), (2900, 300)]
    assert int(indices[-1]) + 1 - int(indices[0]) == 3800
    assert "received 3000 samples (3.0 s) over 3.8 s of stream, lost 800" in err
    assert _analyze_json("--db", db, "--session", new)["duration_s"] == 3.8


def test_live_events_and_analyze_agree_on_a_channel_stuck_at_the_rail(tmp_path):
    """The live engine filters as analyze does: no phantom burst at the start of a channel
    stuck at the rail (a constant 12476 µV), in the live onset markers or in analyze."""
    db = tmp_path / "live.sqlite"
    code, out, err = _cli("record", "--source",
                          "sim://?channels=2&fs=1000&seed=12&pace=fast&fault=rail",
                          "--seconds", "4", "--db", db)
    assert code == 0, err
    sid = int(out.strip().splitlines()[-1])
    with SessionStore(db, create=False) as store:
        names = store.session(sid).channel_names
        live = [m.text for m in store.markers(sid, kind="on")]  # live onsets, by channel
    ch = _channels(_analyze_json("--db", db, "--session", sid))
    stuck = names[-1]  # the simulator's faults go on the last channel
    assert ch[stuck]["onsets_s"] == []
    assert stuck not in live, live
