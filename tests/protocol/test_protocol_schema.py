"""Strict protocol loading: every kind of mistake names the file, the key path and a fix."""

from __future__ import annotations

import textwrap

import pytest

from emgfeedback.errors import ProtocolError
from emgfeedback.protocol import load_protocol, loads_protocol

VALID = textwrap.dedent('''
    name = "t"
    title = "Test"
    version = 1
    description = "d"

    [parameters]
    rest = 4.0

    [[channels]]
    id = "a"
    role = "target"

    [[channels]]
    id = "b"
    role = "compensator"

    [[phases]]
    name = "base"
    kind = "baseline"
    duration_s = 10

    [[phases]]
    name = "drill"
    kind = "work"
    reps = 3
    work_s = 5
    rest_s = "$rest"

    [[phases.goals]]
    type = "above"
    channel = "a"
    level = 2
    unit = "baseline"
    hold_s = 1

    [[phases.goals]]
    type = "order"
    max_lag_ms = 10
''')


def _load(text: str, file: str = "mine.toml"):
    return loads_protocol(text, file)


def _error(text: str) -> str:
    with pytest.raises(ProtocolError) as info:
        _load(text)
    return str(info.value)


def test_valid_text_loads_with_parameters_and_defaults():
    proto = _load(VALID)
    drill = proto.phases[1]
    assert drill.rest_s == 4.0 and drill.total_s == 27.0
    assert proto.total_s == 37.0
    goal = drill.goals[1]
    assert (goal.target, goal.compensator) == ("a", "b")  # defaults from roles
    assert "order" in drill.measure and "time_in_zone" in drill.measure
    assert drill.goals[0].during == "work"


def test_parameter_override_and_unknown_override(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(VALID, encoding="utf-8")
    assert load_protocol(path, {"rest": 6}).phases[1].rest_s == 6.0
    with pytest.raises(ProtocolError, match=r"mine.toml: parameters.rests: .*did you mean 'rest'"):
        load_protocol(path, {"rests": 6})


@pytest.mark.parametrize("old,new,keypath,fragment", [
    # unknown keys, with a suggestion
    ('title = "Test"', 'title = "Test"\ncolour = "red"', "colour", "unknown key"),
    ('kind = "work"', 'kind = "work"\nwork = 3', "phases[1].work", "did you mean 'work_s'"),
    ('type = "order"', 'type = "order"\nlevel = 3', "phases[1].goals[1].level", "unknown key"),
    ('role = "target"', 'role = "target"\nsize = 1', "channels[0].size", "unknown key"),
    # wrong types
    ("version = 1", 'version = "1"', "version", "expected an integer"),
    ("duration_s = 10", 'duration_s = "10"', "phases[0].duration_s", "expected a number"),
    ("duration_s = 10", "duration_s = true", "phases[0].duration_s", "expected a number"),
    ("reps = 3", "reps = 2.5", "phases[1].reps", "expected an integer"),
    ('title = "Test"', "title = 3", "title", "expected a string"),
    ('kind = "baseline"', 'kind = "baseline"\ngoals = 3', "phases[0].goals", "array of tables"),
    # bad values
    ('kind = "work"', 'kind = "wrok"', "phases[1].kind", "did you mean 'work'"),
    ('unit = "baseline"', 'unit = "mV"', "phases[1].goals[0].unit", "use one of: uv, mvc_pct"),
    ('role = "target"', 'role = "boss"', "channels[0].role", "use one of"),
    ("level = 2", "level = 0", "phases[1].goals[0].level", "greater than 0"),
    ('name = "t"', 'name = "My Drill"', "name", "lower-case"),
    # impossible timings
    ("duration_s = 10", "duration_s = 0", "phases[0].duration_s", "greater than 0"),
    ("duration_s = 10", "duration_s = -5", "phases[0].duration_s", "greater than 0"),
    ("work_s = 5", "work_s = 0", "phases[1].work_s", "greater than 0"),
    ('rest_s = "$rest"', "rest_s = -1", "phases[1].rest_s", "at least 0"),
    ("hold_s = 1", "hold_s = 6", "phases[1].goals[0].hold_s", "longer than the work part"),
    ("work_s = 5\n", "", "phases[1].work_s", "reps without durations"),
    ("duration_s = 10", "", "phases[0].duration_s", "neither duration_s nor reps"),
    ("duration_s = 10", "duration_s = 10\nrest_s = 3", "phases[0].rest_s", "without reps"),
    ("reps = 3", "reps = 3\nduration_s = 30", "phases[1].duration_s", "together with reps"),
    # undefined references
    ('channel = "a"', 'channel = "c"', "phases[1].goals[0].channel", "undefined channel 'c'"),
    ('rest_s = "$rest"', 'rest_s = "$pause"', "phases[1].rest_s",
     "undefined parameter '$pause'"),
    ('id = "b"\nrole = "compensator"', 'id = "b"\nrole = "reference"',
     "phases[1].goals[1].compensator", "no channel has role 'compensator'"),
    ('kind = "work"', 'kind = "work"\nchannels = ["a", "z"]', "phases[1].channels[1]",
     "undefined channel 'z'"),
    ('type = "order"', 'type = "order"\ntarget = "b"', "phases[1].goals[1].compensator",
     "same channel"),
    # goals that cannot apply
    ('type = "above"\nchannel = "a"', 'type = "above"\nduring = "release"\nchannel = "a"',
     "phases[1].goals[0].during", "the phase has no release part"),
    ('max_lag_ms = 10', 'max_lag_ms = 10\nduring = "rest"', "phases[1].goals[1].during",
     "work part of each rep"),
    ('role = "target"', 'role = "left"\n[[channels]]\nid = "c"\nrole = "left"', "channels",
     "more than one channel has role 'left'"),
    ("reps = 3\nwork_s = 5\nrest_s = \"$rest\"", "duration_s = 15",
     "phases[1].goals[1].type", "judged per repetition"),
    ('name = "drill"', 'name = "base"', "phases[1].name", "duplicate phase name"),
    ('name = "base"\nkind = "baseline"', 'name = "base"\nkind = "baseline"\n'
     'measure = ["rise_time"]', "phases[0].measure[0]", "per repetition"),
])
def test_mistakes_name_file_keypath_and_fix(old, new, keypath, fragment):
    assert old in VALID
    msg = _error(VALID.replace(old, new, 1))
    assert msg.startswith(f"mine.toml: {keypath}: "), msg
    assert "fix:" in msg
    if fragment:
        assert fragment in msg


def test_rest_goal_without_rest_part():
    text = VALID.replace('rest_s = "$rest"', "").replace(
        'unit = "baseline"\nhold_s = 1', 'unit = "baseline"\nduring = "rest"')
    msg = _error(text)
    assert msg.startswith("mine.toml: phases[1].goals[0].during: the phase has no rest part")


def test_missing_required_keys_and_bad_toml():
    assert _error(VALID.replace('title = "Test"\n', "")).startswith("mine.toml: title: missing")
    msg = _error(VALID.replace('version = 1', 'version = '))
    assert msg.startswith("mine.toml: not valid TOML") and "line" in msg
    no_channels = VALID.split("[[channels]]")[0] + "[[phases]]" + VALID.split("[[phases]]", 1)[1]
    assert _error(no_channels).startswith("mine.toml: channels: missing required key")


def test_mvc_percent_above_100_and_release_rules():
    text = VALID.replace('unit = "baseline"', 'unit = "mvc_pct"').replace("level = 2",
                                                                          "level = 150")
    assert "phases[1].goals[0].level" in _error(text)
    text = VALID.replace('kind = "work"', 'kind = "release"')
    assert _error(text).startswith("mine.toml: phases[1].release_s: a release phase needs")
    text = VALID.replace("work_s = 5", "work_s = 5\nrelease_s = 2")
    assert _error(text).startswith("mine.toml: phases[1].release_s: release_s in a phase")


def test_files_and_names(tmp_path):
    with pytest.raises(ProtocolError, match="no such protocol file"):
        load_protocol(tmp_path / "nope.toml")
    with pytest.raises(ProtocolError, match="unknown protocol 'glazr'.*did you mean 'glazer'"):
        load_protocol("glazr")
    bad = tmp_path / "broken.toml"
    bad.write_text(VALID.replace("level = 2", "level = -2"), encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        load_protocol(str(bad))
    assert str(info.value).startswith(f"{bad}: phases[1].goals[0].level: ")
