"""``run``'s per-phase summary: reps passed and the reason for every failure."""

from __future__ import annotations

import numpy as np

from emgfeedback.protocol import Features, ProtocolRunner, load_protocol
from emgfeedback.protocol.explain import goal_reason, results_lines
from emgfeedback.protocol.schema import Goal

FS_HZ = 100.0


def test_order_reasons_name_the_muscle_that_fired_first():
    goal = Goal(type="order", during="work", target="glute_med", compensator="tfl",
                max_lag_ms=20.0)
    assert goal_reason(goal, {"type": "order", "order": "wrong", "lag_ms": 85.4}) == \
        "tfl first by 85 ms (allowed: 20 ms)"
    assert goal_reason(goal, {"type": "order", "order": "right", "lag_ms": -140.0}) == \
        "glute_med first by 140 ms"
    assert goal_reason(goal, {"type": "order", "order": "no_target", "lag_ms": None}) == \
        "no onset of glute_med detected"
    assert goal_reason(goal, {"type": "order", "order": "right", "lag_ms": None}) == \
        "glute_med on, tfl never switched on"


def test_zone_reasons_say_what_was_reached_and_what_was_needed():
    hold = Goal(type="above", during="work", channel="m", level=3.0, unit="baseline",
                hold_s=3.0)
    assert goal_reason(hold, {"type": "above", "in_zone_pct": 89.9, "longest_s": 2.7}) == \
        "in zone 89.9 %, longest 2.7 s (needs 3 s)"
    rest = Goal(type="below", during="rest", channel="m", level=1.5, unit="baseline",
                min_in_zone_pct=70.0)
    assert goal_reason(rest, {"type": "below", "in_zone_pct": 45.0, "longest_s": 4.5}) == \
        "in zone 45.0 % (needs 70 %)"
    touch = Goal(type="above", during="work", channel="m", level=2.0, unit="baseline")
    assert goal_reason(touch, {"type": "above", "in_zone_pct": 0.0, "longest_s": 0.0}) == \
        "in zone 0.0 %, never reached"


def test_a_silent_client_fails_uptraining_and_every_rep_says_why():
    """Real runner, constant envelope: the work goal is never reached in any rep."""
    protocol = load_protocol("uptraining")
    runner = ProtocolRunner(protocol, FS_HZ, ["stabiliser"])
    total = runner.duration_samples
    runner.step(Features(0, np.full((total, 1), 5.0)))
    lines = results_lines(protocol, runner.results())
    assert lines[0] == "pre_baseline: done"
    assert lines[1] == "  resting baseline (mean envelope): stabiliser 5.00 µV"
    assert lines[2] == "work_rest: not passed, 0/10 reps passed (needs 8)"
    assert lines[3] == "  stabiliser above 3 x baseline (= 15.0 µV): 0/10 reps"
    assert lines[4:14] == [f"    rep {k}: in zone 0.0 %, longest 0.0 s (needs 3 s)"
                           for k in range(1, 11)]
    assert lines[14] == "  stabiliser below 1.5 x baseline (= 7.5 µV): 10/10 reps"
    assert lines[-1] == "overall: not passed"
