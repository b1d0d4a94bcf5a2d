"""The engine benchmark explains its slow chunks (issue 16, item 1).

No timing is asserted (the suite runs on loaded machines): only that every chunk is timed,
the first one included, and that the breakdown adds up.
"""

from __future__ import annotations

import pytest

from emgfeedback.benchmarking.engine import STAGES, engine_chunk_cost


def test_every_chunk_is_timed_and_the_slow_ones_are_explained():
    r = engine_chunk_cost(minutes=0.1)
    assert r["chunks"] == int(0.1 * 60 * 2000) // 16
    assert r["warm_up_s"] > 0 and r["first_chunk_us"] > 0
    assert set(r["stages_us"]) == set(STAGES)
    slow = r["slow"]
    # Every chunk over 1 ms (and over 5 ms) of wall time has exactly one cause.
    assert sum(slow["over_1ms_by_cause"].values()) == r["over_1ms"]
    assert sum(slow["over_5ms_by_cause"].values()) == r["over_5ms"]
    for entry in slow["slowest"] + slow["busiest"]:
        stages = sum(entry[f"{name}_us"] for name in STAGES)
        # "engine" is the rest of the chunk: together the stages are its wall time.
        assert entry["engine_us"] >= 0
        assert stages == pytest.approx(entry["wall_us"], rel=1e-6, abs=1e-3) or \
            entry["engine_us"] == 0
        if entry["wall_us"] > 1000.0:
            assert entry["cause"]
    assert r["quality_windows"] >= 2 and r["onsets"] > 0 and r["cues"] > 0
