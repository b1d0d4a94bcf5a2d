"""The runner behind the project's real components: simulator, Pipeline, OnsetDetector.

Blocks flow as the engine feeds them: µV -> Pipeline (band-pass, notch, RMS envelope) ->
OnsetDetector on the filtered signal -> ProtocolRunner on the envelope and onset events.
"""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.analysis.onset import OnsetConfig, OnsetDetector
from emgfeedback.dsp import Pipeline, PipelineConfig
from emgfeedback.protocol import Features, ProtocolRunner, load_protocol, shipped_names


def envelope_gain(fs_hz: float) -> float:
    """Mean RMS envelope the pipeline gives for unit-SD white noise (band-pass and notches
    remove part of its power); synthetic raw EMG is divided by it so the envelope comes out
    at the constructed amplitude."""
    rng = np.random.default_rng(0)
    _, env = Pipeline(PipelineConfig(fs_hz=fs_hz), 1).process(
        rng.standard_normal((round(20 * fs_hz), 1)))
    return float(env[round(2 * fs_hz):].mean())


def run_chain(proto, raw_uv, fs_hz, channel_names, blocks=(200,), first_index=0):
    """Feed raw µV through Pipeline + OnsetDetector + ProtocolRunner in the given blocks."""
    n_ch = raw_uv.shape[1]
    pipe = Pipeline(PipelineConfig(fs_hz=fs_hz), n_ch)
    det = OnsetDetector(OnsetConfig(), n_ch, fs_hz)
    runner = ProtocolRunner(proto, fs_hz, channel_names)
    cues = []
    pos = 0
    k = 0
    while pos < len(raw_uv) and not runner.finished:
        n = blocks[k % len(blocks)]
        k += 1
        filtered, env = pipe.process(raw_uv[pos:pos + n])
        events = det.process(filtered, first_index + pos)
        cues += runner.step(Features(first_index + pos, env, events))
        pos += len(filtered)
    return runner, cues


def simulate(scenario, seconds, fs_hz=2000.0, seed=1, n_channels=2):
    sim = Simulator(scenario, n_channels=n_channels, fs_hz=fs_hz, seed=seed)
    return sim, sim.generate_uv(round(seconds * fs_hz))


def test_demo_on_simulated_drill_matches_ground_truth():
    proto = load_protocol("demo")
    sim, raw = simulate("drill", proto.total_s + 1)
    runner, cues = run_chain(proto, raw, 2000.0, sim.channel_names)
    res = runner.results()
    assert runner.finished and res["channels"] == {"glute_med": "glute_med", "tfl": "tfl"}
    reps = res["phases"][1]["reps"]
    truth = sim.truth.repetitions
    assert len(reps) == len(truth) == 8
    for rep, tr in zip(reps, truth, strict=True):
        order = rep["goals"][1]
        assert order["order"] == ("right" if tr["target_first"] else "wrong")
        # lag_ms is target minus compensator; the truth's lag_ms is compensator minus target
        assert order["lag_ms"] == pytest.approx(-tr["lag_ms"], abs=25)
        assert rep["passed"] is tr["target_first"]
        g, t = rep["channels"]["glute_med"]["mean_uv"], rep["channels"]["tfl"]["mean_uv"]
        assert (g > t) is tr["target_first"] or not tr["target_first"]
    assert res["phases"][1]["reps_passed"] == 6 and res["passed"] is True
    assert sum(c.kind == "reward" for c in cues) == 6
    # resting baseline: the RMS envelope of tone plus amplifier noise, a few µV
    assert all(1.0 < v < 10.0 for v in res["baseline_uv"].values())


def test_demo_on_simulated_rest_fails():
    proto = load_protocol("demo")
    sim, raw = simulate("rest", proto.total_s + 1)
    runner, _ = run_chain(proto, raw, 2000.0, ["glute_med", "tfl"])
    res = runner.results()
    assert runner.finished and res["passed"] is False
    drill = res["phases"][1]
    assert drill["reps_passed"] == 0
    assert drill["order"]["no_target"] + drill["order"]["right"] == 8


def test_live_and_replay_block_sizes_give_identical_results():
    proto = load_protocol("demo")
    sim, raw = simulate("drill", proto.total_s + 1, seed=4)
    ref_runner, ref_cues = run_chain(proto, raw, 2000.0, sim.channel_names, blocks=(200,))
    runner, cues = run_chain(proto, raw, 2000.0, sim.channel_names, blocks=(37, 4096, 1, 999))
    assert cues == ref_cues
    assert runner.results() == ref_runner.results()


@pytest.mark.parametrize("name", shipped_names())
def test_every_protocol_through_the_real_pipeline(name, subject):
    """Synthetic raw EMG with a constructed amplitude: passes when done well, fails when not."""
    fs = 1000.0
    proto = load_protocol(name)
    names = [f"ch{i}" for i in range(len(proto.channels))]
    rng = np.random.default_rng(7)
    gain = envelope_gain(fs)
    for mode in ("pass", "fail"):
        amp, _ = subject(proto, fs, mode, noise=0.0)
        raw = amp * rng.standard_normal(amp.shape) / gain
        runner, cues = run_chain(proto, raw, fs, names, blocks=(250,))
        res = runner.results()
        assert runner.finished
        assert res["passed"] is (mode == "pass"), (mode, [
            (p["name"], p["passed"]) for p in res["phases"]])
        first = res["phases"][0]
        if first["kind"] == "baseline":
            rest = 5.0 if mode == "pass" else 15.0
            median = first["channels"][proto.channel_ids[0]]["p50_uv"]
            assert median == pytest.approx(rest, rel=0.1)
