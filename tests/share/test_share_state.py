"""The state a browser draws: what the Qt client view shows, as small plain JSON."""

from __future__ import annotations

import json
import math

import numpy as np

from emgfeedback.gui.feedback import FeedbackModel
from emgfeedback.share.state import STATE_KEYS, build_state, client_bars
from tests.share.conftest import Goals


def _model(mode: str = "uptraining") -> FeedbackModel:
    m = FeedbackModel(["L biceps", "R biceps", "L triceps"], 1000.0)
    m.set_mode(mode)
    m.update_levels(np.array([55.0, 12.0, 3.0]), 2000, Goals())
    return m


def test_the_state_has_the_client_view_bars_with_goals_and_no_samples():
    m = _model("uptraining")
    state = build_state(m, seq=3, t_ms=12.5, countdown_s=4.2)
    assert set(state) == set(STATE_KEYS)
    # the client sees only the bars that carry a goal, like the Qt client view
    assert [b["label"] for b in state["bars"]] == ["L biceps"]
    bar = state["bars"][0]
    assert bar == {"label": "L biceps", "level_uv": 55.0, "goal_uv": 40.0,
                   "direction": "above", "met": True}
    assert state["met"] and state["instruction"] == "Uptraining"
    assert state["countdown_s"] == 5  # whole seconds, rounded up like the protocol panel
    assert state["scale_uv"] == m.scale_uv
    text = json.dumps(state, allow_nan=False)  # valid JSON: no NaN anywhere
    assert len(text) < 1000  # a small stream, not samples


def test_downtraining_shows_every_goal_bar_and_the_time_in_zone():
    m = _model("downtraining")
    state = build_state(m)
    assert [b["direction"] for b in state["bars"]] == ["below"] * 3
    assert [b["met"] for b in state["bars"]] == [False, False, True]
    assert state["in_zone_s"] == 0.0


def test_missing_levels_and_goals_become_null_not_nan():
    m = FeedbackModel(["a", "b"], 1000.0)
    m.update_levels(np.array([math.nan, 1.0]), 10, None)
    state = build_state(m)
    assert state["bars"][0]["level_uv"] is None
    assert state["bars"][0]["goal_uv"] is None
    json.dumps(state, allow_nan=False)


def test_no_subject_id_unless_the_therapist_allows_names():
    m = _model()
    assert build_state(m, subject="S-017")["subject"] is None
    assert build_state(m, subject="S-017", allow_names=True)["subject"] == "S-017"
    assert "S-017" not in json.dumps(build_state(m, subject="S-017"))


def test_symmetry_sends_both_sides_and_the_index():
    m = FeedbackModel(["L", "R"], 1000.0)
    m.set_mode("symmetry")
    m.update_levels(np.array([30.0, 36.0]), 100, None)
    state = build_state(m)
    assert [b["label"] for b in state["bars"]] == ["L", "R"]
    assert [b.label for b in client_bars(m)] == ["L", "R"]
    assert state["symmetry"]["index_pct"] == round(m.symmetry_index_pct)
    assert state["symmetry"]["ok"] is True


def test_the_protocol_result_is_said_in_words():
    m = _model()
    assert build_state(m, result=True)["result"] == "passed"
    assert build_state(m, result=False)["result"] == "not passed"
    assert build_state(m)["result"] is None
