"""Every library protocol, run end to end on a simulated client (issue 12, item 7).

``emgfeedback run --protocol P --source "sim://?client=K&fs=1000&chunk=250&seed=1" --fast``
through the real CLI (simulator -> ADC counts -> engine -> DSP -> onset detector -> runner): a
compliant client passes every protocol; each failure mode fails the goal that is there to
catch it, and ``run`` prints the reason. A failure mode a protocol cannot detect is listed
in :data:`NOT_APPLICABLE` with the reason.

The matrix runs at 1000 Hz (half the default rate) in 0.25 s chunks to keep the CPU time
down (the results do not depend on the chunking: the runner counts samples); the README's
own examples run at the defaults in ``test_readme_examples_run_as_written``.
"""

from __future__ import annotations

import re
import shlex

import numpy as np
import pytest

from emgfeedback import cli
from emgfeedback.acquisition.sim_client import CLIENT_KINDS, client_scenario
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.protocol import load_protocol
from emgfeedback.protocol.schema import shipped_names

#: (protocol, client) -> (phase that must fail, index of the goal that must fail).
MUST_FAIL = {
    ("demo", "compensating"): ("drill", 1),  # order: TFL first
    ("dissociation_glute_med", "compensating"): ("dissociation", 0),
    ("dissociation_lower_trap", "compensating"): ("dissociation", 0),
    ("firing_order", "compensating"): ("drill", 0),  # order
    ("symmetry", "compensating"): ("drill", 0),  # symmetry index
    ("downtraining", "held"): ("relax", 0),  # below 0.8 x baseline
    ("resting_baseline", "held"): ("baseline", 0),  # below 10 µV
    ("uptraining", "held"): ("work_rest", 1),  # rest below 1.5 x baseline
    ("uptraining", "late"): ("work_rest", 1),
    ("slow_release", "held"): ("slow_release", 1),  # rest below 1.5 x baseline
    ("slow_release", "late"): ("slow_release", 1),
}

_ONE_MUSCLE = "one muscle: there is no compensator and no other side to compensate with"
_NO_REST_GOAL = ("no goal judges letting go: only the contraction (and the onset order) of "
                 "each rep is judged, and the rests have no goal")
_HOLDS = ("only the contraction above % MVC is judged; the rests between holds have no "
          "goal, so neither a held nor a late release can fail it")
_GLAZER = ("the Glazer goals only check that each task was performed (a contraction above "
           "2 x baseline); recovery and the post-baseline are measured, not judged")

#: (protocol, client) -> why the protocol cannot detect that failure mode.
NOT_APPLICABLE = {
    ("demo", "held"): _NO_REST_GOAL,
    ("demo", "late"): _NO_REST_GOAL,
    ("dissociation_glute_med", "held"): _NO_REST_GOAL,
    ("dissociation_glute_med", "late"): _NO_REST_GOAL,
    ("dissociation_lower_trap", "held"): _NO_REST_GOAL,
    ("dissociation_lower_trap", "late"): _NO_REST_GOAL,
    ("firing_order", "held"): _NO_REST_GOAL,
    ("firing_order", "late"): _NO_REST_GOAL,
    ("symmetry", "held"): _NO_REST_GOAL,
    ("symmetry", "late"): _NO_REST_GOAL,
    ("downtraining", "compensating"): _ONE_MUSCLE,
    ("downtraining", "late"): ("nothing to release: the client only relaxes, and a release "
                               "seconds late cannot fail 50 % of a 180 s relaxation"),
    ("resting_baseline", "compensating"): _ONE_MUSCLE,
    ("resting_baseline", "late"): "nothing to release: the protocol is a single rest",
    ("uptraining", "compensating"): _ONE_MUSCLE,
    ("slow_release", "compensating"): _ONE_MUSCLE,
    ("glazer", "compensating"): _ONE_MUSCLE,
    ("glazer", "held"): _GLAZER,
    ("glazer", "late"): _GLAZER,
    **{(p, "compensating"): _ONE_MUSCLE for p in ("hold_short", "hold_medium", "hold_long")},
    **{(p, k): _HOLDS for p in ("hold_short", "hold_medium", "hold_long")
       for k in ("held", "late")},
}

_REPS = re.compile(r": (\d+)/(\d+) reps$")


def _run(capsys, protocol: str, url: str, *extra: str) -> list[str]:
    args = ["run", "--protocol", protocol, "--source", url, "--fast", *extra]
    code = cli.main(args if extra else [*args, "--no-record"])
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert code != 2 and "Traceback" not in captured.err, (code, captured.err)
    if out and out[-1] == "overall: passed" or (len(out) > 1 and out[-2] == "overall: passed"):
        assert code == 0
    return out


def _summary(lines: list[str]) -> list[str]:
    """The results block ``run`` prints after the cues (from the first phase's verdict)."""
    start = next(i for i, line in enumerate(lines) if re.match(r"^\S+: (passed|not passed|"
                                                                r"done)", line))
    return lines[start:]


def test_every_library_protocol_and_client_kind_has_an_expectation():
    names = shipped_names()
    assert len(names) >= 12
    for name in names:
        for kind in CLIENT_KINDS:
            if kind == "compliant":
                continue
            key = (name, kind)
            assert (key in MUST_FAIL) != (key in NOT_APPLICABLE), key
    assert all(reason for reason in NOT_APPLICABLE.values())


@pytest.mark.parametrize("protocol", shipped_names())
def test_a_compliant_client_passes(capsys, protocol):
    url = "sim://?client=compliant&fs=1000&chunk=250&seed=1"
    lines = _summary(_run(capsys, protocol, url))
    assert lines[-1] == "overall: passed", "\n".join(lines)
    assert not any("FAILED" in line or "not passed" in line for line in lines), lines


@pytest.mark.parametrize("protocol,kind", sorted(MUST_FAIL))
def test_each_failure_mode_fails_its_goal_and_run_says_why(capsys, protocol, kind):
    phase_name, goal_index = MUST_FAIL[(protocol, kind)]
    proto = load_protocol(protocol)
    phase_index = [p.name for p in proto.phases].index(phase_name)
    phase = proto.phases[phase_index]
    goal = phase.goals[goal_index]
    lines = _summary(_run(capsys, protocol, f"sim://?client={kind}&fs=1000&chunk=250&seed=1"))
    text = "\n".join(lines)
    assert lines[-1] == "overall: not passed", text
    head = next(line for line in lines if line.startswith(f"{phase_name}: "))
    assert head.startswith(f"{phase_name}: not passed"), text
    at = next(i for i, line in enumerate(lines) if line.startswith(f"  {goal.describe()}"))
    goal_line = lines[at]
    if phase.reps is None:
        assert ": FAILED: in zone" in goal_line, text
        return
    passed, reps = map(int, _REPS.search(goal_line).groups())
    assert reps == phase.reps
    assert passed < np.ceil(phase.pass_pct / 100 * phase.reps - 1e-9), text
    # one reason per failed rep, printed under the goal
    reasons = []
    for line in lines[at + 1:]:
        if not line.startswith("    rep "):
            break
        if not re.match(r"    rep \d+: ok: ", line):
            reasons.append(line)
    assert len(reasons) == reps - passed, text
    expected = {"order": r"first by \d+ ms \(allowed", "symmetry": r"in zone [\d.]+ % \(needs",
                "dissociation": r"in zone [\d.]+ % \(needs|longest [\d.]+ s \(needs",
                "below": r"in zone [\d.]+ % \(needs", "above": r"longest|in zone"}[goal.type]
    assert all(re.search(expected, r) for r in reasons), reasons


@pytest.mark.parametrize("protocol", ["uptraining", "slow_release", "glazer"])
def test_compensating_is_the_compliant_client_on_a_one_muscle_protocol(protocol):
    """Why ``compensating`` is not applicable there: the stream is the same, sample for
    sample (checked over the first 40 s)."""
    proto = load_protocol(protocol)
    streams = [Simulator(client_scenario(proto, kind), n_channels=1, fs_hz=1000.0, seed=3)
               .generate_uv(40_000) for kind in ("compliant", "compensating")]
    np.testing.assert_array_equal(*streams)


@pytest.mark.parametrize("board", ["uno-myoware2-env", "esp32-myoware2"])
@pytest.mark.parametrize("protocol,kind", [("uptraining", "late"),
                                           ("dissociation_glute_med", "compensating")])
def test_the_clients_tell_good_from_bad_on_other_boards(capsys, board, protocol, kind):
    """An ENV output (MyoWare envelope at the board's 500 Hz) and a 12-bit ADC."""
    base = f"sim://?board={board}&chunk=125&seed=2&client="
    good = _summary(_run(capsys, protocol, base + "compliant"))
    bad = _summary(_run(capsys, protocol, base + kind))
    assert good[-1] == "overall: passed", good
    assert bad[-1] == "overall: not passed", bad


def test_readme_examples_run_as_written(capsys, tmp_path, monkeypatch):
    """The README's lines, exactly as written (they record into the default store)."""
    monkeypatch.setenv("EMGFEEDBACK_DB", str(tmp_path / "sessions.sqlite"))
    readme = ['emgfeedback run --protocol uptraining --source "sim://?client=compliant&seed=1"'
              ' --fast',
              'emgfeedback run --protocol uptraining --source "sim://?client=late&seed=1"'
              ' --fast']
    runs = []
    for line in readme:
        argv = shlex.split(line)[1:]
        code = cli.main(argv)
        captured = capsys.readouterr()
        assert code != 2 and "Traceback" not in captured.err, captured.err
        runs.append(captured.out.splitlines())
    good, late = (_summary(out) for out in runs)
    assert "overall: passed" in good and "stored as session 1" in good
    assert "overall: not passed" in late and "stored as session 2" in late
    assert any(line.startswith("  stabiliser below 1.5 x baseline") for line in late)
    assert any(re.match(r"    rep \d+: in zone [\d.]+ % \(needs 70 %\)", line) for line in late)


def test_the_client_must_follow_the_protocol_that_runs(capsys):
    code = cli.main(["run", "--protocol", "uptraining", "--source",
                     "sim://?client=compliant&protocol=glazer", "--fast", "--no-record"])
    err = capsys.readouterr().err
    assert code == 2 and "follows protocol 'glazer'" in err and "Traceback" not in err
    code = cli.main(["capture", "--source", "sim://?client=compliant", "--seconds", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "protocol=NAME" in err
    code = cli.main(["capture", "--source", "sim://?client=lazy&protocol=demo",
                     "--seconds", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "compliant, compensating, held, late" in err
