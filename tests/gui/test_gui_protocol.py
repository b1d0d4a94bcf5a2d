"""Cues and protocols through the GUI: goal met when the simulator activates the target,
and a protocol run in fast mode through the window gives the headless results."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from emgfeedback.protocol import load_protocol

ABOVE_20_UV = """
name = "above_20"
title = "Target above 20 µV"
version = 1
description = "Test protocol: one free phase, glute med above 20 µV, no hold."
sources = []

[[channels]]
id = "glute_med"
role = "target"
label = "Gluteus medius"

[[phases]]
name = "free"
kind = "free"
duration_s = 59
cue = "Lift"

[[phases.goals]]
type = "above"
channel = "glute_med"
level = 20
unit = "uv"
during = "all"
hold_s = 0
grace_s = 0.1
"""


def _run_fast(qtbot, make_window, url: str, protocol: str):
    win = make_window(url, protocol=protocol, fast=True)
    win.show()
    win.start()
    qtbot.waitUntil(lambda: bool(win.session.protocol_results) and win.protocol_panel.finished,
                    timeout=60000)
    return win


def test_target_cue_turns_to_goal_met_when_the_simulator_activates_it(qtbot, make_window,
                                                                       tmp_path):
    path = tmp_path / "above_20.toml"
    path.write_text(ABOVE_20_UV, encoding="utf-8")
    win = _run_fast(qtbot, make_window, "sim://?scenario=drill&channels=2&seed=4", str(path))
    truth = win.session.info.extra["truth"]
    fs = win.session.fs_hz
    delay_ms = win.session.envelope_delay_ms
    met_at = [i for i, _goal, met in win.model.transitions if met]
    lost_at = [i for i, _goal, met in win.model.transitions if not met]
    onsets = [on for on, _off in truth.activations[0] if on < 59 * fs]
    offsets = [off for _on, off in truth.activations[0] if off < 59 * fs]
    # One "goal met" per activation, never before it, within the envelope's delay plus the
    # rise of the burst (the simulator's ramp) after the true onset.
    assert len(met_at) == len(onsets) == 8
    for k, (on, met) in enumerate(zip(onsets, met_at, strict=True)):
        ramp_ms = truth.ramps[0][k][0]
        lag_ms = (met - on) * 1000.0 / fs
        assert 0 <= lag_ms <= delay_ms + ramp_ms, (k, lag_ms, delay_ms, ramp_ms)
    # ... and it turns back after each activation ends.
    assert len(lost_at) == len(offsets)
    for off, lost in zip(offsets, lost_at, strict=True):
        assert 0 <= (lost - off) * 1000.0 / fs <= 2 * delay_ms + 100 + 100
    # The panel's per-phase result is the runner's own.
    assert win.protocol_panel.phase_results[0]["name"] == "free"


def _headless(url: str, protocol: str) -> dict:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "emgfeedback", "run", "--source", url, "--protocol", protocol,
         "--fast", "--json", "--no-record"],
        capture_output=True, text=True, env=env, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _strip(results: dict) -> dict:
    results = dict(results)
    results.pop("session", None)
    return json.loads(json.dumps(results))


def test_demo_protocol_in_fast_mode_through_the_gui_matches_headless(qtbot, make_window):
    url = "sim://?scenario=drill&channels=2&seed=1"
    win = _run_fast(qtbot, make_window, url, "demo")
    gui = win.session.protocol_results[-1]
    headless = _headless(url, "demo")
    assert gui["finished"] and headless["finished"]
    assert _strip(gui) == _strip(headless)
    # What the panel showed is what the runner concluded, phase by phase.
    shown = [r["name"] for r in win.protocol_panel.phase_results]
    assert shown == [p.name for p in load_protocol("demo").phases]
    drill = gui["phases"][1]
    shown_drill = win.model.phase_history[1]
    assert shown_drill["reps_passed"] == drill["reps_passed"]
    assert [row.order for row in shown_drill["order_rows"]] == \
        [r["goals"][1]["order"] for r in drill["reps"]]
    assert [row.lag_ms for row in shown_drill["order_rows"]] == \
        [r["goals"][1]["lag_ms"] for r in drill["reps"]]
    assert np.isfinite(win.latency.latency_ms(95))


@pytest.mark.parametrize("behaviour", ["compliant", "compensating"])
def test_demo_window_on_the_simulated_client_shows_what_the_client_did(qtbot, make_window,
                                                                      behaviour):
    """``emgfeedback demo``'s source: a compliant client gets every rep's order right, a
    compensating one (TFL first) gets every one wrong, and the window says so."""
    from emgfeedback.commands.demo import demo_source

    win = _run_fast(qtbot, make_window, demo_source(behaviour), "demo")
    results = win.session.protocol_results[-1]
    drill = win.model.phase_history[1]
    orders = [row.order for row in drill["order_rows"]]
    assert len(orders) == 8
    if behaviour == "compliant":
        assert set(orders) == {"right"} and results["passed"] is True
        assert drill["reps_passed"] == 8
    else:
        assert set(orders) == {"wrong"} and results["passed"] is False
        assert all(row.lag_ms > 50 for row in drill["order_rows"])  # TFL 150 ms first
