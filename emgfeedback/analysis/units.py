"""Units of recorded samples: which are EMG and how they convert to µV.

Pure: the readers in :mod:`emgfeedback.io.recordings` say what a file's units are; this
module says what they mean (one table for the whole-array and the block-wise analysis).
"""

from __future__ import annotations

import numpy as np

#: Units the analysis converts to µV (case-insensitive); anything else is "other".
UV_FACTORS = {"uv": 1.0, "µv": 1.0, "microvolt": 1.0, "mv": 1000.0, "v": 1e6}


def is_emg_unit(unit: str) -> bool:
    """Whether samples in ``unit`` are EMG the analysis reads (µV, mV, V or ADC counts).

    ``""`` (unknown) counts as µV.
    """
    return (unit or "uv").lower() in (*UV_FACTORS, "count", "counts")


def emg_channels(units, override: str | None = None) -> list[bool]:
    """Which channels are EMG (µV, mV, V or counts), as :func:`to_uv` decides.

    Parameters
    ----------
    units : sequence of str
        Each channel's unit as the file gives it (``""`` when unknown: µV).
    override : str, optional
        One unit for every channel (``analyze --units``).

    Returns
    -------
    list of bool
    """
    return [is_emg_unit(override or u) for u in units]


def to_uv(recording, units: str | None = None, uv_per_count: float = 1.0):
    """Samples in µV, and which channels are EMG.

    Parameters
    ----------
    recording : Recording or similar
        Anything with ``samples`` (``(n_samples, n_channels)``) and ``units`` (per
        channel), e.g. :class:`emgfeedback.io.recordings.Recording`.
    units : str, optional
        ``counts``, ``uv`` or ``mv`` for all channels, overriding the file's units.
    uv_per_count : float
        Scale for counts (µV per count); the mean is removed from counts.

    Returns
    -------
    tuple
        ``(samples_uv, is_emg)``: float64 array and a boolean per channel (False for
        channels in other units, e.g. a goniometer in degrees, which are kept as they are).
    """
    x = recording.samples.astype(np.float64, copy=True)
    is_emg = np.ones(x.shape[1], dtype=bool)
    for c in range(x.shape[1]):
        unit = (units or recording.units[c] or "uv").lower()
        if unit in ("count", "counts"):
            x[:, c] = (x[:, c] - np.nanmean(x[:, c])) * uv_per_count
        elif unit in UV_FACTORS:
            x[:, c] *= UV_FACTORS[unit]
        else:
            is_emg[c] = False
    return x, is_emg
