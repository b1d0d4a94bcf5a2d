"""The SciPy-free filter steps the simulator uses are SciPy's, bit for bit.

``dsp.sosfilt.sosfilt_columns`` against ``scipy.signal.sosfilt(axis=0, zi=...)``, the
bilinear transform and section pairing against SciPy's, and the simulator's noise shaping,
sensor high-pass and envelope filters against the SciPy calls they replace; and a
``sim://`` stream, which used to import ``scipy.signal``, no longer does.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from emgfeedback.acquisition.simulator import ENV_CUTOFF_HZ, SENSOR_HIGHPASS_HZ, emg_shaping_sos
from emgfeedback.dsp.iir_design import bilinear_zpk, butter_sos, zpk2sos
from emgfeedback.dsp.sosfilt import sosfilt_columns


def _scipy_shaping_sos(fs_hz, low_hz=60.0, high_hz=250.0):
    # What the simulator computed with SciPy before (acquisition/simulator.py).
    wl, wh = 2.0 * math.pi * low_hz, 2.0 * math.pi * high_hz
    z, p, k = signal.bilinear_zpk([0.0], [-wl, -wh, -wh], 1.0, fs_hz)
    sos = signal.zpk2sos(z, p, k)
    impulse = np.zeros(int(max(4.0 * fs_hz, 4096)))
    impulse[0] = 1.0
    sos[0, :3] /= math.sqrt(float(np.sum(signal.sosfilt(sos, impulse) ** 2)))
    return sos


@pytest.mark.parametrize("fs_hz", [250.0, 500.0, 1000.0, 2000.0, 4000.0])
def test_simulator_filters_are_the_scipy_designs(fs_hz):
    import inspect

    from emgfeedback.acquisition import simulator

    params = inspect.signature(emg_shaping_sos).parameters
    args = {k: v.default for k, v in params.items() if k != "fs_hz"}
    assert np.array_equal(emg_shaping_sos(fs_hz), _scipy_shaping_sos(fs_hz, *args.values()))
    assert simulator.__dict__.get("signal") is None  # no SciPy module left in the simulator
    env = signal.butter(2, min(ENV_CUTOFF_HZ, 0.4 * fs_hz), fs=fs_hz, output="sos")
    hp = signal.butter(2, min(SENSOR_HIGHPASS_HZ, 0.2 * fs_hz), "highpass", fs=fs_hz,
                       output="sos")
    assert np.array_equal(butter_sos(2, min(ENV_CUTOFF_HZ, 0.4 * fs_hz), "lowpass", fs_hz), env)
    assert np.array_equal(butter_sos(2, min(SENSOR_HIGHPASS_HZ, 0.2 * fs_hz), "highpass",
                                     fs_hz), hp)


@pytest.mark.parametrize("poles", [[-300.0, -1500.0, -1500.0], [-40.0 + 90j, -40.0 - 90j],
                                   [-1.0, -2.0, -3.0, -4.0]])
def test_bilinear_and_pairing_match_scipy(poles):
    fs_hz = 1000.0
    ours = bilinear_zpk([0.0], poles, 2.5, fs_hz)
    theirs = signal.bilinear_zpk([0.0], poles, 2.5, fs_hz)
    for a, b in zip(ours, theirs, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(zpk2sos(*ours), signal.zpk2sos(*theirs))


@pytest.mark.parametrize("n_channels", [1, 3, 8])
def test_sosfilt_columns_is_scipy_bit_for_bit_across_blocks(n_channels):
    rng = np.random.default_rng(n_channels)
    sos = np.vstack([butter_sos(4, (20.0, 450.0), "bandpass", 2000.0),
                     emg_shaping_sos(2000.0)])
    x = rng.standard_normal((3001, n_channels)) * 50.0
    zi = rng.standard_normal((sos.shape[0], 2, n_channels))
    want, want_zf = signal.sosfilt(sos, x, axis=0, zi=zi)
    # In uneven blocks carrying the state: the same bits as one SciPy call.
    got, state = [], zi
    for a, b in ((0, 1), (1, 700), (700, 700), (700, 2999), (2999, 3001)):
        y, state = sosfilt_columns(sos, x[a:b], state)
        got.append(y)
    assert np.array_equal(np.vstack(got), want)
    assert np.array_equal(state, want_zf)
    assert np.array_equal(x, np.asarray(x))  # input untouched (copy semantics)


def test_sosfilt_columns_says_what_shape_it_needs():
    sos = butter_sos(2, 100.0, "lowpass", 1000.0)
    with pytest.raises(ValueError, match="zi must have shape"):
        sosfilt_columns(sos, np.zeros((10, 2)), np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="n_samples, n_channels"):
        sosfilt_columns(sos, np.zeros(10), np.zeros((1, 2, 1)))


def test_a_simulated_stream_loads_no_scipy_signal():
    code = ("import sys\n"
            "from emgfeedback.acquisition.simulator import Simulator\n"
            "sim = Simulator(fs_hz=2000.0, n_channels=4, outputs=('raw', 'raw', 'env', 'rect'))\n"
            "x = sim.generate_uv(5000)\n"
            "assert x.shape == (5000, 4) and (x != 0).all(axis=0).any()\n"
            "print('scipy.signal' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
