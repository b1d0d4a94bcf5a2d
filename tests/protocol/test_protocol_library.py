"""The shipped library, its documentation and the ``emgfeedback protocols`` command."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from emgfeedback.cli import main
from emgfeedback.protocol import list_protocols, load_protocol, shipped_names
from emgfeedback.protocol import schema as S

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "protocols" / "README.md").read_text(encoding="utf-8")

REQUIRED = {"resting_baseline", "glazer", "uptraining", "downtraining",
            "dissociation_glute_med", "dissociation_lower_trap", "firing_order", "symmetry",
            "slow_release", "hold_short", "hold_medium", "hold_long", "demo"}


def test_library_is_complete_and_loads():
    names = shipped_names()
    assert REQUIRED <= set(names)
    protos = list_protocols()
    assert [p.name for p in protos] == names  # file stem == name inside
    for p in protos:
        assert p.title and p.description.strip()
        assert p.name == "demo" or p.sources, f"{p.name} cites no sources"


def test_protocols_are_package_data():
    files = {p.name for p in resources.files("emgfeedback._protocols").iterdir()}
    assert "README.md" in files and "glazer.toml" in files


def test_required_timings():
    glazer = load_protocol("glazer")
    kinds = [(p.kind, p.duration_s, p.reps, p.work_s, p.rest_s) for p in glazer.phases]
    assert kinds == [("baseline", 60.0, None, None, 0.0), ("quick-flick", None, 5, 2.0, 10.0),
                     ("hold", None, 5, 10.0, 10.0), ("hold", 60.0, None, None, 0.0),
                     ("rest", 60.0, None, None, 0.0)]
    up = load_protocol("uptraining")
    assert [(p.kind, p.total_s) for p in up.phases] == [("baseline", 60.0), ("work", 200.0),
                                                         ("rest", 60.0)]
    assert load_protocol("resting_baseline").total_s == 60.0
    assert 60.0 <= load_protocol("demo").total_s <= 90.0
    works = {n: load_protocol(n).phases[-1].work_s
             for n in ("hold_short", "hold_medium", "hold_long")}
    assert works["hold_short"] <= 3 and 3 <= works["hold_medium"] <= 120
    assert 120 <= works["hold_long"] <= 300


def test_readme_documents_every_key_kind_and_protocol():
    keys = set(S._PHASE_KEYS) | set(S._COMMON_GOAL_KEYS)
    keys |= {k for ks in S._GOAL_KEYS.values() for k in ks}
    keys |= {"name", "title", "version", "description", "sources", "parameters", "id", "role",
             "label", "placement"}
    values = set(S.PHASE_KINDS) | set(S.ROLES) | set(S.GOAL_TYPES) | set(S.UNITS) | set(
        S.MEASURES) | set(S.SOUNDS)
    documented = set(re.findall(r"`([a-z_\-]+)`", README))
    assert keys - documented == set()
    assert values - documented == set()
    for name in shipped_names():
        assert f"`{name}`" in README, name


def test_cli_lists_name_then_title(capsys):
    assert main(["protocols"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == shipped_names()
    assert lines[shipped_names().index("glazer")].split(None, 1)[1] == load_protocol(
        "glazer").title
    assert main(["protocols", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == lines


def test_cli_check(tmp_path, capsys):
    good = tmp_path / "mine.toml"
    good.write_text((ROOT / "protocols" / "uptraining.toml").read_text(encoding="utf-8"),
                    encoding="utf-8")
    assert main(["protocols", "check", str(good)]) == 0
    assert capsys.readouterr().out.startswith("OK: uptraining")
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text(encoding="utf-8").replace("work_s = 10", "work_s = 0"),
                   encoding="utf-8")
    assert main(["protocols", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: phases[1].work_s: must be greater than 0" in err and "fix:" in err


@pytest.mark.parametrize("name", ["glazer", "firing_order"])
def test_cli_show(name, capsys):
    assert main(["protocols", "show", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{name}: ") and "goal:" in out
