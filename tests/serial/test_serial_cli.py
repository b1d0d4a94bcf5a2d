"""The commands as a user runs them: simulate-device and capture in subprocesses, ports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emgfeedback.acquisition.ports import guess_boards

CLI = [sys.executable, "-m", "emgfeedback"]


@pytest.fixture
def device_process():
    """Start ``simulate-device`` and return the path it prints first."""
    procs = []

    def start(*args: str) -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen([*CLI, "simulate-device", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        path = proc.stdout.readline().strip()
        assert path, proc.stderr.read()
        return proc, path

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def capture(url: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run([*CLI, "capture", "--source", url, *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done, json.loads(done.stdout)


def read_csv(path) -> tuple[list[str], np.ndarray, list[dict]]:
    """Header, rows as ADC counts (index, then channels) and gaps of a ``capture --out`` file.

    The file holds µV with the calibration in its header; converting back to counts with
    that calibration must give integers, which also checks the header is right.
    """
    header, rows, gaps, cal = None, [], [], {}
    for line in path.read_text().splitlines():
        if line.startswith("# gap "):
            gaps.append({k: (v if k == "cause" else int(v)) for k, v in
                         (field.split("=") for field in line[6:].split())})
        elif line.startswith("# channel "):
            fields = dict(f.split(": ", 1) for f in line.split(": ", 1)[1].split("; ")[1:])
            cal[int(line.split()[2].rstrip(":"))] = (float(fields["uv_per_count"]),
                                                     float(fields["offset_counts"]))
        elif line.startswith("#"):
            continue
        elif header is None:
            header = [h.removesuffix("_uV") for h in line.split(",")]
        else:
            rows.append([float(v) for v in line.split(",")])
    uv = np.array(rows, dtype=np.float64).reshape(-1, len(header))
    counts = uv.copy()
    for c, (step, offset) in cal.items():
        counts[:, 1 + c] = uv[:, 1 + c] / step + offset
    assert np.allclose(counts, np.round(counts), atol=1e-6), "µV are not whole counts"
    return header, np.round(counts).astype(np.int64), gaps


def test_capture_json_and_csv_from_the_virtual_device(device_process, tmp_path):
    _, path = device_process("--framing", "emgf", "--channels", "2", "--seconds", "20")
    out = tmp_path / "board.csv"
    done, summary = capture(f"serial://{path}?framing=emgf", "--seconds", "1.5",
                            "--out", str(out), "--json")
    for key in ("samples", "lost_samples", "crc_errors", "bytes_skipped", "reconnects",
                "fs_hz_measured", "framing"):
        assert key in summary
    assert summary["framing"] == "emgf" and summary["lost_samples"] == 0
    assert summary["samples"] > 2000
    assert summary["fs_hz_measured"] == pytest.approx(2000, rel=0.1)
    assert [c["name"] for c in summary["channels"]] == ["A0", "A1"]
    assert "Hz" in done.stderr  # the live line
    header, rows, gaps = read_csv(out)
    assert header == ["index", "A0", "A1"] and gaps == []
    assert rows.shape == (summary["samples"], 3)
    assert np.array_equal(rows[:, 0], np.arange(rows.shape[0]))
    lo = min(c["min"] for c in summary["channels"])
    hi = max(c["max"] for c in summary["channels"])
    assert rows[:, 1:].min() == lo and rows[:, 1:].max() == hi


def test_capture_writes_gaps_as_marked_rows(device_process, tmp_path):
    _, path = device_process("--framing", "emgf", "--channels", "1", "--scenario", "rest",
                             "--truncate-rate", "0.05", "--bit-flip-rate", "0.002",
                             "--seconds", "20")
    out = tmp_path / "lossy.csv"
    _, summary = capture(f"serial://{path}?framing=emgf", "--seconds", "1.5",
                         "--out", str(out), "--json", "--quiet")
    header, rows, gaps = read_csv(out)
    assert header == ["index", "A0"]
    assert gaps and summary["lost_samples"] == sum(g["n"] for g in gaps)
    assert summary["crc_errors"] > 0
    assert {g["cause"] for g in gaps} <= {"crc", "format", "counter"}
    # the index column plus the gaps cover the stream exactly once
    covered = np.zeros(rows[-1, 0] + 1, dtype=int)
    covered[rows[:, 0]] += 1
    for g in gaps:
        covered[g["start"]:g["start"] + g["n"]] += 1
    assert np.all(covered == 1)


def test_capture_survives_unplug_through_the_command_line(device_process, tmp_path):
    link = tmp_path / "emg0"
    proc, path = device_process("--framing", "emgf", "--channels", "2", "--link", str(link),
                                "--no-reset-on-open", "--unplug-after", "0.8",
                                "--replug-after", "0.5", "--seconds", "20")
    assert path == str(link)
    _, summary = capture(f"serial://{link}?framing=emgf&reset_wait=0.3", "--seconds", "2.5",
                         "--json", "--quiet")
    assert summary["reconnects"] == 1
    assert summary["gaps_by_cause"] == {"unplug": 1}
    assert summary["lost_by_cause"]["unplug"] >= 0.4 * 2000
    assert proc.stdout.readline().strip() == str(link)  # announced again on replug


def test_capture_reports_no_samples_with_exit_status_1(tmp_path):
    done = subprocess.run([*CLI, "capture", "--source", "serial:///dev/nonexistent-emg",
                           "--seconds", "1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "cannot open serial port" in done.stderr


def test_ports_command_and_board_guess():
    done = subprocess.run([*CLI, "ports", "--json"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    assert isinstance(json.loads(done.stdout), list)
    assert "uno-myoware2" in guess_boards(0x2341, 0x0043)
    assert "uno-myoware2" in guess_boards(0x1A86, 0x7523)  # CH340 clone
    assert guess_boards(0x1234, 0x5678) == ()
    assert guess_boards(None, None) == ()
