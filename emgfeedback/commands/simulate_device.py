"""``emgfeedback simulate-device``: a virtual board on a pty, with fault injection."""

from __future__ import annotations

import sys
import time

from emgfeedback.errors import ConfigError


def register(subparsers) -> None:
    """Add the ``simulate-device`` command."""
    p = subparsers.add_parser(
        "simulate-device",
        help="stream simulated EMG on a pseudo-terminal in a board's wire format",
        description="Open a pty, print its path as the first line of stdout (and again each "
                    "time it re-appears after --replug-after), and stream the simulator's "
                    "samples at the real rate in the chosen framing. Open the path with "
                    "serial://PATH?framing=... Faults are injected above the pty.",
    )
    p.add_argument("--framing", choices=("emgf", "text", "p2", "byb"), default="emgf")
    p.add_argument("--channels", type=int, default=2, help="channels (default 2)")
    p.add_argument("--fs", type=float, default=None,
                   help="sample rate, Hz (default emgf/text: the board's nominal rate, e.g. "
                        "2000, 500 for uno-myoware2-env; p2 256, byb 10000/channels)")
    p.add_argument("--scenario", default=None,
                   help="simulator scenario (default drill; rest for one channel)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--board", default="uno-myoware2", help="board whose ADC is simulated")
    p.add_argument("--mains", type=float, default=50.0, help="mains hum frequency, Hz")
    p.add_argument("--text-style", choices=("plain", "csv", "plotter"), default="plain")
    p.add_argument("--k", type=int, default=8, help="emgf samples per data frame (default 8)")
    p.add_argument("--autostart", action="store_true",
                   help="emgf: stream after boot without waiting for 'b'")
    p.add_argument("--no-reset-on-open", action="store_true",
                   help="keep running when the host opens the port (no Uno-style reset; the "
                        "index keeps counting while unplugged)")
    p.add_argument("--boot", type=float, default=0.1, metavar="S",
                   help="boot time after a reset before the banner, s (default 0.1)")
    p.add_argument("--link", default=None, metavar="PATH",
                   help="keep a symlink to the current pty here (stable across replugs)")
    g = p.add_argument_group("faults")
    g.add_argument("--bit-flip-rate", type=float, default=0.0, metavar="P",
                   help="probability per data-frame byte of one flipped bit")
    g.add_argument("--byte-drop-rate", type=float, default=0.0, metavar="P",
                   help="probability per data-frame byte of being dropped")
    g.add_argument("--truncate-rate", type=float, default=0.0, metavar="P",
                   help="probability per data frame of being cut short")
    g.add_argument("--garbage-burst", type=float, default=0.0, metavar="PER_S",
                   help="bursts of random bytes per second, between frames")
    g.add_argument("--garbage-size", type=int, default=32, metavar="BYTES",
                   help="bytes per garbage burst (default 32)")
    g.add_argument("--pause", action="append", default=[], metavar="S@T",
                   help="send nothing for S seconds starting T seconds after start "
                        "(repeatable); samples taken meanwhile are dropped")
    g.add_argument("--noise", action="append", default=[], metavar="S@T",
                   help="send random bytes instead of frames for S seconds starting T "
                        "seconds after start (repeatable); samples taken meanwhile are "
                        "dropped")
    g.add_argument("--noise-rate", type=float, default=200_000.0, metavar="BYTES_PER_S",
                   help="byte rate of the --noise (default 200000)")
    g.add_argument("--unplug-after", type=float, default=None, metavar="S",
                   help="close the pty S seconds after start (the host sees an unplug)")
    g.add_argument("--replug-after", type=float, default=None, metavar="S",
                   help="come back S seconds after the unplug")
    g.add_argument("--new-path", action="store_true",
                   help="come back at a different pty path (printed on stdout)")
    g.add_argument("--fault-seed", type=int, default=12345)
    g.add_argument("--signal-fault", default=None, metavar="KIND[,KIND]",
                   help="signal faults on the last channel (emgfeedback check names them): "
                        "off, rail, flat, drift, hum, ecg (see docs/signal-check.md)")
    g.add_argument("--hum", type=float, default=None, metavar="UV",
                   help="mains hum at the electrodes, µV (default 8; 1 for a clean set-up)")
    p.add_argument("--seconds", type=float, default=None,
                   help="exit after this many seconds (default: run until Ctrl-C)")
    p.set_defaults(func=run)


def _sim_options(args) -> dict:
    """Simulator options of the signal-fault group (H9, #20)."""
    from emgfeedback.acquisition.simulator import parse_faults

    options = {}
    if args.signal_fault:
        options["faults"] = parse_faults(args.signal_fault)
    if args.hum is not None:
        if not 0 <= args.hum <= 1e6:
            raise ConfigError(f"--hum {args.hum:g}: expected 0 to 1e6 µV")
        options["hum_uv"] = args.hum
    return options


def run(args) -> int:
    """Run the virtual device until ``--seconds`` pass or Ctrl-C."""
    from emgfeedback.acquisition.virtual_device import Faults, VirtualDevice, parse_pause

    for name in ("bit_flip_rate", "byte_drop_rate", "truncate_rate"):
        value = getattr(args, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"--{name.replace('_', '-')} {value}: expected a probability 0..1")
    if args.garbage_burst < 0 or args.garbage_size < 1:
        raise ConfigError("--garbage-burst must be >= 0 and --garbage-size >= 1")
    if not 0 < args.noise_rate <= 10_000_000:
        raise ConfigError(f"--noise-rate {args.noise_rate:g}: expected 0 < bytes/s <= 1e7")
    if args.replug_after is not None and args.unplug_after is None:
        raise ConfigError("--replug-after needs --unplug-after")
    faults = Faults(
        bit_flip_rate=args.bit_flip_rate, byte_drop_rate=args.byte_drop_rate,
        truncate_rate=args.truncate_rate, garbage_rate_hz=args.garbage_burst,
        garbage_size=args.garbage_size, pauses=tuple(parse_pause(p) for p in args.pause),
        noise=tuple(parse_pause(p, "--noise") for p in args.noise),
        noise_bytes_per_s=args.noise_rate,
        unplug_after_s=args.unplug_after, replug_after_s=args.replug_after,
        new_path=args.new_path, seed=args.fault_seed,
    )

    def announce(path: str) -> None:
        print(path, flush=True)

    device = VirtualDevice(
        framing=args.framing, channels=args.channels, fs_hz=args.fs, scenario=args.scenario,
        seed=args.seed, board=args.board, mains_hz=args.mains, text_style=args.text_style,
        samples_per_frame=args.k, faults=faults, link=args.link,
        reset_on_open=not args.no_reset_on_open, boot_s=args.boot, autostart=args.autostart,
        on_path=announce, sim_options=_sim_options(args),
    )
    device.start()
    print(f"simulate-device: {args.framing}, {device.channels} ch at {device.fs_hz:g} Hz on "
          f"{device.path}", file=sys.stderr, flush=True)
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        device.stop()
        lost = {}
        for rec in device.fault_log:
            lost[rec.kind] = lost.get(rec.kind, 0) + rec.n_samples
        print(f"simulate-device: sent {device.log.samples_sent} samples in "
              f"{device.log.frames_sent} frames; samples destroyed or dropped: {lost or 0}",
              file=sys.stderr, flush=True)
    return 0
