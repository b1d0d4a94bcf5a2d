"""Compiled loops of :mod:`.edf_reader`'s integer path (what ``analyze`` reads).

Why: NumPy decodes EDF records one signal at a time, each a strided column of the output
(a copy, a mixed-type multiply into a strided column, an add, the integers copied): about
6 ns per value, 0.35 s for an hour of 8 channels at 2 kHz; then the spilled integers are
turned back into physical values in three passes (``astype``, ``*=``, ``+=``). One pass
over the rows here, the channels of a sample side by side, does each in a fraction of that.

The values are NumPy's bit for bit: an integer converted to float64 is exact, then one
rounded product and one rounded sum per value (Numba does not fuse them into one
multiply-add without ``fastmath``); ``tests/analysis/test_analyze_digits.py`` compares.
Imported only by the integer path, which runs in ``analyze`` (where Numba is loaded
anyway), so reading an EDF file elsewhere does not load Numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _decode_rows(words, first, spr, gains, offsets, out, dig):
    m = words.shape[0]
    k = first.size
    for r in range(m):
        for s in range(spr):
            row = r * spr + s
            for j in range(k):
                d = words[r, first[j] + s]
                dig[row, j] = d
                out[row, j] = np.float64(d) * gains[j] + offsets[j]


def decode_records(recs: np.ndarray, first_words, spr: int, gains, offsets) -> tuple:
    """Physical values and integers of EDF (16-bit) records.

    Parameters
    ----------
    recs : numpy.ndarray
        ``(m, record_bytes)`` uint8, whole data records.
    first_words : sequence of int
        Per output column, where its signal's samples start in a record, in 16-bit words.
    spr : int
        Samples per record of those signals.
    gains, offsets : array_like
        Per output column, the signal's physical units per digital unit and offset.

    Returns
    -------
    tuple of numpy.ndarray
        ``(physical, digits)``, ``(m · spr, k)`` float64 and int16: what
        ``edf_reader._decode`` gives.
    """
    words = np.ascontiguousarray(recs).view("<i2")
    k = len(first_words)
    out = np.empty((recs.shape[0] * spr, k))
    dig = np.empty((recs.shape[0] * spr, k), np.int16)
    _decode_rows(words, np.asarray(first_words, dtype=np.int64), int(spr),
                 np.ascontiguousarray(gains, dtype=np.float64),
                 np.ascontiguousarray(offsets, dtype=np.float64), out, dig)
    return out, dig


@njit(cache=True, nogil=True)
def _physical_rows(digits, gains, offsets, out):
    n, k = digits.shape
    for i in range(n):
        for j in range(k):
            out[i, j] = np.float64(digits[i, j]) * gains[j] + offsets[j]


def physical_rows(digits: np.ndarray, gains, offsets) -> np.ndarray:
    """``digits.astype(float64) * gains + offsets`` per column (two roundings per value).

    Parameters
    ----------
    digits : numpy.ndarray
        ``(n, k)`` integers (int16 or int32).
    gains, offsets : array_like
        ``(k,)`` float64.

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` float64.
    """
    digits = np.ascontiguousarray(digits)
    out = np.empty(digits.shape)
    _physical_rows(digits, np.ascontiguousarray(gains, dtype=np.float64),
                   np.ascontiguousarray(offsets, dtype=np.float64), out)
    return out
