"""The one interface every source of samples has, and ``open_source(url)``.

A source turns a byte stream, a simulator, a stored session or a network stream into
:class:`Chunk` objects: integer samples ``(n_samples, n_channels)``, the absolute index of
the first sample, the host monotonic time of arrival, and the gaps (samples known to be
missing) just before it. Integer samples keep recordings exact; :class:`ChannelCalibration`
in :mod:`emgfeedback.acquisition.boards` turns them into µV at the electrode. Sources that
deliver floating-point µV (LSL, BrainFlow) quantise to a declared step (``uv_per_count``)
so that storage stays integer and exact.
"""

from __future__ import annotations

import importlib
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from emgfeedback.errors import ConfigError

# The shared types (emgfeedback.types), importable from here as before.
from emgfeedback.types import ALARM_KINDS as ALARM_KINDS
from emgfeedback.types import GAP_CAUSES as GAP_CAUSES
from emgfeedback.types import Chunk as Chunk
from emgfeedback.types import Gap as Gap
from emgfeedback.types import SourceEvent as SourceEvent
from emgfeedback.types import SourceInfo as SourceInfo
from emgfeedback.types import SourceStats as SourceStats

#: States a source reports (``Source.state``).
SOURCE_STATES = ("closed", "open", "streaming", "no_data", "reconnecting", "stopped", "finished")

#: States in which a started source delivers nothing (timed by ``Source.time_without_data_s``).
SILENT_STATES = ("no_data", "reconnecting")


class Source(ABC):
    """Common interface of every source.

    Life cycle: ``open()`` → ``start()`` → ``read()`` repeatedly → ``stop()`` → ``close()``.
    A source is also a context manager (``with open_source(url) as src:``), which opens it
    on entry and closes it on exit. ``read`` never raises on bad data: losses become
    :class:`Gap` records and counters in :meth:`stats`.
    """

    def __init__(self) -> None:
        self._state = "closed"
        self._state_lock = threading.Lock()
        self._silent_since_s: float | None = None  # start of the current silent state
        self._silent_total_s = 0.0  # finished silent spells

    def time_without_data_s(self, now_s: float | None = None) -> float:
        """Seconds spent in a silent state (:data:`SILENT_STATES`) since opening.

        A spell is timed from the last sample before it (when the source says so) to the
        first sample after it, or to ``now_s`` while it lasts.

        Parameters
        ----------
        now_s : float, optional
            Host monotonic time; defaults to ``time.monotonic()``.
        """
        now_s = time.monotonic() if now_s is None else now_s
        with self._state_lock:
            ongoing = 0.0 if self._silent_since_s is None else now_s - self._silent_since_s
            return self._silent_total_s + max(0.0, ongoing)

    def silent_for_s(self, now_s: float | None = None) -> float:
        """Seconds the current silent spell has lasted (0 when the source is not silent)."""
        now_s = time.monotonic() if now_s is None else now_s
        with self._state_lock:
            return 0.0 if self._silent_since_s is None else max(0.0, now_s -
                                                                 self._silent_since_s)

    def pop_events(self) -> list[SourceEvent]:
        """Events (alarms, device messages, reconnects) since the last call; none by default."""
        return []

    @property
    @abstractmethod
    def info(self) -> SourceInfo:
        """What the source delivers (valid after ``open()``)."""

    @property
    def state(self) -> str:
        """One of :data:`SOURCE_STATES`."""
        return self._state

    def _set_state(self, state: str, since_s: float | None = None) -> None:
        """Change state; ``since_s`` is when a silent spell began (default: now)."""
        if state not in SOURCE_STATES:
            raise ValueError(f"unknown source state {state!r}")
        now = time.monotonic()
        with self._state_lock:
            if state in SILENT_STATES and self._silent_since_s is None:
                self._silent_since_s = now if since_s is None else min(since_s, now)
            elif state not in SILENT_STATES and self._silent_since_s is not None:
                self._silent_total_s += max(0.0, now - self._silent_since_s)
                self._silent_since_s = None
            self._state = state

    @property
    def finished(self) -> bool:
        """True when a finite source (playback, a simulator with ``seconds``) has ended."""
        return self._state == "finished"

    @abstractmethod
    def open(self) -> None:
        """Open the underlying device or stream."""

    @abstractmethod
    def start(self) -> None:
        """Start streaming samples."""

    @abstractmethod
    def read(self, timeout_s: float = 0.1) -> list[Chunk]:
        """Return the chunks that arrived since the last call.

        Parameters
        ----------
        timeout_s : float
            Longest time to wait for at least one chunk, in seconds.

        Returns
        -------
        list of Chunk
            Possibly empty (timeout, or the source has finished).
        """

    @abstractmethod
    def stop(self) -> None:
        """Stop streaming (the source can be started again)."""

    @abstractmethod
    def close(self) -> None:
        """Release the device or stream. Idempotent."""

    @abstractmethod
    def stats(self) -> SourceStats:
        """The source's counters now (:class:`~emgfeedback.types.SourceStats`)."""

    def _no_data_s(self) -> float:
        """:meth:`time_without_data_s` rounded to ms, as the statistics report it."""
        return round(self.time_without_data_s(), 3)

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LossCounts:
    """Samples and chunks delivered, samples lost by cause: the counters every source keeps.

    Attributes
    ----------
    samples : int
        Samples delivered in chunks.
    chunks : int
        Chunks delivered.
    gaps_by_cause, lost_by_cause : dict
        Per :data:`GAP_CAUSES` entry, how many gaps and how many samples they held.
    """

    def __init__(self) -> None:
        self.samples = 0
        self.chunks = 0
        self.gaps_by_cause = dict.fromkeys(GAP_CAUSES, 0)
        self.lost_by_cause = dict.fromkeys(GAP_CAUSES, 0)

    def count(self, chunk: Chunk) -> Chunk:
        """Account for a chunk about to be delivered (its samples and gaps); returns it."""
        self.samples += chunk.n_samples
        self.chunks += 1
        for gap in chunk.gaps:
            self.gaps_by_cause[gap.cause] += 1
            self.lost_by_cause[gap.cause] += gap.n_samples
        return chunk

    def overrun(self, chunk: Chunk) -> None:
        """A counted chunk was dropped before delivery: its samples become an overrun gap."""
        self.samples -= chunk.n_samples
        self.chunks -= 1
        if chunk.n_samples:
            self.gaps_by_cause["overrun"] += 1
            self.lost_by_cause["overrun"] += chunk.n_samples

    @property
    def lost_samples(self) -> int:
        """Samples known missing, all causes together."""
        return sum(self.lost_by_cause.values())

    def snapshot(self, **fields) -> SourceStats:
        """A :class:`~emgfeedback.types.SourceStats` of these counts (causes that occurred)
        and the other ``fields`` given."""
        return SourceStats(
            samples=self.samples, chunks=self.chunks,
            lost_by_cause={k: v for k, v in self.lost_by_cause.items() if v},
            gaps_by_cause={k: v for k, v in self.gaps_by_cause.items() if v},
            **fields)


# --------------------------------------------------------------------------- URLs


@dataclass(frozen=True)
class SourceUrl:
    """A parsed source URL: ``scheme://path?key=value&...``."""

    url: str
    scheme: str
    path: str
    options: dict[str, str]


def parse_source_url(url: str) -> SourceUrl:
    """Split a source URL into scheme, path and options.

    Parameters
    ----------
    url : str
        For example ``serial:///dev/ttyACM0?framing=emgf&baud=1000000``.

    Returns
    -------
    SourceUrl

    Raises
    ------
    ConfigError
        If the URL has no scheme or repeats an option.
    """
    if "://" not in url:
        raise ConfigError(
            f"source {url!r} is not a URL; expected SCHEME://..., one of: "
            + ", ".join(f"{s}://" for s in sorted(SCHEMES))
        )
    parts = urlsplit(url)
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in options:
            raise ConfigError(f"source {url!r}: option {key!r} is given twice")
        options[key] = value
    path = unquote(parts.netloc + parts.path)
    if parts.scheme.lower() == "serial":  # COM3, \\.\COM10, /dev/cu.usbmodem1101
        from emgfeedback.host import serial_port_name

        path = serial_port_name(path)
    return SourceUrl(url=url, scheme=parts.scheme.lower(), path=path, options=options)


def take_options(
    parsed: SourceUrl, accepted: Mapping[str, tuple[Callable[[str], object], object]]
) -> dict[str, object]:
    """Convert a URL's options, rejecting unknown ones.

    Parameters
    ----------
    parsed : SourceUrl
        The parsed URL.
    accepted : mapping
        ``name -> (converter, default)``. A converter raises ``ValueError`` (or
        ``ConfigError``) on a bad value; its message should say what is accepted.

    Returns
    -------
    dict
        Every accepted option, converted, with defaults filled in.

    Raises
    ------
    ConfigError
        Naming the URL, the option and what is accepted.
    """
    unknown = sorted(set(parsed.options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"source {parsed.url!r}: unknown option(s) {', '.join(unknown)}; "
            f"{parsed.scheme}:// accepts: {', '.join(sorted(accepted))}"
        )
    out: dict[str, object] = {}
    for name, (convert, default) in accepted.items():
        if name not in parsed.options:
            out[name] = default
            continue
        raw = parsed.options[name]
        try:
            value = convert(raw)
            out[name] = _in_range(parsed.scheme, name, value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ConfigError(f"source {parsed.url!r}: option {name}={raw!r}: {exc}") from None
    return out


def _in_range(scheme: str, name: str, value):
    """Check a converted option against its range in :mod:`emgfeedback.bounds`."""
    from emgfeedback import bounds

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    rng = bounds.url_option_range(scheme, name)
    if rng is not None:
        try:
            rng.check(value, "")
        except ConfigError:
            raise ValueError(f"out of range; expected {rng.describe()}") from None
    return value


def choice(*allowed: str) -> Callable[[str], str]:
    """Converter accepting one of ``allowed`` (for :func:`take_options`)."""

    def convert(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return convert


def positive(kind: type = float) -> Callable[[str], object]:
    """Converter accepting a positive number of type ``kind`` (for :func:`take_options`)."""

    def convert(value: str):
        number = kind(value)
        if not number > 0 or not math.isfinite(number):
            raise ValueError(f"expected a positive finite {kind.__name__}")
        return number

    return convert


def boolean(value: str) -> bool:
    """Converter for ``1/0/true/false/yes/no`` (for :func:`take_options`)."""
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


#: scheme -> "module:function" of a factory taking a :class:`SourceUrl` and returning a Source.
SCHEMES: dict[str, str] = {
    "serial": "emgfeedback.acquisition.serial_source:source_from_url",
    "sim": "emgfeedback.acquisition.sim_source:source_from_url",
    "file": "emgfeedback.acquisition.playback:source_from_url",
    "lsl": "emgfeedback.interop.lsl:source_from_url",
    "brainflow": "emgfeedback.interop.brainflow_source:source_from_url",
}


def open_source(url: str) -> Source:
    """Create the source a URL names (not yet opened).

    Parameters
    ----------
    url : str
        ``serial:///dev/ttyACM0?framing=emgf&baud=1000000&board=uno-myoware2``,
        ``sim://?channels=4&fs=2000&scenario=drill&seed=1``,
        ``file://sessions.sqlite?session=12``, ``lsl://?type=EMG``,
        ``brainflow://synthetic``.

    Returns
    -------
    Source

    Raises
    ------
    ConfigError
        For an unknown scheme, option or value (the message lists what is accepted).
    """
    parsed = parse_source_url(url)
    target = SCHEMES.get(parsed.scheme)
    if target is None:
        raise ConfigError(
            f"source {url!r}: unknown scheme {parsed.scheme!r}; accepted: "
            + ", ".join(f"{s}://" for s in sorted(SCHEMES))
        )
    module_name, func_name = target.split(":")
    factory = getattr(importlib.import_module(module_name), func_name)
    return factory(parsed)


def monotonic_s() -> float:
    """Host monotonic clock in seconds (the clock of ``Chunk.arrival_s``)."""
    return time.monotonic()
