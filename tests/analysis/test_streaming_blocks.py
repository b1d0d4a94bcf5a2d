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


@pytest.mark.parametrize("n", [0, 1, 2, 3, 16, 999, 1000, 1001, 2000, 4096])
def test_hann_window_is_scipys_bit_for_bit(n):
    expected = signal.get_window("hann", n) if n else np.ones(0)
    got = blocks.hann_window(n)
    assert got.dtype == np.float64 and got.shape == (n,)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("kind", ["grid", "continuous", "close"])
@pytest.mark.parametrize("limit", [300, 50_000])
def test_value_set_is_the_rounded_union_read_block_by_block(kind, limit, monkeypatch):
    """The distinct values (rounded to 9 decimals) and when there are too many of them:
    what the whole-array analysis's union of rounded values gives, block after block,
    including the switch to rounding first when many raw values round to few."""
    from emgfeedback.analysis.streaming_kernels import ValueSet

    monkeypatch.setattr(ValueSet, "RAW_MAX", 250)
    rng = np.random.default_rng(len(kind) + limit)
    x = rng.normal(size=(6000, 2))
    if kind == "grid":  # counts times a step: few distinct values
        x = np.round(x * 40.0) * 0.0305 - 1.7
    elif kind == "close":  # values closer than 1e-9 to a few others
        x = np.round(x * 3.0) / 3.0 + rng.normal(size=x.shape) * 1e-12
    x[rng.random(x.shape) < 0.05] = np.nan
    values = ValueSet(limit)
    u, gave_up = np.empty(0), False
    for a in range(0, x.shape[0], 700):
        block = x[a: a + 700]
        values.add(block, 1)
        if not gave_up:
            u = np.union1d(u, np.round(block[np.isfinite(block[:, 1]), 1], 9))
            gave_up = u.size > limit
    got = values.values()
    assert (got is None) == gave_up
    if not gave_up:
        assert np.array_equal(got, u)
    if kind == "close":
        assert values.rounded == (limit == 300)


@pytest.mark.parametrize("n", [3, 150, 5000])
@pytest.mark.parametrize("skip", [0, 40])
def test_moving_rms_rows_is_the_numpy_envelopes_bit_for_bit(n, skip):
    from emgfeedback.analysis.onset import OnsetConfig, detection_envelope
    from emgfeedback.analysis.streaming_kernels import moving_rms_rows

    rng = np.random.default_rng(n + skip)
    x = rng.normal(size=(n, 3)) * 30.0
    x[1:3, 1] = np.nan  # lost samples count as zero
    cfg = OnsetConfig()
    w_det = max(int(round(cfg.window_s * 500.0)), 1)
    assert np.array_equal(moving_rms_rows(x, 50, skip), moving_rms(x, 500.0, 0.1)[skip:])
    assert np.array_equal(moving_rms_rows(x, w_det, skip, head=False),
                          detection_envelope(x, 500.0, cfg)[skip:])


def test_detector_window_stats_are_numpys_per_window_and_in_all():
    from emgfeedback.analysis.onset import OnsetConfig, detection_envelope
    from emgfeedback.analysis.streaming_kernels import detector_window_stats

    rng = np.random.default_rng(5)
    fs, w, hist, start = 500.0, 250, 60, 100
    both = rng.normal(size=(hist + 1100, 2)) * 20.0
    use = rng.random((1100, 2)) > 0.3
    use[:250, 1] = False  # a window without a usable sample
    w_det = max(int(round(OnsetConfig().window_s * fs)), 1)
    env = detection_envelope(both, fs)[hist:]
    (cnt, mean, m2), total = detector_window_stats(both, hist, w_det, use, start, w)
    assert cnt.shape == (4, 2)
    for i in range(4):
        for c in range(2):
            rows = np.arange(max(i * w, start), (i + 1) * w)
            v = env[rows[use[rows, c]], c]
            assert cnt[i, c] == v.size
            if v.size:
                assert mean[i, c] == pytest.approx(v.mean(), rel=1e-13)
                assert m2[i, c] == pytest.approx(((v - v.mean()) ** 2).sum(), rel=1e-11)
            else:
                assert math.isnan(mean[i, c])
    v = env[start:]
    assert np.array_equal(total[0], [v.shape[0]] * 2)
    assert np.allclose(total[1], v.mean(axis=0), rtol=1e-13)
    assert np.allclose(total[2], ((v - v.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-11)


@pytest.mark.parametrize("block_windows", [7, 32])
def test_ecg_energy_of_blocks_is_the_whole_recordings(block_windows, monkeypatch):
    """The ECG band energy, filtered span by span from the raw blocks the filter pass
    reads (with margins, gaps zero-filled), is quality's whole-array energy, decimated."""
    from emgfeedback.analysis import streaming
    from emgfeedback.analysis.quality import _ecg_energy, _ecg_low
    from emgfeedback.io.recordings import Recording, _array_source

    fs = 500.0
    rng = np.random.default_rng(block_windows)
    n = int(150 * fs)  # several ECG spans (64 s) and a short last one
    t = np.arange(n) / fs
    beats = (np.sin(2 * np.pi * 1.2 * t) > 0.995) * 300.0  # spiky, ECG-like
    x = rng.normal(size=(n, 2)) * 10.0 + beats[:, None]
    x[20_000:21_000, 1] = np.nan  # a gap in one channel
    src = _array_source(Recording("mem", "array", x, fs, ["a", "b"], ["uv", "uv"], [], {},
                                  [], []))
    kept = {}
    close = streaming._Job.close

    def keep_energy(job):
        kept.update({c: np.concatenate(v) for c, v in job.ecg_energy.items()})
        close(job)

    monkeypatch.setattr(streaming._Job, "close", keep_energy)
    streaming.analyse_source(src, fs, block_windows=block_windows)
    step = max(int(fs // 100), 1)
    for c in range(2):
        whole = _ecg_energy(_ecg_low(np.where(np.isfinite(x[:, c]), x[:, c], 0.0), fs), fs)
        assert kept[c].shape == whole[::step].shape
        assert np.allclose(kept[c], whole[::step], rtol=1e-9, atol=1e-9 * whole.max())


def test_first_quiet_run_is_first_run_of_the_envelope_bit_for_bit():
    from emgfeedback.analysis.streaming_kernels import first_quiet_run

    rng = np.random.default_rng(7)
    found = 0
    for t in range(400):
        n, hold = int(rng.integers(0, 3000)), int(rng.integers(1, 300))
        # A decaying burst tail: the envelope falls through the threshold somewhere.
        x = rng.normal(size=n) * np.exp(-np.arange(n) / rng.uniform(10, 2000)) * 50.0
        if t % 8 == 0 and n:
            x[rng.integers(0, n, 3)] = rng.choice([np.nan, np.inf, -np.inf], 3)
        limit = float(rng.uniform(0.1, 30.0))
        with np.errstate(all="ignore"):
            want = first_run(moving_rms(x, 2000.0, hold / 2000.0)[hold - 1:] <= limit, hold)
        assert first_quiet_run(x, hold, limit) == want
        found += want >= 0
    assert 50 < found < 400  # both outcomes were exercised


def test_usable_rows_are_usable_samples_flags():
    from emgfeedback.analysis.quantities import usable_samples
    from emgfeedback.analysis.streaming_kernels import usable_rows

    rng = np.random.default_rng(3)
    for t in range(300):
        n, k = int(rng.integers(0, 3000)), int(rng.integers(1, 4))
        x = np.round(rng.normal(0, rng.uniform(0.1, 5), (n, k)), int(rng.integers(0, 3)))
        for _ in range(int(rng.integers(0, 6))):  # gaps, padding, a held value
            if n:
                a, c = int(rng.integers(0, n)), int(rng.integers(0, k))
                x[a: a + int(rng.integers(0, 800)), c] = rng.choice([np.nan, 0.0, 3.0, np.inf])
        if t % 7 == 0 and n:  # flat most of the time: the signal, not padding
            x[: int(n * rng.uniform(0.4, 0.9)), 0] = 1.0
        fs = float(rng.choice([100.0, 1000.0, 2000.0]))
        settle, flat = float(rng.choice([0.0, 0.05, 0.3])), float(rng.choice([0.001, 0.1, 0.25]))
        want = usable_samples(x, fs, settle, flat)
        assert np.array_equal(usable_rows(x, fs, settle, flat), want), t


def test_column_max_is_numpys():
    rng = np.random.default_rng(5)
    for t in range(300):
        a = rng.normal(size=(int(rng.integers(1, 500)), int(rng.integers(1, 10))))
        if t % 3 == 0:
            a[rng.integers(0, a.shape[0], 2), rng.integers(0, a.shape[1], 2)] = np.nan
        if t % 5 == 0:
            a = a[::2]  # not contiguous
        assert np.array_equal(blocks.column_max(a), a.max(axis=0), equal_nan=True)


def test_recovery_of_one_burst_is_its_entry_of_all():
    from emgfeedback.analysis.tone import recovery_after_bursts

    rng = np.random.default_rng(11)
    fs = 1000.0
    x = rng.normal(0, 2.0, 30000)
    bursts = np.array([(3000, 5000), (9000, 9800), (15000, 21000), (26000, 29990)])
    for on, off in bursts:
        x[on:off] *= 20.0
    every = recovery_after_bursts(x, fs, bursts)
    assert sum(math.isfinite(r.return_s) for r in every) >= 2
    for k in range(len(bursts)):
        (one,) = recovery_after_bursts(x, fs, bursts, only=k)
        assert one == every[k]
