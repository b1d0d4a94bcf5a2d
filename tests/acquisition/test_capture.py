"""The board check (``capture``): the summary's keys and values from the typed statistics,
the tally, and the CSV written by the command."""

from __future__ import annotations

import json

from emgfeedback.acquisition.capture import CaptureTally, capture_stream, capture_summary
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import open_source
from emgfeedback.cli import main

SUMMARY_KEYS = ["source", "framing", "seconds", "samples", "lost_samples", "lost_by_cause",
                "gaps_by_cause", "crc_errors", "format_errors", "bytes_skipped", "reconnects",
                "no_data_events", "unplugs", "no_data_s", "state", "fs_hz_nominal",
                "fs_hz_measured", "board", "channels", "out"]


def test_capture_stream_tallies_every_sample_and_the_ranges():
    url = "sim://?channels=3&fs=1000&scenario=drill&seed=2&pace=fast&seconds=2"
    with open_source(url) as src:
        tally = CaptureTally(src.info.n_channels)
        src.start()
        elapsed = capture_stream(src, 60.0, tally.add)
        tally.close_window()
        stats = src.stats()
        summary = capture_summary(url, src.info, stats, tally, elapsed, None)
    expected = Simulator("drill", 3, 1000.0, seed=2).next_counts(2000)
    assert list(summary) == SUMMARY_KEYS
    assert summary["samples"] == tally.samples == 2000 and summary["lost_samples"] == 0
    assert summary["framing"] == "sim" and summary["state"] == "finished"
    assert [c["min"] for c in summary["channels"]] == expected.min(axis=0).tolist()
    assert [c["max"] for c in summary["channels"]] == expected.max(axis=0).tolist()
    assert summary["lost_by_cause"] == {} and summary["gaps_by_cause"] == {}


def test_capture_command_prints_the_summary_and_writes_the_samples(tmp_path, capsys):
    out = tmp_path / "cap.csv"
    url = "sim://?channels=2&fs=500&seed=1&pace=fast&seconds=1"
    assert main(["capture", "--source", url, "--seconds", "30", "--json", "--quiet",
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary) == SUMMARY_KEYS
    assert summary["samples"] == 500 and summary["out"] == str(out)
    lines = [line.split(",") for line in out.read_text().splitlines()
             if not line.startswith("#")]
    assert lines[0][0] == "index" and len(lines) == 501
    assert all(len(row) == 3 for row in lines)
    assert [int(row[0]) for row in lines[1:]] == list(range(500))
