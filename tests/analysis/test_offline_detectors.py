"""Offline detectors selected by name, on the project's simulator with exact truth."""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.analysis.offline import DETECTORS, detect_bursts, mask_to_bursts
from emgfeedback.analysis.rest import rest_from_spans, rest_mask
from emgfeedback.errors import ConfigError

FS = 2000.0


@pytest.mark.parametrize("method", DETECTORS)
def test_each_detector_finds_every_burst_at_20_db(method, simulated, match_onsets):
    sim, _, filtered = simulated("drill", 2, FS, 5, 20.0)
    rest = rest_from_spans(filtered.shape[0], 2, [(0, int(3.5 * FS))])
    bursts = detect_bursts(filtered, FS, method, rest=rest)
    assert len(bursts) == 2
    for c in range(2):
        truth = [on for on, _ in sim.truth.activations[c]]
        errors, extra = match_onsets(truth, bursts[c][:, 0], FS)
        assert len(errors) == len(truth), f"{method} ch{c}: missed"
        assert extra <= 1, f"{method} ch{c}: {extra} false bursts"
        assert np.median(np.abs(errors)) <= 40.0, method
        assert np.all(bursts[c][:, 1] > bursts[c][:, 0])


def test_automatic_rest_finds_the_quiet_parts(simulated):
    sim, _, filtered = simulated("drill", 2, FS, 5, 20.0)
    mask = rest_mask(filtered, FS)
    active = sim.truth.activation_mask(0, filtered.shape[0])
    # Rest windows hardly touch activations (at most a ramp's quiet start), and most of
    # the true rest is found.
    assert mask[active].mean() < 0.02
    assert mask[~active].mean() > 0.5


def test_unknown_detector_and_parameter_are_refused(simulated):
    _, _, filtered = simulated("drill", 2, FS, 5, 20.0)
    with pytest.raises(ConfigError, match="known: streaming"):
        detect_bursts(filtered, FS, "magic")
    with pytest.raises(ConfigError, match="unknown parameter"):
        detect_bursts(filtered, FS, "bonato", threshold=3)


def test_mask_to_bursts_bridges_short_gaps_and_drops_short_bursts():
    a = np.zeros(1000, dtype=bool)
    a[100:200] = True
    a[205:300] = True  # 5-sample gap: bridged
    a[500:503] = True  # 3 samples: dropped
    b = mask_to_bursts(a, 1000.0, min_on_s=0.01, min_off_s=0.01)
    assert b.tolist() == [[100, 300]]
