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


def trend(points) -> dict:
    """First, last, change and least-squares slope per week of the valid points."""
    usable = [p for p in points if p.valid is not False]
    out = {"n_sessions": len(points), "n_valid": len(usable)}
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
    if not Path(path).exists():
        points = []
    else:
        with SessionStore(path, create=False) as store:
            points = store.history(args.subject, args.channel, args.metric)
    summary = trend(points)
    if args.json:
        print(json.dumps({"subject": args.subject, "channel": args.channel,
                          "metric": args.metric,
                          "points": [dataclasses.asdict(p) for p in points],
                          "trend": summary}, indent=2))
        return 0
    if not points:
        print(f"no {args.metric} results for subject {args.subject!r}, channel "
              f"{args.channel!r} in {path}")
        return 0
    unit = "µV" if args.metric.endswith("_uv") else ""
    print(f"{args.metric} of {args.channel} for subject {args.subject}:")
    for p in points:
        flags = []
        if p.valid is False:
            flags.append("NOT VALID (below the floor or disturbed)")
        if p.floor_uv is not None:
            flags.append(f"floor {p.floor_uv:.2f} µV")
        if p.status == "interrupted":
            flags.append("session interrupted")
        print(f"{p.session_id:>5}  {p.started_utc[:10]}  {p.value:10.2f} {unit}  "
              + "; ".join(flags))
    if "change" in summary:
        line = f"change since first valid session: {summary['change']:+.2f} {unit}"
        if "change_pct" in summary:
            line += f" ({summary['change_pct']:+.0f} %)"
        if "slope_per_week" in summary:
            line += f"; trend {summary['slope_per_week']:+.2f} {unit}/week"
        print(line)
    return 0
