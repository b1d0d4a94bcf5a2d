"""Warm the engine thread's code paths up before the first chunk.

The first call of a Numba kernel loads it from the on-disk cache (20-30 ms for the onset
detector's kernels), and the first quality assessment, protocol phase end or repetition
imports and initialises what it uses (the FFT, the spectrum window, the ECG filter kernel,
the analysis modules behind the protocol measures: seconds on a cold start). Done in the
first chunk, or at the first phase end a minute into a session, that is a stall of the
engine thread. :func:`warm_up` does all of it once, on throwaway copies, before the source
starts: the processor it is given is not touched (its filters, detectors, quality windows
and protocol keep their state), only the process-wide caches fill.
"""

from __future__ import annotations

import math
import time

import numpy as np

#: Samples per throwaway chunk (the kernels are compiled per array type, not per size).
_CHUNK = 16


def warm_up(processor) -> float:
    """Run the processing of ``processor`` once on throwaway copies; the seconds it took.

    A second processor with the same source description and settings processes a few
    chunks of noise (loading every Numba kernel the real one calls), one quality window of
    noise is assessed, and the protocol measures run once on a short envelope. The given
    processor is not modified. Safe to call more than once (later calls are cheap).

    Parameters
    ----------
    processor : emgfeedback.runtime.processor.Processor
        The engine's processor.

    Returns
    -------
    float
        Wall time spent, seconds.
    """
    from emgfeedback.acquisition.source import Chunk
    from emgfeedback.analysis.quality import assess_quality
    from emgfeedback.protocol.metrics import warm_up as warm_up_measures
    from emgfeedback.runtime.processor import Processor

    t0 = time.perf_counter()
    info = processor.info
    fs_hz = float(info.fs_hz)
    spare = Processor(info, processor.config, onset_config=processor.detector.config,
                      mains_hz=processor.mains_hz)
    rng = np.random.default_rng(0)
    counts = np.zeros((4 * _CHUNK, info.n_channels), dtype=np.int32)
    for c, cal in enumerate(info.calibration[:info.n_channels]):
        counts[:, c] = int(getattr(cal, "offset_counts", 0) or 0)
    counts += rng.integers(-3, 4, counts.shape, dtype=np.int32)
    for k in range(4):
        spare.process(Chunk(counts[k * _CHUNK:(k + 1) * _CHUNK], k * _CHUNK, 0.0))
    # A quality window long enough for the spectrum (two 64-sample segments at least), and
    # for the ECG search (its filter is a Numba kernel) when the processor's windows are.
    n = max(256, int(0.25 * fs_hz))
    if processor._quality_n >= 4 * fs_hz:
        n = int(math.ceil(4 * fs_hz))
    noise = rng.standard_normal((n, info.n_channels))
    assess_quality(noise, fs_hz, filtered_uv=noise, calibration=info.calibration,
                   mains_hz=processor.mains_hz, band_hz=tuple(processor.config.band_hz))
    warm_up_measures(fs_hz)
    return time.perf_counter() - t0
