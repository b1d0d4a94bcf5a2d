"""``emgfeedback live``: the biofeedback window on any source."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from emgfeedback import bounds


def add_window_arguments(p) -> None:
    """Options shared by ``live`` and ``demo``."""
    p.add_argument("--seconds", type=bounds.DURATION_S.arg, default=None,
                   help="close the window after S seconds (for headless runs; "
                        f"{bounds.DURATION_S.describe()})")
    p.add_argument("--screenshot", default=None, metavar="FILE.png",
                   help="save the window as PNG just before closing (0600; an existing file "
                        "only with --force)")
    p.add_argument("--force", action="store_true",
                   help="replace the --screenshot file if it exists")
    p.add_argument("--window", type=bounds.WINDOW_S.arg, default=None, metavar="S",
                   help=f"trace window, seconds ({bounds.WINDOW_S.describe()})")
    p.add_argument("--mode", default=None,
                   choices=("uptraining", "downtraining", "dissociation", "firing_order",
                            "symmetry"), help="feedback mode without a protocol")
    p.add_argument("--client", action="store_true", help="also open the client view")
    p.add_argument("--lsl", action="store_true",
                   help="publish on Lab Streaming Layer (unauthenticated, local network)")
    p.add_argument("--json", action="store_true",
                   help="print the protocol results and frame statistics as JSON on exit")
    p.add_argument("--sound", default="off", choices=("off", "chime", "tone", "eyes-closed"),
                   help="audio feedback: cue sounds (chime), a tone whose pitch follows the "
                        "target's activation relative to its goal plus cue sounds (tone), or "
                        "the tone alone for downtraining with the eyes closed (eyes-closed)")
    p.add_argument("--sound-mapping", default="octaves", choices=("octaves", "linear", "steps"),
                   help="how activation/goal becomes pitch (default: octaves, one octave "
                        "from rest to the goal)")


def add_share_arguments(p) -> None:
    """Options for sharing the client view with browsers (see docs/share.md)."""
    g = p.add_argument_group("share the client view with a phone, tablet or TV (browser)")
    g.add_argument("--share", action="store_true",
                   help="serve the client view to browsers on this computer; prints "
                        "'share: <url>' with the pairing code (needs emgfeedback[share])")
    g.add_argument("--share-lan", action="store_true",
                   help="listen on the local network, not only this computer (implies "
                        "--share; unencrypted unless --tls-cert/--tls-key are given)")
    g.add_argument("--share-names", action="store_true",
                   help="show the subject id on the shared screens (default: no names)")
    g.add_argument("--share-port", type=int, default=0, metavar="PORT",
                   help="TCP port for the shared view (default: a free one)")
    g.add_argument("--tls-cert", default=None, metavar="CERT.pem",
                   help="serve the shared view over HTTPS with this certificate")
    g.add_argument("--tls-key", default=None, metavar="KEY.pem",
                   help="the certificate's private key")


def share_options(args):
    """The :class:`~emgfeedback.share.options.ShareOptions` asked for, or None (no sharing).

    Raises
    ------
    ConfigError
        An option that needs --share without it, or half of the TLS pair.
    """
    from emgfeedback.errors import ConfigError, require

    share = getattr(args, "share", False) or getattr(args, "share_lan", False)
    if not share:
        extra = [flag for flag, on in (("--share-names", args.share_names),
                                       ("--share-port", args.share_port),
                                       ("--tls-cert", args.tls_cert),
                                       ("--tls-key", args.tls_key)) if on]
        if extra:
            raise ConfigError(f"{', '.join(extra)} only apply when sharing: add --share "
                              "(this computer) or --share-lan (the local network)")
        return None
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together: give both PEM files")
    for path in (args.tls_cert, args.tls_key):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"{path}: no such file (a PEM certificate or key is needed)")
    if not 0 <= args.share_port <= 65535:
        raise ConfigError(f"--share-port {args.share_port}: expected 0-65535 (0: a free port)")
    require("aiohttp", "share")
    require("qrcode", "share")
    from emgfeedback.share.options import ShareOptions

    return ShareOptions(lan=args.share_lan, port=args.share_port,
                        allow_names=args.share_names, tls_cert=args.tls_cert,
                        tls_key=args.tls_key)


def qt_ready() -> bool:
    """Probe Qt in a child process; print one line with the fix when it cannot start."""
    from emgfeedback.gui.qt_check import qt_problem

    problem = qt_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
    return problem is None


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
    p.add_argument("--subject", default="", type=bounds.SUBJECT_ID.arg,
                   help=f"subject id (loads the saved set-up; {bounds.SUBJECT_ID.describe()})")
    p.add_argument("--record", action="store_true", help="record from the start")
    p.add_argument("--fast", action="store_true",
                   help="replay a sim:// or file:// source as fast as possible; with a "
                        "protocol, close when it ends")
    p.add_argument("--mains", type=float, default=50.0, choices=(50.0, 60.0))
    add_window_arguments(p)
    add_share_arguments(p)
    p.set_defaults(func=run)


def report(result, as_json: bool) -> None:
    """Print what the run produced."""
    if as_json:
        out = {"protocol_results": result.protocol_results, "session_id": result.session_id,
               "frames": result.frames,
               "fps": None if math.isnan(result.fps) else result.fps,
               "latency_p95_ms": None if math.isnan(result.latency_p95_ms)
               else result.latency_p95_ms, "health": result.health, "sound": result.sound,
               "share": result.share or None}
        print(json.dumps(out, default=lambda o: None))
    elif result.session_id is not None:
        print(result.session_id)


def check_screenshot(args) -> None:
    """Refuse a bad ``--screenshot`` target before the window opens (see outputs.py)."""
    if getattr(args, "screenshot", None):
        from emgfeedback import outputs

        outputs.check_target(args.screenshot, force=getattr(args, "force", False),
                             protect=outputs.database_files(getattr(args, "db", None)),
                             option="--screenshot")


def run(args) -> int:
    """Open the window; returns when it is closed."""
    from emgfeedback.gui.app import run_live

    check_screenshot(args)

    share = share_options(args)  # H11: checked before any window opens
    if not qt_ready():
        return 3
    result = run_live(args.source, protocol=args.protocol, db_path=args.db,
                      subject=args.subject, seconds=args.seconds, screenshot=args.screenshot,
                      fast=args.fast, record=args.record, window_s=args.window, mode=args.mode,
                      client=args.client, mains_hz=args.mains, lsl=args.lsl,
                      sound=args.sound, sound_mapping=args.sound_mapping, share=share)
    report(result, args.json)
    if result.health.get("samples_in", 0) == 0:
        print("warning: no samples arrived from the source", file=sys.stderr)
    return result.exit_code
