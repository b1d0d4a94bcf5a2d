"""Settings and per-subject setups, kept as JSON in the user's config directory.

``$EMGFEEDBACK_CONFIG`` if set, else ``$XDG_CONFIG_HOME/emgfeedback`` (``~/.config/
emgfeedback``) on Linux, ``~/Library/Application Support/emgfeedback`` on macOS and
``%APPDATA%\\emgfeedback`` on Windows. ``settings.json`` holds the window's choices;
``subjects/<id>.json`` one subject's channels, placements, sides and captured goals, and
per device (board) the channel set-up last used with it. The command-line tools use the
same files (:func:`resolve_channels`): ``record --subject S01 --names "glute med R,TFL R"``
saves the names for S01 on that board, and later ``record``/``baseline``/``run`` with
``--subject S01`` store the same names, whatever names the board itself reports.
No Qt here: the files are plain JSON that a person can read and edit.
"""

from __future__ import annotations

import json
import os
import re
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
    from emgfeedback.host import user_config_dir

    return user_config_dir()


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
    #: Per device (board name): ``{"channel_names": [...], "placements": [...],
    #: "sides": [...]}``, the set-up last used with that device.
    devices: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelIdentity:
    """The names, placements and sides a session stores, and where they came from.

    ``origin`` is ``given`` (options on the command line), ``saved`` (the subject's saved
    set-up) or ``source`` (the names the device reports).
    """

    names: tuple
    placements: tuple
    sides: tuple
    origin: str


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
    """Save a subject's set-up; returns its path.

    Device set-ups already saved for the subject are kept (those in ``setup.devices`` win).
    """
    data = asdict(setup)
    try:
        old = load_subject(setup.subject, directory)
    except ConfigError:
        old = None
    if old is not None and isinstance(old.devices, dict):
        data["devices"] = {**old.devices, **(setup.devices or {})}
    for key in ("baseline_uv", "mvc_uv"):  # JSON has no NaN
        data[key] = [None if v is None or v != v else float(v) for v in data[key]]
    return _write(subject_path(setup.subject, directory), data)


def normalise_side(side: str) -> str:
    """``left``, ``right`` or ``""`` from ``L``/``R``/``left``/``right`` (any case)."""
    v = str(side or "").strip().lower()
    out = {"l": "left", "left": "left", "r": "right", "right": "right", "": ""}.get(v)
    if out is None:
        raise ConfigError(f"side {side!r}: expected left, right (L, R) or nothing")
    return out


def _saved_for(setup: SubjectSetup | None, board: str, n: int):
    """The saved ``(names, placements, sides)`` for ``board`` with ``n`` channels, or None."""
    if setup is None:
        return None
    dev = setup.devices.get(board) if isinstance(setup.devices, dict) else None
    candidates = []
    if isinstance(dev, dict):
        candidates.append((dev.get("channel_names") or [], dev.get("placements") or [],
                           dev.get("sides") or []))
    candidates.append((setup.channel_names, setup.placements, setup.sides))
    for names, placements, sides in candidates:
        if len(names) == n and all(str(v).strip() for v in names):
            pl = list(placements) if len(placements) == n else [""] * n
            sd = list(sides) if len(sides) == n else [""] * n
            return tuple(map(str, names)), tuple(map(str, pl)), tuple(map(str, sd))
    return None


def resolve_channels(subject: str, board: str, source_names, names=None, placements=None,
                     sides=None, directory: Path | None = None,
                     save: bool = True) -> ChannelIdentity:
    """The channel names, placements and sides to use for a session.

    Given values win; what is not given comes from the subject's saved set-up for this
    device (``board``; else the subject's last set-up when it has as many channels), else
    the device's own names. With a ``subject`` and given values, the result is saved for
    that subject and device (``save=False``: not saved), so the names stay the same from
    one session to the next and ``history --channel NAME`` finds every session.

    Parameters
    ----------
    subject : str
        Subject id ("" for none: nothing is loaded or saved).
    board : str
        The device's board name (the key the set-up is saved under).
    source_names : sequence of str
        The names the source reports (one per channel).
    names, placements, sides : sequence of str, optional
        Given per channel (e.g. from ``--names``), already one per channel.
    directory : pathlib.Path, optional
        Config directory (default :func:`config_dir`).
    save : bool
        Save given values for the subject.

    Returns
    -------
    ChannelIdentity
    """
    n = len(source_names)
    for what, values in (("names", names), ("placements", placements), ("sides", sides)):
        if values is not None and len(values) != n:
            raise ConfigError(f"{len(values)} {what} for {n} channels: give one per channel")
    subject = (subject or "").strip()
    setup = load_subject(subject, directory) if subject else None
    saved = _saved_for(setup, board or "", n)
    given = any(v is not None for v in (names, placements, sides))
    base_names = saved[0] if saved else tuple(map(str, source_names))
    base_pl = saved[1] if saved else ("",) * n
    base_sd = saved[2] if saved else ("",) * n
    out_names = tuple(str(v).strip() for v in names) if names is not None else base_names
    if any(not v for v in out_names):
        raise ConfigError("a channel name is empty: give every channel a name")
    if len(set(out_names)) != n:
        raise ConfigError(f"channel names {', '.join(out_names)}: each name must be unique")
    out_pl = tuple(str(v).strip() for v in placements) if placements is not None else base_pl
    out_sd = tuple(normalise_side(v) for v in (sides if sides is not None else base_sd))
    origin = "given" if given else ("saved" if saved else "source")
    if given and subject and save:
        setup = setup or SubjectSetup(subject)
        same = list(setup.channel_names) == list(out_names)
        setup.devices = dict(setup.devices or {})
        setup.devices[board or ""] = {"channel_names": list(out_names),
                                      "placements": list(out_pl), "sides": list(out_sd)}
        setup.channel_names, setup.placements = list(out_names), list(out_pl)
        setup.sides = list(out_sd)
        if not same:  # goals belong to the channels they were captured on
            setup.baseline_uv, setup.mvc_uv = [], []
        save_subject(setup, directory)
    return ChannelIdentity(out_names, out_pl, out_sd, origin)


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path
