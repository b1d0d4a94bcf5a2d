"""Regenerate every image in docs/screenshots/ from the simulated client.

Each picture is the live window (or the client view) on ``sim://?client=...&protocol=...``,
paced in real time so the status bar shows the real frame rate and latency, at a fixed
window size, offscreen. A picture is taken at the first frame at which the window's own
:class:`~emgfeedback.gui.feedback.FeedbackModel` shows what the picture is about (for
instance: the protocol runner says the goal is met, every bar is on the right side of its
line, and the reward badge is showing), so the moment is chosen by the model, never by a
timer. Before saving, the window's layout is checked (:mod:`emgfeedback.gui.layout_check`):
a picture with a clipped toolbar or overlapping labels is reported as a failure.

Usage::

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py            # all, ~5 minutes
    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py --only main --out /tmp/shots
    python docs/make_screenshots.py --list

Exit status 0 when every picture was taken, 1 otherwise (with one line per failure).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# 100 % means one logical pixel per image pixel (the offscreen platform reports 100 dpi).
os.environ.setdefault("QT_FONT_DPI", "96")

OUT_DIR = Path(__file__).resolve().parent / "screenshots"
#: Logical size of the main window in the pictures (px) and of the client view.
MAIN_SIZE = (1600, 900)
CLIENT_SIZE = (1280, 800)


def _judged(model):
    return [b for b in model.bars if b.direction and math.isfinite(b.goal_uv)]


def _on_goal_side(model) -> bool:
    """Every bar with a goal is on the right side of its line (what the picture shows)."""
    from emgfeedback.gui.feedback import _bar_ok

    judged = _judged(model)
    return bool(judged) and all(_bar_ok(b) for b in judged)


def _met(model) -> bool:
    """The protocol runner says the goal is met, and the bars agree."""
    return model.protocol_active and model.met and _on_goal_side(model)


@dataclass(frozen=True)
class Shot:
    """One picture: what runs, and the moment it is taken."""

    name: str
    protocol: str
    client: str
    seed: int
    #: True when the model shows what the picture is about.
    moment: Callable
    what: str
    client_view: bool = False
    #: Longest stream time to wait for the moment, seconds.
    within_s: float = 150.0


SHOTS = (
    Shot("main", "demo", "compliant", 1,
         lambda m: m.rep >= 2 and _met(m) and m.held_s >= 0.3 and m.reward_visible >= 0.5,
         "the whole window on the demo drill: repetition 2 or later, glute med above its "
         "goal (goal met, runner's verdict), the previous repetition's reward badge, the "
         "baseline phase's result in the table"),
    Shot("dissociation", "dissociation_glute_med", "compliant", 2,
         lambda m: m.rep >= 2 and _met(m) and m.held_s >= 1.0,
         "dissociation: glute med above its goal while the TFL stays below its own line, "
         "goal held for at least 1 s"),
    Shot("downtraining", "downtraining", "compliant", 3,
         lambda m: _met(m) and m.held_s >= 1.0 and m.reward_visible >= 0.8,
         "downtraining: the tense muscle below its line, time in zone, the reward given "
         "every 5 s in the zone"),
    Shot("symmetry", "symmetry", "compliant", 4,
         lambda m: m.rep >= 2 and m.segment == "work" and m.met and m.held_s >= 0.5
         and math.isfinite(m.symmetry_index_pct)
         and abs(m.symmetry_index_pct) <= m.symmetry_max_pct,
         "symmetry: both sides contracting, the symmetry index within the protocol's "
         "limit (✓), during \"Contract both sides evenly\""),
    Shot("client", "uptraining", "compliant", 5,
         lambda m: m.rep >= 1 and _met(m) and m.held_s >= 1.0,
         "client view, uptraining: the bar above the goal line, goal met and held, the "
         "countdown of the work period", client_view=True),
    Shot("client_downtraining", "downtraining", "compliant", 6,
         lambda m: _met(m) and m.held_s >= 1.0 and m.reward_visible >= 0.8,
         "client view, downtraining: the level below the goal line, the countdown of the "
         "relaxation, the reward badge", client_view=True),
)


def _signal_check(out_dir: Path) -> list[Path]:
    from emgfeedback.gui.check_step import save_verdict_screenshots

    return [Path(p) for p in save_verdict_screenshots(out_dir)]


def _share_phone(out_dir: Path) -> list[Path]:
    import subprocess

    path = out_dir / "share_phone.png"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_share.py"
    proc = subprocess.run([sys.executable, str(script), "--viewers", "1", "--seconds", "2",
                           "--phone-screenshot", str(path)], capture_output=True, text=True)
    if not path.is_file():
        raise RuntimeError(f"share_phone: bench_share.py made no picture: "
                           f"{proc.stderr.strip().splitlines()[-1:]}")
    return [path]


#: Pictures made by other parts of the project, each with its own generator (the check
#: step's verdicts, the browser client on a phone): name -> (file pattern, what, function).
OTHER_PICTURES = {
    "signal-check": ("signal-check-*.png", "the window's signal-check step, one per verdict "
                     "(emgfeedback.gui.check_step.save_verdict_screenshots)", _signal_check),
    "share_phone": ("share_phone.png", "the shared client view in a phone's browser "
                    "(benchmarks/bench_share.py --phone-screenshot)", _share_phone),
}


def take(shot: Shot, out_dir: Path, max_p95_ms: float | None = None) -> tuple[Path, list[str]]:
    """Run ``shot`` and save its PNG; returns (path, layout problems).

    With ``max_p95_ms`` the moment must also find the sample-to-screen latency (p95) at or
    below it and at least 50 frames/s (for pictures made on a quiet machine).

    Raises
    ------
    RuntimeError
        The moment did not come within ``shot.within_s`` of stream time.
    """
    from pyqtgraph.Qt import QtWidgets

    from emgfeedback.gui.app import build_window
    from emgfeedback.gui.layout_check import canvas_problems, run_until, window_problems

    url = f"sim://?client={shot.client}&protocol={shot.protocol}&seed={shot.seed}"
    win = build_window(url, protocol=shot.protocol, window_s=10.0)  # no user settings
    app = QtWidgets.QApplication.instance()
    try:
        win.resize(*MAIN_SIZE)
        win.show()
        if shot.client_view:
            win.toggle_client()
            win.client.resize(*CLIENT_SIZE)
        win.start()
        def moment(w) -> bool:
            if max_p95_ms is not None and not (w.latency.latency_ms(95) <= max_p95_ms
                                               and w.latency.fps() >= 50.0):
                return False
            return shot.moment(w.model)

        if not run_until(win, moment, shot.within_s):
            m = win.model
            raise RuntimeError(f"{shot.name}: the moment never came in "
                               f"{m.end_index / win.session.fs_hz:.0f} s of stream "
                               f"({shot.what})")
        app.processEvents()
        if shot.client_view:
            widget = win.client
            image = widget.grab()
            problems = canvas_problems(widget.canvas)
        else:
            widget = win
            image = widget.grab()
            problems = window_problems(win)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{shot.name}.png"
        if not image.save(str(path)):
            raise RuntimeError(f"{shot.name}: could not write {path}")
        return path, problems
    finally:
        win.shutdown()
        win.close()
        app.processEvents()


def main(argv=None) -> int:
    """Command line: take the pictures named by ``--only`` (all by default)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the PNGs")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in SHOTS]
                        + list(OTHER_PICTURES),
                        help="take only these pictures")
    parser.add_argument("--list", action="store_true", help="list the pictures and exit")
    parser.add_argument("--max-p95-ms", type=float, default=None,
                        help="take each picture only at a frame whose sample-to-screen "
                             "latency p95 is at most this (and >= 50 fps): a quiet machine")
    args = parser.parse_args(argv)
    if args.list:
        for s in SHOTS:
            print(f"{s.name}.png: {s.what} ({s.protocol}, client={s.client})")
        for pattern, what, _fn in OTHER_PICTURES.values():
            print(f"{pattern}: {what}")
        return 0
    from emgfeedback.gui.app import application

    application()
    failed = 0
    for shot in SHOTS:
        if args.only and shot.name not in args.only:
            continue
        t0 = time.monotonic()
        try:
            path, problems = take(shot, args.out, args.max_p95_ms)
        except RuntimeError as exc:
            print(f"FAILED {exc}", file=sys.stderr)
            failed += 1
            continue
        for p in problems:
            print(f"LAYOUT {shot.name}: {p}", file=sys.stderr)
        failed += bool(problems)
        print(f"{path}  ({time.monotonic() - t0:.0f} s)  {shot.what}")
    for name, (_pattern, what, make) in OTHER_PICTURES.items():
        if args.only and name not in args.only:
            continue
        try:
            for path in make(args.out):
                print(f"{path}  {what}")
        except Exception as exc:  # noqa: BLE001 - one line per failed picture
            print(f"FAILED {name}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
