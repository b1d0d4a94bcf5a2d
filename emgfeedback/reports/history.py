"""The ``history`` report: a metric's trend across a subject's sessions.

Turns the stored values (:meth:`emgfeedback.storage.SessionStore.history`) into a change
since the first session and a least-squares slope per week, and the table
``emgfeedback history`` prints. A value below the measurement floor is not a measurement:
it is shown as such and no change is computed from it.
"""

from __future__ import annotations

from emgfeedback.storage.db import parse_utc


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


def history_lines(points, summary: dict, signal: dict, *, subject: str, channel: str,
                  metric: str) -> list[str]:
    """The ``history`` table as text lines: one per session, then the change or a warning.

    Parameters
    ----------
    points : sequence of HistoryPoint
        The subject's stored values of ``metric`` for ``channel``, oldest first.
    summary : dict
        :func:`trend` of the points, with
        :func:`~emgfeedback.reports.signal_checks.poor_signal_summary` merged in.
    signal : dict
        Stored signal-check grade per session id.
    subject, channel, metric : str
        What the table shows.

    Returns
    -------
    list of str
    """
    lines: list[str] = []
    unit = "µV" if metric.endswith("_uv") else ""
    lines.append(f"{metric} of {channel} for subject {subject}:")
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
        lines.append(f"{p.session_id:>5}  {p.started_utc[:10]}  {shown}  " + "; ".join(flags))
    if "last_below_floor_uv" in summary:
        line = (f"latest session: below the floor (< {summary['last_below_floor_uv']:.2f} µV): "
                "too low to measure, so no change is given")
        if "last" in summary:
            line += f"; last measured {summary['last']:.2f} {unit}"
        lines.append(line)
    elif "change" in summary:
        line = f"change since first valid session: {summary['change']:+.2f} {unit}"
        if "change_pct" in summary:
            line += f" ({summary['change_pct']:+.0f} %)"
        if "slope_per_week" in summary:
            line += f"; trend {summary['slope_per_week']:+.2f} {unit}/week"
        lines.append(line)
    if summary["built_on_poor_signal"]:  # H9 (#20)
        ids = ", ".join(str(i) for i in summary["poor_signal_sessions"])
        lines.append(f"warning: this trend is built on poor signals: the signal check graded "
                     f"{channel} not usable in session(s) {ids}; treat the change with caution")
    return lines


def history_rows(points, signal: dict) -> list[dict]:
    """The points as JSON-ready rows, with ``below_floor_uv`` and ``signal_grade``."""
    import dataclasses

    rows = []
    for p in points:
        row = dataclasses.asdict(p)
        row["below_floor_uv"] = below_floor_uv(p)
        row["signal_grade"] = signal.get(p.session_id)  # H9 (#20)
        rows.append(row)
    return rows
