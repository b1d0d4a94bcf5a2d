"""Importing this runs one cached one-line Numba kernel: Numba's JIT start-up, measured alone.

Used by ``benchmarks/bench_record.py`` for its *JIT floor*: the first call of any compiled
kernel (even this one) loads LLVM and costs tens of MB, whatever the kernels that follow.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def _one(x):
    return x + 1.0


_one(1.0)
