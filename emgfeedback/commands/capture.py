"""``emgfeedback capture``: the board check. Stream for a while, show rate, losses and
ranges live, optionally write every sample to CSV and print a JSON summary.

CSV layout (``--out``): a header ``index,<channel names>``, then one row per sample with
its absolute sample index and the raw counts of each channel. Missing samples are written
as one comment line per gap, just before the first sample after it::

    # gap start=1240 n=8 cause=crc

so ``pandas.read_csv(path, comment="#")`` or ``numpy.loadtxt(path, delimiter=",",
skiprows=1)`` read the samples, and the gaps are still in the file for whoever looks.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from emgfeedback.errors import ConfigError


def register(subparsers) -> None:
    """Add the ``capture`` command."""
    p = subparsers.add_parser(
        "capture",
        help="check a board: stream, show rate/losses/ranges, write CSV, JSON summary",
        description="Stream from a source for a while. Live, one line on stderr shows the "
                    "measured rate, losses, decoder errors and per-channel ranges (raw "
                    "counts). --out writes every sample (index, raw counts; gaps as "
                    "'# gap start=.. n=.. cause=..' lines). --json prints a summary.",
    )
    p.add_argument("--source", required=True, metavar="URL",
                   help="e.g. serial:///dev/ttyACM0?framing=emgf or sim://?channels=2")
    p.add_argument("--seconds", type=float, default=10.0, help="how long, s (default 10)")
    p.add_argument("--out", default=None, metavar="FILE.csv", help="write every sample here")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no live line on stderr")
    p.set_defaults(func=run)


def _channel_ranges(names, lo, hi) -> str:
    return "  ".join(f"{n} {int(a)}..{int(b)}" for n, a, b in zip(names, lo, hi, strict=True)
                     if a <= b)


def run(args) -> int:
    """Capture from ``args.source``; returns 0 if samples arrived, 1 if none did."""
    from emgfeedback.acquisition.source import open_source

    if not args.seconds > 0:
        raise ConfigError(f"--seconds {args.seconds}: expected a positive duration")
    source = open_source(args.source)
    out = None
    try:
        source.open()
        info = source.info
        names = list(info.channel_names)
        if args.out:
            try:
                out = open(args.out, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            except OSError as exc:
                raise ConfigError(f"--out {args.out}: cannot write: {exc}") from None
            out.write("index," + ",".join(names) + "\n")
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
                        out.write(f"# gap start={gap.start_index} n={gap.n_samples} "
                                  f"cause={gap.cause}\n")
                if out is not None:
                    idx = np.arange(chunk.first_index, chunk.end_index, dtype=np.int64)
                    np.savetxt(out, np.column_stack([idx, data.astype(np.int64)]), fmt="%d",
                               delimiter=",")
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
    finally:
        if out is not None:
            out.close()
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
              f"bytes skipped {summary['bytes_skipped']}, reconnects {summary['reconnects']}")
    if summary["samples"] == 0:
        print(f"emgfeedback capture: no samples arrived from {args.source} in "
              f"{elapsed:.1f} s", file=sys.stderr)
        return 1
    return 0
