"""Shared pieces of the commands that run the engine (record, baseline, run, live)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from emgfeedback.errors import ConfigError


def add_source_arguments(parser, required: bool = True) -> None:
    """``--source URL`` plus session metadata options."""
    parser.add_argument("--source", required=required, metavar="URL",
                        help="serial:///dev/ttyACM0?framing=emgf, sim://?scenario=drill, "
                             "file://DB?session=ID, lsl://?type=EMG, brainflow://synthetic")
    parser.add_argument("--db", type=Path, default=None,
                        help="session database (default: EMGFEEDBACK_DB or the user data dir)")
    parser.add_argument("--subject", default="", help="who is measured (an id, not a name)")
    parser.add_argument("--note", default="", help="free text stored with the session")
    parser.add_argument("--names", default=None, metavar="A,B,...",
                        help="channel names, e.g. 'glute med R,TFL R'")
    parser.add_argument("--placements", default=None, metavar="P1,P2,...",
                        help="electrode placement per channel, e.g. 'upper trapezius,TFL'")
    parser.add_argument("--sides", default=None, metavar="S1,S2,...",
                        help="side per channel: left, right or empty")
    parser.add_argument("--mains", type=float, default=50.0, choices=(50.0, 60.0),
                        help="mains frequency to notch, Hz (default 50)")
    parser.add_argument("--lsl", action="store_true",
                        help="publish on Lab Streaming Layer (unauthenticated, local network)")


def per_channel(info, arg: str | None, option: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Split a comma-separated per-channel option, checking it gives one value per channel."""
    if not arg:
        return default
    values = tuple(v.strip() for v in arg.split(","))
    if len(values) != info.n_channels:
        raise ConfigError(f"{option} gives {len(values)} values for {info.n_channels} channels; "
                          "give one per channel, separated by commas")
    return values


def channel_names(info, names_arg: str | None) -> tuple[str, ...]:
    """The names to store: ``--names`` if given (one per channel), else the source's."""
    return per_channel(info, names_arg, "--names", tuple(info.channel_names))


def open_store(db: Path | None):
    """Open (create or migrate) the session database."""
    from emgfeedback.storage import SessionStore, default_db_path

    return SessionStore(db or default_db_path())


def new_session(store, info, args, protocol: str = ""):
    """Create a session row for an opened source; returns its id."""
    from emgfeedback.storage import SessionMeta

    names = channel_names(info, getattr(args, "names", None))
    empty = ("",) * info.n_channels
    meta = SessionMeta(
        fs_hz=float(info.fs_hz), channel_names=names, calibration=tuple(info.calibration),
        subject=args.subject or None, note=args.note, board=info.board, source_url=info.url,
        placements=per_channel(info, getattr(args, "placements", None), "--placements", empty),
        sides=per_channel(info, getattr(args, "sides", None), "--sides", empty),
        protocol=protocol or None,
    )
    return store.create_session(meta)


def make_outlets(args, info) -> list:
    """The LSL outlet when ``--lsl`` was given."""
    if not getattr(args, "lsl", False):
        return []
    from emgfeedback.interop.lsl import LslOutlet

    empty = ("",) * info.n_channels
    return [LslOutlet(
        info, channel_names=channel_names(info, getattr(args, "names", None)),
        placements=per_channel(info, getattr(args, "placements", None), "--placements", empty),
        sides=per_channel(info, getattr(args, "sides", None), "--sides", empty))]


def progress(label: str, done: float, total: float, width: int = 30, stream=sys.stderr) -> None:
    """Draw a one-line progress bar on a terminal (nothing when not a terminal)."""
    if not stream.isatty():
        return
    frac = 0.0 if total <= 0 else min(1.0, done / total)
    bar = "#" * int(frac * width)
    stream.write(f"\r{label} [{bar:<{width}}] {done:6.1f}/{total:.0f} s")
    stream.flush()


def run_for(engine, seconds: float, label: str) -> None:
    """Wait for a started engine built with ``stop_after_s=seconds``, showing progress.

    A source that stalls (a silent device) must not hang the command forever: after three
    times the wanted duration plus 10 s of wall time the engine is left to the caller to stop.
    """
    fs = engine.source.info.fs_hz
    deadline = time.monotonic() + seconds * 3 + 10
    while not engine.wait(0.1) and time.monotonic() < deadline:
        progress(label, engine.health.samples_in / fs, seconds)
    progress(label, engine.health.samples_in / fs, seconds)
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def json_ready(value):
    """A copy of ``value`` that ``json.dumps`` writes as standard JSON (NaN/inf → null)."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
