"""Valid ranges of every number and identifier a user can give, in one place.

Each range is a named :class:`Range` (or :class:`TextLimit`) used three ways: as an
``argparse`` type (the option is refused before any work starts, with the range in the
message), by :func:`emgfeedback.acquisition.source.take_options` for source URL options
(``sim://?fs=...``), and by the protocol loader. ``docs/storage.md`` ("Valid ranges") lists
them; each ``--help`` states its option's range.

Why bounds at all: an unbounded number is a way to exhaust memory or time
(``reps = 1000000000000`` built a trillion-segment list; ``sim://?fs=1e9`` allocated 22 GB),
and an unbounded identifier can break files and terminals (a newline in a subject id split a
CSV header line; ANSI escapes in names repainted the terminal).
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass

from emgfeedback.errors import ConfigError

#: One day, in seconds: the longest duration anything accepts.
DAY_S = 86400.0


@dataclass(frozen=True)
class Range:
    """A closed (or half-open at the low end) numeric range with a unit.

    Attributes
    ----------
    low, high : float
        The limits; ``low`` is excluded when ``low_open`` (e.g. durations > 0).
    unit : str
        Unit for messages (``"s"``, ``"Hz"``, ``""``).
    integer : bool
        Only whole numbers.
    low_open : bool
        ``low`` itself is not allowed.
    """

    low: float
    high: float
    unit: str = ""
    integer: bool = False
    low_open: bool = False

    def describe(self) -> str:
        """The range as text, e.g. ``"> 0 and <= 86400 s"`` or ``"2 to 30 s"``."""
        unit = f" {self.unit}" if self.unit else ""
        low, high = (f"{int(v)}" if self.integer else f"{v:g}" for v in (self.low, self.high))
        if self.low_open:
            return f"> {low} and <= {high}{unit}"
        return f"{low} to {high}{unit}"

    def check(self, value, what: str = "value"):
        """Return ``value`` (as int or float) if it is in range.

        Parameters
        ----------
        value : int, float or str
            The number (a string is parsed).
        what : str
            Name for the message, e.g. ``"--seconds"``.

        Raises
        ------
        ConfigError
            Saying the valid range.
        """
        number = _parse_number(value, self.integer, what, self)
        ok = (number > self.low if self.low_open else number >= self.low) and number <= self.high
        if not ok:
            raise ConfigError(f"{what} {value}: out of range; expected {self.describe()}")
        return number

    def arg(self, value: str):
        """``argparse`` type: the parsed number, or an ``ArgumentTypeError`` with the range."""
        try:
            return self.check(value, "")
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).strip()) from None


def _parse_number(value, integer: bool, what: str, rng: Range):
    if isinstance(value, bool):
        raise ConfigError(f"{what} {value}: expected a number ({rng.describe()})")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40:
            raise ConfigError(f"{what} {text[:20]}...: not a number ({rng.describe()})")
        try:
            number = int(text) if integer else float(text)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise ConfigError(f"{what} {value!r}: expected {kind} ({rng.describe()})") from None
    else:
        number = value
        if integer and not float(number).is_integer():
            raise ConfigError(f"{what} {value}: expected a whole number ({rng.describe()})")
        number = int(number) if integer else float(number)
    if not integer and not math.isfinite(number):
        raise ConfigError(f"{what} {value}: not a finite number; expected {rng.describe()}")
    return number


# ------------------------------------------------------------------------------ durations

#: ``--seconds`` of record, capture, live and demo: more than 0, at most a day.
DURATION_S = Range(0.0, DAY_S, "s", low_open=True)
#: ``baseline --seconds``: a resting baseline needs several 0.5 s rest windows.
BASELINE_S = Range(5.0, DAY_S, "s")
#: ``--window`` of the live view: what the trace view can show.
WINDOW_S = Range(2.0, 30.0, "s")

# ------------------------------------------------------------------------------ analysis

#: ``analyze --fs``: a recording's sample rate.
ANALYZE_FS_HZ = Range(1.0, 1e6, "Hz")
#: ``analyze --highpass``: an extra high-pass corner.
HIGHPASS_HZ = Range(0.0, 1000.0, "Hz", low_open=True)
#: ``analyze --uv-per-count`` and ``baseline --floor-uv``: a scale or level in µV.
MICROVOLTS = Range(0.0, 1e6, "µV", low_open=True)

# ------------------------------------------------------------------------------ protocols

#: Any duration inside a protocol (phase, work, release, rest, hold, grace, reward), s.
PROTOCOL_DURATION_S = Range(0.0, DAY_S, "s")
#: Repetitions of one phase.
PROTOCOL_REPS = Range(1, 1000, "", integer=True)
#: Phases in one protocol.
PROTOCOL_MAX_PHASES = 200
#: Goals in one phase, channels in one protocol.
PROTOCOL_MAX_GOALS = 20
PROTOCOL_MAX_CHANNELS = 64
#: A whole protocol lasts at most this long, s.
PROTOCOL_TOTAL_S = Range(0.0, DAY_S, "s")
#: Largest protocol file read, bytes.
PROTOCOL_MAX_BYTES = 1_000_000
#: Deepest nesting of TOML tables/arrays (a protocol needs 4: phases[i].goals[j]).
PROTOCOL_MAX_DEPTH = 8
#: Any other number in a protocol (levels, parameters), by magnitude.
PROTOCOL_NUMBER = Range(-1e9, 1e9)

# ------------------------------------------------------------------------------ source URLs

#: Channels a source may have.
CHANNELS = Range(1, 64, "", integer=True)
#: Stored session ids (SQLite INTEGER).
SESSION_ID = Range(1, 2**63 - 1, "", integer=True)

#: URL option ranges: ``(scheme, option)`` or ``("*", option)`` for every scheme.
URL_OPTIONS: dict[tuple[str, str], Range] = {
    ("sim", "fs"): Range(100.0, 20000.0, "Hz"),
    ("serial", "fs"): Range(1.0, 50000.0, "Hz"),
    ("*", "channels"): CHANNELS,
    ("*", "session"): SESSION_ID,
    ("*", "chunk"): Range(1, 100_000, "samples", integer=True),
    ("*", "seconds"): DURATION_S,
    ("*", "no_data"): Range(0.01, 3600.0, "s"),
    ("*", "timeout"): Range(0.0, 3600.0, "s", low_open=True),
    ("*", "reset_wait"): Range(0.0, 60.0, "s"),
    ("*", "baud"): Range(300, 20_000_000, "baud", integer=True),
    ("*", "k"): Range(1, 255, "samples", integer=True),
    ("*", "step_uv"): Range(0.0, 1e6, "µV", low_open=True),
    ("*", "gap_periods"): Range(0.0, 1e4, "", low_open=True),
    ("sim", "seed"): Range(0, 2**63 - 1, "", integer=True),
    ("sim", "snr"): Range(-60.0, 120.0, "dB"),
    ("sim", "ramp"): Range(0.0, 60_000.0, "ms", low_open=True),
    ("sim", "variation"): Range(0.0, 100.0),
    ("sim", "hum"): Range(0.0, 1e6, "µV"),
}


def url_option_range(scheme: str, option: str) -> Range | None:
    """The range of a source URL option, or None when it is not numeric."""
    return URL_OPTIONS.get((scheme, option)) or URL_OPTIONS.get(("*", option))


# ------------------------------------------------------------------------------ identifiers


@dataclass(frozen=True)
class TextLimit:
    """Printable text of bounded length (no control characters, so no newline, no ANSI).

    Attributes
    ----------
    max_chars : int
        Longest allowed text.
    allow_empty : bool
        Whether ``""`` is accepted.
    forbidden : str
        Extra characters refused (e.g. ``","`` in a comma-separated list item).
    """

    max_chars: int
    allow_empty: bool = True
    forbidden: str = ""

    def describe(self) -> str:
        """The rule as text."""
        extra = f", without {' '.join(repr(c) for c in self.forbidden)}" if self.forbidden else ""
        return f"printable text of at most {self.max_chars} characters{extra}"

    def check(self, text: str, what: str = "value") -> str:
        """Return ``text`` if allowed, else raise :class:`ConfigError` saying why."""
        if not isinstance(text, str):
            raise ConfigError(f"{what}: expected text")
        if len(text) > self.max_chars:
            raise ConfigError(f"{what}: {len(text)} characters is too long; expected "
                              f"{self.describe()}")
        if not text and not self.allow_empty:
            raise ConfigError(f"{what}: must not be empty")
        bad = next((c for c in text if not c.isprintable() or c in self.forbidden), None)
        if bad is not None:
            raise ConfigError(f"{what} '{printable(text)[:80]}': contains {bad!r}, which is not "
                              f"allowed; expected {self.describe()}")
        return text

    def arg(self, text: str) -> str:
        """``argparse`` type."""
        try:
            return self.check(text, "")
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).strip()) from None

    def list_arg(self, text: str) -> str:
        """``argparse`` type for a comma-separated list: checks each item, returns ``text``."""
        if len(text) > self.max_chars * CHANNELS.high:
            raise argparse.ArgumentTypeError(f"{len(text)} characters is too long")
        for item in text.split(","):
            self.arg(item.strip())
        return text


#: Subject ids (pseudonymous codes such as ``p01``).
SUBJECT_ID = TextLimit(64)
#: Channel names, placements and sides (one item of ``--names`` etc.).
CHANNEL_NAME = TextLimit(64, forbidden=",")
#: One electrode placement (``--placements`` item).
PLACEMENT = TextLimit(200, forbidden=",")
#: Free-text notes.
NOTE = TextLimit(1000)


def check_session_text(subject, note, channel_names, placements=(), sides=()) -> None:
    """Check the identifiers of a new session (every way of recording goes through this).

    Raises
    ------
    ConfigError
        Naming the field and the rule.
    """
    if subject is not None:
        SUBJECT_ID.check(subject, "subject")
    NOTE.check(note or "", "note")
    for i, name in enumerate(channel_names):
        TextLimit(64, allow_empty=False).check(str(name), f"channel {i} name")
    for i, text in enumerate(placements or ()):
        TextLimit(200).check(str(text), f"channel {i} placement")
    for i, text in enumerate(sides or ()):
        TextLimit(64).check(str(text), f"channel {i} side")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text) -> str:
    """``text`` safe to print on a terminal or write on one line.

    Control characters (newline, escape, ...) are shown as ``\\n``, ``\\x1b`` etc., so a
    name stored by an older version cannot move the cursor, recolour the terminal or break a
    line-based file.
    """
    text = "" if text is None else str(text)
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def ranges_table() -> list[tuple[str, str]]:
    """``(what, range)`` rows for the documentation and tests."""
    rows = [("--seconds (record, capture, live, demo)", DURATION_S.describe()),
            ("baseline --seconds", BASELINE_S.describe()),
            ("baseline --floor-uv, analyze --uv-per-count", MICROVOLTS.describe()),
            ("analyze --fs", ANALYZE_FS_HZ.describe()),
            ("analyze --highpass", HIGHPASS_HZ.describe()),
            ("--window (live, demo)", WINDOW_S.describe()),
            ("protocol durations (duration_s, work_s, ...)", PROTOCOL_DURATION_S.describe()),
            ("protocol reps", PROTOCOL_REPS.describe()),
            ("protocol total length", PROTOCOL_TOTAL_S.describe())]
    for (scheme, option), rng in URL_OPTIONS.items():
        where = "any source" if scheme == "*" else f"{scheme}://"
        rows.append((f"URL option {option} ({where})", rng.describe()))
    rows += [("--subject", SUBJECT_ID.describe()),
             ("--names/--sides item", CHANNEL_NAME.describe()),
             ("--placements item", PLACEMENT.describe()),
             ("--note", NOTE.describe())]
    return rows
