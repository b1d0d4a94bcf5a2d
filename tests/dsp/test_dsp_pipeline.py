"""The streaming pipeline against sosfilt/NumPy, chunking, NaN policy, envelope facts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from emgfeedback.acquisition.boards import RMS_PER_ARV as BOARD_RMS_PER_ARV
from emgfeedback.dsp import (
    ARV_PER_RMS,
    RMS_PER_ARV,
    KindPipeline,
    Pipeline,
    PipelineConfig,
    chain_for,
    design,
    process_offline,
)
from emgfeedback.dsp.kernels_fast import SPECIALISED_CHANNEL_COUNTS
from emgfeedback.errors import ConfigError


# Independent reference: sosfilt per finite segment, NumPy sliding window for the RMS.
def reference_chain(x, cfg, design):
    """Filtered signal and envelope computed per channel with sosfilt and NumPy.

    Each run of finite samples of a channel is filtered from zero state, which is the
    documented NaN policy; non-finite samples give NaN.
    """
    d = design(cfg)
    n, n_ch = x.shape
    y = np.full((n, n_ch), np.nan)
    e = np.full((n, n_ch), np.nan)
    for c in range(n_ch):
        finite = np.isfinite(x[:, c])
        edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(int), [0]])))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            seg = signal.sosfilt(d.sos, x[start:stop, c])
            y[start:stop, c] = seg
            if d.window:
                squares = np.concatenate([np.zeros(d.window - 1), seg * seg])
                windows = np.lib.stride_tricks.sliding_window_view(squares, d.window)
                e[start:stop, c] = np.sqrt(windows.mean(axis=1))
            else:
                e[start:stop, c] = signal.sosfilt(d.env_sos, np.abs(seg))
    return y, e


def load_biosppy(path):
    """BioSPPy text file: '#' header, one integer per line -> float (n, 1), centred counts."""
    data = np.loadtxt(path, comments="#", ndmin=2)
    return data - data.mean()


def load_uci(path):
    """UCI lower-limb file: 7 header lines, 4 EMG columns in mV -> µV (n, 4)."""
    data = np.loadtxt(path, skiprows=7)
    return data[:, :4] * 1000.0


RMS = PipelineConfig(fs_hz=2000.0)
LINEAR = PipelineConfig(fs_hz=2000.0, envelope="linear", cutoff_hz=6.0, envelope_order=2)
HIGHPASS = PipelineConfig(fs_hz=2000.0, highpass_hz=30.0, notch_hz=60.0, envelope="linear")


def random_emg(n, n_ch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_ch)) * rng.uniform(5, 500, n_ch) + 200.0


def assert_matches_reference(x, cfg, y, e):
    y_ref, e_ref = reference_chain(x, cfg, design)
    np.testing.assert_array_equal(y, y_ref)  # bit-identical, NaN where NaN
    if cfg.envelope == "linear":
        np.testing.assert_array_equal(e, e_ref)
    else:
        assert np.array_equal(np.isnan(e), np.isnan(e_ref))
        ok = ~np.isnan(e)
        assert np.max(np.abs(e[ok] - e_ref[ok])) <= 1e-9


# Specialised counts (powers of two, odd ones, 12) and one past them (the generic kernel);
# not all 32 specialised counts: each compiles a kernel (about a second) in a fresh CI.
@pytest.mark.parametrize("n_ch", [1, 2, 3, 4, 5, 8, 12, 16, max(SPECIALISED_CHANNEL_COUNTS) + 1])
@pytest.mark.parametrize("cfg", [RMS, LINEAR], ids=["rms", "linear"])
def test_bit_identical_to_sosfilt_every_channel_count(n_ch, cfg):
    x = random_emg(1500, n_ch, seed=n_ch)
    pipe = Pipeline(cfg, n_ch)
    # Three chunks so the state carried between calls is checked too; 700 > one kernel block.
    parts = [pipe.process(c) for c in np.split(x, [100, 800])]
    y = np.vstack([p[0] for p in parts])
    e = np.vstack([p[1] for p in parts])
    assert_matches_reference(x, cfg, y, e)


def test_highpass_and_60hz_notch_chain(data_dir):
    x = random_emg(3000, 8, seed=3)
    y, e = process_offline(x, HIGHPASS)
    assert_matches_reference(x, HIGHPASS, y, e)
    # Band-pass 4, high-pass 2, notches at 60..420 Hz (harmonics inside the 20-450 Hz band).
    assert design(HIGHPASS).sos.shape[0] == 4 + 2 + 7


@pytest.mark.parametrize("n_ch", [2, 8])
@pytest.mark.parametrize(
    ("cfg", "n_sections"),
    [
        # Every harmonic below 98 % of Nyquist: 4 + 19 sections = groups 5+5+5+5+3.
        (PipelineConfig(fs_hz=2000.0, notch_max_hz=float("inf")), 23),
        # Band-pass, high-pass, one notch: 4 + 2 + 1 = groups 5+1+1.
        (PipelineConfig(fs_hz=2000.0, highpass_hz=30.0, notch_harmonics=False), 7),
    ],
    ids=["all-harmonics", "highpass-one-notch"],
)
def test_other_section_counts_are_bit_identical_too(n_ch, cfg, n_sections):
    # The fast kernels run the cascade in groups of 5, 3 and 1 sections: cover each size.
    assert design(cfg).sos.shape[0] == n_sections
    x = random_emg(1200, n_ch, seed=21)
    pipe = Pipeline(cfg, n_ch)
    parts = [pipe.process(c) for c in np.split(x, [17, 600])]
    y = np.vstack([p[0] for p in parts])
    e = np.vstack([p[1] for p in parts])
    assert_matches_reference(x, cfg, y, e)


@pytest.mark.parametrize("cfg", [RMS, LINEAR], ids=["rms", "linear"])
def test_real_recordings_match_reference(data_dir, cfg):
    fs = 1000.0
    cfg = PipelineConfig(**{**cfg.__dict__, "fs_hz": fs})
    for x in (
        load_biosppy(data_dir / "biosppy_emg_1_excerpt.txt"),
        load_uci(data_dir / "uci_3Amar_excerpt.txt"),
    ):
        assert x.shape[0] == 4000
        pipe = Pipeline(cfg, x.shape[1])
        parts = [pipe.process(c) for c in np.array_split(x, 7)]
        assert_matches_reference(
            x, cfg, np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])
        )


def test_biosppy_contraction_shows_in_envelope(data_dir):
    x = load_biosppy(data_dir / "biosppy_emg_1_excerpt.txt")
    _, e = process_offline(x, PipelineConfig(fs_hz=1000.0))
    rest, active = e[200:900, 0].mean(), e[1200:2800, 0].mean()
    assert active > 4 * rest


STREAM = random_emg(1200, 8, seed=11)
STREAM[300, 2] = np.nan
STREAM[301:305, 2] = np.inf
STREAM[900, 5] = -np.inf
WHOLE = {kind: Pipeline(cfg, 8).process(STREAM) for kind, cfg in (("rms", RMS), ("linear", LINEAR))}


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=1200), max_size=12),
    kind=st.sampled_from(["rms", "linear"]),
)
def test_any_partition_gives_identical_output(cuts, kind):
    pipe = Pipeline(RMS if kind == "rms" else LINEAR, 8)
    parts = [pipe.process(c) for c in np.split(STREAM, sorted(cuts))]
    y = np.vstack([p[0] for p in parts])
    e = np.vstack([p[1] for p in parts])
    np.testing.assert_array_equal(y, WHOLE[kind][0])
    np.testing.assert_array_equal(e, WHOLE[kind][1])


@pytest.mark.parametrize("n_ch", [2, 3])
@pytest.mark.parametrize("cfg", [RMS, LINEAR], ids=["rms", "linear"])
def test_non_finite_samples_give_nan_and_restart_the_channel(n_ch, cfg):
    x = random_emg(1000, n_ch, seed=5)
    x[200, 0] = np.nan
    x[600:610, 0] = np.inf
    x[999, n_ch - 1] = -np.inf
    pipe = Pipeline(cfg, n_ch)
    parts = [pipe.process(c) for c in np.split(x, [150, 205, 700])]
    y = np.vstack([p[0] for p in parts])
    e = np.vstack([p[1] for p in parts])
    assert np.isnan(y[200, 0]) and np.isnan(e[600:610, 0]).all()
    assert np.isfinite(y[201:600, 0]).all() and np.isfinite(e[610:, 0]).all()
    # After the gap the channel equals a fresh pipeline started at the next finite sample.
    y_fresh, e_fresh = Pipeline(cfg, n_ch).process(x[610:])
    np.testing.assert_array_equal(y[610:, 0], y_fresh[:, 0])
    np.testing.assert_array_equal(e[610:, 0], e_fresh[:, 0])
    # Other channels are untouched by channel 0's gaps.
    y_other, _ = Pipeline(cfg, n_ch).process(np.nan_to_num(x, nan=0.0, posinf=0.0)[:999])
    np.testing.assert_array_equal(y[:999, 1:], y_other[:, 1:])
    assert_matches_reference(x, cfg, y, e)


@pytest.mark.parametrize("freq_hz", [60.0, 100.0, 200.0])
def test_sine_rms_envelope_is_amplitude_over_sqrt2(freq_hz):
    fs, amp = 2000.0, 250.0
    t = np.arange(int(3 * fs)) / fs
    x = amp * np.sin(2 * np.pi * freq_hz * t)[:, None]
    # Without notches: a sine on a mains harmonic would (rightly) be removed.
    _, e = process_offline(x, PipelineConfig(fs_hz=fs, window_s=0.1, notch_hz=None))
    steady = e[int(1.5 * fs) :, 0]
    assert np.all(np.abs(steady / (amp / np.sqrt(2)) - 1) < 0.01)


def test_offline_equals_streaming_and_reset():
    x = random_emg(2000, 4, seed=9)
    y_off, e_off = process_offline(x, LINEAR)
    pipe = Pipeline(LINEAR, 4)
    for _ in range(2):
        parts = [pipe.process(c) for c in np.split(x, [1, 17, 333, 1999])]
        np.testing.assert_array_equal(np.vstack([p[0] for p in parts]), y_off)
        np.testing.assert_array_equal(np.vstack([p[1] for p in parts]), e_off)
        pipe.reset()


def test_long_stream_rms_stays_within_1e9_of_reference():
    # 50 window wraps, a loud burst then rest: the running sum must not drift.
    x = random_emg(10_000, 1, seed=2)
    x[2000:4000] *= 1e3
    y, e = process_offline(x, RMS)
    assert_matches_reference(x, RMS, y, e)


def test_envelope_delay_ms():
    assert Pipeline(RMS, 1).envelope_delay_ms == pytest.approx(1000 * 199 / 2 / 2000.0)
    # 2nd-order Butterworth at 6 Hz: sqrt(2) / (2 pi 6 Hz) = 37.5 ms at low frequency.
    assert Pipeline(LINEAR, 1).envelope_delay_ms == pytest.approx(37.5, abs=0.3)


def test_shape_errors_and_dtypes():
    pipe = Pipeline(RMS, 2)
    with pytest.raises(ValueError, match=r"\(n_samples, 2\)"):
        pipe.process(np.zeros((10, 3)))
    y, e = pipe.process(np.zeros((10, 2), dtype=np.float32))
    assert y.dtype == np.float64 and e.shape == (10, 2)
    y1, _ = Pipeline(RMS, 1).process(np.ones(5))
    assert y1.shape == (5, 1)
    y0, e0 = pipe.process(np.zeros((0, 2)))
    assert y0.shape == (0, 2) and e0.shape == (0, 2)


def test_any_array_layout_gives_the_contiguous_result_and_fresh_outputs():
    x = random_emg(400, 8, seed=4)
    expected = Pipeline(RMS, 4).process(np.ascontiguousarray(x[::2, :4]))
    wide = Pipeline(RMS, 4)
    # A column slice of a wider array and a row-strided view: neither is C-contiguous.
    for layout in (x[::2, :4], np.asfortranarray(x[::2, :4])):
        got = Pipeline(RMS, 4).process(layout)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    first = wide.process(np.ascontiguousarray(x[:200, :4]))
    kept = (first[0].copy(), first[1].copy())
    second = wide.process(np.ascontiguousarray(x[200:, :4]))
    # Every call returns new arrays: earlier outputs are never overwritten.
    assert not np.shares_memory(first[0], second[0]) and not np.shares_memory(first[1], second[1])
    np.testing.assert_array_equal(first[0], kept[0])
    np.testing.assert_array_equal(first[1], kept[1])


@pytest.mark.parametrize("n_ch", [1, 8])
def test_large_calls_match_small_chunks_with_separate_fresh_outputs(n_ch):
    # One call of several kernel blocks (256 rows) against a stream of small chunks: same
    # values, C-ordered outputs that do not overlap and are new on every call.
    n = 2 * 16384 // n_ch + 37
    x = random_emg(n, n_ch, seed=11)
    big = Pipeline(RMS, n_ch)
    y, e = big.process(x)
    small = Pipeline(RMS, n_ch)
    parts = [small.process(c) for c in np.array_split(x, 64)]
    np.testing.assert_array_equal(y, np.vstack([q[0] for q in parts]))
    np.testing.assert_array_equal(e, np.vstack([q[1] for q in parts]))
    assert_matches_reference(x, RMS, y, e)
    assert y.flags.c_contiguous and e.flags.c_contiguous and y.shape == e.shape == x.shape
    assert not np.shares_memory(y, e)
    kept = (y.copy(), e.copy())
    y2, e2 = big.process(x)
    assert not np.shares_memory(y, y2) and not np.shares_memory(e, e2)
    np.testing.assert_array_equal(y, kept[0])
    np.testing.assert_array_equal(e, kept[1])


# ---------------------------------------------------------------- output kinds (issue #12.1)

def moving_rms_reference(x, window):
    """Causal moving RMS with a zero-filled start, NumPy only."""
    squares = np.concatenate([np.zeros((window - 1, x.shape[1])), x * x])
    return np.sqrt(np.lib.stride_tricks.sliding_window_view(squares, window, axis=0)
                   .mean(axis=-1))


def test_one_kind_is_exactly_that_kinds_pipeline():
    x = random_emg(1500, 4, seed=11)
    for kind, chain in (("raw", "raw"), ("uv", "raw"), ("rect", "rect"), ("env", "env")):
        got = KindPipeline(RMS, [kind] * 4).process(x)
        want = Pipeline(RMS, 4, chain).process(x)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    # RAW through KindPipeline is still bit-identical to sosfilt.
    y, e = KindPipeline(LINEAR, ["raw"] * 4).process(x)
    assert_matches_reference(x, LINEAR, y, e)


def test_rect_is_not_band_passed_and_its_rms_is_the_bipolar_rms():
    rng = np.random.default_rng(5)
    bipolar = rng.standard_normal((4000, 2)) * np.array([20.0, 80.0])
    rect = np.abs(bipolar)
    y, e = Pipeline(RMS, 2, "rect").process(rect)
    np.testing.assert_array_equal(y, rect)  # the mean (the amplitude) is kept
    w = design(RMS).window
    np.testing.assert_allclose(e, moving_rms_reference(rect, w), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(e, moving_rms_reference(bipolar, w), rtol=1e-9, atol=1e-9)
    # The RAW chain would have turned the rectified signal's mean into nothing.
    _, e_raw = Pipeline(RMS, 2).process(rect)
    assert np.mean(e_raw[2000:, 1]) < 0.7 * np.mean(e[2000:, 1])


def test_env_is_scaled_from_arv_to_rms_and_never_band_passed():
    assert RMS_PER_ARV == pytest.approx(np.sqrt(np.pi / 2)) and ARV_PER_RMS * RMS_PER_ARV == 1
    assert RMS_PER_ARV == BOARD_RMS_PER_ARV
    fs = 500.0
    cfg = PipelineConfig(fs_hz=fs, band_hz=(20.0, 225.0))
    rng = np.random.default_rng(8)
    emg = rng.standard_normal((int(60 * fs), 1)) * 50.0  # 50 µV RMS Gaussian EMG
    sos = signal.butter(2, 5.0, fs=fs, output="sos")
    arv = signal.sosfilt(sos, np.abs(emg), axis=0)  # what a MyoWare ENV pin carries
    y, e = Pipeline(cfg, 1, "env").process(arv)
    np.testing.assert_array_equal(y, arv * RMS_PER_ARV)
    # The steady level reads the RMS of the EMG (±3 %), not its ARV (0.80 × RMS).
    assert np.mean(e[int(5 * fs):]) == pytest.approx(50.0, rel=0.03)
    # A slow envelope through the RAW chain's band-pass is gone (the bug of issue #12).
    _, e_raw = Pipeline(cfg, 1).process(arv)
    assert np.mean(e_raw[int(5 * fs):]) < 0.2 * 50.0


def test_mixed_kinds_keep_their_columns_chunking_and_nan_policy():
    kinds = ["env", "raw", "rect", "raw", "env"]
    x = np.abs(random_emg(1200, 5, seed=12))
    x[300, 0] = np.nan
    x[500, 1] = np.inf
    whole = KindPipeline(RMS, kinds).process(x)
    for c, kind in enumerate(kinds):
        y, e = KindPipeline(RMS, [kind]).process(x[:, c:c + 1])
        np.testing.assert_array_equal(whole[0][:, c:c + 1], y)
        np.testing.assert_array_equal(whole[1][:, c:c + 1], e)
    pipe = KindPipeline(RMS, kinds)
    parts = [pipe.process(p) for p in np.split(x, [1, 290, 777])]
    np.testing.assert_array_equal(np.vstack([p[0] for p in parts]), whole[0])
    np.testing.assert_array_equal(np.vstack([p[1] for p in parts]), whole[1])
    assert np.isnan(whole[0][300, 0]) and np.isnan(whole[1][500, 1])
    assert np.isfinite(whole[1][300, 1:]).all()  # a NaN stays on its own channel
    pipe.reset()
    again = pipe.process(x)
    np.testing.assert_array_equal(again[1], whole[1])
    assert pipe.envelope_delay_ms == Pipeline(RMS, 1).envelope_delay_ms


def test_process_offline_with_kinds_and_bad_kinds():
    x = np.abs(random_emg(600, 2, seed=13))
    y, _ = process_offline(x, RMS, kinds=["rect", "env"])
    np.testing.assert_array_equal(y[:, 0], x[:, 0])
    with pytest.raises(ConfigError, match="output kind 'emg'"):
        KindPipeline(RMS, ["raw", "emg"])
    with pytest.raises(ConfigError, match="3 output kinds for 2 channels"):
        process_offline(x, RMS, kinds=["raw"] * 3)
    assert chain_for("UV") == "raw" and chain_for("rect") == "rect"
