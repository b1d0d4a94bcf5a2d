"""A stream or file that begins during a contraction, with the default (streaming) detector.

Expected everywhere (detector, ``analyze``, the engine): the channel is reported active
with an onset flagged ``unknown`` at the stream's first sample, then the contraction's
offset and every later onset are found normally. Signals are made here, with exact truth:
white background plus band-limited bursts, through the project's real band-pass.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emgfeedback.acquisition.boards import get_board
from emgfeedback.acquisition.source import Chunk, Source, SourceInfo
from emgfeedback.analysis.onset import OnsetConfig, OnsetDetector, baseline_from_rest
from emgfeedback.dsp import process_offline
from emgfeedback.runtime import Engine
from emgfeedback.runtime.processor import default_pipeline_config

FS = 2000.0


@pytest.fixture
def raw_bursts(burst_signal_uv):
    """``raw_bursts(fs_hz, snr_db, seed, head_s, onsets_s, burst_s=0.8, duration_s=10.0)``:
    raw µV with a contraction from sample 0 lasting ``head_s`` (0: none), then bursts; and
    the onset indices."""

    def make(fs_hz, snr_db, seed, head_s, onsets_s, burst_s=0.8, duration_s=10.0):
        spans = ([(0.0, head_s)] if head_s else []) + [(t, t + burst_s) for t in onsets_s]
        raw = burst_signal_uv(fs_hz, snr_db, seed, spans, duration_s)
        return raw, np.array([int(t * fs_hz) for t in onsets_s])

    return make


def _filtered(raw, fs_hz):
    return process_offline(raw[:, None], default_pipeline_config(fs_hz))[0]


def _given_baseline(raw_bursts, det, fs_hz):
    rest, _ = raw_bursts(fs_hz, 10.0, 99, 0.0, [], duration_s=4.0)
    det.set_baseline(*baseline_from_rest(_filtered(rest, fs_hz)[int(0.5 * fs_hz):], fs_hz))


def _check(events, truth, head_s, fs_hz, detected_by_s):
    first, off = events[0], events[1]
    assert first.kind == "on" and first.unknown and first.index == 0, events[:2]
    assert first.detected_index <= detected_by_s * fs_hz
    assert off.kind == "off" and not off.unknown
    assert abs(off.index - head_s * fs_hz) <= 0.1 * fs_hz, off
    later = np.array([e.index for e in events[2:] if e.kind == "on"])
    assert not any(e.unknown for e in events[2:])
    assert len(later) == len(truth)
    assert np.all(np.abs(later - truth) <= 0.05 * fs_hz)


@pytest.mark.parametrize("head_s, detected_by_s", [(0.8, 1.3), (2.5, 3.3)])
def test_learned_baseline_a_start_mid_contraction_gives_an_unknown_onset(raw_bursts, head_s,
                                                                        detected_by_s):
    # 0.8 s: the contraction ends inside the 1 s learning window and is found when it
    # closes; 2.5 s: it fills the window, and is recognised when a quieter half second
    # follows (the learned "rest" was the contraction).
    raw, truth = raw_bursts(FS, 10.0, 4, head_s, [4.0, 6.0, 8.0])
    det = OnsetDetector(OnsetConfig(), 1, FS)
    events = det.process(_filtered(raw, FS), 0)
    _check(events, truth, head_s, FS, detected_by_s)


@pytest.mark.parametrize("fs_hz", [1000.0, 2000.0])
def test_given_baseline_the_channel_is_active_at_once(raw_bursts, fs_hz):
    raw, truth = raw_bursts(fs_hz, 6.0, 5, 1.5, [3.5, 6.0, 8.0])
    x = _filtered(raw, fs_hz)
    det = OnsetDetector(OnsetConfig(), 1, fs_hz)
    _given_baseline(raw_bursts, det, fs_hz)
    # Active within 100 ms of the end of the filters' settling (the moving window is full).
    cut = int((OnsetConfig().settle_s + 0.1) * fs_hz)
    early = det.process(x[:cut], 0)
    assert len(early) == 1 and early[0].unknown and det.active[0]
    events = early + det.process(x[cut:], cut)
    _check(events, truth, 1.5, fs_hz, 0.35)


@pytest.mark.parametrize("given", [False, True])
def test_a_stream_that_starts_at_rest_has_no_unknown_onset(raw_bursts, given):
    raw, truth = raw_bursts(FS, 6.0, 6, 0.0, [1.5, 4.0, 6.5])
    det = OnsetDetector(OnsetConfig(), 1, FS)
    if given:
        _given_baseline(raw_bursts, det, FS)
    events = det.process(_filtered(raw, FS), 0)
    assert not any(e.unknown for e in events)
    if given:  # a learned baseline is still learning during the first burst
        found = np.array([e.index for e in events if e.kind == "on"])
        assert len(found) == len(truth) and np.all(np.abs(found - truth) <= 0.05 * FS)


@pytest.mark.parametrize("start_s", [0.5, 0.8])
def test_a_burst_inside_the_learning_window_is_not_a_start_mid_contraction(raw_bursts, start_s):
    # It inflates the learned baseline; the quieter rest after it replaces the baseline
    # without any event (the burst began after the stream did, so no unknown onset).
    raw, truth = raw_bursts(FS, 10.0, 11, 0.0, [start_s, 4.0, 6.0, 8.0], burst_s=0.4)
    events = OnsetDetector(OnsetConfig(), 1, FS).process(_filtered(raw, FS), 0)
    assert not any(e.unknown for e in events)
    found = np.array([e.index for e in events if e.kind == "on"])
    assert len(found) == 3 and np.all(np.abs(found - truth[1:]) <= 0.05 * FS)


@pytest.mark.parametrize("head_s", [0.8, 2.5])
def test_the_same_events_whatever_the_chunking(raw_bursts, head_s):
    raw, _ = raw_bursts(FS, 10.0, 7, head_s, [4.0, 6.0])
    x = _filtered(raw, FS)
    whole = OnsetDetector(OnsetConfig(), 1, FS).process(x, 0)
    assert whole[0].unknown
    rng = np.random.default_rng(1)
    det = OnsetDetector(OnsetConfig(), 1, FS)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 900))
        parts += det.process(x[i:i + n], i)
        i += n
    assert parts == whole


def test_analyze_reports_a_file_that_starts_mid_contraction(raw_bursts, tmp_path):
    raw, truth = raw_bursts(1000.0, 10.0, 8, 1.2, [4.0, 6.5], duration_s=12.0)
    path = tmp_path / "mid.csv"
    t = np.arange(len(raw)) / 1000.0
    with open(path, "w") as fh:
        fh.write("# fs_hz: 1000\ntime_s,biceps_uV\n")
        np.savetxt(fh, np.column_stack([t, raw]), fmt=["%.4f", "%.4f"], delimiter=",")
    proc = subprocess.run([sys.executable, "-m", "emgfeedback", "analyze", str(path), "--json"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    ch = json.loads(proc.stdout)["channels"][0]
    assert ch["onsets_s"][0] == 0.0  # the first sample: the onset is not known
    assert ch["onset_unknown"] == [True] + [False] * len(truth)
    assert abs(ch["offsets_s"][0] - 1.2) <= 0.1
    assert np.allclose(ch["onsets_s"][1:], truth / 1000.0, atol=0.05)
    text = subprocess.run([sys.executable, "-m", "emgfeedback", "analyze", str(path)],
                          capture_output=True, text=True, timeout=180)
    assert text.returncode == 0, text.stderr
    assert "active from the start (onset unknown)" in text.stdout


def test_timing_leaves_out_an_onset_that_is_not_known(raw_bursts):
    """Two muscles, the first already active when the recording began: the repetitions
    that timing and firing order see are only the real onsets (no repetition at 0 s)."""
    from emgfeedback.analysis.summary import analyse

    first, truth = raw_bursts(1000.0, 15.0, 21, 1.5, [4.0, 7.0], duration_s=10.0)
    second, _ = raw_bursts(1000.0, 15.0, 22, 0.0, [4.03, 7.03], duration_s=10.0)
    result = analyse(np.column_stack([first, second]), 1000.0, ["glute med", "TFL"])
    assert result["channels"][0]["onset_unknown"][0] is True
    reps = result["timing"]["repetitions"]
    assert len(reps) == len(truth)
    for rep, t in zip(reps, truth / 1000.0, strict=True):
        assert min(rep["onsets_s"].values()) == pytest.approx(t, abs=0.06)


class _ArraySource(Source):
    """A real Source that streams a prepared µV array in 50 ms chunks (a "uv" board)."""

    def __init__(self, uv: np.ndarray, fs_hz: float) -> None:
        super().__init__()
        cal = get_board("uv").calibration(1)
        self._info = SourceInfo("test://mid", fs_hz, ("biceps",), cal)
        self._counts = np.round(uv[:, None] / cal[0].uv_per_count).astype(np.int32)
        self._pos = 0
        self._chunk = int(0.05 * fs_hz)

    @property
    def info(self):
        return self._info

    def open(self):
        self._set_state("open")

    def start(self):
        self._set_state("streaming")

    def read(self, timeout_s=0.1):
        if self._pos >= len(self._counts):
            self._set_state("finished")
            return []
        a = self._pos
        self._pos = min(a + self._chunk, len(self._counts))
        return [Chunk(self._counts[a:self._pos], a, 0.0)]

    def stop(self):
        if self.state != "finished":
            self._set_state("stopped")

    def close(self):
        self._set_state("closed")

    def stats(self):
        return {"samples": self._pos, "lost_samples": 0, "gaps_by_cause": {}}


def test_the_engine_publishes_an_unknown_onset_for_a_stream_that_starts_mid_contraction(raw_bursts):
    raw, truth = raw_bursts(FS, 10.0, 9, 0.8, [4.0, 6.0, 8.0])
    engine = Engine(_ArraySource(raw, FS))
    blocks = []
    engine.add_listener(blocks.append)
    engine.run_to_end()
    engine.stop()
    events = [e for b in blocks for e in b.onsets]
    _check(events, truth, 0.8, FS, 1.3)
