"""The pieces whole-recording analysis is built from give what their whole-array
counterparts give: bit for bit where the operations are the same, to rounding otherwise
(the end-to-end check is tests/e2e/test_round_trips.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from emgfeedback.analysis import blocks
from emgfeedback.analysis.blocks import KeyHistogram, ReadAhead, Spill, Welch, Worker
from emgfeedback.analysis.streaming_kernels import (
    centred_mean_of_squares,
    sosfiltfilt_columns,
)
from emgfeedback.analysis.tone import first_run, moving_rms


@pytest.mark.parametrize("fs_hz", [500.0, 2000.0])
@pytest.mark.parametrize("n_cols", [1, 3, 8])
def test_sosfiltfilt_columns_is_scipys_bit_for_bit(fs_hz, n_cols):
    rng = np.random.default_rng(int(fs_hz) + n_cols)
    sos = signal.butter(2, [5.0, 30.0], btype="band", fs=fs_hz, output="sos")
    x = rng.normal(size=(int(3 * fs_hz), n_cols)) * 40.0
    x[100:400, 0] = 0.0  # a flat stretch, as a zero-filled gap
    assert np.array_equal(sosfiltfilt_columns(sos, x), signal.sosfiltfilt(sos, x, axis=0))
    # Shorter than SciPy's padding: SciPy's own error, not a wrong answer.
    with pytest.raises(ValueError):
        sosfiltfilt_columns(sos, x[:10])


@pytest.mark.parametrize("k", [1, 2, 5, 80, 81])
def test_centred_mean_of_squares_is_the_same_convolution(k):
    rng = np.random.default_rng(k)
    y = rng.normal(size=(2000, 3))
    at = np.r_[0, 1, np.arange(7, 2000, 20), 1999]
    want = np.stack([np.convolve(y[:, c] ** 2, np.ones(k) / k, mode="same")
                     for c in range(3)], axis=1)[at]
    assert centred_mean_of_squares(y, k, at) == pytest.approx(want, rel=1e-12, abs=0)


def _values(rng, kind):
    v = np.abs(rng.lognormal(2.0, 1.5, size=int(rng.integers(0, 40_000))))
    if kind == "ties":
        v = np.round(v)
    elif kind == "zeros":
        v[: v.size // 3] = 0.0
    return v


@pytest.mark.parametrize("kind", ["plain", "ties", "zeros"])
@pytest.mark.parametrize("gather_max", [1 << 20, 10])
def test_key_histogram_percentiles_are_numpys_exactly(kind, gather_max, monkeypatch):
    """Exact order statistics from bin counts and one gathering pass, also when a bin is
    too full to gather (then narrowed down by reading the values again)."""
    monkeypatch.setattr(blocks, "_GATHER_MAX", gather_max)
    rng = np.random.default_rng(3)
    chunks = [_values(rng, kind) for _ in range(15)]
    hist = KeyHistogram()
    for v in chunks:
        hist.add(v)
    qs = [0, 10, 33.3, 50, 90, 100]
    hist.plan(qs)
    assert hist.too_big == (gather_max == 10)
    for v in chunks[::-1]:  # any order, any blocks
        hist.gather(v)
    got = hist.percentiles(lambda: iter(chunks))
    assert got == list(np.percentile(np.concatenate(chunks), qs))


def test_key_histogram_of_nothing_is_nan():
    hist = KeyHistogram()
    hist.plan([10, 90])
    assert all(math.isnan(v) for v in hist.percentiles())


def test_welch_columns_match_scipy_and_split_at_any_point():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(37_000, 4)) * 20.0
    many = Welch(1000.0, 1000, 4)
    for a in range(0, 20_000, 3_333):
        many.add(x[a: min(a + 3_333, 20_000)])
    alone = many.column(2)  # goes on by itself from here
    alone.add(np.empty(0))  # a block that is all gap for this channel: nothing changes
    many.add(np.empty((0, 4)))
    for a in range(20_000, x.shape[0], 4_444):
        many.add(x[a: a + 4_444])
        alone.add(x[a: a + 4_444, 2])
    f, p = many.result()
    for c in range(4):
        fw, pw = signal.welch(x[:, c], fs=1000.0, nperseg=1000)
        assert np.array_equal(f, fw)
        assert p[:, c] == pytest.approx(pw, rel=1e-12, abs=0)
    assert alone.result()[1] == pytest.approx(p[:, 2], rel=1e-12, abs=0)
    assert alone.n == many.n == x.shape[0]


def test_read_ahead_reads_what_the_spill_holds(tmp_path):
    spill = Spill(str(tmp_path), "x.f8", 3)
    data = np.arange(3000.0).reshape(-1, 3)
    spill.append(data)
    reader = ReadAhead(spill, 64)
    for a, b in [(0, 10), (5, 20), (100, 300), (90, 95), (990, 2000), (-5, 3)]:
        assert np.array_equal(reader.read(a, b), spill.read(a, b)), (a, b)
    spill.close()


def test_worker_runs_in_order_and_passes_errors_on():
    seen = []
    worker = Worker(depth=2)
    for i in range(20):
        worker.submit(seen.append, i)
    worker.drain()
    assert seen == list(range(20))

    def boom():
        raise RuntimeError("task failed")

    worker.submit(boom)
    with pytest.raises(RuntimeError, match="task failed"):
        worker.drain()
    worker.close()


def test_first_run_finds_the_first_long_enough_run():
    rng = np.random.default_rng(7)
    for _ in range(200):
        flags = rng.random(int(rng.integers(0, 60))) < 0.7
        length = int(rng.integers(1, 8))
        want = next((i for i in range(flags.size - length + 1)
                     if flags[i: i + length].all()), -1)
        assert first_run(flags, length) == want


def test_moving_rms_is_the_causal_window_rms():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(700, 2)) * 10.0
    x[50, 1] = np.nan  # a lost sample counts as zero
    got = moving_rms(x, 1000.0, 0.1)
    z = np.nan_to_num(x)
    want = np.array([np.sqrt(np.mean(z[max(i - 99, 0): i + 1] ** 2, axis=0))
                     for i in range(x.shape[0])])
    assert got == pytest.approx(want, rel=1e-9)
    assert moving_rms(x[:, 0], 1000.0, 0.1) == pytest.approx(want[:, 0], rel=1e-9)


def _return_after_sample_by_sample(x, fs_hz, off, end, hold, threshold):
    # The scan as it was written first: one sample at a time.
    start = min(off + hold, x.size)
    env = moving_rms(x, fs_hz, hold / fs_hz)
    run = 0
    for i in range(start, max(end, start)):
        run = run + 1 if env[i] <= threshold else 0
        if run == hold:
            return (i - hold + 1 - start + hold) / fs_hz
    return math.nan


@pytest.mark.parametrize("rows", [7, 50, 1000])
def test_return_after_a_long_burst_scans_in_blocks_as_sample_by_sample(tmp_path, rows):
    """The return to rest past the first span is found block by block with runs carried
    across blocks: the same time as a sample-by-sample scan, whatever the block size."""
    from emgfeedback.analysis.streaming import _Job

    fs, hold = 100.0, 5
    rng = np.random.default_rng(rows)
    x = rng.normal(size=(3000, 2)) * np.where(rng.random((3000, 1)) < 0.3, 10.0, 1.0)
    spill = Spill(str(tmp_path), "f.f8", 2)
    spill.append(x)
    job = _Job.__new__(_Job)
    job.filtered, job.fs, job.rows = spill, fs, rows
    for off, end, thr in [(10, 2990, 1.5), (200, 900, 2.5), (0, 3000, 0.5), (500, 520, 9.0)]:
        for c in range(2):
            want = _return_after_sample_by_sample(x[:, c], fs, off, end, hold, thr)
            got = job._return_after(c, off, end, hold, thr)
            assert (math.isnan(want) and math.isnan(got)) or got == want, (off, end, thr, c)
    spill.close()


def test_percentile_bins_too_full_to_gather_give_the_same_apdf(tmp_path, monkeypatch):
    """When a percentile's bin holds too many values (very long recordings), the envelope
    is computed again into a spill and the percentile narrowed down there: same numbers."""
    from emgfeedback.analysis.streaming import analyse_source
    from emgfeedback.io.recordings import open_recording

    fs = 1000.0
    rng = np.random.default_rng(11)
    t = np.arange(int(30 * fs)) / fs
    bursts = (np.sin(2 * np.pi * t / 6.0) > 0.6)[:, None] * np.array([40.0, 25.0])
    x = rng.normal(size=(t.size, 2)) * (3.0 + bursts)
    path = tmp_path / "r.csv"
    with open(path, "w") as fh:
        fh.write(f"# fs_hz: {fs:g}\ntime_s,a_uV,b_uV\n")
        np.savetxt(fh, np.column_stack([t, x]), fmt="%.6f", delimiter=",")

    def apdf():
        res = analyse_source(open_recording(path), fs, block_windows=5)
        return [(c["static_level_p10_uv"], c["apdf_p50_uv"], c["apdf_p90_uv"])
                for c in res["channels"]]

    gathered = apdf()
    monkeypatch.setattr(blocks, "_GATHER_MAX", 50)
    assert apdf() == gathered
    assert all(math.isfinite(v) and v > 0 for row in gathered for v in row)
