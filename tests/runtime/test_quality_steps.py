"""Quality windows are assessed in small steps after the window, never in one chunk.

The engine thread must not stall: a whole assessment (8 channels: spectra, ECG filters)
costs milliseconds, longer than the 8 ms between 16-sample chunks at 2 kHz. The processor
spreads it over the chunks that follow the window (one step per
``QUALITY_STEP_SAMPLES``), and the values are exactly those of assessing the window at once.
"""

from __future__ import annotations

import json

import numpy as np

from emgfeedback.acquisition import open_source
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import Chunk
from emgfeedback.analysis.quality import assess_quality, assess_quality_steps
from emgfeedback.runtime.processor import QUALITY_STEP_SAMPLES, Processor


def _info(n_channels: int, fs_hz: float):
    source = open_source(f"sim://?channels={n_channels}&fs={fs_hz:g}&scenario=drill&seed=2")
    source.open()
    info = source.info
    source.close()
    return info


def _same(a, b) -> bool:
    return json.dumps(a) == json.dumps(b)  # NaN-aware, exact floats


def test_streamed_quality_equals_the_whole_window_assessment_and_is_spread_out():
    fs, n_ch, chunk, window_s = 2000.0, 8, 16, 2.0
    info = _info(n_ch, fs)
    counts = Simulator("drill", n_ch, fs, seed=2).next_counts(int(7 * fs))
    processor = Processor(info, quality_window_s=window_s)
    raw, filtered, delivered = [], [], []
    for start in range(0, len(counts), chunk):
        out = processor.process(Chunk(counts[start:start + chunk], start, 0.0))
        raw.append(out.uv)
        filtered.append(out.filtered_uv)
        if out.quality is not None:
            delivered.append((out.chunk.end_index, out.quality))
    raw, filtered = np.vstack(raw), np.vstack(filtered)
    n = int(window_s * fs)
    assert len(delivered) == 3 == processor.assessed_windows
    steps_per_window = 0
    for k, (end_index, quality) in enumerate(delivered):
        window = slice(k * n, (k + 1) * n)
        expected = assess_quality(raw[window], fs, filtered_uv=filtered[window],
                                  calibration=info.calibration, mains_hz=50.0,
                                  lost_samples=0, band_hz=tuple(processor.config.band_hz))
        assert _same(quality, expected)
        steps = assess_quality_steps(raw[window], fs, filtered_uv=filtered[window],
                                     calibration=info.calibration, mains_hz=50.0)
        steps_per_window = sum(1 for _ in steps)
        # Published one step per QUALITY_STEP_SAMPLES after the window, not in its chunk.
        assert end_index == (k + 1) * n + (steps_per_window + 1) * QUALITY_STEP_SAMPLES
    assert steps_per_window >= 4 * n_ch  # spectrum, lines, rails, ECG filter per channel
    assert processor.latest_quality is delivered[-1][1]


def test_a_window_shorter_than_its_assessment_still_gives_every_result_in_order():
    # 0.05 s windows at 1 kHz (50 samples) with 2 channels need more than 50 samples of
    # steps: each new window first finishes the previous assessment.
    fs = 1000.0
    info = _info(2, fs)
    counts = Simulator("drill", 2, fs, seed=2).next_counts(1000)
    processor = Processor(info, quality_window_s=0.05)
    raw = []
    results = []
    for start in range(0, 1000, 10):
        out = processor.process(Chunk(counts[start:start + 10], start, 0.0))
        raw.append(out.uv)
        if out.quality is not None:
            results.append(out.quality)
    assert processor.assessed_windows == 19  # the 20th is still being assessed
    raw = np.vstack(raw)
    last = processor.latest_quality
    assert [q["snr_db"] for q in last] == [
        q["snr_db"] for q in assess_quality(raw[900:950], fs, calibration=info.calibration,
                                            mains_hz=50.0)]
    assert len(results) == 19  # none lost, one per chunk that finished one


def test_lost_samples_count_in_the_window_they_fell_in():
    from emgfeedback.acquisition.source import Gap

    fs = 1000.0
    info = _info(2, fs)
    counts = Simulator("drill", 2, fs, seed=2).next_counts(4000)
    processor = Processor(info, quality_window_s=1.0)
    lost_pct = []
    index = 0
    for start in range(0, 4000, 100):
        gaps = (Gap(index, 10, "crc"),) if start == 1500 else ()
        index += 10 if gaps else 0
        out = processor.process(Chunk(counts[start:start + 100], index, 0.0, gaps))
        index += 100
        if out.quality is not None:
            lost_pct.append(out.quality[0]["lost_pct"])
    assert lost_pct[0] == 0.0 and lost_pct[1] > 0.0 and lost_pct[2] == 0.0


def test_building_a_processor_takes_what_exists_out_of_the_collectors_walks():
    # A full garbage collection walks every tracked object (NumPy, SciPy, Numba: ~100 ms
    # of one chunk at 8 ch x 2 kHz); objects that exist when the processor is built live
    # as long as the process, so they are frozen out of those walks.
    import gc

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    Processor(_info(2, 1000.0))
    assert gc.get_freeze_count() > 10_000
