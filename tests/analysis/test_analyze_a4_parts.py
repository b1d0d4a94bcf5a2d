"""``analyze``'s copies saved (issue 16.4) change no value.

* The ECG spans are filtered from their blocks' pieces copied once into the padded array,
  two spans side by side (``zero_phase.sosfiltfilt_parts``): the same bits as each span's
  pieces joined, zeroed where not finite, then ``sosfiltfilt``.
* The mains spectra's Welch hands half of its columns' transforms to a helper thread: the
  same bits as one thread (the segments' means still come from the whole block, whose
  layout sets NumPy's order of summation).
* ``analyze`` loads Numba's registries with SciPy's BLAS wrappers and cffi hidden: neither
  is imported, both still import afterwards, and a cached kernel still runs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emgfeedback.analysis.blocks import Welch, Worker
from emgfeedback.analysis.zero_phase import sosfiltfilt, sosfiltfilt_parts
from emgfeedback.dsp.iir_design import butter_sos


@pytest.mark.parametrize("sizes", [[3, 50, 1, 400], [454], [1, 1, 200, 2, 7]])
def test_the_pieces_filtered_in_place_are_the_joined_signal_filtered(sizes):
    sos = butter_sos(2, (5.0, 30.0), "bandpass", 1000.0)
    rng = np.random.default_rng(len(sizes))
    parts = [rng.normal(0.0, 20.0, (k, 3)) + 300.0 for k in sizes]
    joined = np.concatenate(parts)
    assert np.array_equal(sosfiltfilt_parts(sos, parts), sosfiltfilt(sos, joined))
    parts[-1][-1, 0] = np.nan  # the last sample: the right edge's odd extension uses it
    parts[0][0, 2] = -np.inf
    joined = np.concatenate(parts)
    zeroed = np.where(np.isfinite(joined), joined, 0.0)
    got = sosfiltfilt_parts(sos, parts, zero_nonfinite=True)
    assert np.isfinite(got).all()
    assert np.array_equal(got, sosfiltfilt(sos, zeroed))


def test_signals_filtered_side_by_side_are_each_filtered_alone():
    sos = butter_sos(2, (5.0, 30.0), "bandpass", 1000.0)
    rng = np.random.default_rng(9)
    a = [rng.normal(0.0, 20.0, (k, 2)) - 100.0 for k in (40, 300, 60)]
    b = [rng.normal(0.0, 5.0, (k, 2)) + 50.0 for k in (1, 399)]
    b[1][7, 1] = np.nan
    both = sosfiltfilt_parts(sos, a, b, zero_nonfinite=True)
    assert both.shape == (400, 4)
    assert np.array_equal(both[:, :2], sosfiltfilt_parts(sos, a))
    assert np.array_equal(both[:, 2:], sosfiltfilt_parts(sos, b, zero_nonfinite=True))
    with pytest.raises(ValueError, match="same length"):
        sosfiltfilt_parts(sos, a, b[1:])


def test_pieces_no_longer_than_the_padding_are_refused():
    sos = butter_sos(2, (5.0, 30.0), "bandpass", 1000.0)  # 15 samples a side
    with pytest.raises(ValueError, match="padlen, which is 15"):
        sosfiltfilt_parts(sos, [np.ones((10, 2)), np.ones((5, 2))])
    assert sosfiltfilt_parts(sos, [np.ones((10, 2)), np.ones((6, 2))]).shape == (16, 2)


@pytest.mark.parametrize("n_cols", [1, 2, 3, 8])
def test_a_welch_with_a_helper_thread_gives_the_same_spectra(n_cols):
    rng = np.random.default_rng(n_cols)
    blocks = [rng.normal(0.0, 30.0, (k, n_cols)) + 7.0 for k in (2500, 1000, 3333, 17)]
    alone, helped, helper = Welch(500.0, 500, n_cols), None, Worker()
    try:
        helped = Welch(500.0, 500, n_cols, helper)
        for x in blocks:  # the first block is a transposed view, the next ones are joined
            alone.add(x)
            helped.add(x)
    finally:
        helper.close()
    assert helped.count == alone.count == 26
    assert np.array_equal(helped.result()[1], alone.result()[1])


def test_numbas_registries_load_without_scipy_linalg_or_cffi_which_still_import_after():
    probe = """
import json, sys
import numpy as np
from emgfeedback.analysis.streaming_read import numba_without_blas_check
numba_without_blas_check()
import numba.np.arraymath  # loaded by the call above
loaded = [m for m in ("scipy.linalg", "cffi") if m in sys.modules]
from emgfeedback.io.edf_kernels import physical_rows  # a cached kernel runs
out = physical_rows(np.array([[1, -2]], dtype=np.int16), [0.5, 2.0], [1.0, 0.0])
import scipy.linalg.cython_blas  # importable as usual afterwards
try:
    import cffi  # noqa: F401 (optional: Numba works without it)
except ImportError:
    pass
print(json.dumps([loaded, out.tolist(), "scipy.linalg" in sys.modules]))
"""
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, check=True)
    loaded, out, later = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == []
    assert out == [[1.5, -4.0]]
    assert later
