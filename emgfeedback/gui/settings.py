"""Settings and per-subject setups, kept as JSON in the user's config directory.

``$EMGFEEDBACK_CONFIG`` if set, else ``$XDG_CONFIG_HOME/emgfeedback`` (``~/.config/
emgfeedback``) on Linux, ``~/Library/Application Support/emgfeedback`` on macOS and
``%APPDATA%\\emgfeedback`` on Windows. ``settings.json`` holds the window's choices;
``subjects/<id>.json`` one subject's channels, placements, sides and captured goals.
No Qt here: the files are plain JSON that a person can read and edit.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emgfeedback.errors import ConfigError

#: Common muscles for biofeedback, for the channel set-up (side is chosen separately).
COMMON_MUSCLES = (
    "gluteus medius", "gluteus maximus", "tensor fasciae latae", "hamstrings (medial)",
    "hamstrings (lateral)", "vastus medialis oblique", "vastus lateralis", "rectus femoris",
    "adductors", "upper trapezius", "middle trapezius", "lower trapezius", "serratus anterior",
    "anterior deltoid", "posterior deltoid", "infraspinatus", "pectoralis major",
    "sternocleidomastoid", "cervical paraspinals", "masseter", "temporalis",
    "lumbar erector spinae", "multifidus", "quadratus lumborum", "rectus abdominis",
    "external oblique", "internal oblique / transversus abdominis", "pelvic floor",
    "tibialis anterior", "gastrocnemius (medial)", "soleus", "forearm flexors",
    "forearm extensors", "biceps brachii", "triceps brachii",
)
SIDES = ("", "left", "right")
SIDE_SHORT = {"left": "L", "right": "R", "": ""}


def config_dir() -> Path:
    """The directory settings and subject setups live in."""
    env = os.environ.get("EMGFEEDBACK_CONFIG")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "emgfeedback"
    if sys.platform.startswith("win"):
        return Path(os.environ.get("APPDATA", Path.home())) / "emgfeedback"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "emgfeedback"


def channel_label(muscle: str, side: str) -> str:
    """Short display name, e.g. ``"gluteus medius R"``."""
    short = SIDE_SHORT.get(side, "")
    return f"{muscle} {short}".strip()


@dataclass
class Settings:
    """Window choices remembered between runs."""

    last_source: str = "sim://?scenario=drill&channels=2"
    window_s: float = 10.0
    mode: str = "uptraining"
    sound: bool = False
    last_subject: str = ""
    last_protocol: str = ""
    mains_hz: float = 50.0
    db_path: str = ""


@dataclass
class SubjectSetup:
    """One subject's electrode set-up and captured goals."""

    subject: str
    channel_names: list = field(default_factory=list)
    placements: list = field(default_factory=list)
    sides: list = field(default_factory=list)
    baseline_uv: list = field(default_factory=list)
    mvc_uv: list = field(default_factory=list)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}, column {exc.colno}: {exc.msg}; fix "
                          "the file or delete it to start from defaults") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def _known(cls, data: dict, path: Path) -> dict:
    names = set(cls.__dataclass_fields__)
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; expected "
                          f"{', '.join(sorted(names))}")
    return data


def load_settings(directory: Path | None = None) -> Settings:
    """Settings from ``settings.json`` (defaults when the file does not exist)."""
    path = (directory or config_dir()) / "settings.json"
    if not path.exists():
        return Settings()
    return Settings(**_known(Settings, _read_json(path), path))


def save_settings(settings: Settings, directory: Path | None = None) -> Path:
    """Write ``settings.json`` atomically; returns its path."""
    return _write(Path(directory or config_dir()) / "settings.json", asdict(settings))


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def subject_path(subject: str, directory: Path | None = None) -> Path:
    if not subject.strip():
        raise ConfigError("a subject id is needed to save a set-up")
    return Path(directory or config_dir()) / "subjects" / f"{_SAFE.sub('_', subject)}.json"


def load_subject(subject: str, directory: Path | None = None) -> SubjectSetup | None:
    """A subject's saved set-up, or None."""
    path = subject_path(subject, directory)
    if not path.exists():
        return None
    return SubjectSetup(**_known(SubjectSetup, _read_json(path), path))


def save_subject(setup: SubjectSetup, directory: Path | None = None) -> Path:
    """Save a subject's set-up; returns its path."""
    data = asdict(setup)
    for key in ("baseline_uv", "mvc_uv"):  # JSON has no NaN
        data[key] = [None if v is None or v != v else float(v) for v in data[key]]
    return _write(subject_path(setup.subject, directory), data)


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path
