"""The onset detectors' rest never falls below the converter's floor (NOTES-X.md X16).

A rest quieter than one ADC step records as one code with a flicker to the next whose rate
drifts with the rest's level; the detectors learned their rest from a quiet stretch and
called every louder stretch of flicker a burst. With the step known
(``set_quantisation_step``) the rest is at least the floor of
:func:`emgfeedback.analysis.quantities.onset_rest_floor`; with a step far below the rest
noise nothing changes. The end-to-end check on the default board is
tests/e2e/test_trust_q_quantised.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.analysis.onset import OnsetConfig, OnsetDetector
from emgfeedback.analysis.onset_glr import GlrConfig, GlrOnsetDetector
from emgfeedback.analysis.quantities import onset_floor_signal, onset_rest_floor
from emgfeedback.dsp import PipelineConfig, process_offline

FS = 1000.0
STEP_UV = 24.4140625  # a 10-bit Uno behind MyoWare RAW


def _cfg():
    return PipelineConfig(fs_hz=FS, band_hz=(20.0, 450.0), notch_hz=50.0, start="steady")


def _sub_step_rest(seconds=40.0, seed=3):
    """A 3 µV in-band rest whose level drifts across a code boundary (±13 µV, 0.05 Hz),
    quantised with STEP_UV and filtered: the rest of the default board."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    tone = process_offline(rng.standard_normal((n, 1)), _cfg())[0][:, 0]
    tone *= 3.0 / tone[int(FS):].std()
    drift = 13.0 * np.sin(2 * np.pi * 0.05 * np.arange(n) / FS)
    counts = np.round((tone + drift) / STEP_UV)
    return process_offline((counts * STEP_UV)[:, None], _cfg())[0]


def _bursts(x, with_step, glr=False):
    if glr:
        det = GlrOnsetDetector(GlrConfig(), 1, FS)
    else:
        det = OnsetDetector(OnsetConfig(), 1, FS)
    if with_step:
        det.set_quantisation_step([STEP_UV], _cfg())
    return [(e.kind, e.index) for e in det.process(x, 0)]


@pytest.mark.parametrize("glr", [False, True])
def test_a_rest_below_one_step_has_no_burst(glr):
    x = _sub_step_rest()
    # the flicker's power really wanders (else this test would prove nothing)
    p = np.array([np.mean(x[a:a + 1000, 0] ** 2) for a in range(1000, x.shape[0], 1000)])
    assert p.max() > 5 * max(p.min(), 1e-9)
    assert _bursts(x, with_step=False, glr=glr) != []  # learned from a quiet stretch
    assert _bursts(x, with_step=True, glr=glr) == []


@pytest.mark.parametrize("glr", [False, True])
def test_a_step_far_below_the_rest_changes_nothing(glr):
    rng = np.random.default_rng(7)
    n = int(20 * FS)
    amp = np.full(n, 20.0)
    for a in (4, 10, 15):
        amp[int(a * FS): int((a + 2) * FS)] = 120.0
    x = process_offline((amp * rng.standard_normal(n))[:, None], _cfg())[0]
    x = np.round(x / 0.1) * 0.1  # a 0.1 µV step (a 24-bit front end)
    events = _bursts(x, with_step=False, glr=glr)
    assert len(events) == 6
    assert _bursts(x, with_step=True, glr=glr) == events


def test_the_floor_scales_with_the_step_and_is_the_detectors_statistic():
    cfg = _cfg()
    m1, s1, p1 = onset_rest_floor(1.0, cfg)
    mq, sq, pq = onset_rest_floor(STEP_UV, cfg)
    assert (mq, sq, pq) == pytest.approx((m1 * STEP_UV, s1 * STEP_UV, p1 * STEP_UV ** 2))
    # the power is that of the floor signal: a ±q/2 flicker (q²/4) through the band-pass
    y = onset_floor_signal(cfg)
    assert pq == pytest.approx(np.mean(y ** 2) * STEP_UV ** 2)
    assert 0.25 * 0.3 < p1 < 0.25  # the band keeps most, not all, of an in-band flicker
    assert m1 == pytest.approx(np.sqrt(p1), rel=0.02) and 0 < s1 < 0.1 * m1
    assert onset_rest_floor(None, cfg) == onset_rest_floor(float("nan"), cfg)


def test_a_constant_channels_rounding_residue_is_not_a_burst():
    # helper T (NOTES-T T1): a constant channel after a band-pass started in its steady
    # state leaves a 1e-13 µV residue decaying to 1e-26; the learned rest (~0) made it a
    # burst "active from the start". No step known: the floor is a numerical zero.
    n = int(6 * FS)
    t = np.arange(n) / FS
    x = 3e-13 * np.exp(-t * np.log(3e13) / 6.0) * np.random.default_rng(1).standard_normal(n)
    assert OnsetDetector(OnsetConfig(), 1, FS).process(x[:, None], 0) == []
