"""Quality windows are assessed in small steps after the window, never in one chunk.

The engine thread must not stall: a whole assessment (8 channels: spectra, ECG filters)
costs milliseconds, longer than the 8 ms between 16-sample chunks at 2 kHz. The processor
spreads it over the chunks that follow the window (one step per
``QUALITY_STEP_SAMPLES``), and the values are exactly those of assessing the window at once.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

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


def _reference_mains_ratio(x, fs_hz, mains_hz, band_hz=(20.0, 450.0)):
    # The definition written out plainly: scipy's Welch spectrum, then harmonic by harmonic
    # the excess within ±1 Hz of the line over the median of the bins 3-8 Hz away.
    from scipy import signal

    x = x[np.isfinite(x)]
    f, p = signal.welch(x - x.mean(), fs=fs_hz, nperseg=int(min(x.size, round(fs_hz))))
    df = f[1] - f[0]
    lo, hi = band_hz[0], min(band_hz[1], 0.49 * fs_hz)
    band = float(np.sum(p[(f >= lo) & (f <= hi)]) * df)
    best = (0.0, mains_hz or 50.0)
    for m in [mains_hz] if mains_hz else [50.0, 60.0]:
        excess, k = 0.0, 1
        while k * m <= hi:
            if k * m >= lo:
                d = np.abs(f - k * m)
                side = (d > 3.0) & (d <= 8.0)
                floor = float(np.median(p[side])) if side.any() else 0.0
                excess += float(np.sum(np.maximum(p[d <= 1.0 + 0.5 * df] - floor, 0.0)) * df)
            k += 1
        if excess / band >= best[0]:
            best = (excess / band, m)
    return best


def test_the_stepped_mains_spectrum_is_scipys_welch():
    from emgfeedback.analysis.quality import mains_ratio

    rng = np.random.default_rng(5)
    for fs in (2000.0, 1000.0, 500.0, 1234.0):
        for mains in (50.0, 60.0, None):
            n = int(2 * fs) + 37
            x = rng.normal(0.0, 10.0, n) + 4.0 * np.sin(2 * np.pi * 50.0 * np.arange(n) / fs)
            got, want = mains_ratio(x, fs, mains), _reference_mains_ratio(x, fs, mains)
            assert got[1] == want[1] and got[0] == pytest.approx(want[0], rel=1e-9)
            assert (got[0] > 0.1) is (want[0] > 0.1)


def test_each_quality_step_handles_about_one_second_of_one_channel():
    # 2 s windows at 2 kHz: the spectrum is three 1 s segments, one step each, per channel.
    rng = np.random.default_rng(6)
    x = rng.normal(0.0, 10.0, (4000, 3))
    names = list(assess_quality_steps(x, 2000.0, mains_hz=50.0))
    assert names.count("mains_psd") == 3 * 3
    assert names.count("mains_lines") == names.count("rails") == names.count("ecg_snr") == 3


def test_warm_up_leaves_the_processor_as_it_was():
    # The engine warms the code paths up before the first chunk (kernels loaded from the
    # cache, SciPy's FFT): on throwaway copies, so the results do not change.
    from emgfeedback.runtime.warmup import warm_up

    info = _info(2, 1000.0)
    counts = Simulator("drill", 2, 1000.0, seed=4).next_counts(3000)
    outputs = []
    for warm in (False, True):
        processor = Processor(info, quality_window_s=1.0)
        if warm:
            assert warm_up(processor) > 0
        outs = [processor.process(Chunk(counts[s:s + 50], s, 0.0)) for s in range(0, 3000, 50)]
        outputs.append((np.vstack([o.filtered_uv for o in outs]),
                        [(e.index, e.kind) for o in outs for e in o.onsets],
                        [o.quality for o in outs if o.quality is not None]))
    (f0, on0, q0), (f1, on1, q1) = outputs
    assert np.array_equal(f0, f1) and on0 == on1 and _same(q0, q1) and len(q0) >= 2


def test_warm_up_loads_the_ecg_filter_when_the_windows_are_long_enough_for_it():
    # The ECG search needs 4 s; with 8 s quality windows its filter kernel (Numba) would
    # otherwise load in the engine thread's first assessment. A fresh process, so nothing
    # else has loaded it.
    import subprocess
    import sys

    probe = (
        "from emgfeedback.acquisition import open_source\n"
        "from emgfeedback.runtime.processor import Processor\n"
        "from emgfeedback.runtime.warmup import warm_up\n"
        "from emgfeedback.dsp import sosfilt as k\n"
        "s = open_source('sim://?channels=2&fs=500&scenario=drill&seed=1'); s.open()\n"
        "short = Processor(s.info, quality_window_s=2.0)\n"
        "warm_up(short)\n"
        "before = len(k.sosfilt_rows.signatures)\n"
        "warm_up(Processor(s.info, quality_window_s=8.0))\n"
        "print(before, len(k.sosfilt_rows.signatures))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=600, check=True).stdout.split()
    # The simulator shapes its noise with the same loop (another signature), so count the
    # specialisations each warm-up adds: none for the short windows, the ECG filter's for long.
    before, after = map(int, out[-2:])
    assert after == before + 1
