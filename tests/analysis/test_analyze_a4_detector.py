"""The onset detector's shortcuts for ``analyze`` (issue 16.4) keep its events.

* The steady state compares the running sum with ``_quiet_sum_limit``'s bound instead of
  taking ``sqrt(sum / w)``: the bound must be exact (every sum up to it compares as not
  above the threshold, the next double does compare above).
* The rise fit's smoothed rise shapes are computed once per detector
  (``rise_profiles``): the values it computed for itself at every onset.
* ``process(block, first, column0=c)`` reads the detector's columns of a wider block in
  place, and the kernel counts non-finite samples as zero: the same events as the columns
  copied out and the lost samples zeroed beforehand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from emgfeedback.analysis.onset import OnsetConfig, OnsetDetector
from emgfeedback.analysis.onset_kernels import _quiet_sum_limit
from emgfeedback.errors import ConfigError


def test_the_quiet_sum_limit_is_the_last_sum_whose_envelope_is_not_above_the_threshold():
    rng = np.random.default_rng(4)
    thresholds = np.concatenate([10.0 ** rng.uniform(-8, 8, 400),
                                 [1.0, 2.0, 0.5, 3.0, 1e-12, 7.25]])
    for w in (1, 3, 7, 100, 400, 2000):
        for thr in thresholds:
            f = _quiet_sum_limit(float(thr), w)
            assert f >= 0.0
            assert not math.sqrt(f / w) > thr, (thr, w)
            assert math.sqrt(np.nextafter(f, math.inf) / w) > thr, (thr, w)


@pytest.mark.parametrize("thr", [0.0, -1.0, math.nan, math.inf, 1e200])
def test_no_quiet_sum_limit_for_a_threshold_that_is_not_a_moderate_positive_number(thr):
    assert _quiet_sum_limit(thr, 400) == -1.0


def _events(blocks, cfg, n_ch, baseline, column0=None):
    det = OnsetDetector(cfg, n_ch, 1000.0)
    if baseline:
        det.set_baseline(np.full(n_ch, 6.0), np.full(n_ch, 2.0))
    out = []
    for a, x in blocks:
        out.extend(det.process(x, a) if column0 is None else det.process(x, a, column0))
    return out


@pytest.mark.parametrize("conditioning,baseline", [("rms", True), ("rms", False),
                                                    ("tkeo", True)])
def test_columns_read_in_place_with_lost_samples_give_the_events_of_a_zeroed_copy(
        burst_signal_uv, conditioning, baseline):
    fs = 1000.0
    spans = [(3.0, 4.5), (7.0, 7.6), (10.0, 12.0), (15.5, 17.0)]
    x = np.column_stack([burst_signal_uv(fs, 20.0 + 3 * c, c, spans, 20.0, ramp_s=0.05)
                         for c in range(5)])
    x[4200:4300, 2] = np.nan  # lost data inside a burst
    x[12500, 3] = np.inf
    x[16000:16010, 1:4] = -np.inf
    zeroed = np.where(np.isfinite(x), x, 0.0)
    cfg = OnsetConfig(conditioning=conditioning)
    cuts = list(range(0, x.shape[0], 1777))
    want = _events([(a, np.ascontiguousarray(zeroed[a:a + 1777, 1:4])) for a in cuts], cfg, 3,
                   baseline)
    assert sum(e.kind == "on" for e in want) >= 8  # bursts on every channel were found
    got = _events([(a, x[a:a + 1777]) for a in cuts], cfg, 3, baseline, column0=1)
    assert got == want
    # the columns as a strided view, without column0: the same events too
    assert _events([(a, x[a:a + 1777, 1:4]) for a in cuts], cfg, 3, baseline) == want


def test_a_block_without_the_detectors_columns_is_refused():
    det = OnsetDetector(OnsetConfig(), 3, 1000.0)
    with pytest.raises(ConfigError):
        det.process(np.zeros((10, 4)), 0, 2)  # columns 2..4 of 4
    with pytest.raises(ConfigError):
        det.process(np.zeros((10, 4)), 0)  # 4 columns for 3 channels
    assert det.process(np.zeros((10, 5)), 0, 2) == []


def _rise_profile_py(r, sm):
    # The smoothed rise the rise fit computed for itself at every onset, in plain Python.
    half = sm // 2
    dlo = half - sm + 1
    width = r + half + 1 - dlo
    prof = [0.0]
    for m in range(width + sm):
        k = dlo - half + m
        s = 0.5 * (1.0 - math.cos(math.pi * (k + 0.5) / r)) if 0 <= k < r else 0.0
        s2 = 0.0 if k < 0 else 1.0 if k >= r else s * s
        prof.append(prof[-1] + s2)
    return [(prof[m + sm] - prof[m]) / sm for m in range(width)]


@pytest.mark.parametrize("sm", [1, 7, 40])
def test_the_rise_shapes_computed_once_are_those_of_every_onset(sm):
    from emgfeedback.analysis.onset_kernels import rise_profiles

    ramps = np.array([0, 1, 20, 37, 360], dtype=np.int64)
    tab = rise_profiles(ramps, sm)
    assert tab.shape == (5, 360 + sm)
    for ri, r in enumerate(ramps.tolist()):
        want = _rise_profile_py(r, sm)
        assert tab[ri, : len(want)].tolist() == want
    assert rise_profiles(np.zeros(0, dtype=np.int64), sm).shape == (1, sm)
