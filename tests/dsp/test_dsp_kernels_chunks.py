"""Every fast kernel against sosfilt chunk by chunk, at every channel and section count.

Each path (short and long chunks, every section count, a non-finite chunk handed to the
generic kernel and back) must give sosfilt's bits and the state that lets the next chunk
continue, whatever the chunking.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from emgfeedback.dsp import kernels
from emgfeedback.dsp.pipeline import Pipeline, PipelineConfig, design

RMS = PipelineConfig(fs_hz=2000.0)
LINEAR = PipelineConfig(fs_hz=2000.0, envelope="linear")


def random_emg(n, n_ch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_ch)) * rng.uniform(5, 500, n_ch) + 200.0


def stream(cfg, x, chunk):
    """Filter ``x`` through one Pipeline in consecutive chunks of ``chunk`` rows."""
    pipe = Pipeline(cfg, x.shape[1])
    parts = [pipe.process(np.ascontiguousarray(x[i : i + chunk]))
             for i in range(0, len(x), chunk)]
    return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts]), pipe


def generic(cfg, x):
    """The reference kernel on the whole input, with its final state."""
    d = design(cfg)
    state = kernels.pack_state(d.sos, d.env_sos, d.window, x.shape[1])
    y, e = np.empty_like(x), np.empty_like(x)
    kernels.process_generic(state, x, y, e, cfg.envelope == "rms")
    return y, e, state


@pytest.mark.parametrize("n_ch", [1, 2, 3, 4, 8, 16])
@pytest.mark.parametrize("chunk", [1, 7, 16, 1000])
def test_bit_identical_to_sosfilt_at_every_count_and_chunk_size(n_ch, chunk):
    x = random_emg(2100, n_ch, seed=n_ch + chunk)
    y, e, pipe = stream(RMS, x, chunk)
    np.testing.assert_array_equal(y, signal.sosfilt(design(RMS).sos, x, axis=0))
    # The envelope and the state left behind are the reference kernel's, bit for bit.
    y_ref, e_ref, state_ref = generic(RMS, x)
    np.testing.assert_array_equal(e, e_ref)
    np.testing.assert_array_equal(pipe._state, state_ref)


# Section counts with every remainder of the kernels' section groups.
CHAINS = {
    "13=8+5": RMS,
    "11=8+3": PipelineConfig(fs_hz=2000.0, notch_hz=60.0),
    "23=8+8+5+1+1": PipelineConfig(fs_hz=2000.0, notch_max_hz=float("inf")),
    "7=5+1+1": PipelineConfig(fs_hz=2000.0, highpass_hz=30.0, notch_harmonics=False),
    "linear": LINEAR,
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_one_channel_every_section_count_and_chunk_length(name):
    cfg = CHAINS[name]
    if "=" in name:
        assert design(cfg).sos.shape[0] == int(name.split("=")[0])
    x = random_emg(5000, 1, seed=len(name))
    y_ref = signal.sosfilt(design(cfg).sos, x, axis=0)
    _, e_ref, state_ref = generic(cfg, x)
    # Short and long chunks around powers of two, and one long chunk.
    lo, blk = 128, 1024
    cuts = np.cumsum([lo - 1, lo, lo + 1, blk - 1, blk + 1, 9, 2 * blk + 3])
    pipe = Pipeline(cfg, 1)
    parts = [pipe.process(c) for c in np.split(x, cuts)]
    np.testing.assert_array_equal(np.vstack([p[0] for p in parts]), y_ref)
    np.testing.assert_array_equal(np.vstack([p[1] for p in parts]), e_ref)
    np.testing.assert_array_equal(pipe._state, state_ref)


X1 = random_emg(3000, 1, seed=11)
WHOLE_1 = Pipeline(RMS, 1).process(X1)


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=10))
def test_one_channel_any_partition_gives_identical_output(cuts):
    pipe = Pipeline(RMS, 1)
    parts = [pipe.process(c) for c in np.split(X1, sorted(cuts))]
    np.testing.assert_array_equal(np.vstack([p[0] for p in parts]), WHOLE_1[0])
    np.testing.assert_array_equal(np.vstack([p[1] for p in parts]), WHOLE_1[1])


@pytest.mark.parametrize("cfg", [RMS, LINEAR], ids=["rms", "linear"])
def test_one_channel_non_finite_chunk_hands_over_to_the_generic_kernel_and_back(cfg):
    x = random_emg(3000, 1, seed=4)
    x[700, 0] = np.nan
    x[1900:1905, 0] = np.inf
    pipe = Pipeline(cfg, 1)
    parts = [pipe.process(c) for c in np.split(x, [650, 1400, 1890, 2200])]
    y = np.vstack([p[0] for p in parts])
    e = np.vstack([p[1] for p in parts])
    y_ref, e_ref, _ = generic(cfg, x)
    np.testing.assert_array_equal(y, y_ref)  # NaN where NaN, else bit-identical
    np.testing.assert_array_equal(e, e_ref)
    assert np.isnan(y[700, 0]) and np.isnan(y[1900:1905, 0]).all()
    # After the gap the channel equals a fresh pipeline started at the next finite sample.
    y_fresh, _ = Pipeline(cfg, 1).process(x[1905:])
    np.testing.assert_array_equal(y[1905:], y_fresh)
