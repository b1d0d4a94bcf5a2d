"""``emgfeedback live``: the biofeedback window on any source."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def add_window_arguments(p) -> None:
    """Options shared by ``live`` and ``demo``."""
    p.add_argument("--seconds", type=float, default=None,
                   help="close the window after S seconds (for headless runs)")
    p.add_argument("--screenshot", default=None, metavar="FILE.png",
                   help="save the window as PNG just before closing")
    p.add_argument("--window", type=float, default=None, metavar="S",
                   help="trace window, seconds (2-30)")
    p.add_argument("--mode", default=None,
                   choices=("uptraining", "downtraining", "dissociation", "firing_order",
                            "symmetry"), help="feedback mode without a protocol")
    p.add_argument("--client", action="store_true", help="also open the client view")
    p.add_argument("--lsl", action="store_true",
                   help="publish on Lab Streaming Layer (unauthenticated, local network)")
    p.add_argument("--json", action="store_true",
                   help="print the protocol results and frame statistics as JSON on exit")


def register(subparsers) -> None:
    """Add the ``live`` parser."""
    p = subparsers.add_parser("live", help="live biofeedback window (traces, cues, protocols)")
    p.add_argument("--source", default=None, metavar="URL",
                   help="serial:///dev/ttyACM0?framing=emgf, sim://?scenario=drill, "
                        "file://DB?session=ID (default: a set-up dialog lists the ports "
                        "found, with their guessed board, and the simulator)")
    p.add_argument("--protocol", default=None, metavar="NAME|FILE",
                   help="start this protocol at once (see `emgfeedback protocols list`)")
    p.add_argument("--db", type=Path, default=None,
                   help="session database (default: EMGFEEDBACK_DB or the user data dir)")
    p.add_argument("--subject", default="", help="subject id (loads the saved set-up)")
    p.add_argument("--record", action="store_true", help="record from the start")
    p.add_argument("--fast", action="store_true",
                   help="replay a sim:// or file:// source as fast as possible; with a "
                        "protocol, close when it ends")
    p.add_argument("--mains", type=float, default=50.0, choices=(50.0, 60.0))
    add_window_arguments(p)
    p.set_defaults(func=run)


def report(result, as_json: bool) -> None:
    """Print what the run produced."""
    if as_json:
        out = {"protocol_results": result.protocol_results, "session_id": result.session_id,
               "frames": result.frames,
               "fps": None if math.isnan(result.fps) else result.fps,
               "latency_p95_ms": None if math.isnan(result.latency_p95_ms)
               else result.latency_p95_ms, "health": result.health}
        print(json.dumps(out, default=lambda o: None))
    elif result.session_id is not None:
        print(result.session_id)


def run(args) -> int:
    """Open the window; returns when it is closed."""
    from emgfeedback.gui.app import run_live

    result = run_live(args.source, protocol=args.protocol, db_path=args.db,
                      subject=args.subject, seconds=args.seconds, screenshot=args.screenshot,
                      fast=args.fast, record=args.record, window_s=args.window, mode=args.mode,
                      client=args.client, mains_hz=args.mains, lsl=args.lsl)
    report(result, args.json)
    if result.health.get("samples_in", 0) == 0:
        print("warning: no samples arrived from the source", file=sys.stderr)
    return result.exit_code
