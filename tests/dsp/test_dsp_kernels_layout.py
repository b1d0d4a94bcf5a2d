"""Session-6 kernel paths: the shared ``b0 u`` product, the RMS inside the last group, the
layout check inside the kernel (the pipeline's fast path leaves it there) and the design cache.

Bits are compared as integers, so a -0.0 where sosfilt gives +0.0 would fail too.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from emgfeedback.dsp import kernels, kernels_fast
from emgfeedback.dsp.pipeline import Pipeline, PipelineConfig, _entry_point, design, design_stages
from tests.dsp.test_dsp_kernels_chunks import generic as reference


def random_emg(n, n_ch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_ch)) * rng.uniform(5, 500, n_ch) + 200.0


def bits(a):
    return np.ascontiguousarray(a).view(np.uint64)


# Chains whose sections are not all symmetric (b2 != b0): an odd band-pass order gives a
# [1, 0, -1] section, an odd high-pass order a first-order [1, -1, 0] one; the linear
# envelope of odd order a [g, g, 0] low-pass section. RECT is a single pass-through
# section [1, 0, 0], so its RMS runs as a loop of its own.
CHAINS = {
    "default": (PipelineConfig(fs_hz=2000.0), "raw"),
    "band order 3": (PipelineConfig(fs_hz=2000.0, band_order=3), "raw"),
    "high-pass order 3": (PipelineConfig(fs_hz=2000.0, highpass_hz=30.0, highpass_order=3),
                          "raw"),
    "linear order 3": (PipelineConfig(fs_hz=2000.0, envelope="linear", envelope_order=3),
                       "raw"),
    "rect": (PipelineConfig(fs_hz=2000.0), "rect"),
}


def test_the_chains_do_mix_symmetric_and_general_sections():
    for name in ("band order 3", "high-pass order 3"):
        sos = design(CHAINS[name][0]).sos
        assert np.any(sos[:, 0] == sos[:, 2]) and np.any(sos[:, 0] != sos[:, 2]), name
    env = design(CHAINS["linear order 3"][0]).env_sos
    assert np.any(env[:, 0] != env[:, 2])


@pytest.mark.parametrize("name", list(CHAINS))
@pytest.mark.parametrize("n_ch", [1, 5, 8, 16])
def test_every_chain_is_bit_identical_whatever_the_sections(name, n_ch):
    cfg, chain = CHAINS[name]
    x = random_emg(1300, n_ch, seed=n_ch)
    pipe = Pipeline(cfg, n_ch, chain)
    assert pipe._fast is not None
    parts = [pipe.process(np.ascontiguousarray(c)) for c in np.split(x, [16, 17, 300, 555])]
    y = np.vstack([p[0] for p in parts])
    e = np.vstack([p[1] for p in parts])
    d = design(cfg, chain)
    if chain == "raw":
        np.testing.assert_array_equal(bits(y), bits(signal.sosfilt(d.sos, x, axis=0)))
    state = kernels.pack_state(d.sos, d.env_sos, d.window, n_ch)
    y_ref, e_ref = np.empty_like(x), np.empty_like(x)
    kernels.process_generic(state, x, y_ref, e_ref, cfg.envelope == "rms")
    np.testing.assert_array_equal(bits(y), bits(y_ref))
    np.testing.assert_array_equal(bits(e), bits(e_ref))
    np.testing.assert_array_equal(bits(pipe._state), bits(state))


@pytest.mark.parametrize("n_ch", [1, 2])
@pytest.mark.parametrize("notch_max_hz", [450.0, 500.0, 550.0])  # 15, 16, 17 sections
def test_wavefront_limits_sections_and_rows(n_ch, notch_max_hz):
    # 1-2 channels run as a wavefront (sections as lanes) for up to WAVE_SECTIONS sections
    # and calls of at least WAVE_MIN_ROWS rows, else the channel lanes; both give sosfilt's
    # bits and continue each other's state.
    cfg = PipelineConfig(fs_hz=2000.0, highpass_hz=30.0, notch_max_hz=notch_max_hz)
    n_sections = design(cfg).sos.shape[0]
    assert n_sections - 15 == (notch_max_hz > 450) + (notch_max_hz > 500)
    x = random_emg(700, n_ch, seed=n_sections)
    cuts = [1, 16, 17, 47, 48, 49, 300]  # around both row thresholds
    pipe = Pipeline(cfg, n_ch)
    parts = [pipe.process(np.ascontiguousarray(c)) for c in np.split(x, np.cumsum(cuts))]
    y_ref, e_ref, state_ref = reference(cfg, x)
    np.testing.assert_array_equal(bits(np.vstack([p[0] for p in parts])), bits(y_ref))
    np.testing.assert_array_equal(bits(np.vstack([p[1] for p in parts])), bits(e_ref))
    np.testing.assert_array_equal(bits(pipe._state), bits(state_ref))
    np.testing.assert_array_equal(
        bits(y_ref), bits(signal.sosfilt(design(cfg).sos, x, axis=0)))


def test_kernel_refuses_arrays_it_would_misaddress_without_touching_anything():
    kernel = _entry_point(kernels_fast.get_kernel(4))  # what the pipeline calls
    d = design(PipelineConfig(fs_hz=2000.0))
    state = kernels.pack_state(d.sos, d.env_sos, d.window, 4)
    x, y, e = random_emg(16, 4), np.zeros((16, 4)), np.zeros((16, 4))
    bad = {
        "Fortran order": (np.asfortranarray(x), y, e),
        "every other row": (random_emg(32, 4)[::2], y, e),
        "short output": (x, y[:8], e),
        "more columns": (random_emg(16, 5), y, e),
        "fewer columns": (x[:, :3].copy(), y, e),
    }
    for name, (xb, yb, eb) in bad.items():
        before = (state.copy(), y.copy(), e.copy())
        with pytest.raises(ValueError, match="C-ordered"):
            kernel(state, xb, yb, eb, True)
        for now, then in zip((state, y, e), before, strict=True):
            np.testing.assert_array_equal(now, then, err_msg=name)
    assert kernel(state, x[:0], y[:0], e[:0], True) is True  # empty: nothing to address


@pytest.mark.parametrize("n_ch", [1, 4, 16])
def test_pipeline_fast_path_converts_or_refuses_what_the_kernel_cannot_take(n_ch):
    x = random_emg(48, n_ch, seed=7)
    cfg = PipelineConfig(fs_hz=2000.0)
    want = Pipeline(cfg, n_ch).process(x)
    big_endian = x.astype(">f8")
    read_only = x.copy()
    read_only.flags.writeable = False
    inputs = {
        "Fortran order": np.asfortranarray(x),
        "big-endian": big_endian,  # float64 of another byte order: must be converted
        "read-only": read_only,
        "strided rows": np.repeat(x, 2, axis=0)[::2],
        "nested list": x.tolist(),
    }
    if n_ch == 1:
        inputs["1-D"] = x[:, 0].copy()
    for name, xin in inputs.items():
        for use_buffers in (False, True):
            pipe = Pipeline(cfg, n_ch)
            out = pipe.buffers(16) if use_buffers else None
            # Copied at once: with buffers, the next call overwrites the result.
            y = np.vstack([pipe.process(part, out)[0].copy() for part in _split(xin, 16)])
            np.testing.assert_array_equal(bits(y), bits(want[0]), err_msg=name)
    # int64 has float64's item size: Numba's entry point alone would read its bits as
    # doubles. The pipeline converts it (the values, not the bits).
    as_int = np.rint(x).astype(np.int64)
    np.testing.assert_array_equal(Pipeline(cfg, n_ch).process(as_int)[0],
                                  Pipeline(cfg, n_ch).process(as_int.astype(float))[0])


def _split(x, rows):
    if isinstance(x, list):
        return [x[i:i + rows] for i in range(0, len(x), rows)]
    return [x[i:i + rows] for i in range(0, x.shape[0], rows)]


def test_fast_path_errors_say_what_is_wrong_and_leave_the_state():
    pipe = Pipeline(PipelineConfig(fs_hz=2000.0), 4)
    x = random_emg(16, 4)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 4\)"):
        pipe.process(random_emg(16, 5))
    with pytest.raises(ValueError, match=r"shape \(n_samples, 4\)"):
        pipe.process(random_emg(16, 3), out=pipe.buffers(16))
    with pytest.raises(ValueError, match=r"buffers\(16\) given for 20 samples"):
        pipe.process(random_emg(20, 4), out=pipe.buffers(16))
    np.testing.assert_array_equal(pipe.process(x)[0], Pipeline(pipe.config, 4).process(x)[0])


def test_design_is_remembered_but_every_caller_gets_its_own_arrays():
    cfg = PipelineConfig(fs_hz=2000.0)
    first = design(cfg)
    first.sos[:] = 0.0  # a caller scribbling on its copy
    again = design(PipelineConfig(fs_hz=2000.0))
    assert again.sos.flags.writeable and np.all(again.sos[:, 3] == 1.0)
    stages = design_stages(cfg)
    stages[0][1][:] = 0.0
    assert np.all(design_stages(cfg)[0][1][:, 3] == 1.0)
    # Unhashable parameters are designed, not remembered.
    listed = design(PipelineConfig(fs_hz=2000.0, band_hz=[20.0, 450.0]))
    np.testing.assert_array_equal(listed.sos, again.sos)
