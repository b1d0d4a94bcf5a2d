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


def band_limited_noise(fs_hz, seconds, rms_uv, seed=0, ar=(1.0,)):
    """Gaussian noise, AR-coloured by ``1/ar``, with exactly ``rms_uv`` RMS in 20-450 Hz."""
    from scipy import signal

    rng = np.random.default_rng(seed)
    n = int(seconds * fs_hz)
    x = signal.lfilter([1.0], list(ar), rng.standard_normal(n))
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1.0 / fs_hz)
    spec[(f < BAND[0]) | (f > BAND[1])] = 0.0
    x = np.fft.irfft(spec, n)
    return x * (rms_uv / np.sqrt(np.mean(x * x)))


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
    assert noise_floor_uv(cal) == pytest.approx(cal.wideband_floor_uv)
    assert noise_floor_uv(cal, measured_uv=20.0) == 20.0
    assert noise_floor_uv(cal, measured_uv=1.0) == pytest.approx(cal.wideband_floor_uv)


def test_floor_correction_subtracts_in_quadrature():
    fs = 1000.0
    # 5 µV RMS in the band in total, of which 3 µV "floor": the tone is 4 µV.
    x = band_limited_noise(fs, 30.0, 5.0, seed=1)[:, None]
    cfg = PipelineConfig(fs_hz=fs, notch_hz=50.0)
    filtered, _ = process_offline(x, cfg)
    r = resting_tone(filtered, fs, floors_uv=3.0, rest=[(int(fs), x.shape[0])], pipeline=cfg)[0]
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


# ---------------------------------------------------------------- bias (issue 14, item 5)

TONES_UV = (3.0, 8.0, 20.0, 50.0)
HUMS_UV = (0.0, 3.0, 10.0)


def _analysed_tone(x_uv, fs):
    """The resting tone as ``emgfeedback analyze`` reports it."""
    from emgfeedback.analysis.summary import analyse

    return analyse(np.asarray(x_uv)[:, None], fs, ["ch"])["channels"][0]["resting_tone_uv"]


@pytest.mark.parametrize("fs", [1000.0, 2000.0])
@pytest.mark.parametrize("ar", [(1.0,), (1.0, -0.9, 0.2)], ids=["white", "ar2"])
def test_tone_unbiased_on_independent_rest(fs, ar):
    """Known in-band RMS plus a slightly-off 50 Hz hum with a 3rd harmonic: within ±3 %.

    Before the fix the band-pass skirts and notches took 2-9 % (white: -5.8 % at 1 kHz,
    -8.6 % at 2 kHz) and a drifting hum added up to +28 %.
    """
    t = np.arange(int(15 * fs)) / fs
    errors = {}
    for k, tone in enumerate(TONES_UV):
        emg = band_limited_noise(fs, 15.0, tone, seed=10 + k, ar=ar)
        for hum in HUMS_UV:
            x = emg + hum * (np.sin(2 * np.pi * 50.3 * t + 0.3)
                             + 0.4 * np.sin(2 * np.pi * 150.9 * t + 1.1))
            errors[(tone, hum)] = 100.0 * (_analysed_tone(x, fs) / tone - 1.0)
    worst = max(errors.values(), key=abs)
    assert abs(worst) <= 3.0, errors


@pytest.mark.parametrize("fs", [1000.0, 2000.0])
def test_tone_unbiased_on_the_simulator(fs):
    """The simulator's rest EMG scaled to each tone, with its own hum: within ±3 %."""
    n = int(15 * fs)
    quiet = Simulator("rest", 1, fs, seed=4, board="uv", hum_uv=0.0, noise_uv=0.0,
                      wander_uv=0.0)
    emg = quiet.generate_uv(n)[:, 0]
    truth = quiet.truth.tone_uv[0]
    for hum in HUMS_UV:
        noisy = Simulator("rest", 1, fs, seed=4, board="uv", hum_uv=hum, noise_uv=0.0,
                          wander_uv=0.0).generate_uv(n)[:, 0]
        for tone in TONES_UV:
            x = emg * (tone / truth) + (noisy - emg)
            got = _analysed_tone(x, fs)
            assert got == pytest.approx(tone, rel=0.03), (tone, hum, got)


def test_gaps_and_padding_are_never_rest():
    """NaN gaps and constant padding do not pull the tone down (EDF padding read as rest)."""
    fs = 1000.0
    x = band_limited_noise(fs, 30.0, 8.0, seed=3)
    whole = _analysed_tone(x, fs)
    holed = x.copy()
    holed[5000:9000] = np.nan           # a gap
    padded = np.r_[np.zeros(int(4 * fs)), holed, np.zeros(int(3 * fs))]  # padding
    assert _analysed_tone(padded, fs) == pytest.approx(whole, rel=0.02)
    assert whole == pytest.approx(8.0, rel=0.03)


def test_usable_samples_marks_settling_flat_runs_and_gaps():
    from emgfeedback.analysis.quantities import usable_samples

    fs = 100.0
    x = np.random.default_rng(0).normal(0, 1, 1000)
    x[300:310] = np.nan
    x[600:700] = 0.0
    ok = usable_samples(x, fs, settle_s=0.5, flat_s=0.25)[:, 0]
    assert not ok[:50].any() and ok[50:300].all()          # settling after the start
    assert not ok[300:360].any() and ok[360:599].all()      # the gap and settling after it
    assert not ok[600:750].any() and ok[750:].all()         # the flat run, settling


def test_a_quiet_muscle_on_a_coarse_adc_is_below_the_floor_not_without_rest():
    """24.4 µV steps, 2 µV of tone and no hum: the counts sit still for seconds. That is the
    signal (the downtraining success case), not padding: the tone is "below the floor"."""
    from emgfeedback.analysis.summary import analyse

    fs = 2000.0
    sim = Simulator("rest", 1, fs, seed=3, board="uno-myoware2", hum_uv=0.0, noise_uv=0.5,
                    wander_uv=0.0)
    uv = counts_to_uv(sim.next_counts(int(20 * fs)), sim.calibration)
    ch = analyse(uv, fs, ["trap"], mains_hz=50.0)["channels"][0]
    assert ch["rest_s"] >= 5
    assert not ch["tone_valid"] and "below 2× the noise floor" in ch["tone_note"]
