"""The offline parts of ``check_wheels.py`` (the network check runs from ``.ci/run``):
which requirements each target gets, and how pip's failure names the missing package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "check_wheels", Path(__file__).with_name("check_wheels.py"))
check_wheels = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("check_wheels", check_wheels)  # (its dataclass looks itself up there)
_spec.loader.exec_module(check_wheels)


def _names(reqs):
    from packaging.requirements import Requirement

    return sorted(Requirement(r).name.lower() for r in reqs)


def test_groups_come_from_pyproject_with_self_references_expanded():
    groups = check_wheels.load_requirements()
    assert {"numpy", "scipy", "numba", "pyserial"} <= set(_names(groups["core"]))
    assert "sounddevice" in _names(groups["gui"])  # gui = PyQt5, pyqtgraph + emgfeedback[sound]
    assert not any("emgfeedback" in r for reqs in groups.values() for r in reqs)
    for extra in check_wheels.USER_EXTRAS:
        assert groups[extra], extra


@pytest.mark.parametrize("python, has_tomli", [("3.10", True), ("3.11", False),
                                               ("3.13", False)])
def test_markers_are_evaluated_for_the_target_python(python, has_tomli):
    core = check_wheels.load_requirements()["core"]
    for platform in check_wheels.PLATFORMS:
        reqs = check_wheels.for_target(core, platform, python)
        assert ("tomli" in _names(reqs)) is has_tomli
        assert not any(";" in r for r in reqs)  # markers removed: pip would judge them here


def test_pips_failure_names_the_missing_package():
    stderr = ("ERROR: Could not find a version that satisfies the requirement "
              "pyqt5-qt5>=5.15.2 (from pyqt5) (from versions: none)\n"
              "ERROR: No matching distribution found for pyqt5-qt5>=5.15.2\n")
    assert sorted(set(check_wheels._NOT_FOUND.findall(stderr))) == ["pyqt5-qt5"]


def test_known_gaps_match_by_group_platform_and_python(monkeypatch):
    monkeypatch.setattr(check_wheels, "KNOWN_GAPS",
                        {("brainflow", "macosx_12_0_arm64", "*"): "no arm64 build"})
    assert check_wheels.gap_reason("brainflow", "macosx_12_0_arm64", "3.12") == "no arm64 build"
    assert check_wheels.gap_reason("brainflow", "win_amd64", "3.12") == ""
    assert check_wheels.gap_reason("core", "macosx_12_0_arm64", "3.12") == ""


def test_supported_pythons_follow_requires_python():
    import tomllib

    text = (Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    requires = tomllib.loads(text)["project"]["requires-python"]
    assert requires == ">=3.10" and check_wheels.PYTHONS[0] == "3.10"
