"""Resting tone against simulator truth, floor handling, APDF and recovery."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emgfeedback.acquisition.boards import counts_to_uv
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.analysis.tone import (
    noise_floor_uv,
    recovery_after_bursts,
    resting_tone,
)
from emgfeedback.dsp import PipelineConfig, process_offline

BAND = (20.0, 450.0)


def _white_floor(sim, fs):
    """The simulator's amplifier noise in the analysis band: a known measured floor."""
    return sim.truth.noise_uv * math.sqrt((BAND[1] - BAND[0]) / (fs / 2.0))


@pytest.mark.parametrize("fs", [1000.0, 2000.0])
def test_rest_tone_within_10_percent(fs, simulated):
    sim, _, filtered = simulated("rest", 4, fs, 3, None, seconds=30.0)
    floor = _white_floor(sim, fs)
    res = resting_tone(filtered[int(fs):], fs, floors_uv=floor, notch_hz=50.0)
    checked = 0
    for r, truth in zip(res, sim.truth.tone_uv, strict=True):
        if truth >= 2 * floor:
            assert r.valid
            assert r.tone_uv == pytest.approx(truth, rel=0.10)
            checked += 1
    assert checked >= 3


def test_tension_relaxed_tone_within_10_percent(simulated):
    fs = 2000.0
    sim, _, filtered = simulated("tension", 4, fs, 3, None)
    n = filtered.shape[0]
    span = (int(100 * fs), n)  # the last 20 s, relaxed
    truth = np.sqrt(np.mean(sim.truth.tone_uv_at(np.arange(*span)) ** 2, axis=0))
    res = resting_tone(filtered, fs, floors_uv=_white_floor(sim, fs), rest=[span],
                       notch_hz=50.0)
    for r, t in zip(res, truth, strict=True):
        assert r.tone_uv == pytest.approx(t, rel=0.10)
    # The elevated start is far above: the APDF static level over the whole run is higher
    # than the relaxed tone on the shrugging channels.
    assert res[0].p10_uv > 0


def test_tone_below_twice_the_floor_is_invalid():
    fs = 2000.0
    sim = Simulator("rest", 2, fs, seed=3, board="uno-myoware2")
    counts = sim.next_counts(int(20 * fs))
    filtered, _ = process_offline(counts_to_uv(counts, sim.calibration),
                                  PipelineConfig(fs_hz=fs))
    floors = [noise_floor_uv(cal, fs, BAND) for cal in sim.calibration]
    assert floors[0] == pytest.approx(24.414 / math.sqrt(12) * math.sqrt(430 / 1000), rel=1e-3)
    for r in resting_tone(filtered[int(fs):], fs, floors_uv=floors):
        assert not r.valid
        assert "below 2× the noise floor" in r.reason


def test_measured_floor_wins_when_larger():
    from emgfeedback.acquisition.boards import get_board

    cal = get_board("uno-myoware2").calibration(1)[0]
    assert noise_floor_uv(cal) == pytest.approx(cal.floor_uv)
    assert noise_floor_uv(cal, measured_uv=20.0) == 20.0
    assert noise_floor_uv(cal, measured_uv=1.0) == pytest.approx(cal.floor_uv)


def test_floor_correction_subtracts_in_quadrature():
    rng = np.random.default_rng(1)
    fs = 1000.0
    x = rng.normal(0, 5.0, (20000, 1))  # 5 µV RMS total, of which 3 µV "floor"
    r = resting_tone(x, fs, floors_uv=3.0, rest=[(0, 20000)])[0]
    assert r.tone_uv == pytest.approx(4.0, rel=0.03)
    assert r.valid is False  # 4 < 2 × 3


def test_recovery_time_and_residual():
    fs = 1000.0
    rng = np.random.default_rng(2)
    n = 20000
    level = np.full(n, 2.0)
    level[5000:8000] = 40.0
    t = np.arange(n - 8000) / fs
    level[8000:] = 2.0 + 8.0 * np.exp(-t / 1.0)  # slow let-go: τ = 1 s
    x = rng.normal(0, 1, n) * level
    rec = recovery_after_bursts(x, fs, [(5000, 8000)], tolerance=0.2)[0]
    # 2 + 8·exp(−t) ≤ 2.4 at t = ln(20) ≈ 3.0 s (plus the envelope window).
    assert 2.5 <= rec.return_s <= 4.0
    assert rec.pre_uv == pytest.approx(2.0, rel=0.1)
    # Residual over 1-3 s after: RMS of 2 + 8·exp(−t) there, relative to the burst's rise.
    tt = np.linspace(1, 3, 2000)
    want = (np.sqrt(np.mean((2 + 8 * np.exp(-tt)) ** 2)) - 2.0) / (40.0 - 2.0) * 100
    assert rec.residual_pct == pytest.approx(want, abs=1.5)
