"""The compiled loops of the EDF integer path (issue 16.4, ``io/edf_kernels.py``) give
NumPy's values bit for bit: the records' decode, the integers turned back into physical
values, and the read pass's per-block helpers built on them."""

from __future__ import annotations

import json

import numpy as np

from emgfeedback.analysis import streaming
from emgfeedback.analysis.streaming_kernels import ValueSet, mark_digits
from emgfeedback.analysis.streaming_read import DigitValues, ReadPass
from emgfeedback.io import edf_reader
from emgfeedback.io.edf_kernels import decode_records, physical_rows
from emgfeedback.io.recordings import open_recording
from tests.analysis.test_analyze_digits import _edf as digits_edf


def _bits(a):
    return np.ascontiguousarray(a).view(np.int64)


def test_decoded_records_are_numpys_bit_for_bit():
    rng = np.random.default_rng(11)
    spr, n_sig, m = 50, 3, 7
    words = rng.integers(-32768, 32768, size=(m, spr * n_sig), dtype=np.int64)
    words[0, :4] = [-32768, 32767, 0, -1]  # the ends of the range
    recs = words.astype("<i2").view(np.uint8).reshape(m, -1)
    gains = np.array([0.0381472, -1.7, 3e-4])
    offsets = np.array([0.5, -12.25, 1e3])
    cols = [2, 0]  # signals 2 and 0, in that order
    first = [c * spr for c in cols]
    out, dig = decode_records(recs, first, spr, gains[cols], offsets[cols])
    for j, c in enumerate(cols):
        d = words[:, c * spr:(c + 1) * spr].reshape(-1).astype(np.int16)
        want = np.multiply(d, gains[c])  # edf_reader._decode's NumPy operations
        want += offsets[c]
        assert np.array_equal(dig[:, j], d)
        assert np.array_equal(_bits(out[:, j]), _bits(want))


def test_physical_rows_are_numpys_for_16_and_24_bit_integers():
    rng = np.random.default_rng(12)
    gains, offsets = np.array([0.0375, -2.5e-3]), np.array([1.25, -0.75])
    for dtype, top in ((np.int16, 2**15), (np.int32, 2**23)):
        d = rng.integers(-top, top, size=(3000, 2)).astype(dtype)
        want = d.astype(np.float64)
        want *= gains
        want += offsets
        assert np.array_equal(_bits(physical_rows(d, gains, offsets)), _bits(want))


def _edf(tmp_path):
    # the integer-path tests' recording (two channels, bursts, hum, one gap)
    return digits_edf(tmp_path, seconds=24.0, fs=250.0)


def test_the_compiled_integer_path_reads_what_numpy_reads(tmp_path, monkeypatch):
    lay = edf_reader.scan_edf(_edf(tmp_path))

    def read():
        pairs = list(edf_reader.iter_edf(lay, [1, 0], 8, digital=True))
        x = np.concatenate([p for p, _ in pairs])
        d = np.concatenate([q for _, q in pairs])
        return x, d, edf_reader.physical(lay, d, [1, 0])

    monkeypatch.setattr(edf_reader, "COMPILED_ROWS", 10**9)
    want = read()
    monkeypatch.setattr(edf_reader, "COMPILED_ROWS", 1)
    got = read()
    assert np.isnan(want[0]).any()  # the gap is read as missing
    assert np.array_equal(got[0], want[0], equal_nan=True)
    assert np.array_equal(got[1], want[1])
    ok = ~np.isnan(want[0])
    assert np.array_equal(_bits(got[2][ok]), _bits(want[2][ok]))


def test_distinct_integers_of_every_column_at_once():
    rng = np.random.default_rng(13)
    d = rng.integers(-400, 400, size=(5000, 3)).astype(np.int16)
    d[0] = [-32768, 32767, -1]
    seen = np.zeros((3, 1 << 16), dtype=bool)
    mark_digits(d, seen)
    for c in range(3):
        want = np.zeros(1 << 16, dtype=bool)
        want[d[:, c].view(np.uint16)] = True
        assert np.array_equal(seen[c], want)
    # Sets that do not share one table are left to add() column by column.
    own = [DigitValues(None, c) for c in range(3)]
    assert not DigitValues.mark_all(own, d)
    shared = [DigitValues(None, c, seen=seen[c]) for c in range(3)]
    assert DigitValues.mark_all(shared, d)
    # A 24-bit (BDF) file's sets are ValueSets: not for this pass.
    assert not DigitValues.mark_all([ValueSet() for _ in range(3)], d)


def test_the_read_pass_shortcuts_change_no_result(tmp_path, monkeypatch):
    p = _edf(tmp_path)

    def result():
        src = open_recording(p)
        out = streaming.analyse_source(src, src.fs_hz, block_windows=4)
        out.pop("_arrays")
        return json.dumps(out, default=float, sort_keys=True)

    fast = result()
    monkeypatch.setattr(ReadPass, "_off_windows_all", lambda self, x, w1: False)
    monkeypatch.setattr(DigitValues, "mark_all", staticmethod(lambda sets, digits: False))
    monkeypatch.setattr(edf_reader, "COMPILED_ROWS", 10**9)
    assert result() == fast
