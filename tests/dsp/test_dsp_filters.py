"""Filter design: parameter validation and the notch depth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from emgfeedback.dsp import Pipeline, PipelineConfig, design
from emgfeedback.dsp.filters import (
    bandpass_sos,
    highpass_sos,
    lowpass_sos,
    notch_frequencies,
    notch_sos,
)
from emgfeedback.errors import ConfigError

INVALID = [
    # (config overrides, words the message must contain)
    ({"fs_hz": 0.0}, ["fs_hz", "> 0"]),
    ({"fs_hz": -2000.0}, ["fs_hz", "> 0"]),
    ({"fs_hz": float("nan")}, ["fs_hz"]),
    ({"band_hz": (20.0, 1000.0)}, ["band_hz[1]", "(0, 1000) Hz"]),
    ({"band_hz": (20.0, 1500.0)}, ["band_hz[1]", "fs/2"]),
    ({"band_hz": (0.0, 450.0)}, ["band_hz[0]", "(0, 1000) Hz"]),
    ({"band_hz": (450.0, 20.0)}, ["band_hz", "low < high"]),
    ({"band_hz": (20.0,)}, ["band_hz", "pair"]),
    ({"band_order": 0}, ["band_order", "1..20"]),
    ({"band_order": 2.5}, ["band_order", "integer"]),
    ({"highpass_hz": 1000.0}, ["highpass_hz", "(0, 1000) Hz"]),
    ({"highpass_hz": 30.0, "highpass_order": 0}, ["highpass_order", "1..20"]),
    ({"notch_hz": 1200.0}, ["notch_hz", "(0, 1000) Hz"]),
    ({"notch_q": 0.0}, ["notch_q", "> 0"]),
    ({"notch_q": -3.0}, ["notch_q", "> 0"]),
    ({"notch_max_hz": 0.0}, ["notch_max_hz", "> 0 Hz"]),
    ({"notch_max_hz": "high"}, ["notch_max_hz", "> 0 Hz"]),
    ({"envelope": "linear", "cutoff_hz": 1000.0}, ["cutoff_hz", "(0, 1000) Hz"]),
    ({"envelope": "linear", "envelope_order": 0}, ["envelope_order", "1..20"]),
    ({"envelope": "peak"}, ["envelope", "rms", "linear"]),
    ({"window_s": 0.0}, ["window_s", "(0, 10] s"]),
]


@pytest.mark.parametrize(("overrides", "words"), INVALID)
def test_invalid_parameter_names_parameter_and_range(overrides, words):
    with pytest.raises(ConfigError) as info:
        PipelineConfig(**overrides)
    for word in words:
        assert word in str(info.value)


def test_invalid_channel_count():
    with pytest.raises(ConfigError, match="n_channels"):
        Pipeline(PipelineConfig(), 0)


def test_design_functions_validate_directly():
    with pytest.raises(ConfigError, match="fs_hz"):
        bandpass_sos(-1.0, 20.0, 450.0)
    with pytest.raises(ConfigError, match="highpass_hz"):
        highpass_sos(2000.0, 1000.0)
    with pytest.raises(ConfigError, match="cutoff_hz"):
        lowpass_sos(2000.0, 0.0)
    with pytest.raises(ConfigError, match="notch_q"):
        notch_sos(2000.0, 50.0, q=0.0)


def test_designs_match_scipy_butter():
    expected = signal.butter(4, [20.0, 450.0], btype="bandpass", fs=2000.0, output="sos")
    np.testing.assert_array_equal(bandpass_sos(2000.0, 20.0, 450.0, 4), expected)
    assert highpass_sos(2000.0, 30.0, 4).shape == (2, 6)


def test_harmonics_stay_below_nyquist():
    assert notch_frequencies(2000.0, 50.0, harmonics=False) == [50.0]
    freqs = notch_frequencies(2000.0, 60.0, harmonics=True)
    assert freqs[:3] == [60.0, 120.0, 180.0]
    assert max(freqs) < 1000.0 and len(freqs) == 16
    assert notch_sos(2000.0, 60.0).shape == (16, 6)
    assert notch_frequencies(2000.0, 50.0, True, max_hz=1e9) == [50.0 * k for k in range(1, 20)]


def test_default_chain_notches_only_harmonics_inside_the_band():
    assert notch_frequencies(2000.0, 50.0, True, max_hz=450.0) == [50.0 * k for k in range(1, 10)]
    assert notch_frequencies(2000.0, 60.0, True, max_hz=450.0)[-1] == 420.0
    assert notch_frequencies(2000.0, 50.0, True, max_hz=20.0) == [50.0]  # fundamental stays
    assert design(PipelineConfig()).sos.shape == (4 + 9, 6)
    assert design(PipelineConfig(notch_hz=60.0)).sos.shape == (4 + 7, 6)
    assert design(PipelineConfig(band_hz=(20.0, 300.0))).sos.shape == (4 + 6, 6)
    assert design(PipelineConfig(notch_max_hz=float("inf"))).sos.shape == (4 + 19, 6)
    # Above the band the band-pass roll-off does the work (what docs/dsp.md promises).
    sos = design(PipelineConfig(notch_hz=None)).sos
    _, h = signal.sosfreqz(sos, worN=[500.0, 600.0, 700.0, 800.0], fs=2000.0)
    gain_db = 20 * np.log10(np.abs(h))
    assert np.all(gain_db <= [-6.0, -17.0, -29.0, -45.0])


def test_notch_coefficients_are_iirnotch_exactly():
    b, a = signal.iirnotch(150.0, 30.0, fs=2000.0)
    np.testing.assert_array_equal(notch_sos(2000.0, 150.0, harmonics=False)[0], [*b, *a])


@pytest.mark.parametrize("mains_hz", [50.0, 60.0])
def test_notch_attenuates_at_least_40_db(mains_hz):
    fs = 2000.0
    sos = notch_sos(fs, mains_hz, q=30.0, harmonics=True)
    for f in notch_frequencies(fs, mains_hz, True):
        _, h = signal.sosfreqz(sos, worN=[f], fs=fs)
        assert abs(h[0]) <= 10 ** (-40.0 / 20), f  # -40 dB (a zero exactly on f gives 0)


def test_pipeline_removes_mains_but_keeps_emg_band():
    fs = 2000.0
    t = np.arange(int(4 * fs)) / fs
    cfg = PipelineConfig(fs_hz=fs, notch_hz=50.0)
    steady = slice(int(2 * fs), None)  # after the notches have settled
    hum, _ = Pipeline(cfg, 1).process(np.sin(2 * np.pi * 50.0 * t)[:, None])
    emg, _ = Pipeline(cfg, 1).process(np.sin(2 * np.pi * 80.0 * t)[:, None])
    hum_db = 20 * np.log10(np.max(np.abs(hum[steady])))
    assert hum_db <= -40.0
    assert np.max(np.abs(emg[steady])) > 0.9
