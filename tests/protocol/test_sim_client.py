"""The simulated client's copy of the protocol timeline (issue 12, item 7).

The client never sees the runner: it derives the cues from the protocol. These tests drive
the real :class:`ProtocolRunner` to get its cue indices and check that the client reacts to
exactly those cues, after a human reaction time, and rests in every baseline phase.
"""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.acquisition import open_source
from emgfeedback.acquisition.sim_client import (
    CLIENT_KINDS,
    REACTION_MS,
    SYNERGIST_LAG_MS,
    client_scenario,
)
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.errors import ConfigError
from emgfeedback.protocol import Features, ProtocolRunner, load_protocol
from emgfeedback.protocol.schema import shipped_names

FS_HZ = 200.0


def runner_cues(protocol) -> list:
    """The runner's cues on a silent stream (the timeline does not depend on the signal)."""
    n = len(protocol.channels)
    runner = ProtocolRunner(protocol, FS_HZ, protocol.channel_ids, baseline_uv=1.0,
                            mvc_uv=100.0)
    total = runner.duration_samples
    cues = []
    for start in range(0, total, 4096):
        env = np.zeros((min(4096, total - start), n))
        cues += runner.step(Features(start, env))
    return cues


@pytest.mark.parametrize("name", shipped_names())
def test_the_client_reacts_to_the_runners_own_cues_after_a_human_reaction_time(name):
    protocol = load_protocol(name)
    truth = Simulator(client_scenario(protocol, "compliant"), n_channels=len(protocol.channels),
                      fs_hz=FS_HZ, seed=5).truth
    cues = runner_cues(protocol)
    work_cues = [c.index for c in cues
                 if (c.kind == "segment_start" and c.data.get("segment") == "work")
                 or (c.kind == "phase_start" and c.data.get("kind") in
                     ("mvc", "hold", "work") and not c.data.get("reps"))]
    onsets = [min(rep["onset_index"].values()) for rep in truth.repetitions]
    assert len(onsets) == len(work_cues)
    if not work_cues:  # a rest-only protocol: the client relaxes at the "below" cue
        relax = next(c for c in cues if c.kind == "phase_start" and any(
            g["type"] == "below" for g in c.data["goals"]))
        tone = truth.tone_uv_at(np.arange(truth.duration_samples))[:, 0]
        work_cues = [relax.index]
        onsets = [int(np.flatnonzero(tone < tone[relax.index] - 1e-9)[0])]
    for cue, onset in zip(work_cues, onsets, strict=True):
        reaction_ms = (onset - cue) * 1000.0 / FS_HZ
        assert REACTION_MS[0] - 5 <= reaction_ms <= REACTION_MS[1] + 5, (name, cue, onset)
    # Nothing contracts during a baseline phase (the README example failed on exactly that).
    starts = [c for c in cues if c.kind == "phase_start"]
    ends = {c.phase: c.index for c in cues if c.kind == "phase_end"}
    mask = truth.activation_mask(0, truth.duration_samples)
    for c in starts:
        if c.data.get("kind") == "baseline":
            assert not mask[c.index:ends[c.phase]].any(), (name, c.phase_name)
    reactions = truth.extra["reaction_ms"]
    assert min(reactions) >= REACTION_MS[0] and max(reactions) <= REACTION_MS[1]
    assert len(reactions) < 3 or np.std(reactions) > 20  # it varies from cue to cue


def test_the_same_seed_gives_the_same_client_and_another_seed_another():
    protocol = load_protocol("firing_order")

    def reactions(seed: int) -> list:
        sim = Simulator(client_scenario(protocol, "compliant"), n_channels=2, fs_hz=FS_HZ,
                        seed=seed)
        return sim.truth.extra["reaction_ms"]

    assert reactions(1) == reactions(1)
    assert reactions(1) != reactions(2)


def test_compensating_puts_the_compensator_first_and_compliant_the_target():
    protocol = load_protocol("firing_order")
    for kind, sign in (("compliant", 1), ("compensating", -1)):
        truth = Simulator(client_scenario(protocol, kind), n_channels=2, fs_hz=1000.0,
                          seed=2).truth
        for rep in truth.repetitions:
            lag_ms = rep["onset_index"][1] - rep["onset_index"][0]  # 1 sample = 1 ms
            assert lag_ms == pytest.approx(sign * SYNERGIST_LAG_MS, abs=1), (kind, rep)


def test_held_never_lets_go_and_late_lets_go_slowly():
    protocol = load_protocol("uptraining")
    fs = 1000.0
    cues = protocol.phases
    rest_start_s = cues[0].duration_s + protocol.phases[1].work_s  # first rest cue
    levels = {}
    for kind in ("compliant", "held", "late"):
        sim = Simulator(client_scenario(protocol, kind), n_channels=1, fs_hz=fs, seed=1,
                        mains_hz=0.0, wander_uv=0.0)
        uv = sim.generate_uv(int((rest_start_s + 10.0) * fs))[:, 0]

        def rms(x: np.ndarray, t_s: float) -> float:
            i = int(t_s * fs)
            return float(np.sqrt(np.mean(x[i:i + int(fs)] ** 2)))

        levels[kind] = (rms(uv, rest_start_s - 2.0), rms(uv, rest_start_s + 2.0),
                        rms(uv, rest_start_s + 8.0))
    work, two_s, eight_s = levels["compliant"]
    assert two_s < 0.25 * work and eight_s < 0.25 * work  # let go at once
    work, two_s, eight_s = levels["held"]
    assert two_s > 0.5 * work and eight_s > 0.5 * work  # never lets go
    work, two_s, eight_s = levels["late"]
    assert two_s > 0.5 * work and eight_s < 0.25 * work  # lets go, slowly


@pytest.mark.parametrize("url,message", [
    ("sim://?client=compliant&protocol=demo&scenario=drill", "scenario= does not apply"),
    ("sim://?client=compliant&protocol=demo&channels=1", "needs 2 channels"),
    ("sim://?protocol=demo", "add client="),
    ("sim://?client=compliant", "protocol=NAME"),
    ("sim://?client=sloppy&protocol=demo", "compliant, compensating, held, late"),
    ("sim://?client=held&protocol=no_such_protocol", "no_such_protocol"),
])
def test_bad_client_urls_say_what_to_do(url, message):
    with pytest.raises(Exception) as err:
        open_source(url)
    assert message in str(err.value)
    assert isinstance(err.value, ConfigError) or "protocol" in type(err.value).__name__.lower()


def test_a_client_url_names_channels_after_the_protocol_and_extra_channels_rest():
    src = open_source("sim://?client=held&protocol=dissociation_glute_med&channels=3&fs=500")
    info = src.info
    assert info.channel_names == ("glute_med", "tfl", "ch3")
    assert info.extra["client"] == "held" and info.extra["protocol"] == "dissociation_glute_med"
    truth = info.extra["truth"]
    assert not truth.activations[2]
    assert set(CLIENT_KINDS) == {"compliant", "compensating", "held", "late"}
