"""The engine's synchronous core: one chunk in, everything derived from it out.

Kept free of threads and clocks so that live, paced, fast and replayed runs of the same
samples give the same results: every stateful stage (filters, detectors, protocol runner,
quality windows) advances by sample index only.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from emgfeedback.acquisition.boards import counts_to_uv, output_kinds
from emgfeedback.acquisition.source import Chunk, SourceInfo

if TYPE_CHECKING:  # the DSP (SciPy, Numba) is imported when a processor is built
    from emgfeedback.dsp import PipelineConfig

#: A completed quality window is assessed one step (one measure of one channel, about
#: 0.1 ms: see :func:`~emgfeedback.analysis.quality.assess_quality_steps`) per this many
#: samples that follow it: at 2 kHz in 16-sample chunks one step per chunk, the 8-channel
#: result published about 50 chunks (0.4 s) after the window.
QUALITY_STEP_SAMPLES = 16


def default_pipeline_config(fs_hz: float, mains_hz: float | None = 50.0, **overrides):
    """The default processing for a source's rate.

    The band is 20-450 Hz where the rate allows it; slower sources (e.g. 500 Hz envelope
    boards or 250 Hz LSL streams) get an upper corner at 45% of the rate, below Nyquist.

    Parameters
    ----------
    fs_hz : float
        Sample rate in hertz.
    mains_hz : float or None
        Mains frequency to notch (50 or 60), or None for no notch.
    **overrides
        Any other :class:`~emgfeedback.dsp.PipelineConfig` field.

    Returns
    -------
    PipelineConfig
    """
    from emgfeedback.dsp import PipelineConfig

    high = min(450.0, 0.45 * fs_hz)
    low = min(20.0, high / 4.0)
    notch = mains_hz if mains_hz and mains_hz < fs_hz / 2 else None
    # start="steady" (as analyze, analysis.summary.analysis_pipeline_config): a DC offset
    # (raw ADC values, a sensor at mid-rail, a channel stuck at a rail) passes without the
    # band-pass's start-up transient, at the start and after each gap (the filters restart
    # there), which the onset detector took for a burst (NOTES-X.md X1).
    params = dict(fs_hz=float(fs_hz), band_hz=(low, high), notch_hz=notch, start="steady")
    params.update(overrides)
    return PipelineConfig(**params)


@dataclass
class Processed:
    """What one chunk gave.

    Attributes
    ----------
    chunk : Chunk
        The raw chunk (integer counts), unchanged: this is what is recorded.
    uv : numpy.ndarray
        Calibrated signal, µV at the electrode (ARV µV for ENV channels).
    filtered_uv, envelope_uv : numpy.ndarray
        Pipeline output, chosen per channel by output kind
        (:class:`~emgfeedback.dsp.KindPipeline`): for ENV channels ``filtered_uv`` is the
        RMS-equivalent envelope and ``envelope_uv`` its smoothed version, in µV RMS.
    onsets : list
        Onset/offset events detected in this chunk.
    cues : list
        Protocol cues emitted in this chunk.
    quality : list or None
        Per-channel quality, when the assessment of a quality window finished in this
        chunk (a few dozen chunks after the window ended: see
        :data:`QUALITY_STEP_SAMPLES`).
    """

    chunk: Chunk
    uv: np.ndarray
    filtered_uv: np.ndarray
    envelope_uv: np.ndarray
    onsets: list = field(default_factory=list)
    cues: list = field(default_factory=list)
    quality: list | None = None


class Processor:
    """Calibrate, filter, detect and run the protocol for each chunk, in order.

    Each channel's chain follows its output kind (``info.calibration[c].output``): RAW and
    µV channels are band-passed, notched and enveloped; RECT channels only enveloped; ENV
    channels scaled from ARV to RMS-equivalent µV and smoothed, never band-passed (see
    :mod:`emgfeedback.dsp.pipeline`). Onsets, the protocol and quality all use the
    resulting signals, so they work the same on every kind.

    Parameters
    ----------
    info : SourceInfo
        The source's description (rate, channels, calibration).
    pipeline_config : PipelineConfig, optional
        Defaults to :func:`default_pipeline_config` for the source's rate.
    onset_config : OnsetConfig, optional
        Onset detector settings; defaults to the detector's own defaults.
    runner : ProtocolRunner, optional
        A protocol to drive with the envelopes and onsets (the engine swaps it while
        running: :meth:`~emgfeedback.runtime.Engine.start_protocol`).
    baseline : sequence of (mean_uv, sd_uv), optional
        A stored resting baseline per channel for the onset detector; without it the
        detector learns from the first rest.
    quality_window_s : float
        Length of the window quality is assessed over, in seconds (once per window).
    mains_hz : float
        Mains frequency for the hum measurement.
    """

    def __init__(self, info: SourceInfo, pipeline_config: PipelineConfig | None = None,
                 onset_config=None, runner=None,
                 baseline: Sequence[tuple[float, float]] | None = None,
                 quality_window_s: float = 2.0, mains_hz: float = 50.0) -> None:
        from emgfeedback.analysis import quality  # noqa: F401  (imported now, not mid-stream)
        from emgfeedback.analysis.onset import OnsetConfig, OnsetDetector
        from emgfeedback.dsp import KindPipeline

        self.info = info
        self.fs_hz = float(info.fs_hz)
        self.config = pipeline_config or default_pipeline_config(self.fs_hz, mains_hz)
        kinds = output_kinds(info.calibration) if len(info.calibration) == info.n_channels \
            else ("raw",) * info.n_channels
        #: Output kind per channel (``raw``, ``rect``, ``env``, ``uv``).
        self.output_kinds = kinds
        self.pipeline = KindPipeline(self.config, kinds)
        self.detector = OnsetDetector(onset_config or OnsetConfig(), info.n_channels, self.fs_hz)
        if len(info.calibration) == info.n_channels:
            # The board's step: a rest quieter than one count is not taken for less than
            # the flicker between two codes (analysis.quantities.onset_rest_floor), as
            # analyze does with the stored (or estimated) step.
            self.detector.set_quantisation_step([c.uv_per_count for c in info.calibration],
                                                self.config, kinds)
        if baseline is not None:
            means, sds = zip(*baseline, strict=True)
            self.detector.set_baseline(np.asarray(means, float), np.asarray(sds, float))
        self.runner = runner
        self.mains_hz = mains_hz
        self._quality_n = max(1, int(round(quality_window_s * self.fs_hz)))
        # One window of raw and filtered µV, filled in place (no copying per chunk).
        # Two windows of raw and filtered µV, filled in place (no copying per chunk): one
        # filling while the other, complete, is assessed step by step.
        # Zero-filled now, so the engine thread does not take the page faults of first use.
        self._quality_windows = np.empty((2, 2, self._quality_n, info.n_channels))
        self._quality_windows.fill(0.0)
        self._quality_buffer = 0
        self._quality_fill = 0
        self._quality_lost = 0
        self._quality_pending = None
        self._quality_credit = 0
        self.latest_quality: list | None = None
        #: Quality windows assessed so far.
        self.assessed_windows = 0
        # Everything imported and built so far lives as long as the process: move it out of
        # the cyclic garbage collector's reach. Otherwise a full (generation 2) collection,
        # which Python starts on its own now and then, walks every object of NumPy, SciPy
        # and Numba: 50-100 ms in whatever chunk triggers it (measured with 8 ch at 2 kHz).
        gc.freeze()
        self.next_index: int | None = None

    @property
    def envelope_delay_ms(self) -> float:
        """Delay the envelope adds, in ms (part of the latency budget)."""
        return float(self.pipeline.envelope_delay_ms)

    def process(self, chunk: Chunk) -> Processed:
        """Process one chunk.

        A gap (missing samples) restarts the filters, as the signal on either side of it is
        not continuous; detectors and the protocol runner keep counting by sample index.
        """
        if chunk.gaps and self.next_index is not None:
            self.pipeline.reset()
        self.next_index = chunk.end_index
        uv = counts_to_uv(chunk.samples, self.info.calibration)
        filtered, envelope = self.pipeline.process(uv)
        onsets = self.detector.process(filtered, chunk.first_index)
        cues = []
        runner = self.runner  # read once: the engine may swap it between chunks
        if runner is not None and not runner.finished:
            from emgfeedback.protocol import Features

            cues = list(runner.step(Features(chunk.first_index, envelope, onsets=onsets)))
        quality = self._update_quality(chunk, uv, filtered)
        return Processed(chunk, uv, filtered, envelope, list(onsets), cues, quality)

    def _update_quality(self, chunk: Chunk, uv: np.ndarray, filtered: np.ndarray):
        # Quality is assessed on whole windows counted in samples, so it is deterministic.
        # A completed window is assessed in small steps (one per QUALITY_STEP_SAMPLES
        # samples that follow it) so that no chunk carries the whole assessment: the
        # result is the same as assessing the window at once, published a fixed number of
        # samples later. Two buffers alternate: one filling, one being assessed.
        self._quality_lost += sum(g.n_samples for g in chunk.gaps)
        n = self._quality_n
        result = None
        done = 0
        while done < len(uv):
            take = min(n - self._quality_fill, len(uv) - done)
            finished = self._advance_assessment(take)
            if finished is not None:
                result = finished
            window = self._quality_windows[self._quality_buffer]
            window[0, self._quality_fill:self._quality_fill + take] = uv[done:done + take]
            window[1, self._quality_fill:self._quality_fill + take] = filtered[done:done + take]
            self._quality_fill += take
            done += take
            if self._quality_fill == n:
                if self._quality_pending is not None:  # only with windows shorter than
                    result = self._advance_assessment(None)  # their assessment
                self._quality_pending = self._assess_steps(window[0], window[1],
                                                           self._quality_lost)
                self._quality_credit = 0
                self._quality_buffer ^= 1
                self._quality_fill = 0
                self._quality_lost = 0
        if result is not None:
            self.latest_quality = result
        return result

    def _advance_assessment(self, samples: int | None):
        """Run the pending assessment's steps that ``samples`` more samples pay for (all of
        them when None); its result when it finished, else None."""
        steps = self._quality_pending
        if steps is None:
            return None
        if samples is not None:
            self._quality_credit += samples
        while samples is None or self._quality_credit >= QUALITY_STEP_SAMPLES:
            if samples is not None:
                self._quality_credit -= QUALITY_STEP_SAMPLES
            try:
                next(steps)
            except StopIteration as end:
                self._quality_pending = None
                self.assessed_windows += 1
                return end.value
        return None

    def _assess_steps(self, raw_uv: np.ndarray, filtered_uv: np.ndarray, lost: int):
        from emgfeedback.analysis.quality import assess_quality_steps

        return assess_quality_steps(raw_uv, self.fs_hz, filtered_uv=filtered_uv,
                                    calibration=self.info.calibration,
                                    mains_hz=self.mains_hz, lost_samples=lost,
                                    band_hz=tuple(self.config.band_hz))
