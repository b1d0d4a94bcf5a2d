"""The SciPy-free zero-phase filter and Welch window equal SciPy's, bit for bit.

``analysis/zero_phase.py`` and the quality assessment's Hann window replace
``scipy.signal.sosfiltfilt`` / ``sosfilt_zi`` / ``get_window`` so that a recording process
need not load ``scipy.signal`` (issue 16, item 3). SciPy is the reference here.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from emgfeedback.analysis.zero_phase import sosfilt_zi, sosfiltfilt
from emgfeedback.dsp.iir_design import butter_sos


@pytest.mark.parametrize("order,corners,btype,fs", [
    (2, (5.0, 30.0), "bandpass", 2000.0), (2, (5.0, 30.0), "bandpass", 1000.0),
    (2, (5.0, 30.0), "bandpass", 250.0), (4, (20.0, 450.0), "bandpass", 2000.0),
    (3, 10.0, "lowpass", 500.0), (1, 20.0, "highpass", 1000.0)])
def test_sosfilt_zi_and_sosfiltfilt_are_scipys(order, corners, btype, fs):
    sos = butter_sos(order, corners, btype, fs)
    assert np.array_equal(sosfilt_zi(sos), signal.sosfilt_zi(sos))
    rng = np.random.default_rng(order)
    x = rng.normal(0.0, 20.0, (int(3 * fs), 3)) + 400.0  # an offset: the edges matter
    want = signal.sosfiltfilt(sos, x, axis=0)
    got = sosfiltfilt(sos, x)
    assert got.shape == x.shape
    assert np.max(np.abs(got - want)) <= 1e-12 * np.max(np.abs(want))
    assert np.array_equal(got, want)  # in fact the same bits
    one = sosfiltfilt(sos, x[:, 1])
    assert one.shape == (x.shape[0],) and np.array_equal(one, signal.sosfiltfilt(sos, x[:, 1]))


def test_sosfilt_zi_normalises_a_leading_coefficient_as_scipy_does():
    sos = butter_sos(2, (5.0, 30.0), "bandpass", 2000.0) * np.array([1, 1, 1, 2, 2, 2.0])
    assert np.array_equal(sosfilt_zi(sos), signal.sosfilt_zi(sos))


def test_a_signal_no_longer_than_the_padding_is_refused_as_scipy_refuses_it():
    sos = butter_sos(2, (5.0, 30.0), "bandpass", 2000.0)  # 2 sections: 15 samples a side
    with pytest.raises(ValueError, match="padlen, which is 15"):
        sosfiltfilt(sos, np.ones(15))
    with pytest.raises(ValueError, match="padlen, which is 15"):
        signal.sosfiltfilt(sos, np.ones(15))
    assert sosfiltfilt(sos, np.ones(16)).shape == (16,)


@pytest.mark.parametrize("n", [64, 500, 1000, 1234, 2000, 2001])
def test_the_quality_spectrum_window_is_scipys_hann(n):
    from emgfeedback.analysis.quality import _hann

    assert np.array_equal(_hann(n), signal.get_window("hann", n))


def test_the_quality_ecg_filter_is_scipys_design_and_filter():
    from emgfeedback.analysis.quality import _ecg_low, _ecg_sos

    fs = 2000.0
    want_sos = signal.butter(2, [5.0, 30.0], btype="band", fs=fs, output="sos")
    assert np.array_equal(_ecg_sos(fs), want_sos)
    x = np.random.default_rng(3).normal(0.0, 50.0, int(8 * fs))
    assert np.array_equal(_ecg_low(x, fs), signal.sosfiltfilt(want_sos, x))


def test_assessing_quality_loads_no_scipy_signal_or_fft():
    # A recording process assesses quality every 2 s: the mains spectrum, rails, ECG
    # (8 s windows here, so the ECG filter runs too) must not load scipy.signal/scipy.fft.
    probe = (
        "import sys, numpy as np\n"
        "from emgfeedback.analysis.quality import assess_quality\n"
        "x = np.random.default_rng(1).normal(0, 10, (16000, 2))\n"
        "q = assess_quality(x, 2000.0, mains_hz=50.0)\n"
        "assert len(q) == 2 and q[0]['snr_db'] == q[0]['snr_db']\n"
        "print([m for m in ('scipy.signal', 'scipy.fft') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=300, check=True).stdout.strip().splitlines()[-1]
    assert out == "[]"


def test_the_quality_snr_percentiles_are_numpys_bit_for_bit():
    # snr_db reads the 10th and 95th percentiles of the window RMS with its own short
    # version of NumPy's "linear" percentile (engine thread): the same bits as NumPy.
    from emgfeedback.analysis.quality import _percentiles_linear, snr_from_window_rms

    rng = np.random.default_rng(11)
    for n in [*range(2, 30), 101, 4000]:
        for k in range(30):
            v = rng.lognormal(0.0, 2.0, n) if k % 2 else np.round(rng.normal(9, 3, n), 1)
            assert np.array_equal(_percentiles_linear(v, (10.0, 95.0)),
                                  np.percentile(v, [10, 95]))
    v = rng.lognormal(0.0, 1.0, 8)
    lo, hi = np.percentile(v, [10, 95])
    assert snr_from_window_rms(v) == 20.0 * math.log10(hi / lo)
