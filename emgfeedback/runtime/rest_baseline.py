"""A resting baseline measured live: collect a rest period from the engine, then measure it.

``emgfeedback baseline`` attaches a :class:`RestCollector` to the engine as a listener,
records the rest period, and calls :meth:`RestCollector.measure`: the numbers are
:func:`~emgfeedback.analysis.quantities.rest_quantities`, the rule ``analyze`` and
``report`` use too, so ``analyze --session`` of the stored session gives the same tone and
floor.
"""

from __future__ import annotations

import math

import numpy as np


class RestCollector:
    """An engine listener keeping the calibrated, filtered and enveloped signal of a rest.

    Parameters
    ----------
    n_channels : int
        Channels of the source.
    """

    def __init__(self, n_channels: int) -> None:
        self.n_channels = int(n_channels)
        self.starts: list[int] = []
        self.raw_blocks: list[np.ndarray] = []
        self.filtered_blocks: list[np.ndarray] = []
        self.envelope_blocks: list[np.ndarray] = []

    def __call__(self, processed) -> None:
        """Keep one processed chunk (engine thread)."""
        self.starts.append(processed.chunk.first_index)
        self.raw_blocks.append(processed.uv)
        self.filtered_blocks.append(processed.filtered_uv)
        self.envelope_blocks.append(processed.envelope_uv)

    @property
    def n_samples(self) -> int:
        """Samples from the first kept to one past the last, lost ones included."""
        return len(timeline(self.starts, self.filtered_blocks, self.n_channels))

    def measure(self, info, config, *, mains_hz: float = 50.0, measured_floor_uv=None,
                names=None) -> list[dict]:
        """Resting tone, floor, baseline and validity per channel of what was collected.

        Lost samples stay NaN (never rest), as when the stored session is analysed.

        Parameters
        ----------
        info : SourceInfo
            Gives the rate, channel names and calibration.
        config : PipelineConfig
            The pipeline that filtered the signal.
        mains_hz : float
            Mains frequency for the quality assessment's hum measure.
        measured_floor_uv : float, optional
            A measured floor that overrides a lower theoretical one.
        names : sequence of str, optional
            Channel names to store the results under (default: the source's).

        Returns
        -------
        list of dict
            See :func:`measure_baseline`.
        """
        filtered = timeline(self.starts, self.filtered_blocks, self.n_channels)
        raw = timeline(self.starts, self.raw_blocks, self.n_channels)
        envelope = timeline(self.starts, self.envelope_blocks, self.n_channels)
        quality = whole_quality(raw, filtered, info, config, mains_hz)
        return measure_baseline(raw, filtered, envelope, info, config, measured_floor_uv,
                                quality, names=names)


def measure_baseline(raw_uv: np.ndarray, filtered_uv: np.ndarray, envelope_uv: np.ndarray,
                     info, config, measured_floor_uv=None, quality=None,
                     names=None) -> list[dict]:
    """Resting tone, floor, baseline and validity per channel from a rest recording.

    The numbers are :func:`~emgfeedback.analysis.quantities.rest_quantities`, the rule
    ``analyze`` and ``report`` use too, so ``analyze --session`` of the stored session
    gives the same tone and floor.

    Parameters
    ----------
    raw_uv : numpy.ndarray
        Unfiltered signal in µV, ``(n_samples, n_channels)``, NaN where samples were lost.
    filtered_uv, envelope_uv : numpy.ndarray
        The live pipeline's filtered signal and envelope, same shape.
    info : SourceInfo
        Gives the rate, channel names and calibration.
    config : PipelineConfig
        The pipeline that filtered the signal.
    measured_floor_uv : float, optional
        A measured floor that overrides a lower theoretical one.
    quality : list of dict, optional
        Per-channel quality to attach.
    names : sequence of str, optional
        Channel names to store the results under (default: the source's).

    Returns
    -------
    list of dict
        One JSON-ready result per channel: the quantities of ``analyze`` (see
        ``docs/analysis.md``, "What each number means") plus ``baseline_mean_uv`` (what
        goals in baseline units are scaled on), ``valid``/``reason`` (as ``tone_valid``/
        ``tone_note``, for older readers) and ``quantisation_uv``.
    """
    from emgfeedback.analysis.quantities import channel_floors_uv, rest_quantities

    kinds = [cal.output for cal in info.calibration]
    floors = channel_floors_uv(info.fs_hz, tuple(config.band_hz), kinds,
                               calibration=info.calibration, measured_uv=measured_floor_uv)
    numbers, _ = rest_quantities(raw_uv, filtered_uv, info.fs_hz, config, floors,
                                 envelope_uv=envelope_uv, output_kinds=kinds)
    names = list(names or info.channel_names)
    results = []
    for c, d in enumerate(numbers):
        result = {"channel": names[c]}
        result.update({k: (_num(v) if isinstance(v, float) else v) for k, v in d.items()})
        result.update(valid=d["tone_valid"], reason=d["tone_note"],
                      quantisation_uv=info.calibration[c].quantisation_uv,
                      quality=quality[c] if quality else None)
        results.append(result)
    return results


def timeline(starts, blocks, n_channels: int) -> np.ndarray:
    """Blocks placed at their sample indices from the first, NaN where samples are missing.

    Parameters
    ----------
    starts : sequence of int
        First sample index of each block.
    blocks : sequence of numpy.ndarray
        ``(n_i, n_channels)`` blocks.
    n_channels : int

    Returns
    -------
    numpy.ndarray
        ``(last_index + 1 - first_index, n_channels)``.
    """
    if not blocks:
        return np.zeros((0, n_channels))
    first = int(starts[0])
    end = max(int(s) + len(b) for s, b in zip(starts, blocks, strict=True))
    out = np.full((end - first, n_channels), np.nan)
    for s, b in zip(starts, blocks, strict=True):
        out[int(s) - first: int(s) - first + len(b)] = b
    return out


def whole_quality(raw_uv, filtered_uv, info, config, mains_hz: float):
    """Quality of the whole rest period (None when shorter than one second).

    Parameters
    ----------
    raw_uv, filtered_uv : numpy.ndarray
        ``(n_samples, n_channels)`` µV, NaN where samples were lost.
    info : SourceInfo
    config : PipelineConfig
    mains_hz : float

    Returns
    -------
    list of dict or None
    """
    from emgfeedback.analysis.quality import assess_quality

    if len(filtered_uv) < info.fs_hz:
        return None
    return assess_quality(raw_uv, info.fs_hz, filtered_uv=filtered_uv,
                          calibration=info.calibration, mains_hz=mains_hz,
                          band_hz=tuple(config.band_hz))


def _num(value: float):
    return None if value is None or not math.isfinite(value) else float(value)
