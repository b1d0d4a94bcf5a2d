"""``emgfeedback history``: a metric's trend across a subject's sessions."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from emgfeedback.commands.sessions import add_db_argument
from emgfeedback.errors import ConfigError
from emgfeedback.storage import SessionStore, default_db_path


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


def run(args: argparse.Namespace) -> int:
    """Print the history table (or JSON)."""
    path = args.db or default_db_path()
    from emgfeedback.reports.history import history_lines, history_rows, trend
    from emgfeedback.reports.signal_checks import channel_grades, poor_signal_summary

    signal: dict[int, str] = {}  # H9 (#20): stored signal-check grade per session
    if not Path(path).exists():
        raise ConfigError(f"session store {path} does not exist (give --db PATH or set "
                          "EMGFEEDBACK_DB)")
    with SessionStore(path, create=False) as store:
        points = store.history(args.subject, args.channel, args.metric)
        signal = channel_grades(store, [p.session_id for p in points], args.channel)
        if not points:
            _check_subject_and_channel(store, path, args.subject, args.channel)
    if args.metric != "resting_tone_uv":
        # A stored result's validity and floor are those of its resting tone: another
        # metric of it (e.g. baseline_mean_uv, the mean envelope) is not "below the floor".
        points = [dataclasses.replace(p, valid=None) for p in points]
    summary = trend(points)
    summary.update(poor_signal_summary(signal, points))  # H9 (#20)
    if args.json:
        rows = history_rows(points, signal)
        print(json.dumps({"subject": args.subject, "channel": args.channel,
                          "metric": args.metric, "points": rows, "trend": summary},
                         indent=2))
        return 0
    if not points:
        print(f"no {args.metric} results for subject {args.subject!r}, channel "
              f"{args.channel!r} in {path}")
        return 0
    print("\n".join(history_lines(points, summary, signal, subject=args.subject,
                                   channel=args.channel, metric=args.metric)))
    return 0


def _check_subject_and_channel(store, path, subject: str, channel: str) -> None:
    """A subject or channel that is not in the store is a typo to fix, not an empty trend."""
    subjects = store.subjects()
    if subject not in subjects:
        raise ConfigError(f"no subject {subject!r} in {path}; subjects: "
                          f"{', '.join(subjects) or 'none yet'}")
    channels = sorted({n for m in store.sessions(subject) for n in m.channel_names})
    if channel not in channels:
        raise ConfigError(f"subject {subject!r} has no channel {channel!r}; channels: "
                          f"{', '.join(channels) or 'none'}")
