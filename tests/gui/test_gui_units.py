"""Display pieces: peak summary, feedback canvas colours, settings files, latency meter."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emgfeedback.errors import ConfigError
from emgfeedback.gui.latency import LatencyMeter
from emgfeedback.gui.settings import (
    Settings,
    SubjectSetup,
    load_settings,
    load_subject,
    save_settings,
    save_subject,
)
from emgfeedback.gui.traces import PeakDecimator


def _summary(fs, window_s, n_bins, blocks):
    dec = PeakDecimator(2, fs, window_s, n_bins)
    for first, f, e in blocks:
        dec.push(first, f, e)
    dec.render()
    return dec


def test_peak_summary_is_the_same_for_any_block_sizes_and_keeps_a_one_sample_spike():
    rng = np.random.default_rng(0)
    fs, n = 1000.0, 7321
    f = rng.normal(size=(n, 2))
    e = np.abs(rng.normal(size=(n, 2)))
    f[5000, 1] = 80.0  # a single-sample spike must reach its full height
    whole = _summary(fs, 5.0, 500, [(0, f, e)])
    cuts = np.sort(rng.choice(np.arange(1, n), size=60, replace=False))
    parts = np.split(np.arange(n), cuts)
    pieces = _summary(fs, 5.0, 500, [(int(p[0]), f[p], e[p]) for p in parts])
    assert np.array_equal(whole.y_peak, pieces.y_peak, equal_nan=True)
    assert np.array_equal(whole.y_env, pieces.y_env, equal_nan=True)
    assert np.nanmax(whole.y_peak[1]) == 80.0
    # The summary of the newest window is exact: min/max of each bin of raw samples.
    b = whole.bin_size
    last_full = (n // b) * b
    assert whole.y_peak[0, -4] == f[last_full - b:last_full, 0].min()
    assert whole.y_peak[0, -3] == f[last_full - b:last_full, 0].max()
    assert whole.y_peak[0, -1] == f[last_full:, 0].max()


def test_a_gap_in_the_indices_breaks_the_line():
    fs = 100.0
    f = np.ones((300, 2))
    dec = _summary(fs, 10.0, 100, [(0, f, f), (500, f, f)])
    assert np.isnan(dec.y_peak[0]).any()
    assert dec.end_index == 800


def test_feedback_canvas_paints_the_met_colour_only_when_the_goal_is_met(qtbot):
    from pyqtgraph.Qt import QtGui

    from emgfeedback.gui import palette
    from emgfeedback.gui.feedback import CueCanvas, FeedbackModel
    from emgfeedback.runtime.live_session import Goals

    model = FeedbackModel(["glute med R", "TFL R"], 1000.0)
    goals = Goals([5.0, 5.0], [math.nan, math.nan], up_factor=3.0)
    canvas = CueCanvas(model)
    qtbot.addWidget(canvas)
    canvas.resize(400, 400)

    def count(colour: str) -> int:
        img = canvas.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB32)
        ptr = img.constBits()
        ptr.setsize(img.sizeInBytes())
        px = np.frombuffer(ptr, np.uint32).reshape(img.height(), img.bytesPerLine() // 4)
        want = QtGui.QColor(colour).rgb() & 0xFFFFFF
        return int(((px & 0xFFFFFF) == want).sum())

    model.update_levels(np.array([12.0, 3.0]), 1000, goals)  # goal 15 µV: not met
    assert not model.met and count(palette.MET) == 0 and count(palette.WORKING) > 100
    model.update_levels(np.array([16.0, 3.0]), 1010, goals)
    assert model.met and count(palette.MET) > 100
    assert model.transitions == [(1010, 0, True)]


def test_settings_and_subject_setups_round_trip_and_bad_files_are_named(tmp_path):
    s = Settings(last_source="sim://?channels=4", window_s=20.0, mode="symmetry")
    save_settings(s, tmp_path)
    assert load_settings(tmp_path) == s
    setup = SubjectSetup("S01", ["glute med R", "TFL R"], ["gluteus medius",
                                                           "tensor fasciae latae"],
                         ["right", "right"], [4.2, float("nan")], [])
    path = save_subject(setup, tmp_path)
    assert json.loads(path.read_text())["baseline_uv"] == [4.2, None]
    back = load_subject("S01", tmp_path)
    assert back.channel_names == setup.channel_names and back.baseline_uv == [4.2, None]
    (tmp_path / "settings.json").write_text('{"window_s": 10,\n "colour": 1}')
    with pytest.raises(ConfigError, match="settings.json.*unknown key.*colour"):
        load_settings(tmp_path)
    (tmp_path / "settings.json").write_text('{"window_s": 10,,}')
    with pytest.raises(ConfigError, match=r"settings.json: line 1"):
        load_settings(tmp_path)


def test_latency_counts_each_chunk_once_at_the_first_frame_that_shows_it():
    m = LatencyMeter()
    m.arrived([(100, 10.000), (200, 10.005)])
    m.drawn_up_to(150)  # the frame shows the first chunk only
    m.painted(10.020)
    m.arrived([(300, 10.030)])
    m.drawn_up_to(300)
    m.painted(10.040)
    m.painted(10.056)  # a repaint without new data adds nothing
    assert [round(v, 3) for v in m.latencies_ms] == [20.0, 35.0, 10.0]
    assert m.frames == 3
