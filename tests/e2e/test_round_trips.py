"""Round trips (#12.4) and channel identity (#12.5), through the real CLI.

A session is recorded (real simulator, real writer, real SQLite), exported as CSV, EDF and
BDF with ``emgfeedback export``, captured with ``capture --out``, and each file is analysed
with ``emgfeedback analyze FILE`` and no options: rate, channel names, units, gaps and
markers must come from the file, no time or index column may become a channel, and the
numbers must agree with ``analyze --session``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emgfeedback.acquisition.boards import counts_to_uv
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import Gap
from emgfeedback.cli import main
from emgfeedback.io.recordings import read_recording, read_session
from emgfeedback.storage import SessionMeta, SessionStore

NAMES = ("glute med L", "glute med R")
FS = 2000.0


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def run_subprocess(*argv) -> tuple[int, str, str]:
    """The real CLI in its own process (as a user runs it)."""
    proc = subprocess.run([sys.executable, "-m", "emgfeedback", *map(str, argv)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def analyze_json(capsys, *argv) -> dict:
    code, out, err = run_cli(capsys, "analyze", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def gapped_session(tmp_path, write_session):
    """A 12 s drill session with two gaps and markers, written through the real writer.

    The onset marker carries the *source's* name (``tfl``), as the engine writes it; the
    session stores the user's names.
    """
    db = tmp_path / "s.sqlite"
    sim = Simulator(scenario="drill", n_channels=2, fs_hz=FS, seed=4)
    meta = SessionMeta(FS, NAMES, sim.calibration, subject="S01", board="uno-myoware2",
                       placements=("gluteus medius", "gluteus medius"),
                       sides=("left", "right"))
    gaps = {6000: Gap(6000, 300, "crc"), 15000: Gap(15000, 40, "unplug")}
    sid = write_session(db, meta, sim.next_counts(24000), gaps,
                        markers=[(1000, "user", "lifted arm", None),
                                 (9000, "on", "tfl", {"channel": 1})])
    return db, sid


@pytest.mark.parametrize("fmt", ["csv", "edf", "bdf"])
def test_exports_read_back_with_no_options(capsys, tmp_path, gapped_session, fmt):
    db, sid = gapped_session
    out = tmp_path / f"s.{fmt}"
    code, _, err = run_cli(capsys, "export", "--session", sid, "--db", db, "--format", fmt,
                           "--out", out)
    assert code == 0, err
    res = analyze_json(capsys, out)
    ref = analyze_json(capsys, db, "--session", sid)
    # Rate, names and units from the file; no time/index column as a channel.
    assert res["fs_hz"] == FS
    assert [c["name"] for c in res["channels"]] == list(NAMES)
    assert res["units"] == {n: "uV" for n in NAMES}
    assert not res["skipped_channels"]
    # Gaps and markers from the file, the onset named by the user's name.
    assert [(g["n_samples"], g["cause"]) for g in res["gaps"]] == [(300, "crc"), (40, "unplug")]
    assert [round(g["start_s"] * FS) for g in res["gaps"]] == [6000, 15000]
    labels = [m["label"] for m in res["markers"]]
    assert "user: lifted arm" in labels
    assert "onset on: glute med R" in labels
    assert [m["time_s"] for m in res["markers"]] == [m["time_s"] for m in ref["markers"]]
    # The same numbers as the stored session.
    assert res["duration_s"] == pytest.approx(ref["duration_s"])
    for a, b in zip(res["channels"], ref["channels"], strict=True):
        assert a["onsets_s"] == pytest.approx(b["onsets_s"], abs=0.6 / FS)
        assert a["offsets_s"] == pytest.approx(b["offsets_s"], abs=0.6 / FS)
        assert a["resting_tone_uv"] == pytest.approx(b["resting_tone_uv"], rel=1e-6)
        assert a["peak_envelope_uv"] == pytest.approx(b["peak_envelope_uv"], rel=1e-6)
        assert a["quality"]["lost_pct"] == pytest.approx(b["quality"]["lost_pct"])
    # glute med L / glute med R is a real pair: one symmetry figure.
    assert [(s["left"], s["right"]) for s in res["symmetry"]] == [NAMES]


def test_export_samples_match_the_session_sample_for_sample(capsys, tmp_path,
                                                           gapped_session):
    db, sid = gapped_session
    ref = read_session(db, sid)
    for fmt in ("csv", "edf", "bdf"):
        out = tmp_path / f"x.{fmt}"
        assert run_cli(capsys, "export", "--session", sid, "--db", db, "--format", fmt,
                       "--out", out)[0] == 0
        rec = read_recording(out)
        assert rec.samples.shape == ref.samples.shape, fmt
        assert np.array_equal(np.isnan(rec.samples), np.isnan(ref.samples)), fmt
        ok = ~np.isnan(ref.samples)
        # EDF headers give the physical range in 8 characters: a few nV of rounding.
        atol = 1e-6 if fmt == "csv" else 0.01
        assert np.allclose(rec.samples[ok], ref.samples[ok], rtol=0, atol=atol), fmt
        assert rec.meta.get("placements", ["gluteus medius"] * 2)[0] == "gluteus medius"


def test_capture_out_is_in_uv_with_rate_and_names(capsys, tmp_path):
    url = "sim://?scenario=drill&channels=2&pace=fast&seed=2"
    out = tmp_path / "cap.csv"
    code, _, err = run_cli(capsys, "capture", "--source", url, "--seconds", 1.5, "--out",
                           out, "--quiet")
    assert code == 0, err
    head = out.read_text().splitlines()[:8]
    assert "# fs_hz: 2000" in head
    assert any(line.startswith("# board: uno-myoware2") for line in head)
    assert any("uv_per_count: 24.4140625" in line for line in head)
    rec = read_recording(out)
    assert rec.fs_hz == FS
    assert rec.channel_names == ["glute_med", "tfl"]
    assert rec.units == ["uV", "uV"]
    # The values are µV at the electrode, not counts: the simulator's own counts, converted.
    sim = Simulator(scenario="drill", n_channels=2, fs_hz=FS, seed=2)
    n = min(rec.samples.shape[0], 4000)
    expected = counts_to_uv(sim.next_counts(n), sim.calibration)
    assert np.allclose(rec.samples[:n], expected, rtol=0, atol=1e-9)
    res = analyze_json(capsys, out)
    assert res["fs_hz"] == FS
    assert [c["name"] for c in res["channels"]] == ["glute_med", "tfl"]
    assert "units are counts" not in " ".join(res["file_notes"])


def test_capture_gap_lines_become_missing_samples(tmp_path):
    from emgfeedback.acquisition.source import SourceInfo
    from emgfeedback.commands.capture import capture_gap_line, capture_header, capture_rows

    sim = Simulator(scenario="rest", n_channels=2, fs_hz=1000.0, seed=1)
    info = SourceInfo(fs_hz=1000.0, channel_names=("a", "b"),
                      calibration=sim.calibration, board="uno-myoware2", url="sim://")
    counts = sim.next_counts(3000)
    text = capture_header(info, "sim://") + capture_rows(0, counts[:1000], sim.calibration)
    text += capture_gap_line(Gap(1000, 250, "crc"))
    text += capture_rows(1250, counts[1000:], sim.calibration)
    p = tmp_path / "c.csv"
    p.write_text(text)
    rec = read_recording(p)
    assert rec.samples.shape == (3250, 2)
    assert np.isnan(rec.samples[1000:1250]).all()
    assert rec.gaps == [{"start": 1000, "n_samples": 250, "cause": "crc"}]
    assert np.allclose(rec.samples[1250:], counts_to_uv(counts[1000:], sim.calibration))


@pytest.mark.parametrize("time_name,scale", [
    ("time_s", 1.0), ("t", 1.0), ("Time (ms)", 1000.0), ("timestamp", 1.0),
    ("time [s]", 1.0), ("elapsed_ms", 1000.0)])
@pytest.mark.parametrize("index_name", [None, "index", "sample_index", "idx"])
def test_time_and_index_columns_are_never_channels(tmp_path, time_name, scale, index_name):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 5, (600, 2))
    t = np.arange(600) / 500.0 * scale
    cols = ([index_name] if index_name else []) + [time_name, "trap L", "trap R"]
    rows = [([str(i + 7)] if index_name else []) + [f"{t[i]:.6f}", f"{float(x[i, 0])!r}",
                                                     f"{float(x[i, 1])!r}"] for i in range(600)]
    p = tmp_path / "r.csv"
    p.write_text(",".join(cols) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    rec = read_recording(p)
    assert rec.channel_names == ["trap L", "trap R"]
    assert rec.fs_hz == pytest.approx(500.0)
    assert np.allclose(rec.samples, x)


def test_time_column_after_the_channels_is_not_a_channel(capsys, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 5, (3000, 2))
    p = tmp_path / "r.tsv"
    p.write_text("emg1\temg2\ttime_s\n" + "".join(
        f"{a!r}\t{b!r}\t{i / 1000:.4f}\n" for i, (a, b) in enumerate(x.tolist())))
    res = analyze_json(capsys, p)
    assert [c["name"] for c in res["channels"]] == ["emg1", "emg2"]
    assert res["fs_hz"] == pytest.approx(1000.0)
    assert "timing" in res and res["timing"]["reference"] == "emg1"


# ------------------------------------------------------------------ channel identity


def _meta(db, sid):
    with SessionStore(db, create=False) as store:
        return store.session(sid)


def test_names_set_once_persist_for_the_subject(capsys, tmp_path):
    db = tmp_path / "id.sqlite"
    url = "sim://?scenario=rest&channels=2&pace=fast&seed=3"
    code, _, err = run_subprocess("baseline", "--source", url, "--seconds", 5, "--db", db,
                                  "--subject", "S07", "--names", "glute med R,TFL R",
                                  "--placements", "gluteus medius,tensor fasciae latae",
                                  "--sides", "R,R")
    assert code == 0, err
    # Next time no names are given: the subject's set-up for this board is used.
    code, _, err = run_subprocess("baseline", "--source", url, "--seconds", 5, "--db", db,
                                  "--subject", "S07")
    assert code == 0, err
    # The same board reporting other channel names (here glute_med/tfl instead of ch1/ch2,
    # as a text sketch says A0/A1 and emgf ch1/ch2): the subject's names still.
    drill = "sim://?scenario=drill&channels=2&pace=fast&seed=3"
    code, _, err = run_subprocess("record", "--source", drill, "--seconds", 2, "--db", db,
                                  "--subject", "S07")
    assert code == 0, err
    for sid in (1, 2, 3):
        meta = _meta(db, sid)
        assert meta.channel_names == ("glute med R", "TFL R")
        assert meta.placements == ("gluteus medius", "tensor fasciae latae")
        assert meta.sides == ("right", "right")
    code, out, err = run_subprocess("history", "--subject", "S07", "--channel", "TFL R",
                                    "--db", db, "--json")
    assert code == 0, err
    assert len(json.loads(out)["points"]) == 2
    # Another subject is not affected.
    assert run_subprocess("record", "--source", url, "--seconds", 2, "--db", db,
                          "--subject", "S08")[0] == 0
    assert _meta(db, 4).channel_names == ("ch1", "ch2")  # the simulator's own names
    # Same-side different muscles: no symmetry figure in analyze.
    res = analyze_json(capsys, db, "--session", 3)
    assert res["symmetry"] == []


def test_edf_annotations_use_the_users_names(capsys, tmp_path, gapped_session):
    import edfio

    db, sid = gapped_session
    out = tmp_path / "a.edf"
    assert run_cli(capsys, "export", "--session", sid, "--db", db, "--format", "edf",
                   "--out", out)[0] == 0
    texts = [a.text for a in edfio.read_edf(out).annotations]
    assert "onset on: glute med R" in texts
    assert not any("tfl" in t for t in texts)
    csv = tmp_path / "a.csv"
    assert run_cli(capsys, "export", "--session", sid, "--db", db, "--format", "csv",
                   "--out", csv)[0] == 0
    lines = csv.read_text().splitlines()
    assert "# marker: index=9000 kind=on text=onset on: glute med R" in lines
    assert "# marker: index=1000 kind=user text=user: lifted arm" in lines


# ------------------------------------------------------------------ streaming analyze


def _compare(a, b, path=""):
    """Every number of two analyse() results equal to 1e-6 (lists and texts exactly)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _compare(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _compare(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert b == pytest.approx(a, rel=1e-6, abs=1e-9), path
    else:
        assert a == b, path


@pytest.fixture
def long_session(tmp_path, write_session):
    """Two minutes of three channels with gaps, through the real writer."""
    db = tmp_path / "long.sqlite"
    sim = Simulator(scenario="asymmetry", n_channels=3, fs_hz=FS, seed=9)
    meta = SessionMeta(FS, ("trap L", "trap R", "TFL R"), sim.calibration, board="uno-myoware2")
    # Keyed by stream index: the second gap follows the first one's 1234 missing samples.
    gaps = {50_000: Gap(50_000, 1234, "crc"), 171_234: Gap(171_234, 77, "unplug")}
    return db, write_session(db, meta, sim.next_counts(240_000), gaps, chunk=1000)


def test_streaming_analysis_equals_the_whole_array_analysis(capsys, tmp_path, long_session):
    """analyze reads in blocks (session, CSV, EDF); every number equals analyse() on the
    whole recording, whatever the block size."""
    from emgfeedback.analysis.streaming import analyse_source
    from emgfeedback.analysis.summary import analyse, json_ready
    from emgfeedback.analysis.units import to_uv
    from emgfeedback.io.recordings import open_recording, open_session

    db, sid = long_session
    sources = {"session": lambda: open_session(db, sid)}
    for fmt in ("csv", "edf"):
        out = tmp_path / f"long.{fmt}"
        assert run_cli(capsys, "export", "--session", sid, "--db", db, "--format", fmt,
                       "--out", out)[0] == 0
        sources[fmt] = lambda out=out: open_recording(out)
    for fmt, opener in sources.items():
        rec = opener().read()
        x, emg = to_uv(rec)
        kinds = [rec.meta.get("output_kinds", {}).get(n, "raw") for n in rec.channel_names]
        whole = json_ready(analyse(x, rec.fs_hz, rec.channel_names, is_emg=emg,
                                   output_kinds=kinds))
        assert sum(len(c["onsets_s"]) for c in whole["channels"]) > 20, fmt
        for block_windows in (3, 16):
            src = opener()
            blocked = json_ready(analyse_source(src, src.fs_hz, output_kinds=kinds,
                                                block_windows=block_windows))
            _compare(whole, blocked, f"{fmt}/{block_windows}")
            assert [g["n_samples"] for g in src.gaps] == [1234, 77], fmt
        if fmt == "session":
            session_whole = whole
    # And the command itself (which reads long recordings in blocks) gives the same.
    res = analyze_json(capsys, db, "--session", sid)
    _compare(session_whole, {k: res[k] for k in session_whole})


MEMORY_PROBE = """
import resource, sys
from emgfeedback.io.recordings import open_recording
from emgfeedback.analysis.streaming import analyse_source

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux

src = open_recording(sys.argv[1])          # warm up: imports, compiled kernels, buffers
analyse_source(src, src.fs_hz)
floor = peak_mb()
src = open_recording(sys.argv[2])
res = analyse_source(src, src.fs_hz)
print(floor, peak_mb(), res["duration_s"], sum(len(c["onsets_s"]) for c in res["channels"]))
"""


def _write_csv(path, n_channels: int, seconds: float, seed: int) -> None:
    sim = Simulator(scenario="drill", n_channels=n_channels, fs_hz=FS, seed=seed)
    n = int(seconds * FS)
    with open(path, "w") as fh:
        fh.write(f"# fs_hz: {FS:g}\ntime_s," + ",".join(
            f"m{c}_uV" for c in range(n_channels)) + "\n")
        for a in range(0, n, 100_000):
            m = min(100_000, n - a)
            uv = counts_to_uv(sim.next_counts(m), sim.calibration)
            t = (np.arange(a, a + m) / FS)[:, None]
            np.savetxt(fh, np.hstack([t, uv]), fmt=["%.4f"] + ["%.10g"] * n_channels,
                       delimiter=",")


def test_streaming_analysis_memory_is_bounded(tmp_path):
    """8 channels x 10 min at 2 kHz (64 MB of CSV): the analysis holds at most 3x the
    samples' int16 size above what a 30 s file of the same layout needs (measured as the
    peak RSS in a fresh process; no timing)."""
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    _write_csv(small, 8, 30.0, 1)
    _write_csv(big, 8, 600.0, 2)
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(small), str(big)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    floor_mb, peak_mb, duration_s, n_onsets = map(float, proc.stdout.split())
    assert duration_s == 600.0 and n_onsets > 100
    int16_mb = 8 * 600 * FS * 2 / 2**20
    assert peak_mb - floor_mb <= 3 * int16_mb, (floor_mb, peak_mb, int16_mb)


def test_saved_set_ups_are_per_device_and_survive_a_gui_save(tmp_path):
    from emgfeedback.gui.settings import (
        SubjectSetup,
        load_subject,
        resolve_channels,
        save_subject,
    )

    cfg = tmp_path / "cfg"
    got = resolve_channels("S1", "uno-myoware2", ("A0", "A1"), names=("glute med R", "TFL R"),
                           sides=("R", "r"), directory=cfg)
    assert got.origin == "given" and got.sides == ("right", "right")
    # The same device reporting other names (text framing A0/A1, emgf ch1/ch2): saved names.
    again = resolve_channels("S1", "uno-myoware2", ("ch1", "ch2"), directory=cfg)
    assert again.names == ("glute med R", "TFL R") and again.origin == "saved"
    # Another device with four channels: its own names, not a wrong-length set-up.
    other = resolve_channels("S1", "esp32-myoware2", ("a", "b", "c", "d"), directory=cfg)
    assert other.names == ("a", "b", "c", "d") and other.origin == "source"
    # The GUI saves a flat set-up; the CLI's device set-ups are kept.
    save_subject(SubjectSetup("S1", ["x", "y"], ["", ""], ["", ""], [1.0, 2.0], []), cfg)
    assert load_subject("S1", cfg).devices["uno-myoware2"]["channel_names"] == [
        "glute med R", "TFL R"]
    assert resolve_channels("S1", "uno-myoware2", ("A0", "A1"), directory=cfg).names == (
        "glute med R", "TFL R")
    # Bad input is a clear error.
    from emgfeedback.errors import ConfigError

    with pytest.raises(ConfigError, match="unique"):
        resolve_channels("S1", "b", ("a", "b"), names=("x", "x"), directory=cfg)
    with pytest.raises(ConfigError, match="side"):
        resolve_channels("S1", "b", ("a", "b"), sides=("up", ""), directory=cfg)


def test_env_board_exports_keep_the_output_kind(capsys, tmp_path):
    """An ENV board's session, exported and analysed: the files say 'env', so the
    envelope is not band-passed again and the numbers match analyze --session."""
    db = tmp_path / "env.sqlite"
    url = "sim://?board=uno-myoware2-env&scenario=drill&channels=2&pace=fast&seed=4"
    code, _, err = run_subprocess("record", "--source", url, "--seconds", 25, "--db", db,
                                  "--names", "VMO L,VMO R")
    assert code == 0, err
    ref = analyze_json(capsys, db, "--session", 1)
    assert [c["output"] for c in ref["channels"]] == ["env", "env"]
    for fmt in ("csv", "edf"):
        out = tmp_path / f"env.{fmt}"
        assert run_cli(capsys, "export", "--session", 1, "--db", db, "--format", fmt,
                       "--out", out)[0] == 0
        res = analyze_json(capsys, out)
        assert [c["output"] for c in res["channels"]] == ["env", "env"], fmt
        for a, b in zip(res["channels"], ref["channels"], strict=True):
            assert a["onsets_s"] == pytest.approx(b["onsets_s"], abs=0.6 / FS), fmt
            assert a["peak_envelope_uv"] == pytest.approx(b["peak_envelope_uv"], rel=1e-3)
            assert a["static_level_p10_uv"] == pytest.approx(b["static_level_p10_uv"],
                                                             rel=1e-3), fmt
