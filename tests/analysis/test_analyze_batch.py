"""``emgfeedback analyze DIR/ FILE ... --jobs N``: many recordings, each as a single run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "emgfeedback", "analyze", *args],
                          capture_output=True, text=True, timeout=600)


def test_a_directory_and_a_file_give_each_single_run_report_in_order(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    shutil.copy(DATA / "uci_3Amar_excerpt.txt", folder / "a_uci.txt")
    shutil.copy(DATA / "biosppy_emg_1_excerpt.txt", folder / "b_biosppy.txt")
    (folder / "c_short.csv").write_text("t,x\n" + "".join(f"{i / 1000},{i % 7}\n"
                                                          for i in range(200)))
    (folder / "notes.md").write_text("not a recording")
    extra = tmp_path / "extra.txt"
    shutil.copy(DATA / "uci_3Amar_excerpt.txt", extra)

    proc = _run(str(folder), str(extra), "--json", "--jobs", "2")
    assert proc.returncode == 1, proc.stderr  # one file failed; the others were analysed
    out = json.loads(proc.stdout)
    files = [Path(f["file"]).name for f in out["files"]]
    assert files == ["a_uci.txt", "b_biosppy.txt", "c_short.csv", "extra.txt"]
    assert (out["n_files"], out["n_failed"]) == (4, 1)
    bad = out["files"][2]
    assert not bad["ok"] and "Traceback" not in bad["error"] and bad["error"]
    for entry in (out["files"][0], out["files"][1], out["files"][3]):
        single = _run(entry["file"], "--json")
        assert single.returncode == 0, single.stderr
        assert entry["ok"] and entry["result"] == json.loads(single.stdout)
    # Progress: a line per finished file and a summary, on stderr only.
    assert proc.stderr.count("analyze: [") == 4
    assert "3 of 4 analysed" in proc.stderr and "1 failed" in proc.stderr


def test_text_reports_follow_the_input_order_and_options_pass_through(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    shutil.copy(DATA / "uci_3Amar_excerpt.txt", a)
    shutil.copy(DATA / "uci_3Amar_excerpt.txt", b)
    proc = _run(str(b), str(a), "--channels", "Vasto Medial", "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.index(f"=== {b}") < proc.stdout.index(f"=== {a}")
    assert proc.stdout.count("Vasto Medial") >= 2 and "Recto Femoral" not in proc.stdout


def test_batch_refuses_what_needs_one_file(tmp_path):
    a = tmp_path / "a.txt"
    shutil.copy(DATA / "uci_3Amar_excerpt.txt", a)
    proc = _run(str(a), str(a), "--plot", str(tmp_path / "p.png"))
    assert proc.returncode == 2 and "--plot draws one recording" in proc.stderr
    proc = _run(str(tmp_path), str(tmp_path / "missing.edf"))
    assert proc.returncode == 2 and "missing.edf: no such file" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _run(str(empty))
    assert proc.returncode == 2 and "no recording" in proc.stderr
    assert "Traceback" not in proc.stderr
