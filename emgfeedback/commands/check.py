"""``emgfeedback check``: a guided signal check before a session (#20).

Shows where each channel's electrodes go, records a rest and (on request) a short test
contraction, and prints a plain verdict per problem with the one thing to do about it, and
a grade per channel (``good``, ``usable``, ``not usable``). The grading is
:mod:`emgfeedback.analysis.signal_check`; this module parses, calls and prints.
"""

from __future__ import annotations

import json
import sys

from emgfeedback import bounds
from emgfeedback.analysis.signal_check import CONTRACTION_S, GRADES, REST_S
from emgfeedback.commands._common import EXIT_FAILED, EXIT_OK, json_ready, progress
from emgfeedback.errors import ConfigError
from emgfeedback.reports.signal_checks import placement_lines, verdict_lines

_CHECK_S = bounds.Range(3.0, 600.0, "s")
_CONTRACT_S = bounds.Range(1.0, 60.0, "s")


def register(sub) -> None:
    """Add the ``check`` parser."""
    p = sub.add_parser(
        "check", help="check the signal before a session: placement, contact, noise, a test "
                      "contraction; a grade per channel",
        description="Show where each channel's electrodes go, then record a rest (and, on "
                    "request, a short test contraction) and give a plain verdict with the one "
                    "thing to do about each problem, and a grade per channel: good, usable or "
                    "not usable. Exit status 0 when the grade is at least --require, 1 when "
                    "not, 2 on errors. Without a terminal the contraction is skipped unless "
                    "--contraction is given. See docs/signal-check.md.")
    p.add_argument("--source", required=True, metavar="URL",
                   help="serial:///dev/ttyACM0?framing=emgf, sim://?scenario=check, ...")
    p.add_argument("--protocol", default=None, metavar="NAME|FILE",
                   help="check the channels this protocol uses (names and placements from it)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: grade, and grade and reasons per channel")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--contraction", action="store_true", default=None,
                       help="do the test contraction (asked on a terminal; skipped without one)")
    group.add_argument("--no-contraction", dest="contraction", action="store_false",
                       help="skip the test contraction")
    p.add_argument("--rest-seconds", type=_CHECK_S.arg, default=REST_S,
                   help=f"rest to record, s (default {REST_S:g}; {_CHECK_S.describe()})")
    p.add_argument("--contraction-seconds", type=_CONTRACT_S.arg, default=CONTRACTION_S,
                   help=f"test contraction, s (default {CONTRACTION_S:g}; "
                        f"{_CONTRACT_S.describe()})")
    p.add_argument("--mains", type=float, default=50.0, choices=(50.0, 60.0),
                   help="mains frequency, Hz (default 50)")
    p.add_argument("--names", default=None, metavar="A,B,...", type=bounds.CHANNEL_NAME.list_arg,
                   help="channel names (muscles), e.g. 'glute med R,TFL R'")
    p.add_argument("--placements", default=None, metavar="P1,P2,...",
                   type=bounds.CHANNEL_NAME.list_arg, help="electrode placement per channel")
    p.add_argument("--require", choices=GRADES, default="usable",
                   help="grade needed for exit status 0 (default usable)")
    p.set_defaults(func=run)


def channel_labels(info, protocol=None, names_arg=None, placements_arg=None):
    """Names and placement texts of the channels to check.

    With a protocol, its channels (label or id, and its placement), in order, on the
    source's first channels; else ``--names``/``--placements``, else the source's names.

    Returns
    -------
    tuple
        ``(names, placements, n_channels)``.

    Raises
    ------
    ConfigError
        When the source has fewer channels than the protocol, or a list has the wrong length.
    """
    from emgfeedback.commands._common import per_channel

    if protocol is not None:
        n = len(protocol.channels)
        if info.n_channels < n:
            raise ConfigError(f"protocol {protocol.name} uses {n} channels but the source has "
                              f"{info.n_channels}: connect more sensors or add channels= to "
                              "the source")
        return ([c.label or c.id for c in protocol.channels],
                [c.placement for c in protocol.channels], n)
    names = per_channel(info, names_arg, "--names", tuple(info.channel_names))
    places = per_channel(info, placements_arg, "--placements", ("",) * info.n_channels)
    return list(names), list(places), info.n_channels


def wants_contraction(flag) -> bool:
    """``--contraction``/``--no-contraction``, else ask on a terminal, else no."""
    if flag is not None:
        return bool(flag)
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    sys.stderr.write("Do a short test contraction after the rest? [Y/n] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("", "y", "yes")


def run_check(url: str, *, protocol=None, names=None, placements=None,
              contraction: bool = False, rest_s: float = REST_S,
              contraction_s: float = CONTRACTION_S, mains_hz: float = 50.0,
              show_placements=None, stream=None) -> dict:
    """Open ``url``, record a check and grade it; the source is closed afterwards.

    Parameters
    ----------
    url : str
        Source URL.
    protocol : Protocol, optional
        Its channels are the ones checked.
    names, placements : sequence of str, optional
        Per-channel overrides (without a protocol).
    contraction : bool
        Record a test contraction after the rest.
    rest_s, contraction_s : float
        Lengths in seconds.
    mains_hz : float
        50 or 60.
    show_placements : callable, optional
        ``show_placements(names, placements)`` before recording.
    stream : file, optional
        Where prompts and the progress bar go (default stderr).

    Returns
    -------
    dict
        The check (:func:`~emgfeedback.analysis.signal_check.check_signal`'s object, with
        ``source``, ``board`` and per-channel ``placement_text``).
    """
    from emgfeedback.acquisition import open_source
    from emgfeedback.runtime.signal_check_run import graded_check

    stream = sys.stderr if stream is None else stream
    source = open_source(url)
    try:
        source.open()
        info = source.info
        labels, places, n = channel_labels(info, protocol, names, placements)
        if show_placements is not None:
            show_placements(labels, places)
        said = {"contraction": False}

        def tick(rec) -> None:
            if rec.phase == "contraction" and not said["contraction"]:
                said["contraction"] = True
                if stream.isatty():
                    stream.write("\r\033[K")
                print(f"NOW CONTRACT firmly: {', '.join(labels)} "
                      f"({contraction_s:g} s)", file=stream, flush=True)
            label = "relax, stay still" if rec.phase == "rest" else "contract"
            progress(f"check: {label:<18}", rec.elapsed_s, rec.total_s, stream=stream)

        print(f"check: relax and stay still for {rest_s:g} s", file=stream, flush=True)
        check = graded_check(source, labels, places, rest_s=rest_s,
                             contraction_s=contraction_s if contraction else None,
                             mains_hz=mains_hz, on_progress=tick)
        if stream.isatty():
            stream.write("\r\033[K")
    finally:
        source.close()
    return check


def run(args) -> int:
    """Run the check; exit 0 when the grade is at least ``--require``."""
    from emgfeedback.analysis.signal_check import meets
    from emgfeedback.protocol import load_protocol

    protocol = load_protocol(args.protocol) if args.protocol else None
    contraction = wants_contraction(args.contraction)
    out = sys.stderr if args.json else sys.stdout

    def show(names, places) -> None:
        print("Where the electrodes go (hardware/WIRING.md):", file=out)
        for name, text in zip(names, places, strict=True):
            print("\n".join(placement_lines(name, text)), file=out)
        print(file=out, flush=True)

    check = run_check(args.source, protocol=protocol, names=args.names,
                      placements=args.placements, contraction=contraction,
                      rest_s=args.rest_seconds, contraction_s=args.contraction_seconds,
                      mains_hz=args.mains, show_placements=show)
    if args.json:
        print(json.dumps(json_ready(check)))
    else:
        print("\n".join(verdict_lines(check)))
    return EXIT_OK if meets(check["grade"], args.require) else EXIT_FAILED


# ---------------------------------------------------------------- before a session (run)


def add_check_arguments(parser) -> None:
    """``--check`` and ``--accept-poor-signal`` for commands that start a session."""
    parser.add_argument("--check", action="store_true",
                        help="run the signal check (rest only) before starting, and store "
                             "its grade with the session (always done when the protocol "
                             "sets min_signal_grade)")
    parser.add_argument("--accept-poor-signal", action="store_true",
                        help="start even when the signal check grades the signal below the "
                             "protocol's min_signal_grade (the grade is stored as accepted)")


def pre_session_check(url: str, protocol, args, what: str = "") -> dict | None:
    """The signal check before a protocol starts, when asked for or required.

    The check runs on its own connection to the source (closed before the session opens a
    fresh one), rest only. Below the protocol's ``min_signal_grade`` the session starts
    only when the user confirms: ``--accept-poor-signal``, or "y" on a terminal. Without
    a protocol (``baseline --check``) the channels are the source's (``--names``...) and no
    minimum applies; ``what`` names the session in messages.

    Returns
    -------
    dict or None
        ``{"check", "minimum", "accepted"}`` to store with the session
        (:func:`store_session_check`), or None when no check was asked for.

    Raises
    ------
    ConfigError
        When the grade is below the minimum and the user did not confirm.
    """
    minimum = getattr(protocol, "min_signal_grade", "") or None
    if not (minimum or getattr(args, "check", False)):
        return None
    out = sys.stderr if getattr(args, "json", False) else sys.stdout
    need = f" (this protocol needs at least {minimum!r})" if minimum else ""
    what = what or (protocol.name if protocol is not None else "the session")
    print(f"signal check before {what}{need}; see docs/signal-check.md", file=out, flush=True)
    check = run_check(url, protocol=protocol, contraction=False,
                      mains_hz=getattr(args, "mains", 50.0),
                      names=getattr(args, "names", None),
                      placements=getattr(args, "placements", None))
    print("\n".join(verdict_lines(check)), file=out, flush=True)
    from emgfeedback.runtime.signal_check_run import below_minimum

    accepted = False
    if below_minimum(check, minimum):
        if getattr(args, "accept_poor_signal", False):
            accepted = True
        elif sys.stdin.isatty() and sys.stderr.isatty():
            sys.stderr.write(f"The signal is {check['grade']!r}, below {minimum!r}. "
                             "Start anyway? [y/N] ")
            sys.stderr.flush()
            accepted = sys.stdin.readline().strip().lower() in ("y", "yes")
        if not accepted:
            raise ConfigError(
                f"the signal check grades the signal {check['grade']!r}, below this "
                f"protocol's min_signal_grade {minimum!r}: nothing was recorded; fix the "
                "problems listed above and run again, or add --accept-poor-signal to start "
                "anyway (the grade is stored with the session)")
        print(f"starting on a {check['grade']!r} signal: accepted by the user", file=out)
    return {"check": check, "minimum": minimum, "accepted": accepted}


def store_session_check(store, session_id, signal: dict | None) -> None:
    """Store :func:`pre_session_check`'s result with the session (nothing for None)."""
    if signal is None or store is None or session_id is None:
        return
    from emgfeedback.runtime.signal_check_run import store_check

    store_check(store, session_id, signal["check"], signal["minimum"], signal["accepted"])
