"""``emgfeedback capture``: the board check. Stream for a while, show rate, losses and
ranges live, optionally write every sample to CSV and print a JSON summary.

CSV layout (``--out``): ``#`` lines giving the source, board, sample rate (``# fs_hz:``),
units and each channel's name and calibration, then a header ``index,<name>_uV,...`` and
one row per sample with its absolute sample index and each channel in µV at the electrode
(``(counts - offset_counts) * uv_per_count``, so the raw counts can be recovered exactly).
Missing samples are written as one comment line per gap, just before the first sample after
it::

    # gap start=1240 n=8 cause=crc

so ``pandas.read_csv(path, comment="#")`` reads the samples, ``emgfeedback analyze FILE``
reads rate, names, units and gaps with no options, and the gaps are still in the file for
whoever looks.
"""

from __future__ import annotations

import json
import re
import sys
import time

import numpy as np

from emgfeedback import bounds, outputs
from emgfeedback.errors import ConfigError


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


def capture_header(info, source_url: str) -> str:
    """The ``#`` lines and column header of a ``capture --out`` CSV (see the module doc).

    Parameters
    ----------
    info : SourceInfo
        The opened source (rate, board, channel names, calibration).
    source_url : str
        The source as the user gave it.
    """
    def one_line(text) -> str:
        return " ".join(str(text).split())

    lines = [
        f"# emgfeedback capture of {one_line(source_url)}",
        f"# fs_hz: {float(info.fs_hz):g}",
        f"# board: {one_line(info.board)}  framing: {one_line(info.framing or '')}",
        "# values: µV at the electrode = (counts - offset_counts) * uv_per_count",
    ]
    for i, (name, cal) in enumerate(zip(info.channel_names, info.calibration, strict=True)):
        lines.append(f"# channel {i}: {one_line(name)}; units: uV; uv_per_count: "
                     f"{cal.uv_per_count!r}; offset_counts: {cal.offset_counts!r}; "
                     f"output: {cal.output}")
    cols = [re.sub(r"[^A-Za-z0-9]+", "_", n).strip("_") or f"ch{i}"
            for i, n in enumerate(info.channel_names)]
    lines.append("index," + ",".join(f"{c}_uV" for c in cols))
    return "\n".join(lines) + "\n"


def capture_rows(first_index: int, counts, calibration) -> str:
    """CSV rows ``index,µV,...`` for a block of counts (shortest exact float text)."""
    from emgfeedback.acquisition.boards import counts_to_uv

    uv = counts_to_uv(np.asarray(counts), calibration)
    if uv.shape[0] == 0:
        return ""
    return "\n".join(f"{i}," + ",".join(repr(v) for v in row)
                     for i, row in enumerate(uv.tolist(), start=int(first_index))) + "\n"


def capture_gap_line(gap) -> str:
    """The ``# gap start=.. n=.. cause=..`` line of one gap."""
    return f"# gap start={gap.start_index} n={gap.n_samples} cause={gap.cause}\n"


def _channel_ranges(names, lo, hi) -> str:
    return "  ".join(f"{n} {int(a)}..{int(b)}" for n, a, b in zip(names, lo, hi, strict=True)
                     if a <= b)


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
        names = list(info.channel_names)
        if args.out:
            out = outputs.start_output(args.out, force=args.force, text=True)
            out.write(capture_header(info, args.source))
        n_ch = info.n_channels
        total_lo = np.full(n_ch, np.iinfo(np.int64).max)
        total_hi = np.full(n_ch, np.iinfo(np.int64).min)
        win_lo, win_hi = total_lo.copy(), total_hi.copy()
        samples = lost = 0
        first_arrival = last_arrival = None
        first_index = end_index = None
        live = not args.quiet
        tty = sys.stderr.isatty()
        t0 = time.monotonic()
        next_print = t0 + (0.25 if tty else 1.0)
        source.start()
        while True:
            now = time.monotonic()
            if now - t0 >= args.seconds or source.finished:
                break
            for chunk in source.read(min(0.1, max(0.0, args.seconds - (now - t0)))):
                data = chunk.samples
                for gap in chunk.gaps:
                    lost += gap.n_samples
                    if out is not None:
                        out.write(capture_gap_line(gap))
                if out is not None:
                    out.write(capture_rows(chunk.first_index, data, info.calibration))
                samples += chunk.n_samples
                if chunk.n_samples:
                    win_lo = np.minimum(win_lo, data.min(axis=0))
                    win_hi = np.maximum(win_hi, data.max(axis=0))
                if first_arrival is None:
                    first_arrival, first_index = chunk.arrival_s, chunk.end_index
                last_arrival, end_index = chunk.arrival_s, chunk.end_index
            now = time.monotonic()
            if live and now >= next_print:
                next_print = now + (0.25 if tty else 1.0)
                stats = source.stats()
                rate = stats.get("fs_hz_measured")
                if rate is None and last_arrival is not None and last_arrival > first_arrival:
                    rate = (end_index - first_index) / (last_arrival - first_arrival)
                line = (f"{now - t0:5.1f} s  {rate or 0:8.1f} Hz  {samples} samples  "
                        f"lost {stats.get('lost_samples', lost)}  "
                        f"crc {stats.get('crc_errors', 0)}  "
                        f"skipped {stats.get('bytes_skipped', 0)}  "
                        f"reconnects {stats.get('reconnects', 0)}  [{source.state}]  "
                        + _channel_ranges(names, win_lo, win_hi))
                if tty:
                    sys.stderr.write("\r" + line + "\x1b[K")
                else:
                    sys.stderr.write(line + "\n")
                sys.stderr.flush()
                total_lo, total_hi = np.minimum(total_lo, win_lo), np.maximum(total_hi, win_hi)
                win_lo = np.full(n_ch, np.iinfo(np.int64).max)
                win_hi = np.full(n_ch, np.iinfo(np.int64).min)
        elapsed = time.monotonic() - t0
        total_lo, total_hi = np.minimum(total_lo, win_lo), np.maximum(total_hi, win_hi)
        stats = source.stats()
        source.stop()
        if out is not None:
            out.commit()
    finally:
        if out is not None:
            out.discard()  # no-op once committed
        source.close()
    if live and sys.stderr.isatty():
        sys.stderr.write("\n")
    fs_measured = stats.get("fs_hz_measured")
    if fs_measured is None and last_arrival is not None and last_arrival > first_arrival:
        fs_measured = (end_index - first_index) / (last_arrival - first_arrival)
    summary = {
        "source": args.source,
        "framing": stats.get("framing") or info.framing,
        "seconds": round(elapsed, 3),
        "samples": int(stats.get("samples", samples)),
        "lost_samples": int(stats.get("lost_samples", lost)),
        "lost_by_cause": stats.get("lost_by_cause", {}),
        "gaps_by_cause": stats.get("gaps_by_cause", {}),
        "crc_errors": int(stats.get("crc_errors", 0)),
        "format_errors": int(stats.get("format_errors", 0)),
        "bytes_skipped": int(stats.get("bytes_skipped", 0)),
        "reconnects": int(stats.get("reconnects", 0)),
        "no_data_events": int(stats.get("no_data_events", 0)),
        "unplugs": int(stats.get("unplugs", 0)),
        "no_data_s": float(stats.get("no_data_s", 0.0)),  # time without data (silent, unplugged)
        "state": stats.get("state", source.state),  # the source's state at the end
        "fs_hz_nominal": info.fs_hz,
        "fs_hz_measured": None if fs_measured is None else round(float(fs_measured), 2),
        "board": info.board,
        "channels": [
            {"name": name, "min": int(lo) if lo <= hi else None,
             "max": int(hi) if lo <= hi else None,
             "uv_per_count": cal.uv_per_count, "floor_uv": round(cal.floor_uv, 3)}
            for name, lo, hi, cal in zip(names, total_lo, total_hi, info.calibration,
                                         strict=True)
        ],
        "out": args.out,
    }
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
