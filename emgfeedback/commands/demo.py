"""``emgfeedback demo``: the live window on the simulated glute-med/TFL drill, no hardware.

The simulator's ``drill`` scenario is paced in real time and the ``demo`` protocol runs on
it. Nothing is recorded unless ``--db`` is given.
"""

from __future__ import annotations

from pathlib import Path

from emgfeedback.commands.live import add_window_arguments, report

DEMO_SOURCE = "sim://?scenario=drill&channels=2&seed=1"


def register(subparsers) -> None:
    """Add the ``demo`` parser."""
    p = subparsers.add_parser("demo", help="try the live window on the simulator (no hardware)")
    p.add_argument("--db", type=Path, default=None,
                   help="record the demo into this session database (default: no recording)")
    p.add_argument("--fast", action="store_true", help="run the drill as fast as possible")
    add_window_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Run the demo window."""
    from emgfeedback.gui.app import run_live

    result = run_live(DEMO_SOURCE, protocol="demo", db_path=args.db, record=args.db is not None,
                      seconds=args.seconds, screenshot=args.screenshot, fast=args.fast,
                      window_s=args.window, mode=args.mode, client=args.client,
                      use_settings=False, lsl=args.lsl)
    report(result, args.json)
    return result.exit_code
