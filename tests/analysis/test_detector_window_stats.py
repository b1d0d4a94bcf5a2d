"""The detector envelope's window statistics (rows outer, channels side by side) are the
one-channel-at-a-time sums, bit for bit; values picked by key gather as filtered ones."""
from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.analysis.blocks import KeyHistogram
from emgfeedback.analysis.streaming_kernels import (
    apdf_gather,
    detector_window_stats,
    moving_rms_rows,
)


def _reference(env, use, start, w):
    """Each channel alone, each sum in row order (Python floats: one rounding per add)."""
    n, k = env.shape
    n_win = n // w
    cnt, mean, m2 = np.zeros((n_win, k)), np.full((n_win, k), np.nan), np.zeros((n_win, k))
    for c in range(k):
        for i in range(n_win):
            rows = [r for r in range(max(i * w, start), (i + 1) * w) if use[r, c]]
            if rows:
                s = 0.0
                for r in rows:
                    s += float(env[r, c])
                mu = s / len(rows)
                d2 = 0.0
                for r in rows:
                    d2 += (float(env[r, c]) - mu) ** 2
                cnt[i, c], mean[i, c], m2[i, c] = len(rows), mu, d2
    total = np.zeros((3, k))
    for c in range(k):
        vals = [float(v) for v in env[start:, c]]
        mu = sum(vals) / len(vals)  # sum() adds in order from 0, as the kernel
        d2 = 0.0
        for v in vals:
            d2 += (v - mu) ** 2
        total[:, c] = len(vals), mu, d2
    return (cnt, mean, m2), total


@pytest.mark.parametrize("start", [0, 170])
def test_window_stats_are_each_channels_ordered_sums(start):
    rng = np.random.default_rng(7)
    n, k, w_env, w = 2000, 3, 40, 250
    both = rng.standard_normal((n + w_env, k)) * np.array([1.0, 30.0, 0.01])
    use = rng.random((n, k)) > 0.2
    use[250:500, 1] = False  # a window without a usable row: mean NaN, count 0
    got, got_total = detector_window_stats(both, w_env, w_env, use, start, w)
    env = moving_rms_rows(both, w_env, w_env, head=False)
    want, want_total = _reference(env, use, start, w)
    for g, e in zip(got + (got_total,), want + (want_total,), strict=True):
        assert g.shape == e.shape
        assert np.array_equal(g.view(np.int64), e.view(np.int64))  # NaN where expected too


def test_values_gathered_by_key_give_the_same_percentiles():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5000, 2)) * np.array([2.0, 50.0])
    use = rng.random((5000, 2)) > 0.1
    w = 20
    env = moving_rms_rows(x, w, 0)
    hists = [KeyHistogram(), KeyHistogram()]
    for c, h in enumerate(hists):
        h.add(env[use[:, c], c])
        h.plan([10, 50, 90])
    picked = apdf_gather(x, w, 0, use, [h.keys for h in hists])
    for c, h in enumerate(hists):
        filtered = KeyHistogram()
        filtered.add(env[use[:, c], c])
        filtered.plan([10, 50, 90])
        filtered.gather(env[use[:, c], c])  # every value: the bins are picked here
        h.gather(picked[c], in_bins=True)
        assert h.percentiles() == filtered.percentiles()
        assert h.percentiles() == list(np.percentile(env[use[:, c], c], [10, 50, 90]))


def test_usable_rows_find_runs_of_exactly_the_flat_length_anywhere():
    # The compiled flags skip the per-row loop of a column with no long run (checked at
    # rows a half run apart): runs one value shorter and exactly long enough, at every
    # offset within two checking steps, and of 0.0 and -0.0 (equal values), must give
    # usable_samples' flags.
    from emgfeedback.analysis.quantities import usable_samples
    from emgfeedback.analysis.streaming_kernels import usable_rows

    fs, flat_s = 100.0, 0.1  # runs of 10 values, checked every 5 rows
    rng = np.random.default_rng(11)
    for length in (9, 10, 11):
        for at in range(12):
            x = rng.standard_normal((60, 2))
            x[at: at + length, 0] = 0.0
            x[at: at + length: 2, 1] = -0.0
            x[at + 1: at + length: 2, 1] = 0.0
            want = usable_samples(x, fs, 0.05, flat_s)
            assert np.array_equal(usable_rows(x, fs, 0.05, flat_s), want), (length, at)
            assert want[5:, 0].all() == (length < 10)  # the case is what it says (settled)
