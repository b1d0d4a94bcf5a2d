"""``emgfeedback analyze`` end to end, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "emgfeedback", "analyze", *args],
                          capture_output=True, text=True, timeout=120)


def test_json_on_uci_excerpt(tmp_path):
    png = tmp_path / "plot.png"
    proc = _run(str(DATA / "uci_3Amar_excerpt.txt"), "--json", "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["fs_hz"] == 1000.0
    assert [c["name"] for c in out["channels"]] == [
        "Recto Femoral", "Biceps Femoral", "Vasto Medial", "EMG Semitendinoso"]
    assert out["skipped_channels"] == ["Flexo-Extension"]
    for ch in out["channels"]:
        for key in ("onsets_s", "offsets_s", "resting_tone_uv", "noise_floor_uv",
                    "tone_valid", "quality"):
            assert key in ch
        assert len(ch["onsets_s"]) == len(ch["offsets_s"])
        assert all(0 <= t <= 4.0 for t in ch["onsets_s"])
        assert ch["noise_floor_uv"] > 0  # from the file's 0.1 µV-ish resolution
    assert "timing" in out and "symmetry" in out
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_text_report_and_channel_selection():
    proc = _run(str(DATA / "biosppy_emg_1_excerpt.txt"), "--units", "counts",
                "--detector", "hodges_bui")
    assert proc.returncode == 0, proc.stderr
    assert "resting tone" in proc.stdout and "bursts" in proc.stdout
    proc = _run(str(DATA / "uci_3Amar_excerpt.txt"), "--channels", "Vasto Medial", "--json")
    out = json.loads(proc.stdout)
    assert [c["name"] for c in out["channels"]] == ["Vasto Medial"]
    assert "timing" not in out


def test_errors_are_clear(tmp_path):
    p = tmp_path / "nofs.csv"
    p.write_text("a,b\n" + "".join(f"{i % 3},{i % 5}\n" for i in range(3000)))
    proc = _run(str(p))
    assert proc.returncode == 2
    assert "pass --fs" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run(str(DATA / "uci_3Amar_excerpt.txt"), "--channels", "Gluteus")
    assert proc.returncode == 2 and "no channel 'Gluteus'" in proc.stderr


def _drill_csv(path, names):
    import numpy as np

    from emgfeedback.acquisition.boards import counts_to_uv
    from emgfeedback.acquisition.simulator import Simulator

    sim = Simulator(scenario="drill", n_channels=len(names), fs_hz=1000.0, seed=3)
    uv = counts_to_uv(sim.next_counts(12_000), sim.calibration)
    cols = ",".join(n.replace(" ", "_") + "_uV" for n in names)
    path.write_text("# fs_hz: 1000\n" + "".join(
        f"# channel {i}: {n}; units: uV\n" for i, n in enumerate(names)) + cols + "\n"
        + "".join(",".join(repr(v) for v in row) + "\n" for row in uv.tolist()))
    return np


def test_symmetry_pairs_only_the_same_placement_left_and_right(tmp_path):
    """glute med R and TFL R are not a pair (b47e085 paired consecutive channels)."""
    p = tmp_path / "same_side.csv"
    _drill_csv(p, ["glute med R", "TFL R"])
    proc = _run(str(p), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["symmetry"] == []
    text = _run(str(p)).stdout
    assert "symmetry glute med R / TFL R" not in text and "\nsymmetry " not in text
    p = tmp_path / "pair.csv"
    _drill_csv(p, ["glute med L", "TFL R", "glute med R"])
    out = json.loads(_run(str(p), "--json").stdout)
    assert [(s["left"], s["right"]) for s in out["symmetry"]] == [("glute med L",
                                                                  "glute med R")]


def test_symmetry_pairs_from_names_placements_and_sides():
    from emgfeedback.analysis.symmetry import symmetry_pairs

    assert symmetry_pairs(["glute med R", "TFL R"]) == []
    assert symmetry_pairs(["L trap", "R trap"]) == [(0, 1, "trap")]
    assert symmetry_pairs(["biceps_r", "biceps_l"]) == [(1, 0, "biceps")]
    assert symmetry_pairs(["ch1", "ch2"]) == []  # no sides: nothing to compare
    assert symmetry_pairs(["ch1", "ch2", "ch3"], ["upper trapezius", "upper trapezius", "TFL"],
                          ["left", "right", "right"]) == [(0, 1, "upper trapezius")]
    # Sides given but different placements: not a pair.
    assert symmetry_pairs(["a", "b"], ["gluteus medius", "TFL"], ["left", "right"]) == []
