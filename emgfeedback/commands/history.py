"""``emgfeedback history``: a metric's trend across a subject's sessions."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from emgfeedback.commands.sessions import add_db_argument
from emgfeedback.storage import SessionStore, default_db_path
from emgfeedback.storage.db import parse_utc


def register(subparsers) -> None:
    """Add the ``history`` sub-command."""
    p = subparsers.add_parser(
        "history", help="trend of the resting tone (or another metric) across sessions",
        description="Show one channel's metric (default: the resting tone in µV from the "
                    "baseline measurements) session by session, with the change since the "
                    "first session and a linear trend per week.")
    p.add_argument("--subject", required=True)
    p.add_argument("--channel", required=True, metavar="NAME")
    p.add_argument("--metric", default="resting_tone_uv",
                   help="key of the stored result (default resting_tone_uv)")
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=run)


def below_floor_uv(point) -> float | None:
    """:func:`emgfeedback.analysis.quantities.below_floor_uv` of a history point."""
    from emgfeedback.analysis.quantities import below_floor_uv as limit

    return limit(point.value, point.valid, point.floor_uv)


def trend(points) -> dict:
    """First, last, change and least-squares slope per week of the valid points.

    When the latest session's value fell below the floor, ``last_below_floor_uv`` says
    so (the value there is not a measurement, so no change is computed from it).
    """
    usable = [p for p in points if p.valid is not False]
    out = {"n_sessions": len(points), "n_valid": len(usable)}
    if points and below_floor_uv(points[-1]) is not None:
        out["last_below_floor_uv"] = below_floor_uv(points[-1])
        out["last_session"] = points[-1].session_id
    if not usable:
        return out
    first, last = usable[0], usable[-1]
    out.update(first=first.value, last=last.value, change=last.value - first.value)
    if first.value:
        out["change_pct"] = 100.0 * (last.value - first.value) / first.value
    t0 = parse_utc(first.started_utc)
    days = [(parse_utc(p.started_utc) - t0).total_seconds() / 86400.0 for p in usable]
    if len(usable) >= 2 and max(days) > min(days):
        mean_d = sum(days) / len(days)
        mean_v = sum(p.value for p in usable) / len(usable)
        num = sum((d - mean_d) * (p.value - mean_v) for d, p in zip(days, usable, strict=True))
        den = sum((d - mean_d) ** 2 for d in days)
        out["slope_per_week"] = 7.0 * num / den
    return out


def run(args: argparse.Namespace) -> int:
    """Print the history table (or JSON)."""
    path = args.db or default_db_path()
    from emgfeedback.runtime.signal_check_run import channel_grades, poor_signal_summary

    signal: dict[int, str] = {}  # H9 (#20): stored signal-check grade per session
    if not Path(path).exists():
        points = []
    else:
        with SessionStore(path, create=False) as store:
            points = store.history(args.subject, args.channel, args.metric)
            signal = channel_grades(store, [p.session_id for p in points], args.channel)
    if args.metric != "resting_tone_uv":
        # A stored result's validity and floor are those of its resting tone: another
        # metric of it (e.g. baseline_mean_uv, the mean envelope) is not "below the floor".
        points = [dataclasses.replace(p, valid=None) for p in points]
    summary = trend(points)
    summary.update(poor_signal_summary(signal, points))  # H9 (#20)
    if args.json:
        rows = []
        for p in points:
            row = dataclasses.asdict(p)
            row["below_floor_uv"] = below_floor_uv(p)
            row["signal_grade"] = signal.get(p.session_id)  # H9 (#20)
            rows.append(row)
        print(json.dumps({"subject": args.subject, "channel": args.channel,
                          "metric": args.metric, "points": rows, "trend": summary},
                         indent=2))
        return 0
    if not points:
        print(f"no {args.metric} results for subject {args.subject!r}, channel "
              f"{args.channel!r} in {path}")
        return 0
    unit = "µV" if args.metric.endswith("_uv") else ""
    print(f"{args.metric} of {args.channel} for subject {args.subject}:")
    for p in points:
        flags = []
        limit = below_floor_uv(p)
        if limit is not None:
            shown = f"{'below the floor':>10} (< {limit:.2f} µV)"
        else:
            shown = f"{p.value:10.2f} {unit}"
            if p.valid is False:
                flags.append("NOT VALID (no rest found or disturbed)")
        if p.floor_uv is not None:
            flags.append(f"floor {p.floor_uv:.2f} µV")
        if p.status == "interrupted":
            flags.append("session interrupted")
        if p.session_id in signal:  # H9 (#20)
            grade = signal[p.session_id]
            flags.append(f"signal {grade}" if grade != "not usable" else
                         "POOR SIGNAL (check: not usable)")
        print(f"{p.session_id:>5}  {p.started_utc[:10]}  {shown}  " + "; ".join(flags))
    if "last_below_floor_uv" in summary:
        line = (f"latest session: below the floor (< {summary['last_below_floor_uv']:.2f} µV): "
                "too low to measure, so no change is given")
        if "last" in summary:
            line += f"; last measured {summary['last']:.2f} {unit}"
        print(line)
    elif "change" in summary:
        line = f"change since first valid session: {summary['change']:+.2f} {unit}"
        if "change_pct" in summary:
            line += f" ({summary['change_pct']:+.0f} %)"
        if "slope_per_week" in summary:
            line += f"; trend {summary['slope_per_week']:+.2f} {unit}/week"
        print(line)
    if summary["built_on_poor_signal"]:  # H9 (#20)
        ids = ", ".join(str(i) for i in summary["poor_signal_sessions"])
        print(f"warning: this trend is built on poor signals: the signal check graded "
              f"{args.channel} not usable in session(s) {ids}; treat the change with caution")
    return 0
