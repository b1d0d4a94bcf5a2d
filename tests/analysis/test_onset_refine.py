"""Maximum-likelihood onset of a variance ramp (analysis/onset_refine.py) and its use.

The kernel is checked on block sums drawn from the model's own distribution (scaled χ²
variables around an exact power profile), so the truth is exact; the detector's offline
refinement on band-passed bursts made in the test.
"""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.analysis.onset_glr import GlrConfig, GlrOnsetDetector, detect_glr
from emgfeedback.analysis.onset_glr_kernels import _shape, refine_ramp_onset
from emgfeedback.analysis.onset_refine import SHAPES, shape_codes
from emgfeedback.dsp import process_offline
from emgfeedback.errors import ConfigError
from emgfeedback.runtime.processor import default_pipeline_config

D = 4            # samples per block
TAU = 120        # true change block
RISE = 50        # rise length, blocks (200 ms at 4 ms blocks)
LEVEL = 100.0    # plateau, x rest (20 dB)
RAMPS = np.array([0, 12, 25, 38, 50, 62, 75], dtype=np.int64)


def _blocks(code, rng, n=200):
    """Block sums of ``D`` squared samples under a rise of shape ``code`` at ``TAU``."""
    v = np.ones(n)
    for j in range(TAU, n):
        u = j - TAU
        v[j] = LEVEL if u >= RISE else 1.0 + (LEVEL - 1.0) * _shape(code, (u + 0.5) / RISE)
    return v * rng.chisquare(D, n)


def _errors(code, shapes, ramps, reps=15):
    rng = np.random.default_rng(code + 10)
    post = np.empty(256)
    out = []
    for _ in range(reps):
        y = _blocks(code, rng)[None, :]
        hi = TAU + RISE + 15
        level = y[0, hi - 14:hi + 1].sum() / (15 * D)
        out.append(refine_ramp_onset(y, 0, y.shape[1], 0, hi, level, shapes, ramps, D, post)
                   - TAU)
    return np.array(out)


@pytest.mark.parametrize("name", ["linear", "cosine", "exponential"])
def test_the_ramp_model_finds_the_start_of_a_slow_rise_of_each_shape(name):
    code = int(shape_codes([name])[0])
    err = _errors(code, shape_codes(["linear", "cosine", "exponential"]), RAMPS)
    assert np.median(np.abs(err)) <= 3  # blocks of 4 ms


def test_a_step_places_a_slow_rise_late_and_the_right_shape_matters():
    code = int(shape_codes(["cosine"])[0])
    step = _errors(code, shape_codes(["linear"]), np.array([0], dtype=np.int64))
    linear = _errors(code, shape_codes(["linear"]), RAMPS)
    both = _errors(code, shape_codes(["linear", "cosine"]), RAMPS)
    # a raised-cosine rise puts almost no power in its first fifth: a step is late, a
    # linear rise less so, the model with the cosine least
    assert np.median(step) >= 8
    assert np.median(np.abs(both)) < np.median(np.abs(linear)) < np.median(np.abs(step))


def test_every_shape_rises_from_nothing_to_the_plateau():
    for code in shape_codes(SHAPES):
        assert _shape(code, 0.0) == pytest.approx(0.0, abs=1e-12)
        assert _shape(code, 1.0) == pytest.approx(1.0, abs=1e-12)
        vals = [_shape(code, u) for u in np.linspace(0, 1, 21)]
        assert np.all(np.diff(vals) >= 0)


def test_unknown_shapes_and_bad_refinement_settings_are_clear_errors():
    with pytest.raises(ConfigError, match="rise shape"):
        GlrConfig(ramp_shapes=("sigmoid",))
    with pytest.raises(ConfigError):
        GlrConfig(ramp_shapes=())
    with pytest.raises(ConfigError, match="offline_extra_s"):
        GlrConfig(offline_extra_s=-0.1)
    with pytest.raises(ConfigError, match="backdate_chain_s"):
        GlrConfig(backdate_chain_s=float("nan"))


def _ramped(burst_signal_uv, fs_hz, snr_db, seed, onsets_s, ramp_s, start_active=False):
    spans = [(0.0, 0.8)] if start_active else []
    spans += [(t, t + 0.8) for t in onsets_s]
    raw = burst_signal_uv(fs_hz, snr_db, seed, spans, 12.0, ramp_s)
    x, _ = process_offline(raw[:, None], default_pipeline_config(fs_hz))
    return x


def test_offline_refinement_moves_only_known_onsets_and_keeps_offsets(burst_signal_uv):
    fs = 2000.0
    onsets = [3.5, 5.5, 7.5, 9.5]
    x = _ramped(burst_signal_uv, fs, 10.0, 4, onsets, 0.2, start_active=True)
    det = GlrOnsetDetector(GlrConfig(), 1, fs)
    live = det.process(x, 0)
    offline = det.refine_offline(x, live)
    assert len(offline) == len(live)
    assert live[0].unknown and offline[0] == live[0]
    for a, b in zip(live, offline, strict=True):
        assert (a.kind, a.detected_index, a.delay_ms, a.unknown) == (b.kind, b.detected_index,
                                                                      b.delay_ms, b.unknown)
        if a.kind == "off":
            assert a.index == b.index
    assert sum(e.kind == "on" and not e.unknown for e in offline) == len(onsets)
    # without extra data the offline onsets are the live ones
    same = GlrOnsetDetector(GlrConfig(offline_extra_s=0.0), 1, fs)
    ev = same.process(x, 0)
    assert same.refine_offline(x, ev) == ev


def test_offline_onsets_of_slow_rises_are_close(burst_signal_uv):
    fs = 1000.0
    onsets = [3.5, 5.5, 7.5, 9.5]
    x = _ramped(burst_signal_uv, fs, 10.0, 4, onsets, 0.2)
    det = GlrOnsetDetector(GlrConfig(), 1, fs)
    det.learn_rest(x[int(0.25 * fs):int(3.0 * fs)])
    offline = det.refine_offline(x, det.process(x, 0))
    found = np.array([e.index for e in offline if e.kind == "on"])
    truth = np.array([int(t * fs) for t in onsets])
    assert len(found) == len(truth)
    assert np.median(np.abs(found - truth)) * 1000 / fs < 25.0


def test_detect_glr_reports_the_refined_onsets(burst_signal_uv):
    fs = 2000.0
    onsets = [3.0, 5.0, 7.0, 9.0]
    x = _ramped(burst_signal_uv, fs, 6.0, 5, onsets, 0.25)
    rest = np.zeros(len(x), bool)
    rest[: int(2.5 * fs)] = True
    bursts = detect_glr(x, fs, rest=rest)[0]
    plain = detect_glr(x, fs, rest=rest, offline_extra_s=0.0)[0]
    assert bursts.shape == plain.shape == (len(onsets), 2)
    assert np.array_equal(bursts[:, 1], plain[:, 1])
    err_ms = (bursts[:, 0] - np.array(onsets) * fs) * 1000 / fs
    assert np.median(np.abs(err_ms)) < 30.0


def test_holding_through_the_second_half_of_the_confirmation_rejects_heartbeats():
    # rest with a heartbeat (a triphasic QRS, 40 µV, 72 per minute) from the start, so the
    # rest model has seen it: with the second-half test fewer beats pass as bursts
    fs = 2000.0
    rng = np.random.default_rng(40)
    n = int(150 * fs)
    x = rng.standard_normal(n) * 5.0
    t = np.arange(int(0.12 * fs)) / fs

    def g(c, s):
        return np.exp(-0.5 * ((t - c) / s) ** 2)

    qrs = 40.0 * (-0.15 * g(0.04, 0.006) + g(0.055, 0.007) - 0.3 * g(0.07, 0.008))
    pos = 0.3 * fs
    while pos + len(t) < n:
        x[int(pos):int(pos) + len(t)] += qrs
        pos += fs * 60 / 72 * rng.uniform(0.97, 1.03)
    y, _ = process_offline(x[:, None], default_pipeline_config(fs))
    count = {}
    for halves in (False, True):
        det = GlrOnsetDetector(GlrConfig(confirm_halves=halves), 1, fs)
        det.learn_rest(y[int(0.25 * fs):int(3.5 * fs)])
        count[halves] = sum(e.kind == "on" for e in det.process(y, 0))
    assert 2 * count[True] <= count[False]


def test_onsets_after_a_start_mid_contraction_are_placed_as_after_a_clean_rest(
        burst_signal_uv):
    # the burst at the start ends inside the learning window: the rest model is refitted
    # on what follows it (it was once fitted to the burst, 5x too loud, and every later
    # onset came 90-140 ms late)
    fs = 2000.0
    onsets = [3.5, 5.5, 7.5, 9.5]
    x = _ramped(burst_signal_uv, fs, 10.0, 4, onsets, 0.2, start_active=True)
    events = GlrOnsetDetector(GlrConfig(), 1, fs).process(x, 0)
    assert events[0].kind == "on" and events[0].unknown
    found = np.array([e.index for e in events if e.kind == "on" and not e.unknown])
    truth = np.array([int(t * fs) for t in onsets])
    assert len(found) == len(truth)
    assert np.median(np.abs(found - truth)) * 1000 / fs < 30.0
