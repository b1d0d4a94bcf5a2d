"""One JSON sanitiser for the whole package (issue 17: there were five copies).

:func:`json_ready` turns results, cues, summaries and markers into values that
``json.dumps(..., allow_nan=False)`` writes as standard JSON: NumPy scalars and arrays
become Python numbers and lists, NaN and infinity become ``None`` (JSON ``null``),
tuples become lists and mapping keys become strings. Anything else is returned as it
is (callers that must never fail pass ``default=str`` to ``json.dumps``).

This module imports only NumPy, so every layer (protocol, storage, analysis, commands,
runtime) may use it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["json_ready"]


def json_ready(value: Any, *, drop_private: bool = False) -> Any:
    """A copy of ``value`` that ``json.dumps(..., allow_nan=False)`` accepts.

    Parameters
    ----------
    value : object
        Nested dicts, lists, tuples, NumPy arrays and scalars, Python numbers, strings.
    drop_private : bool
        Leave out mapping keys starting with ``_`` (analysis results keep their arrays
        under ``_arrays``, which are not part of the report).

    Returns
    -------
    object
        Dicts (string keys), lists, ``bool``, ``int``, finite ``float`` or ``None``,
        strings; other objects unchanged.
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v, drop_private=drop_private) for k, v in value.items()
                if not (drop_private and str(k).startswith("_"))}
    if isinstance(value, (list, tuple)):
        return [json_ready(v, drop_private=drop_private) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist(), drop_private=drop_private)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
