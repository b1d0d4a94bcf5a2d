"""Two faster loops of ``analyze`` give the bits of the code they replaced.

The sections loop (``dsp.sosfilt.sosfilt_rows``: the ECG band's zero-phase filter, the
simulator) runs two sections per pass over the block instead of one, and the mains spectra
detrend, window and sum their segments in compiled loops (``streaming_kernels.welch_power``)
instead of NumPy expressions. Both claim the same bits; the references here are SciPy's
``sosfilt`` and the replaced NumPy computation.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from emgfeedback.analysis.blocks import Welch, hann_window
from emgfeedback.analysis.zero_phase import sosfiltfilt
from emgfeedback.dsp.iir_design import butter_sos
from emgfeedback.dsp.sosfilt import sosfilt_rows


@pytest.mark.parametrize("n_sections", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("reverse", [False, True])
def test_two_sections_per_pass_give_scipys_bits_in_either_direction(n_sections, reverse):
    rng = np.random.default_rng(n_sections)
    sos = np.concatenate([butter_sos(4, (20.0, 450.0), "bandpass", 2000.0)] * 2)[:n_sections]
    sos = np.ascontiguousarray(sos)
    x = rng.normal(0.0, 50.0, (3000, 3)) + 100.0
    zi = rng.normal(0.0, 5.0, (n_sections, 2, 3))
    src = x[::-1] if reverse else x
    want, want_zf = signal.sosfilt(sos, src, axis=0, zi=zi)
    got, got_zf = x.copy(), zi.copy()
    sosfilt_rows(sos, got, got_zf, reverse)
    assert np.array_equal(got[::-1] if reverse else got, want)
    assert np.array_equal(got_zf, want_zf)
    assert not np.array_equal(got, x)  # it filtered


def test_an_odd_number_of_sections_is_scipys_zero_phase_filter():
    sos = butter_sos(3, (5.0, 30.0), "bandpass", 1000.0)  # three sections
    assert sos.shape[0] == 3
    x = np.random.default_rng(7).normal(0.0, 20.0, (4000, 2)) + 300.0
    assert np.array_equal(sosfiltfilt(sos, x), signal.sosfiltfilt(sos, x, axis=0))


def _numpy_welch_sums(blocks, nper):
    """What ``Welch.add`` computed with NumPy expressions (the previous code)."""
    step = nper - nper // 2
    win = hann_window(nper)
    scale = 1.0 / (float(nper) * float(np.sum(win * win)))  # fs_hz == nper here
    k = blocks[0].shape[1]
    tail, total, count = np.empty((k, 0)), np.zeros((k, nper // 2 + 1)), 0
    for x in blocks:
        rows = x.T  # a transposed view: NumPy's mean then sums in another order
        data = np.concatenate([tail, rows], axis=1) if tail.shape[1] else rows
        n_seg = (data.shape[1] - nper) // step + 1 if data.shape[1] >= nper else 0
        if n_seg > 0:
            segs = sliding_window_view(data, nper, axis=1)[:, : n_seg * step: step]
            segs = segs - segs.mean(axis=2, keepdims=True)
            segs *= win
            spec = np.fft.rfft(segs, axis=2)
            p = np.square(spec.real)
            p += np.square(spec.imag)
            p = p.sum(axis=1) * scale
            if nper % 2:
                p[:, 1:] *= 2.0
            else:
                p[:, 1:-1] *= 2.0
            total += p
            count += n_seg
        tail = data[:, n_seg * step:].copy()
    return total, count


@pytest.mark.parametrize("nper,sizes", [(1000, [16_000, 16_000, 3_001, 7]),
                                        (999, [2_500, 700, 5_000]),
                                        (250, [100, 1_000, 251, 250])])
def test_the_compiled_welch_sums_are_the_numpy_ones(nper, sizes):
    rng = np.random.default_rng(nper)
    blocks = [rng.normal(0.0, 30.0, (n, 3)) + 200.0 for n in sizes]
    w = Welch(float(nper), nper, 3)
    for x in blocks:
        w.add(x)
    want, count = _numpy_welch_sums(blocks, nper)
    assert w.count == count > 0
    assert np.array_equal(w.sum, want)
