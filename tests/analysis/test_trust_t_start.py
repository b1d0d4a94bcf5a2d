"""The filters' steady start (``PipelineConfig(start="steady")``), the one start of every
analysis path and of the live engine (helper T, session 7; NOTES-X.md X1).

Reference: SciPy's ``sosfilt`` started in the steady state of the first sample
(``zi = sosfilt_zi(sos) * x[0]``), per stretch of finite samples. A constant input gives
exactly 0; the rest start (the default) is still SciPy's zero-state ``sosfilt`` bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from emgfeedback.analysis.quality import ecg_from_energy, snr_from_window_rms
from emgfeedback.dsp import KindPipeline, Pipeline, PipelineConfig, process_offline
from emgfeedback.dsp.pipeline import design
from emgfeedback.errors import ConfigError

STEADY = PipelineConfig(fs_hz=1000.0, band_hz=(20.0, 450.0), notch_hz=50.0, start="steady")
OFFSETS = np.array([2500.0, 0.0, -300.0])


def _signal(n: int = 3000) -> np.ndarray:
    return np.random.default_rng(0).normal(0.0, 10.0, (n, 3)) + OFFSETS


def _steady_reference(x: np.ndarray) -> np.ndarray:
    """sosfilt from the steady state of each finite stretch's first sample; NaN elsewhere."""
    sos = design(STEADY).sos
    zi = signal.sosfilt_zi(sos)
    y = np.full(x.shape, np.nan)
    for c in range(x.shape[1]):
        finite = np.isfinite(x[:, c])
        edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(int), 0]))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            y[a:b, c] = signal.sosfilt(sos, x[a:b, c], zi=zi * x[a, c])[0]
    return y


def test_steady_start_is_sosfilt_from_the_first_samples_steady_state():
    x = _signal()
    ref = _steady_reference(x)
    pipe = Pipeline(STEADY, 3)
    chunked = np.concatenate([pipe.process(x[a:a + 16])[0] for a in range(0, len(x), 16)])
    whole, _ = process_offline(x, STEADY)
    tol = 1e-11 * np.max(np.abs(OFFSETS))  # rounding of the level, nothing else
    np.testing.assert_allclose(chunked, ref, rtol=0, atol=tol)
    assert np.array_equal(chunked, whole)  # one definition whatever the chunking
    # The offset leaves no transient: the first samples are noise-sized, not ~1000 µV.
    assert np.max(np.abs(whole[:50])) < 60.0
    rest, _ = process_offline(x, PipelineConfig(fs_hz=1000.0, band_hz=(20.0, 450.0),
                                                notch_hz=50.0))
    assert np.max(np.abs(rest[:50, 0])) > 500.0  # what the zero-state start makes of it


def test_rest_start_is_still_sosfilt_bit_for_bit():
    x = _signal()
    cfg = PipelineConfig(fs_hz=1000.0, band_hz=(20.0, 450.0), notch_hz=50.0)
    got, _ = process_offline(x, cfg)
    assert np.array_equal(got, signal.sosfilt(design(cfg).sos, x, axis=0))


def test_a_constant_channel_gives_exactly_zero():
    x = np.full((2000, 2), 12475.5859375)
    filtered, envelope = process_offline(x, STEADY)
    assert not np.any(filtered) and not np.any(envelope)


def test_after_a_non_finite_sample_and_a_reset_the_filters_start_steady_again():
    x = _signal()
    x[1000:1100, 0] = np.nan
    x[1500, 1] = np.inf
    ref = _steady_reference(x)
    tol = 1e-11 * np.max(np.abs(OFFSETS))
    whole, _ = process_offline(x, STEADY)
    np.testing.assert_allclose(whole, ref, rtol=0, atol=tol)  # NaN where ref is NaN
    for rows in (1, 7, 64):  # chunk-size invariant, NaN included
        pipe = Pipeline(STEADY, 3)
        got = np.concatenate([pipe.process(x[a:a + rows])[0] for a in range(0, len(x), rows)])
        assert np.array_equal(got, whole, equal_nan=True), rows
    pipe = Pipeline(STEADY, 3)
    pipe.process(x[:500])
    pipe.reset()  # what the live engine does at a gap
    after, _ = pipe.process(x[2000:] + 1000.0)
    np.testing.assert_allclose(after, _steady_reference(x[2000:] + 1000.0), rtol=0, atol=tol)


def test_only_bipolar_channels_lose_their_level():
    """A rectified or envelope channel's level is its signal: no level is removed."""
    x = np.abs(_signal())
    mixed = KindPipeline(STEADY, ["raw", "rect", "env"])
    y = np.concatenate([mixed.process(x[a:a + 100])[0] for a in range(0, len(x), 100)])
    assert np.array_equal(y[:, 1], x[:, 1])
    rest = KindPipeline(PipelineConfig(fs_hz=1000.0, band_hz=(20.0, 450.0), notch_hz=50.0),
                        ["rect", "env"])
    assert np.array_equal(y[:, 1:], rest.process(x[:, 1:])[0])


def test_unknown_start_is_refused():
    with pytest.raises(ConfigError, match="start must be one of rest, steady"):
        PipelineConfig(start="zero")


def test_no_snr_or_ecg_from_rounding():
    # A flat rest (a constant channel after the filters) has no noise to compare with.
    assert np.isnan(snr_from_window_rms(np.r_[np.full(10, 1e-13), 5.0]))
    # 95th percentile of [2] * 10 + [20]: 11 (linear), 10th: 2.
    assert snr_from_window_rms(np.r_[np.full(10, 2.0), 20.0]) == pytest.approx(
        20.0 * np.log10(11.0 / 2.0))
    # The rounding of a constant through the ECG band: no heartbeat, whatever its shape.
    fs_e = 100.0
    t = np.arange(int(10 * fs_e)) / fs_e
    beats = (np.sin(2 * np.pi * 1.2 * t) > 0.95).astype(float)  # 72 bpm
    assert ecg_from_energy(beats * 1e-20, fs_e)[0] is False
    assert ecg_from_energy(beats * 4.0, fs_e)[0] is True
