"""The steady start of the pipeline: ``PipelineConfig(start="steady")`` on ``raw``/``uv``
channels (helper T, session 7; docs/analysis.md "Filter start").

The band-pass started at rest (zero state) turns a DC offset (raw ADC values, a sensor
output at mid-rail, a channel stuck at a rail) into a start-up transient of hundreds of µV
that lasts about a second: the onset detector reads it as a burst "active from the start"
and the SNR as activity. A steady start begins each channel in the state that its first
sample's level, applied forever, would have left: ``scipy.signal.sosfilt(sos, x,
zi=sosfilt_zi(sos) * x[0])``. It is done by removing that level from the input (the cascade
has no gain at 0 Hz, so this is the same filter in exact arithmetic, to ~1e-12 µV): a
constant channel then gives exactly 0, where a state set from ``sosfilt_zi`` leaves a
decaying residue of rounding that a scale-free detector still reads as a step.

The level is the channel's first finite sample of its *stretch*: the stream's start, the
first finite sample after a non-finite one (the pipeline's NaN policy restarts the filters
there) and the first after :meth:`~emgfeedback.dsp.Pipeline.reset` (the live engine resets at
a gap). The envelope stage starts at rest either way: its input, the band-passed signal,
has no offset. ``rect``/``env`` channels keep their level (it is their signal).
"""

from __future__ import annotations

import numpy as np

from emgfeedback.dsp.pipeline import _FLOAT64, Pipeline, _empty


def start_levels(x: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, the level a steady start removes: the channel's first finite sample of
    the stretch it is in.

    Parameters
    ----------
    x : numpy.ndarray, shape (n_samples, n_channels)
        The chunk.
    level : numpy.ndarray, shape (n_channels,)
        The current stretch's level before the chunk; NaN where a new stretch starts at the
        chunk's next finite sample (stream start, reset, or a non-finite sample last).

    Returns
    -------
    levels : numpy.ndarray, shape (n_samples, n_channels)
        NaN at non-finite samples.
    level : numpy.ndarray, shape (n_channels,)
        The level for the next chunk (NaN after a non-finite last sample).
    """
    n, n_ch = x.shape
    finite = np.isfinite(x)
    prev = np.vstack([np.isfinite(level)[None, :], finite[:-1]])
    starts = finite & ~prev
    rows = np.where(starts, np.arange(n)[:, None], -1)
    np.maximum.accumulate(rows, axis=0, out=rows)  # the latest stretch start at or before
    cols = np.arange(n_ch)[None, :]
    levels = np.where(rows >= 0, x[np.maximum(rows, 0), cols], level[None, :])
    levels[~finite] = np.nan
    return levels, (levels[-1].copy() if n else level.copy())


class SteadyPipeline(Pipeline):
    """:class:`~emgfeedback.dsp.Pipeline` of the ``raw`` chain with ``start="steady"``
    (``Pipeline(cfg, n)`` returns one for such a ``cfg``); see the module docstring.

    Cost: one subtraction per chunk into a reused array (about 1.4 µs more for 16 samples
    x 8 channels, nothing measurable for 16 s blocks; the level per sample is worked out
    only for chunks that start a stretch or hold NaN/inf).
    """

    def reset(self) -> None:
        """Clear all filter state; the next finite sample of each channel is its new level."""
        super().reset()
        self._level = np.full(self.n_channels, np.nan)
        self._minus = {}  # rows -> the reused array that holds input - level

    def _minus_level(self, x: np.ndarray) -> np.ndarray:
        # x - level into an array reused for this chunk length (fresh memory per chunk costs
        # its page faults: ~15 % of the filtering for 16 s blocks).
        buf = self._minus.get(x.shape[0])
        if buf is None:
            if len(self._minus) > 8:
                self._minus.clear()
            buf = self._minus[x.shape[0]] = np.empty((x.shape[0], self.n_channels))
        return np.subtract(x, self._level, out=buf)

    def process(self, x_uv, out=None):
        """:meth:`Pipeline.process` of the input without its stretch's level."""
        # Fast path: every sample finite and the level known (the kernel says so by running:
        # it refuses NaN/inf, which x - level holds where either is missing).
        fast, state, rms, own, own_arrays = self._hot
        try:
            if x_uv.dtype is _FLOAT64 and x_uv.ndim == 2 \
                    and x_uv.shape[1] == self.n_channels:
                if out is own:
                    y, e = own_arrays
                    if fast(state, self._minus_level(x_uv), y, e, rms):
                        return out
                elif out is None:
                    y = _empty(x_uv.shape)
                    e = _empty(x_uv.shape)
                    if fast(state, self._minus_level(x_uv), y, e, rms):
                        return y, e
        except (AttributeError, TypeError, ValueError):
            pass  # not an array, or a layout the kernel refuses: checked below
        x = self._as_samples(x_uv)
        if out is None:
            y, e = _empty(x.shape), _empty(x.shape)
        else:
            y, e, out = self._out_arrays(out, x.shape, x)
        self._run(x, y, e)
        return (y, e) if out is None else out

    def _run(self, x: np.ndarray, y: np.ndarray, e: np.ndarray) -> None:
        fast = self._fast
        if fast is not None and fast(self._state, self._minus_level(x), y, e, self._rms):
            return  # all finite, level known
        # A stretch starts (stream start, reset, after a non-finite sample) or a sample is
        # not finite: the level per sample.
        levels, self._level = start_levels(x, self._level)
        self._run_kernel(x - levels, y, e)


__all__ = ["SteadyPipeline", "start_levels"]
