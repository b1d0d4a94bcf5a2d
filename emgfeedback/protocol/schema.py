"""Exercise protocols as data: frozen dataclasses and strict TOML loading.

A protocol file names its channels (each with a role) and an ordered list of phases. Every
key is checked: unknown keys, wrong types, impossible timings and references to undefined
channels or roles raise :class:`~emgfeedback.errors.ProtocolError` with a message naming the
file, the key path (e.g. ``phases[3].goals[0].level``) and the fix. ``protocols/README.md``
documents every key.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from emgfeedback import bounds
from emgfeedback.errors import ProtocolError
from emgfeedback.protocol.tables import _check_magnitude, _Context, _suggest, _Table, _tname

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

PHASE_KINDS = ("rest", "baseline", "mvc", "work", "hold", "quick-flick", "release", "free")
ROLES = ("target", "compensator", "left", "right", "reference")
GOAL_TYPES = ("above", "below", "dissociation", "order", "symmetry")
UNITS = ("uv", "mvc_pct", "baseline")
SOUNDS = ("none", "beep", "chime", "tone")
SEGMENTS = ("work", "release", "rest", "all")
MEASURES = (
    "mean", "variability", "apdf", "peak", "rise_time", "recovery_time", "decline",
    "time_in_zone", "order", "symmetry", "release", "mvc",
)
#: Measures that need repetitions (they are computed per rep).
REP_MEASURES = ("rise_time", "recovery_time", "release")

DEFAULT_MEASURES = {
    "rest": ("mean", "variability", "apdf"),
    "baseline": ("mean", "variability", "apdf"),
    "mvc": ("mvc", "peak"),
    "work": ("mean", "variability"),
    "hold": ("mean", "variability", "decline"),
    "quick-flick": ("peak", "rise_time", "recovery_time"),
    "release": ("peak", "release"),
    "free": ("mean", "variability"),
}
DEFAULT_CUES = {
    "rest": "Rest and breathe quietly",
    "baseline": "Rest quietly: measuring your resting baseline",
    "mvc": "Contract as hard as you comfortably can",
    "work": "Contract",
    "hold": "Contract and hold",
    "quick-flick": "Quick contraction, then let go fully",
    "release": "Contract slowly",
    "free": "Move freely",
}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Channel:
    """A channel the protocol needs, with its role.

    Attributes
    ----------
    id : str
        Identifier used by goals (``channel = "glute_med"``).
    role : str
        One of ``target``, ``compensator``, ``left``, ``right``, ``reference``.
    label : str
        Human-readable name.
    placement : str
        Where the electrodes go (free text).
    """

    id: str
    role: str
    label: str
    placement: str = ""


@dataclass(frozen=True)
class Goal:
    """A goal of a phase (see ``protocols/README.md`` for the meaning of each field)."""

    type: str
    during: str
    channel: str | None = None
    level: float | None = None
    unit: str = "uv"
    off_level: float | None = None
    off_unit: str = "uv"
    target: str | None = None
    compensator: str | None = None
    left: str | None = None
    right: str | None = None
    max_lag_ms: float = 0.0
    max_index_pct: float = 20.0
    hold_s: float = 0.0
    grace_s: float = 0.2
    min_in_zone_pct: float = 0.0

    @property
    def channels(self) -> tuple[str, ...]:
        """Channel ids this goal reads, in a fixed order."""
        if self.type in ("above", "below"):
            return (self.channel,)
        if self.type in ("dissociation", "order"):
            return (self.target, self.compensator)
        return (self.left, self.right)

    @property
    def is_continuous(self) -> bool:
        """True if the goal has a per-sample condition (order is judged per repetition)."""
        return self.type != "order"

    def describe(self) -> str:
        """Short human-readable description, e.g. ``"target above 2 x baseline"``."""
        if self.type in ("above", "below"):
            return f"{self.channel} {self.type} {_fmt_level(self.level, self.unit)}"
        if self.type == "dissociation":
            return (f"{self.target} above {_fmt_level(self.level, self.unit)} while "
                    f"{self.compensator} below {_fmt_level(self.off_level, self.off_unit)}")
        if self.type == "order":
            return (f"{self.target} on before {self.compensator} "
                    f"(at most {self.max_lag_ms:g} ms after it)")
        return f"{self.left}/{self.right} symmetry index within {self.max_index_pct:g} %"


def _fmt_level(level: float | None, unit: str) -> str:
    if unit == "uv":
        return f"{level:g} µV"
    if unit == "mvc_pct":
        return f"{level:g} % MVC"
    return f"{level:g} x baseline"


@dataclass(frozen=True)
class Segment:
    """One timed part of a phase: the whole phase, or the work/release/rest of a rep."""

    kind: str  # "phase", "work", "release" or "rest"
    rep: int  # 1-based repetition number, 0 for a phase without reps
    duration_s: float
    cue: str


@dataclass(frozen=True)
class Phase:
    """One phase of a protocol: a timed block (``duration_s``) or repetitions."""

    name: str
    kind: str
    cue: str
    duration_s: float | None = None
    reps: int | None = None
    work_s: float | None = None
    release_s: float | None = None
    rest_s: float = 0.0
    rest_cue: str = "Relax completely"
    release_cue: str = "Release slowly and smoothly"
    sound: str = "none"
    channels: tuple[str, ...] = ()
    measure: tuple[str, ...] = ()
    goals: tuple[Goal, ...] = ()
    reward_every_s: float = 5.0
    pass_pct: float = 80.0

    @property
    def total_s(self) -> float:
        """Length of the phase in seconds."""
        return sum(seg.duration_s for seg in self.segments())

    def segments(self) -> list[Segment]:
        """The phase's timed parts in order (rest follows every rep, including the last)."""
        if self.reps is None:
            return [Segment("phase", 0, float(self.duration_s), self.cue)]
        out = []
        for rep in range(1, self.reps + 1):
            out.append(Segment("work", rep, float(self.work_s), self.cue))
            if self.release_s:
                out.append(Segment("release", rep, float(self.release_s), self.release_cue))
            if self.rest_s:
                out.append(Segment("rest", rep, float(self.rest_s), self.rest_cue))
        return out


@dataclass(frozen=True)
class Protocol:
    """A loaded, validated exercise protocol."""

    name: str
    title: str
    version: int
    description: str
    channels: tuple[Channel, ...]
    phases: tuple[Phase, ...]
    sources: tuple[str, ...] = ()
    parameters: tuple[tuple[str, float], ...] = ()
    path: str = ""
    #: H9 (#20): the signal-check grade needed before the protocol starts ("" = none):
    #: ``good``, ``usable`` or ``not usable`` (see docs/signal-check.md).
    min_signal_grade: str = ""

    @property
    def total_s(self) -> float:
        """Length of the whole protocol in seconds."""
        return sum(p.total_s for p in self.phases)

    @property
    def channel_ids(self) -> tuple[str, ...]:
        """Channel ids in declaration order."""
        return tuple(c.id for c in self.channels)

    def channel_with_role(self, role: str) -> Channel | None:
        """The first channel with ``role``, or None."""
        return next((c for c in self.channels if c.role == role), None)


# --------------------------------------------------------------------------------------------
# loading


def shipped_names() -> list[str]:
    """Names of the protocols shipped with the package (file stems), sorted."""
    root = resources.files("emgfeedback._protocols")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_protocol(name_or_path: str | Path,
                  parameters: dict[str, float] | None = None) -> Protocol:
    """Load and validate a protocol.

    Parameters
    ----------
    name_or_path : str or Path
        The name of a shipped protocol (see :func:`list_protocols`) or the path of a TOML file.
    parameters : dict, optional
        Overrides for the values under ``[parameters]`` in the file (e.g.
        ``{"flick_rest_s": 5}``); unknown names are an error.

    Returns
    -------
    Protocol
        The validated protocol.

    Raises
    ------
    ProtocolError
        If the file is missing, not TOML or invalid; the message names the file, the key path
        and the fix.
    """
    text_name = str(name_or_path)
    path = Path(text_name)
    if isinstance(name_or_path, Path) or text_name.endswith(".toml") or path.exists():
        if not path.is_file():
            raise ProtocolError(f"{text_name}: no such protocol file; fix: check the path, or "
                                "give the name of a shipped protocol (emgfeedback protocols)")
        size = path.stat().st_size
        if size > bounds.PROTOCOL_MAX_BYTES:
            raise ProtocolError(f"{text_name}: {size} bytes is too large for a protocol file; "
                                f"fix: keep it under {bounds.PROTOCOL_MAX_BYTES} bytes")
        return loads_protocol(path.read_bytes().decode("utf-8", errors="replace"), str(path),
                              parameters)
    names = shipped_names()
    if text_name not in names:
        raise ProtocolError(f"unknown protocol {text_name!r}; fix: use one of "
                            f"{', '.join(names)}{_suggest(text_name, names)}, or a .toml path")
    resource = resources.files("emgfeedback._protocols").joinpath(f"{text_name}.toml")
    return loads_protocol(resource.read_text(encoding="utf-8"), f"{text_name}.toml", parameters)


def list_protocols() -> list[Protocol]:
    """Every shipped protocol, loaded, sorted by name."""
    return [load_protocol(name) for name in shipped_names()]


def loads_protocol(text: str, file: str = "<string>",
                   parameters: dict[str, float] | None = None) -> Protocol:
    """Parse and validate a protocol from TOML text (``file`` is used in error messages)."""
    ctx = _Context(file)
    if len(text) > bounds.PROTOCOL_MAX_BYTES:
        raise ProtocolError(f"{file}: {len(text)} characters is too large for a protocol; fix: "
                            f"keep it under {bounds.PROTOCOL_MAX_BYTES}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{file}: not valid TOML: {exc}; fix: correct the syntax at that "
                            "line") from exc
    except RecursionError:
        raise ProtocolError(f"{file}: tables or arrays are nested too deeply; fix: a protocol "
                            f"nests at most {bounds.PROTOCOL_MAX_DEPTH} levels") from None
    _check_depth(data, ctx)
    top = _Table(data, "", ctx)
    params = _read_parameters(top, ctx, parameters or {})
    name = top.text("name", pattern=_NAME_RE,
                   fix="use lower-case letters, digits, '-' and '_', e.g. name = \"my_drill\"")
    title = top.text("title")
    version = top.num("version", integer=True, minimum=1)
    description = top.text("description")
    sources = top.str_list("sources", ())
    channels = _read_channels(top, ctx)
    min_grade = top.text("min_signal_grade", "", choices=("good", "usable", "not usable"))
    phases = []
    names: set[str] = set()
    for ptable in top.tables("phases", required=True, max_count=bounds.PROTOCOL_MAX_PHASES):
        phase = _read_phase(ptable, ctx, channels)
        if phase.name in names:
            ctx.fail(ptable.key("name"), f"duplicate phase name {phase.name!r}",
                     "give every phase a unique name")
        names.add(phase.name)
        phases.append(phase)
    top.finish(("name", "title", "version", "description", "sources", "parameters",
                "channels", "phases", "min_signal_grade"))
    total_s = sum(_phase_length_s(p) for p in phases)
    if total_s > bounds.PROTOCOL_TOTAL_S.high:
        ctx.fail("phases", f"the protocol lasts {total_s:g} s",
                 f"keep the whole protocol within {bounds.PROTOCOL_TOTAL_S.high:g} s (a day)")
    return Protocol(name=name, title=title, version=version, description=description,
                    channels=channels, phases=tuple(phases), sources=sources,
                    parameters=tuple(sorted(params.items())), path=file,
                    min_signal_grade=min_grade)


def _check_depth(data: Any, ctx: _Context) -> None:
    """Refuse tables/arrays nested deeper than :data:`bounds.PROTOCOL_MAX_DEPTH`."""
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > bounds.PROTOCOL_MAX_DEPTH:
            ctx.fail("", "tables or arrays are nested too deeply",
                     f"a protocol nests at most {bounds.PROTOCOL_MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _phase_length_s(phase: Phase) -> float:
    """A phase's length computed without listing its segments."""
    if phase.reps is None:
        return float(phase.duration_s or 0.0)
    return phase.reps * ((phase.work_s or 0.0) + (phase.release_s or 0.0) + (phase.rest_s or 0.0))


def _read_parameters(top: _Table, ctx: _Context, overrides: dict[str, float]) -> dict:
    params: dict[str, float] = {}
    if top.has("parameters"):
        table = _Table(top.raw("parameters"), "parameters", ctx)
        for key, value in table.data.items():
            if not _ID_RE.match(key):
                ctx.fail(table.key(key), "invalid parameter name",
                         "use letters, digits and '_', starting with a letter")
            table.used.add(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                ctx.fail(table.key(key), f"expected a number, got {_tname(value)}",
                         f"write {key} = <number>")
            _check_magnitude(ctx, table.key(key), value)
            params[key] = value
    for key, value in overrides.items():
        if key not in params:
            ctx.fail(f"parameters.{key}", "override of a parameter the protocol does not define",
                     f"use one of: {', '.join(sorted(params)) or '(none defined)'}"
                     + _suggest(key, params))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            ctx.fail(f"parameters.{key}", f"override must be a number, got {_tname(value)}",
                     "pass a number")
        _check_magnitude(ctx, f"parameters.{key}", value)
        params[key] = value
    ctx.params = params
    return params


def _read_channels(top: _Table, ctx: _Context) -> tuple[Channel, ...]:
    channels = []
    seen: set[str] = set()
    for table in top.tables("channels", required=True,
                            max_count=bounds.PROTOCOL_MAX_CHANNELS):
        cid = table.text("id", pattern=_ID_RE,
                        fix="use letters, digits and '_', starting with a letter")
        if cid in seen:
            ctx.fail(table.key("id"), f"duplicate channel id {cid!r}", "give each channel a "
                     "unique id")
        seen.add(cid)
        role = table.text("role", choices=ROLES)
        label = table.text("label", cid)
        placement = table.text("placement", "")
        table.finish(("id", "role", "label", "placement"))
        channels.append(Channel(cid, role, label, placement))
    for role in ("left", "right"):
        if sum(c.role == role for c in channels) > 1:
            ctx.fail("channels", f"more than one channel has role {role!r}",
                     "a protocol has at most one left/right pair")
    return tuple(channels)


_PHASE_KEYS = ("name", "kind", "duration_s", "reps", "work_s", "release_s", "rest_s", "cue",
               "rest_cue", "release_cue", "sound", "channels", "measure", "goals",
               "reward_every_s", "pass_pct")


def _read_phase(t: _Table, ctx: _Context, channels: tuple[Channel, ...]) -> Phase:
    name = t.text("name", pattern=_NAME_RE,
                 fix="use lower-case letters, digits, '-' and '_', e.g. name = \"holds\"")
    kind = t.text("kind", choices=PHASE_KINDS)
    ids = tuple(c.id for c in channels)
    reps = t.num("reps", None, integer=True, minimum=1, maximum=bounds.PROTOCOL_REPS.high,
                 fix=f"use {bounds.PROTOCOL_REPS.describe()} repetitions")
    day = bounds.PROTOCOL_DURATION_S.high
    duration_s = t.num("duration_s", None, positive=True, maximum=day,
                       fix=f"use a duration in seconds greater than 0, at most {day:g}")
    work_s = t.num("work_s", None, positive=True, maximum=day,
                   fix=f"use a work time in seconds > 0, at most {day:g}")
    release_s = t.num("release_s", None, positive=True, maximum=day,
                      fix=f"use a release time in seconds > 0, at most {day:g}")
    rest_s = t.num("rest_s", 0.0, minimum=0.0, maximum=day,
                   fix=f"use a rest time in seconds >= 0, at most {day:g}")
    if reps is None:
        if duration_s is None:
            ctx.fail(t.key("duration_s"), "missing: the phase has neither duration_s nor reps",
                     "add duration_s = <seconds>, or reps with work_s (and rest_s)")
        for key in ("work_s", "release_s"):
            if t.has(key):
                ctx.fail(t.key(key), f"{key} without reps",
                         f"add reps = <count>, or remove {key} and use duration_s")
        if t.has("rest_s"):
            ctx.fail(t.key("rest_s"), "rest_s without reps",
                     "add reps = <count>, or make the rest a separate phase of kind \"rest\"")
    else:
        if duration_s is not None:
            ctx.fail(t.key("duration_s"), "duration_s together with reps",
                     "remove duration_s: a phase with reps lasts reps x (work_s + release_s + "
                     "rest_s)")
        if work_s is None:
            ctx.fail(t.key("work_s"), "reps without durations: work_s is missing",
                     "add work_s = <seconds of each repetition> (and rest_s)")
    if kind == "release" and reps is not None and release_s is None:
        ctx.fail(t.key("release_s"), "a release phase needs release_s",
                 "add release_s = <seconds for the slow release>")
    if kind == "release" and reps is None:
        ctx.fail(t.key("reps"), "a release phase needs repetitions",
                 "add reps, work_s, release_s and rest_s")
    if release_s is not None and kind != "release":
        ctx.fail(t.key("release_s"), f"release_s in a phase of kind {kind!r}",
                 "use kind = \"release\" or remove release_s")
    cue = t.text("cue", DEFAULT_CUES[kind])
    rest_cue = t.text("rest_cue", "Relax completely")
    release_cue = t.text("release_cue", "Release slowly and smoothly")
    sound = t.text("sound", "none", choices=SOUNDS)
    pch = t.str_list("channels", ids)
    for i, c in enumerate(pch):
        if c not in ids:
            ctx.fail(f"{t.key('channels')}[{i}]", f"undefined channel {c!r}",
                     f"use one of the [[channels]] ids: {', '.join(ids)}" + _suggest(c, ids))
    reward_every_s = t.num("reward_every_s", 5.0, minimum=0.0, maximum=day)
    pass_pct = t.num("pass_pct", 80.0, minimum=0.0, maximum=100.0)
    if t.has("pass_pct") and reps is None:
        ctx.fail(t.key("pass_pct"), "pass_pct without reps",
                 "remove it: a phase without reps passes when all its goals pass")
    seg_len = {"work": work_s, "release": release_s, "rest": rest_s or None}
    phase_len = (duration_s if reps is None
                 else reps * ((work_s or 0) + (release_s or 0) + (rest_s or 0)))
    goals = tuple(_read_goal(g, ctx, channels, reps is not None, seg_len, phase_len)
                  for g in t.tables("goals", required=False,
                                    max_count=bounds.PROTOCOL_MAX_GOALS))
    measure = t.str_list("measure", None, choices=MEASURES)
    if measure is None:
        measure = DEFAULT_MEASURES[kind]
        if reps is not None:
            measure = tuple(m for m in measure if m != "decline")
    for i, m in enumerate(measure):
        path = f"{t.key('measure')}[{i}]"
        if m in REP_MEASURES and reps is None:
            ctx.fail(path, f"{m!r} is measured per repetition but the phase has no reps",
                     "add reps/work_s/rest_s or remove it")
        if m == "release" and kind != "release":
            ctx.fail(path, "'release' is measured in phases of kind \"release\"",
                     "use kind = \"release\" or remove it")
        if m == "order" and not _has_pair(channels, pch, "target", "compensator"):
            ctx.fail(path, "'order' needs a channel with role target and one with role "
                     "compensator among the phase's channels", "add them or remove 'order'")
        if m == "symmetry" and not _has_pair(channels, pch, "left", "right"):
            ctx.fail(path, "'symmetry' needs channels with roles left and right among the "
                     "phase's channels", "add them or remove 'symmetry'")
    measure = list(measure)
    extra = []
    if any(g.is_continuous for g in goals):
        extra.append("time_in_zone")
    if any(g.type == "order" for g in goals):
        extra.append("order")
    if any(g.type == "symmetry" for g in goals):
        extra.append("symmetry")
    measure.extend(m for m in extra if m not in measure)
    t.finish(_PHASE_KEYS)
    return Phase(name=name, kind=kind, cue=cue, duration_s=duration_s, reps=reps, work_s=work_s,
                 release_s=release_s, rest_s=rest_s, rest_cue=rest_cue, release_cue=release_cue,
                 sound=sound, channels=pch, measure=tuple(measure), goals=goals,
                 reward_every_s=reward_every_s, pass_pct=pass_pct)


def _has_pair(channels, phase_ids, role_a, role_b) -> bool:
    roles = {c.role for c in channels if c.id in phase_ids}
    return role_a in roles and role_b in roles


_GOAL_KEYS = {
    "above": ("channel", "level", "unit"),
    "below": ("channel", "level", "unit"),
    "dissociation": ("target", "compensator", "level", "unit", "off_level", "off_unit"),
    "order": ("target", "compensator", "max_lag_ms"),
    "symmetry": ("left", "right", "max_index_pct"),
}
_COMMON_GOAL_KEYS = ("type", "during", "hold_s", "grace_s", "min_in_zone_pct")


def _read_goal(t: _Table, ctx: _Context, channels: tuple[Channel, ...], has_reps: bool,
               seg_len: dict, phase_len: float) -> Goal:
    gtype = t.text("type", choices=GOAL_TYPES)
    ids = tuple(c.id for c in channels)

    def channel_ref(key: str, role: str | None) -> str:
        if t.has(key):
            cid = t.text(key)
            if cid not in ids:
                ctx.fail(t.key(key), f"undefined channel {cid!r}",
                         f"use one of the [[channels]] ids: {', '.join(ids)}"
                         + _suggest(cid, ids))
            return cid
        if role is None:
            t.text(key)  # raises "missing required key"
        found = next((c.id for c in channels if c.role == role), None)
        if found is None:
            ctx.fail(t.key(key), f"no {key} given and no channel has role {role!r}",
                     f"add {key} = \"<channel id>\" or give a channel role = \"{role}\"")
        return found

    kw: dict[str, Any] = {}
    if gtype in ("above", "below"):
        kw["channel"] = channel_ref("channel", None)
    if gtype in ("above", "below", "dissociation"):
        kw["unit"] = t.text("unit", "uv", choices=UNITS)
        kw["level"] = t.num("level", positive=True,
                            fix="add level = <number> in the goal's unit (uv, mvc_pct or "
                            "baseline multiple), greater than 0")
        if kw["unit"] == "mvc_pct" and kw["level"] > 100:
            ctx.fail(t.key("level"), f"{kw['level']:g} % MVC is above the maximum",
                     "use a percentage of MVC between 0 and 100")
    if gtype in ("dissociation", "order"):
        kw["target"] = channel_ref("target", "target")
        kw["compensator"] = channel_ref("compensator", "compensator")
    if gtype == "dissociation":
        kw["off_unit"] = t.text("off_unit", kw["unit"], choices=UNITS)
        kw["off_level"] = t.num("off_level", positive=True,
                                fix="add off_level = <level the compensator stays below>")
    if gtype == "order":
        kw["max_lag_ms"] = t.num("max_lag_ms", 0.0, minimum=-1000.0, maximum=1000.0)
        if not has_reps:
            ctx.fail(t.key("type"), "an order goal is judged per repetition but the phase has "
                     "no reps", "add reps/work_s/rest_s to the phase")
    if gtype == "symmetry":
        kw["left"] = channel_ref("left", "left")
        kw["right"] = channel_ref("right", "right")
        kw["max_index_pct"] = t.num("max_index_pct", 20.0, positive=True, maximum=200.0)
    if kw.get("target") is not None and kw.get("target") == kw.get("compensator"):
        ctx.fail(t.key("compensator"), "target and compensator are the same channel",
                 "use two different channels")
    if kw.get("left") is not None and kw.get("left") == kw.get("right"):
        ctx.fail(t.key("right"), "left and right are the same channel",
                 "use two different channels")
    default_during = "work" if has_reps else "all"
    during = t.text("during", default_during, choices=SEGMENTS)
    if not has_reps and during != "all":
        ctx.fail(t.key("during"), f"during = {during!r} in a phase without reps",
                 "remove during (the goal applies to the whole phase) or add reps")
    if gtype == "order" and during != "work":
        ctx.fail(t.key("during"), "an order goal is judged on the work part of each rep",
                 "remove during")
    if has_reps and during in ("release", "rest") and not seg_len[during]:
        ctx.fail(t.key("during"), f"the phase has no {during} part",
                 f"add {during}_s to the phase or use during = \"work\"")
    if during == "all":
        span = phase_len if not has_reps else sum(v or 0 for v in seg_len.values())
    else:
        span = seg_len[during]
    hold_s = t.num("hold_s", 0.0, minimum=0.0, maximum=bounds.DAY_S)
    if hold_s > span:
        what = "phase" if not has_reps else f"{during} part of each rep"
        ctx.fail(t.key("hold_s"), f"a hold of {hold_s:g} s is longer than the {what} "
                 f"({span:g} s)", f"use hold_s <= {span:g} or lengthen the {what}")
    grace_s = t.num("grace_s", 0.2, minimum=0.0, maximum=bounds.DAY_S)
    min_in_zone = t.num("min_in_zone_pct", 0.0, minimum=0.0, maximum=100.0)
    t.finish(_COMMON_GOAL_KEYS + _GOAL_KEYS[gtype])
    return Goal(type=gtype, during=during, hold_s=hold_s, grace_s=grace_s,
                min_in_zone_pct=min_in_zone, **kw)
