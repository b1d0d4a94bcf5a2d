"""The variance-change (CUSUM + maximum-likelihood) onset detector.

Signals here are made in the test: white background plus band-limited bursts with known
onsets, so every assertion is against an exact ground truth.
"""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.analysis.offline import detect_bursts
from emgfeedback.analysis.onset_glr import GlrConfig, GlrOnsetDetector, detect_glr
from emgfeedback.dsp import process_offline
from emgfeedback.errors import ConfigError
from emgfeedback.runtime.processor import default_pipeline_config


@pytest.fixture
def recording(burst_signal_uv):
    """``recording(fs_hz, snr_db, seed, onsets_s, burst_s=1.0, ramp_s=0.0, duration_s=12.0,
    start_active=False)``: band-passed µV with bursts, and the onset indices."""

    def make(fs_hz, snr_db, seed, onsets_s, burst_s=1.0, ramp_s=0.0, duration_s=12.0,
             start_active=False):
        spans = [(0.0, burst_s)] if start_active else []
        spans += [(t, t + burst_s) for t in onsets_s]
        raw = burst_signal_uv(fs_hz, snr_db, seed, spans, duration_s, ramp_s)
        x, _ = process_offline(raw[:, None], default_pipeline_config(fs_hz))
        return x, np.array([int(t * fs_hz) for t in onsets_s])

    return make


@pytest.mark.parametrize("fs_hz", [500.0, 1000.0, 2000.0])
def test_bursts_at_6_db_are_found_once_each_and_placed_close(recording, fs_hz):
    onsets = [3.0, 4.7, 6.1, 8.4, 10.0]
    x, truth = recording(fs_hz, 6.0, 1, onsets, burst_s=0.8)
    rest = np.zeros(len(x), bool)
    rest[: int(2.5 * fs_hz)] = True
    bursts = detect_glr(x, fs_hz, rest=rest)[0]
    assert len(bursts) == len(truth)
    err_ms = (bursts[:, 0] - truth) * 1000 / fs_hz
    assert np.median(np.abs(err_ms)) < 25.0
    assert np.all(bursts[:, 1] > bursts[:, 0])


def test_the_same_events_whatever_the_chunking(recording):
    fs = 2000.0
    x, _ = recording(fs, 3.0, 2, [3.0, 5.0, 7.5], ramp_s=0.1)
    whole = GlrOnsetDetector(GlrConfig(), 1, fs).process(x, 0)
    assert whole, "the bursts were not found"
    rng = np.random.default_rng(7)
    for _ in range(3):
        det = GlrOnsetDetector(GlrConfig(), 1, fs)
        parts, i = [], 0
        while i < len(x):
            n = int(rng.integers(1, 500))
            parts += det.process(x[i:i + n], i)
            i += n
        assert parts == whole


def test_pure_rest_gives_no_false_alarm_in_ten_minutes():
    fs = 1000.0
    rng = np.random.default_rng(3)
    x, _ = process_offline(rng.standard_normal((int(600 * fs), 1)) * 5.0,
                           default_pipeline_config(fs))
    events = GlrOnsetDetector(GlrConfig(), 1, fs).process(x, 0)
    assert [e for e in events if e.kind == "on"] == []


def test_a_stream_that_starts_mid_contraction_is_active_at_once_with_an_unknown_onset(recording):
    fs = 2000.0
    x, truth = recording(fs, 10.0, 4, [3.5, 6.0], burst_s=0.8, start_active=True)
    events = GlrOnsetDetector(GlrConfig(), 1, fs).process(x, 0)
    first = events[0]
    assert first.kind == "on" and first.unknown and first.index == 0
    assert first.detected_index < int(2.0 * fs)  # within the learning window, not at the end
    off = events[1]
    assert off.kind == "off" and abs(off.index - int(0.8 * fs)) < int(0.15 * fs)
    later = [e.index for e in events if e.kind == "on" and not e.unknown]
    assert len(later) == len(truth)
    assert np.all(np.abs(np.array(later) - truth) < int(0.05 * fs))


def test_offline_detect_bursts_offers_it_by_name(recording):
    fs = 1000.0
    x, truth = recording(fs, 10.0, 5, [3.0, 6.0])
    rest = np.zeros(len(x), bool)
    rest[: int(2.5 * fs)] = True
    by_name = detect_bursts(x, fs, "glr", rest=rest)
    direct = detect_glr(x, fs, rest=rest)
    assert np.array_equal(by_name[0], direct[0]) and len(direct[0]) == len(truth)


@pytest.mark.parametrize("bad", [{"design_ratio": 1.0}, {"h_on": 0.0}, {"ar_order": 40},
                                 {"quiet_ratio": 1.5}, {"block_s": float("nan")},
                                 {"confirm_fast_ratio": 0.5}])
def test_bad_parameters_are_refused_with_the_name(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        GlrConfig(**bad)


def test_the_two_stage_confirmation_emits_a_strong_burst_sooner_at_the_same_place(recording):
    fs = 2000.0
    x, truth = recording(fs, 20.0, 6, [3.0, 5.5, 8.0])
    rest = x[int(0.5 * fs):int(2.5 * fs)]
    out = {}
    for ratio in (float("inf"), 4.0):
        det = GlrOnsetDetector(GlrConfig(confirm_fast_ratio=ratio), 1, fs)
        det.learn_rest(rest)
        out[ratio] = [e for e in det.process(x, 0) if e.kind == "on"]
    slow, fast = out[float("inf")], out[4.0]
    assert len(slow) == len(fast) == len(truth)
    for s, f in zip(slow, fast, strict=True):
        assert abs(f.index - s.index) <= int(0.01 * fs)
        assert f.detected_index <= s.detected_index - int(0.03 * fs)  # >= 30 ms sooner


def test_a_slow_rise_is_confirmed_from_its_change_point_sooner_than_from_the_alarm(recording):
    fs = 1000.0
    x, truth = recording(fs, 10.0, 8, [3.0, 5.5, 8.0], ramp_s=0.3)
    rest = x[int(0.5 * fs):int(2.5 * fs)]
    out = {}
    for from_change in (False, True):
        det = GlrOnsetDetector(GlrConfig(confirm_from_change=from_change), 1, fs)
        det.learn_rest(rest)
        out[from_change] = [e for e in det.process(x, 0) if e.kind == "on"]
    late, soon = out[False], out[True]
    assert len(late) == len(soon) == len(truth)
    gain = [a.detected_index - b.detected_index for a, b in zip(late, soon, strict=True)]
    assert min(gain) >= 0  # never later
    assert np.mean(gain) >= 0.02 * fs  # >= 20 ms sooner on average
    for a, b in zip(late, soon, strict=True):
        assert abs(a.index - b.index) <= int(0.03 * fs)


@pytest.mark.parametrize("fs_hz", [1000.0, 2000.0])
def test_counting_from_the_change_point_lets_no_more_short_transients_through(fs_hz):
    # 30 ms bursts every 2 s on rest (a QRS or a movement spike, not a contraction). Loud
    # ones pass either confirmation (a known limit); the change-point count must not let
    # through any that the alarm-counted confirmation rejects.
    rng = np.random.default_rng(5)
    n = int(60 * fs_hz)
    x = rng.standard_normal(n) * 5.0
    k = int(0.03 * fs_hz)
    for i in range(int(3 * fs_hz), n - k, int(2 * fs_hz)):
        x[i:i + k] += rng.standard_normal(k) * 10.0 * np.hanning(k)
    y, _ = process_offline(x[:, None], default_pipeline_config(fs_hz))
    count = {}
    for from_change in (False, True):
        det = GlrOnsetDetector(GlrConfig(confirm_from_change=from_change), 1, fs_hz)
        det.learn_rest(y[int(0.5 * fs_hz):int(2.5 * fs_hz)])
        count[from_change] = sum(e.kind == "on" for e in det.process(y, 0))
    assert count[False] <= 2  # the transients are mostly rejected at all
    assert count[True] <= count[False]
