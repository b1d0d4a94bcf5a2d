"""The NumPy filter design gives SciPy's coefficients bit for bit, and keeps SciPy unloaded."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import signal

from emgfeedback.dsp.iir_design import butter_sos, group_delay_samples, iirnotch_ba, sos_response

RATES_HZ = (250.0, 500.0, 1000.0, 1024.0, 2000.0, 4000.0, 10000.0)


@pytest.mark.parametrize("fs_hz", RATES_HZ)
def test_butterworth_sections_are_scipys_bit_for_bit(fs_hz):
    for order in range(1, 11):
        for low, high in ((20.0, 450.0), (5.0, 30.0), (1.0, 0.4 * fs_hz), (50.0, 0.45 * fs_hz)):
            if not 0 < low < high < fs_hz / 2:
                continue
            expected = signal.butter(order, [low, high], btype="bandpass", fs=fs_hz,
                                     output="sos")
            np.testing.assert_array_equal(butter_sos(order, [low, high], "bandpass", fs_hz),
                                          expected)
        for corner in (0.5, 6.0, 30.0, 0.3 * fs_hz, 0.45 * fs_hz):
            for btype in ("lowpass", "highpass"):
                expected = signal.butter(order, corner, btype=btype, fs=fs_hz, output="sos")
                np.testing.assert_array_equal(butter_sos(order, corner, btype, fs_hz), expected)


@pytest.mark.parametrize("fs_hz", RATES_HZ)
def test_notches_and_group_delays_are_scipys_bit_for_bit(fs_hz):
    for f0 in [f for f in (50.0, 60.0, 150.0, 0.4 * fs_hz) if f < fs_hz / 2]:
        for q in (1.0, 30.0, 35.5):
            b, a = signal.iirnotch(f0, q, fs=fs_hz)
            ours = iirnotch_ba(f0, q, fs_hz)
            np.testing.assert_array_equal(ours[0], b)
            np.testing.assert_array_equal(ours[1], a)
    for section in butter_sos(4, 6.0, "lowpass", fs_hz):
        for f in (0.0, 0.1, 1.0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SciPy warns near a singular response
                expected = signal.group_delay((section[:3], section[3:]), w=[f], fs=fs_hz)[1][0]
            assert group_delay_samples(section[:3], section[3:], f, fs_hz) == expected


def test_unknown_band_type_is_refused():
    with pytest.raises(ValueError, match="bandstop"):
        butter_sos(2, [10.0, 20.0], "bandstop", 1000.0)


def test_building_and_running_a_pipeline_leaves_scipy_signal_unloaded():
    # scipy.signal is ~64 MB of RSS; the recording path must not need it for its filters.
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from emgfeedback.dsp import KindPipeline, PipelineConfig\n"
        "for env in ('rms', 'linear'):\n"
        "    pipe = KindPipeline(PipelineConfig(envelope=env, highpass_hz=30.0), ['raw', 'env'])\n"
        "    pipe.process(np.zeros((16, 2)))\n"
        "print(sorted(m for m in sys.modules if m.startswith('scipy.signal')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("fs_hz", [500.0, 1000.0, 1926.0, 2000.0, 4000.0])
@pytest.mark.parametrize("mains_hz", [50.0, 60.0])
def test_section_responses_are_scipys_bit_for_bit(fs_hz, mains_hz):
    from emgfeedback.dsp.pipeline import design_stages
    from emgfeedback.runtime.processor import default_pipeline_config

    for _name, sos in design_stages(default_pipeline_config(fs_hz, mains_hz)):
        for freqs in (np.fft.rfftfreq(256, 1 / fs_hz), np.linspace(0, fs_hz / 2, 77), [50.0, 60.0]):
            expected = signal.sosfreqz(sos, worN=np.asarray(freqs, float), fs=fs_hz)[1]
            np.testing.assert_array_equal(sos_response(sos, freqs, fs_hz), expected)
