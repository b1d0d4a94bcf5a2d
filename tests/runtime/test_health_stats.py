"""The engine's rolling timing statistics: numpy's percentiles over the last observations."""

import math

import numpy as np
import pytest

from emgfeedback.runtime.health import RollingStat


def test_no_observation_is_nan():
    stat = RollingStat(8)
    assert math.isnan(stat.percentile(50))
    assert np.isnan(stat.percentiles([50, 95])).all()


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 100])
def test_percentiles_equal_numpys_over_the_last_size_values(n):
    values = np.random.default_rng(n).exponential(2.0, n)
    stat = RollingStat(8)
    for v in values:
        stat.add(v)
    qs = [0, 10, 50, 95, 99.9, 100]
    expected = np.percentile(values[-8:], qs)
    assert stat.percentiles(qs) == pytest.approx(expected, rel=1e-12, abs=0)
    assert stat.percentile(95) == pytest.approx(expected[3], rel=1e-12, abs=0)
