"""``emgfeedback firmware`` and the firmware files shipped as package data."""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

from emgfeedback.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


def test_firmware_command_points_at_existing_files(capsys):
    assert main(["firmware"]) == 0
    out = capsys.readouterr().out
    paths = [Path(line.split(":", 1)[1].strip()) for line in out.splitlines()
             if line.strip().startswith(("sketch (Arduino IDE):", "Makefile (avr-gcc):"))]
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    assert paths[0].suffix == ".ino" and paths[0].parent.name == paths[0].stem
    assert "flash PORT=/dev/ttyACM0" in out and "BOARD=nano" in out
    assert "battery" in out and "not a medical device" in out


def test_firmware_path_and_copy(tmp_path, capsys):
    assert main(["firmware", "--path"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "Makefile").is_file()
    assert main(["firmware", "--copy", str(tmp_path)]) == 0
    copied = tmp_path / "emgfeedback-firmware"
    assert (copied / "emgfeedback_fw" / "emgfeedback_fw.ino").is_file()
    assert (copied / "emgfeedback_fw" / "emgf_fw.c").is_file()
    assert not (copied / "__init__.py").exists()
    assert str(copied) in capsys.readouterr().out
    assert main(["firmware", "--copy", str(tmp_path)]) == 2  # will not overwrite
    assert "exists already" in capsys.readouterr().err


def test_every_firmware_source_ships_as_package_data():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["emgfeedback._firmware"]
    root = REPO / "hardware" / "firmware"
    sources = [p.relative_to(root).as_posix() for p in root.rglob("*")
               if p.is_file() and "build" not in p.parts and not p.name.startswith(".")
               and p.suffix in (".c", ".h", ".ino",
                                                                         ".md", "")]
    assert "emgfeedback_fw/emgfeedback_fw.ino" in sources and "Makefile" in sources
    unshipped = [s for s in sources if not any(fnmatch.fnmatchcase(s, pat) and
                                               s.count("/") == pat.count("/")
                                               for pat in patterns)]
    assert unshipped == []
