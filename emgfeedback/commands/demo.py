"""``emgfeedback demo``: the live window on a simulated client doing the glute-med/TFL drill.

A simulated client (:mod:`emgfeedback.acquisition.sim_client`) follows the ``demo``
protocol's cues in real time: by default a compliant one (every repetition passes);
``--behaviour compensating`` shows the TFL firing first and too hard, ``held`` tension that
never drops, ``late`` a slow release. Nothing is recorded unless ``--db`` is given.
"""

from __future__ import annotations

from pathlib import Path

from emgfeedback.acquisition.sim_client import CLIENT_KINDS
from emgfeedback.commands.live import add_window_arguments, qt_ready, report

DEMO_PROTOCOL = "demo"
BEHAVIOURS = CLIENT_KINDS


def demo_source(behaviour: str = "compliant", seed: int = 1) -> str:
    """The demo's source URL: a simulated client following the demo protocol."""
    return f"sim://?client={behaviour}&protocol={DEMO_PROTOCOL}&seed={seed}"


DEMO_SOURCE = demo_source()


def register(subparsers) -> None:
    """Add the ``demo`` parser."""
    p = subparsers.add_parser("demo", help="try the live window on the simulator (no hardware)")
    p.add_argument("--db", type=Path, default=None,
                   help="record the demo into this session database (default: no recording)")
    p.add_argument("--fast", action="store_true", help="run the drill as fast as possible")
    p.add_argument("--behaviour", choices=BEHAVIOURS, default="compliant",
                   help="what the simulated client does: follows the cues (compliant, the "
                        "default), lets the compensator fire first (compensating), never "
                        "lets go (held) or releases slowly (late)")
    add_window_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Run the demo window."""
    from emgfeedback.commands.live import check_screenshot
    from emgfeedback.gui.app import run_live

    check_screenshot(args)  # H8: refuse a bad --screenshot target before the window opens
    if not qt_ready():
        return 3
    result = run_live(demo_source(args.behaviour), protocol=DEMO_PROTOCOL, db_path=args.db,
                      record=args.db is not None,
                      seconds=args.seconds, screenshot=args.screenshot, fast=args.fast,
                      window_s=args.window, mode=args.mode, client=args.client,
                      use_settings=False, lsl=args.lsl, sound=args.sound,
                      sound_mapping=args.sound_mapping)
    report(result, args.json)
    return result.exit_code
