"""The compiled APDF envelope passes and the rest spectra of ``analyze`` (issue 16.4): the
same values, bit for bit, as the NumPy formulations they replace."""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.analysis.blocks import KeyHistogram, _keys, window_psd
from emgfeedback.analysis.streaming_kernels import (
    APDF_KEYS,
    apdf_count,
    apdf_gather,
    moving_rms_rows,
)


def _block(rng, m, k):
    """A quantised signal with gaps and the odd infinity (what the envelope must skip)."""
    x = np.round(rng.normal(size=(m, k)) * rng.choice([0.01, 3.0, 400.0])) * 0.25
    if rng.random() < 0.5:
        x[rng.random((m, k)) < 0.05] = np.nan
    if rng.random() < 0.2:
        x[rng.random((m, k)) < 0.01] = rng.choice([np.inf, -np.inf])
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_apdf_count_is_the_key_histogram_of_the_envelope(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        m, k = int(rng.integers(1, 400)), int(rng.integers(1, 5))
        x = _block(rng, m, k)
        w, skip = int(rng.integers(1, 80)), int(rng.integers(0, m + 1))
        use = rng.random((m - skip, k)) < 0.9
        env = moving_rms_rows(x, w, skip)  # tone.moving_rms(x, fs, w / fs)[skip:]
        keep = use & np.isfinite(env)
        counts = np.zeros((k, APDF_KEYS), dtype=np.int64)
        apdf_count(x, w, skip, use, counts)
        apdf_count(x, w, skip, use, counts)  # counts add up over calls
        for c in range(k):
            want = KeyHistogram()
            want.add(env[keep[:, c], c])
            want.add(env[keep[:, c], c])
            got = KeyHistogram()
            got.add_counts(counts[c])
            assert got.n == want.n
            assert np.array_equal(got.counts, want.counts)


def test_apdf_gather_keeps_the_values_of_the_wanted_bins_in_order():
    rng = np.random.default_rng(7)
    for _ in range(120):
        m, k = int(rng.integers(1, 300)), int(rng.integers(1, 4))
        x = _block(rng, m, k)
        w, skip = int(rng.integers(1, 60)), int(rng.integers(0, m + 1))
        use = rng.random((m - skip, k)) < 0.8
        env = moving_rms_rows(x, w, skip)
        keep = use & np.isfinite(env)
        keys = []
        for c in range(k):
            have = np.unique(_keys(env[keep[:, c], c]))
            keys.append(rng.choice(have, size=min(3, have.size), replace=False)
                        if have.size else have)
        got = apdf_gather(x, w, skip, use, keys)
        for c in range(k):
            v = env[keep[:, c], c]
            assert got[c].tobytes() == v[np.isin(_keys(v), keys[c])].tobytes()


def test_apdf_passes_give_numpys_percentiles():
    """Counted block by block, gathered block by block: np.percentile of the envelope."""
    rng = np.random.default_rng(11)
    x = _block(rng, 5000, 3)
    x[np.isinf(x)] = np.nan  # an infinity poisons the whole array's running sum, not a block's
    w, rows = 50, 700
    use = rng.random(x.shape) < 0.95
    counts = np.zeros((3, APDF_KEYS), dtype=np.int64)
    hist = [KeyHistogram() for _ in range(3)]
    prev = x[:0]
    for a in range(0, x.shape[0], rows):  # as streaming does: the window's history first
        both = np.concatenate([prev, x[a: a + rows]])
        apdf_count(both, w, prev.shape[0], use[a: a + rows], counts)
        prev = both[-w:]
    for c in range(3):
        hist[c].add_counts(counts[c])
        hist[c].plan([10, 50, 90])
    prev = x[:0]
    for a in range(0, x.shape[0], rows):
        both = np.concatenate([prev, x[a: a + rows]])
        for c, v in enumerate(apdf_gather(both, w, prev.shape[0], use[a: a + rows],
                                          [h.keys for h in hist])):
            hist[c].gather(v)
        prev = both[-w:]
    env = moving_rms_rows(x, w)
    for c in range(3):
        v = env[use[:, c] & np.isfinite(env[:, c]), c]
        assert hist[c].percentiles() == list(np.percentile(v, [10, 50, 90]))


@pytest.mark.parametrize("w", [16, 250, 1000, 1001])
def test_window_psd_is_its_scipy_fft_formulation_and_welchs(w):
    """NumPy's FFT instead of scipy.fft (not imported by analyze any more): the same bits
    as before on NumPy 2 (one pocketfft), and scipy.signal.welch to rounding."""
    from scipy import fft, signal

    from emgfeedback.analysis.blocks import hann_window

    rng = np.random.default_rng(w)
    windows = rng.normal(size=(9, w)) * 30.0 + 5.0
    got = window_psd(windows, 2000.0, w)
    win = hann_window(w)  # the formulation window_psd had, on scipy.fft
    d = windows - np.mean(windows, axis=-1, keepdims=True)
    spec = fft.rfft(win * d, n=w, axis=-1)
    before = (np.conjugate(spec) * spec).real * (1.0 / (2000.0 * float((win * win).sum())))
    before[:, 1: -1 if w % 2 == 0 else None] *= 2.0
    if int(np.__version__.split(".")[0]) >= 2:
        assert np.array_equal(got, before)
    else:
        np.testing.assert_allclose(got, before, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got, signal.welch(windows, 2000.0, nperseg=w, axis=1)[1],
                               rtol=1e-12, atol=0)


def test_window_rms_rows_is_windowed_rms_bit_for_bit():
    from emgfeedback.analysis.rest import windowed_rms
    from emgfeedback.analysis.streaming_kernels import window_rms_rows

    rng = np.random.default_rng(13)
    for _ in range(200):
        k, w = int(rng.integers(2, 17)), int(rng.integers(1, 1200))
        n = int(rng.integers(0, 5)) * w + int(rng.integers(0, w))
        x = rng.normal(size=(n, k)) * rng.choice([1e-3, 1.0, 300.0])
        if rng.random() < 0.1 and n:
            x[rng.integers(n), rng.integers(k)] = np.inf
        got = window_rms_rows(x, w)
        want = windowed_rms(x, 1000.0, w / 1000.0)
        assert got.shape == want.shape and got.tobytes() == want.tobytes()
    x = rng.normal(size=(3000, 3))
    x[1500, 1] = np.nan  # nanmean's windows: left to NumPy
    assert window_rms_rows(x, 1000) is None
    assert window_rms_rows(x[:, :1], 1000) is None  # one column: NumPy sums pairwise
