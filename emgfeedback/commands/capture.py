"""``emgfeedback capture``: the board check. Stream for a while, show rate, losses and
ranges live, optionally write every sample to CSV and print a JSON summary.

The work (reading, tallying, the CSV text, the summary) is in
:mod:`emgfeedback.acquisition.capture`; this command parses, calls and prints. The CSV
layout (``--out``) is described there: ``#`` header lines, ``index,<name>_uV,...`` rows,
``# gap start=.. n=.. cause=..`` lines, so ``pandas.read_csv(path, comment="#")`` reads the
samples and ``emgfeedback analyze FILE`` reads rate, names, units and gaps.
"""

from __future__ import annotations

import json
import sys

from emgfeedback import bounds, outputs
from emgfeedback.acquisition.capture import (  # the CSV text, importable from here too
    CaptureTally,
    capture_gap_line,
    capture_header,
    capture_rows,
    capture_stream,
    capture_summary,
    live_line,
)
from emgfeedback.errors import ConfigError

__all__ = ["capture_gap_line", "capture_header", "capture_rows", "register", "run"]


def register(subparsers) -> None:
    """Add the ``capture`` command."""
    p = subparsers.add_parser(
        "capture",
        help="check a board: stream, show rate/losses/ranges, write CSV, JSON summary",
        description="Stream from a source for a while. Live, one line on stderr shows the "
                    "measured rate, losses, decoder errors and per-channel ranges (raw "
                    "counts). --out writes every sample (index, µV per channel, with a header "
                    "giving rate, board, names and calibration; gaps as "
                    "'# gap start=.. n=.. cause=..' lines). --json prints a summary.",
    )
    p.add_argument("--source", required=True, metavar="URL",
                   help="e.g. serial:///dev/ttyACM0?framing=emgf or sim://?channels=2")
    p.add_argument("--seconds", type=bounds.DURATION_S.arg, default=10.0,
                   help=f"how long, s (default 10; {bounds.DURATION_S.describe()})")
    p.add_argument("--out", default=None, metavar="FILE.csv",
                   help="write every sample here (0600, atomically when the capture ends; an "
                        "existing file only with --force)")
    p.add_argument("--force", action="store_true", help="replace the --out file if it exists")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no live line on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    """Capture from ``args.source``; returns 0 if samples arrived, 1 if none did."""
    from emgfeedback.acquisition.source import open_source

    if not args.seconds > 0:
        raise ConfigError(f"--seconds {args.seconds}: expected a positive duration")
    if args.out:  # refuse a bad --out before any work starts
        outputs.check_target(args.out, force=args.force)
    source = open_source(args.source)
    out = None
    try:
        source.open()
        info = source.info
        if args.out:
            out = outputs.start_output(args.out, force=args.force, text=True)
            out.write(capture_header(info, args.source))
        tally = CaptureTally(info.n_channels)
        tty = sys.stderr.isatty()

        def on_chunk(chunk) -> None:
            if out is not None:
                out.write("".join(capture_gap_line(gap) for gap in chunk.gaps))
                out.write(capture_rows(chunk.first_index, chunk.samples, info.calibration))
            tally.add(chunk)

        def on_tick(elapsed_s: float) -> None:
            line = live_line(elapsed_s, tally, source.stats(), info.channel_names)
            sys.stderr.write("\r" + line + "\x1b[K" if tty else line + "\n")
            sys.stderr.flush()
            tally.close_window()

        source.start()
        elapsed = capture_stream(source, args.seconds, on_chunk,
                                 None if args.quiet else on_tick, 0.25 if tty else 1.0)
        tally.close_window()
        stats = source.stats()
        source.stop()
        if out is not None:
            out.commit()
    finally:
        if out is not None:
            out.discard()  # no-op once committed
        source.close()
    if not args.quiet and sys.stderr.isatty():
        sys.stderr.write("\n")
    summary = capture_summary(args.source, info, stats, tally, elapsed, args.out)
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        print(f"{summary['samples']} samples in {elapsed:.1f} s "
              f"({summary['fs_hz_measured']} Hz measured, {info.fs_hz:g} Hz nominal), "
              f"lost {summary['lost_samples']}, crc errors {summary['crc_errors']}, "
              f"bytes skipped {summary['bytes_skipped']}, reconnects {summary['reconnects']}, "
              f"unplugs {summary['unplugs']}, no data for {summary['no_data_s']:.1f} s, "
              f"state {summary['state']}")
    if summary["samples"] == 0:
        print(f"emgfeedback capture: no samples arrived from {args.source} in "
              f"{elapsed:.1f} s", file=sys.stderr)
        return 1
    return 0
