"""``emgfeedback protocols``: list the shipped protocols, check or show one."""

from __future__ import annotations

import argparse
import sys

from emgfeedback.errors import ProtocolError


def register(subparsers) -> None:
    """Add the ``protocols`` command."""
    parser = subparsers.add_parser(
        "protocols", help="list exercise protocols; check or show one",
        description="Without arguments: list the shipped protocols, one per line (name, then "
                    "title). 'check FILE' validates your own protocol file; 'show NAME|FILE' "
                    "prints its phases.")
    sub = parser.add_subparsers(dest="protocols_action", metavar="ACTION")
    sub.add_parser("list", help="list the shipped protocols (the default action)")
    check = sub.add_parser("check", help="validate a protocol file (exit 2 on error)")
    check.add_argument("file", help="path of a protocol .toml file (or a shipped name)")
    show = sub.add_parser("show", help="print a protocol's description and phases")
    show.add_argument("protocol", help="name of a shipped protocol or a .toml path")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out the ``protocols`` command; returns the exit status."""
    from emgfeedback.protocol import list_protocols, load_protocol

    action = getattr(args, "protocols_action", None)
    if action == "check":
        try:
            proto = load_protocol(args.file)
        except ProtocolError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"OK: {proto.name} ({proto.title}), {len(proto.phases)} phases, "
              f"{proto.total_s:g} s")
        return 0
    if action == "show":
        proto = load_protocol(args.protocol)
        print(f"{proto.name}: {proto.title} (version {proto.version}, {proto.total_s:g} s)")
        print(proto.description.strip())
        print("channels: " + ", ".join(f"{c.id} ({c.role})" for c in proto.channels))
        if proto.parameters:
            print("parameters: " + ", ".join(f"{k}={v:g}" for k, v in proto.parameters))
        for i, phase in enumerate(proto.phases):
            timing = (f"{phase.duration_s:g} s" if phase.reps is None else
                      f"{phase.reps} x (" + " + ".join(
                          f"{v:g} s {k}" for k, v in (("work", phase.work_s),
                                                       ("release", phase.release_s),
                                                       ("rest", phase.rest_s)) if v) + ")")
            print(f"  {i}. {phase.name} [{phase.kind}] {timing}: {phase.cue}")
            for goal in phase.goals:
                print(f"       goal: {goal.describe()} (during {goal.during})")
        return 0
    for proto in list_protocols():
        print(f"{proto.name}\t{proto.title}")
    return 0
