"""The read pass's integer path (issue 16.4): EDF files spill their 16-bit integers and
are converted to µV again on reading, bit for bit."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from emgfeedback.analysis import streaming
from emgfeedback.analysis.streaming_kernels import ValueSet
from emgfeedback.analysis.streaming_read import DigitValues, RawSpill
from emgfeedback.io import edf_reader
from emgfeedback.io.recordings import open_recording


def _edf(tmp_path, seconds=30.0, fs=200.0, gap=True):
    import edfio

    rng = np.random.default_rng(3)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    burst = (np.sin(2 * np.pi * t / 6.0) > 0.6)
    x = [rng.normal(size=n) * (4.0 + 60.0 * burst) + 3.0 * np.sin(2 * np.pi * 50 * t)
         for _ in range(2)]
    ann = [edfio.EdfAnnotation(11.0, 0.75, "gap (unplug): 150 samples missing")] if gap else []
    edf = edfio.Edf([edfio.EdfSignal(x[i], fs, label=f"glute med {'LR'[i]}",
                                     physical_dimension="uV") for i in range(2)],
                    annotations=ann)
    p = tmp_path / "digits.edf"
    edf.write(p)
    return p


def test_edf_digits_give_the_blocks_back_bit_for_bit(tmp_path):
    p = _edf(tmp_path)
    base = edf_reader.scan_edf(p)
    assert edf_reader.exact_digital(base)
    spr, n = base.spr[base.keep[0]], base.n_records
    jumps = [r * spr + (0 if r < 4 else 37) for r in range(n)]
    for lay in (base, dataclasses.replace(base, record_onsets=jumps, first=3,
                                          end=jumps[-1] + spr - 5)):
        for cols in ([0, 1], [1]):
            want = np.concatenate(list(edf_reader.iter_edf(lay, cols, 4)))
            pairs = list(edf_reader.iter_edf(lay, cols, 4, digital=True))
            got = np.concatenate([x for x, _ in pairs])
            digits = np.concatenate([d for _, d in pairs])
            assert digits.dtype == np.int16
            assert np.array_equal(got, want, equal_nan=True)
            again = edf_reader.physical(lay, digits, cols)
            ok = ~np.isnan(want)
            assert np.isnan(want).any()  # the gap (and the jump) are in the test
            assert np.array_equal(again[ok].view(np.int64), want[ok].view(np.int64))


def test_raw_spill_of_integers_reads_back_the_same_bits(tmp_path):
    src = open_recording(_edf(tmp_path))

    class Job:
        def spill(self, name, n_cols, dtype):
            from emgfeedback.analysis.blocks import Spill
            return Spill(str(tmp_path), name, n_cols, dtype)

    raw = RawSpill(Job(), 2, src, [0, 1], [1000.0, 1.0], [None, 2.5])
    raw.set_dtype(np.int16)
    want = []
    for x, d in src.digital_chunks():
        x = x.copy()
        x[:, 0] *= 1000.0
        x[:, 1] -= 2.5
        raw.append(x, d, np.isfinite(x))
        want.append(x)
    want = np.concatenate(want)
    for a, b in ((0, want.shape[0]), (2150, 2390), (2199, 2201), (0, 1)):
        got, ok = raw.read(a, b), ~np.isnan(want[a:b])
        assert np.array_equal(np.isnan(got), ~ok)
        assert np.array_equal(got[ok].view(np.int64), want[a:b][ok].view(np.int64))
    assert np.isnan(want).any()
    raw.close()


def test_distinct_values_from_integers_are_the_value_sets():
    rng = np.random.default_rng(5)
    d = rng.integers(-300, 300, size=(4000, 1)).astype(np.int16)

    class Raw:
        def to_uv(self, digits, channels):
            return digits * 0.0375 + 1.25

    x = d * 0.0375 + 1.25
    keep = np.ones(4000, bool)
    keep[100:200] = False
    x[~keep] = np.nan
    dv, vs = DigitValues(Raw(), 0), ValueSet()
    dv.add(d[:, 0], keep)
    vs.add(x, 0)
    assert np.array_equal(dv.values(), vs.values())
    many = DigitValues(Raw(), 0, limit=100)
    many.add(d[:, 0])
    assert many.values() is None


def test_blocked_analysis_of_integers_is_that_of_floats(tmp_path):
    p = _edf(tmp_path)

    def result(digital, mains=None):
        src = open_recording(p)
        if not digital:
            src._digital = None
        assert src.has_digits == digital
        out = streaming.analyse_source(src, src.fs_hz, block_windows=7, mains_hz=mains)
        out.pop("_arrays")
        return json.dumps(out, default=float, sort_keys=True)

    assert result(True) == result(False)
    assert result(True, mains=60.0) == result(False, mains=60.0)
