"""Signal checks as people read them: verdicts, electrode placements, stored grades.

:func:`verdict_lines` and :func:`placement_lines` are what ``emgfeedback check`` prints.
``check``, ``run`` and the window store a check's grade as one ``signal_check`` result per
channel (:func:`emgfeedback.runtime.signal_check_run.store_check`); the other functions
read them back for the session listing, ``history`` and the report's "Signal check before
the session" part.
"""

from __future__ import annotations

from html import escape

from emgfeedback.analysis.signal_check import GRADES, RESULT_KIND, worst_grade

_MARK = {"fail": "✗", "warn": "!", "info": "·"}


def session_grades(store, session_ids) -> dict[int, dict]:
    """Stored check grades: ``{session_id: {"grade": worst, "channels": {name: grade}}}``.

    Sessions without a stored check are left out.
    """
    out: dict[int, dict] = {}
    for sid in session_ids:
        try:
            results = store.results(sid, RESULT_KIND)
        except Exception:  # a damaged session: its listing says so already
            continue
        channels = {r.channel: r.data.get("grade") for r in results
                    if r.data.get("grade") in GRADES}
        if channels:
            out[sid] = {"grade": worst_grade(channels.values()), "channels": channels,
                        "accepted": any(r.data.get("accepted_poor_signal") for r in results)}
    return out


def grade_text(entry: dict | None) -> str:
    """``signal=good`` etc. for listings ("" when no check was stored)."""
    if not entry:
        return ""
    text = f"signal={entry['grade'].replace(' ', '-')}"
    return text + (" (accepted)" if entry.get("accepted") and entry["grade"] != "good" else "")


def stored_check(store, session_id: int) -> dict | None:
    """A session's stored check as ``{"grade", "accepted", "min_signal_grade", "channels"}``
    (per channel ``channel``, ``grade``, ``reasons``), or None when none was stored."""
    results = store.results(session_id, RESULT_KIND)
    if not results:
        return None
    channels = [{"channel": r.channel, "grade": r.data.get("grade"),
                 "reasons": r.data.get("reasons", []), "contraction": r.data.get("contraction")}
                for r in results]
    return {"grade": worst_grade(c["grade"] for c in channels if c["grade"] in GRADES),
            "accepted": any(r.data.get("accepted_poor_signal") for r in results),
            "min_signal_grade": results[0].data.get("min_signal_grade"),
            "channels": channels}


def channel_grades(store, session_ids, channel: str) -> dict[int, str]:
    """Per session, the stored check grade of one channel (sessions without one left out)."""
    out = {}
    for sid, entry in session_grades(store, session_ids).items():
        grade = entry["channels"].get(channel)
        if grade is not None:
            out[sid] = grade
    return out


def poor_signal_summary(grades: dict[int, str], points) -> dict:
    """Which of a trend's sessions were measured on a poor signal.

    Returns
    -------
    dict
        ``poor_signal_sessions`` (ids graded ``not usable``), ``usable_signal_sessions``,
        ``unchecked_sessions`` and ``built_on_poor_signal`` (True when any valid point of
        the trend had a ``not usable`` signal).
    """
    ids = [p.session_id for p in points]
    poor = [i for i in ids if grades.get(i) == "not usable"]
    valid_poor = [p.session_id for p in points
                  if p.valid is not False and grades.get(p.session_id) == "not usable"]
    return {"poor_signal_sessions": poor,
            "usable_signal_sessions": [i for i in ids if grades.get(i) == "usable"],
            "unchecked_sessions": [i for i in ids if i not in grades],
            "built_on_poor_signal": bool(valid_poor)}


def signal_check_html(store, session_id: int) -> str:
    """The report's "Signal check before the session" part ("" when none was stored)."""
    check = stored_check(store, session_id)
    if check is None:
        return ""
    rows = []
    for ch in check["channels"]:
        problems = [r for r in ch["reasons"] if r.get("severity") != "info"]
        text = "; ".join(f"{r['verdict']} → {r['action']}" for r in problems) or "fine"
        css = {"good": "ok"}.get(ch["grade"], "warn")
        rows.append(f"<tr><td>{escape(str(ch['channel']))}</td><td><span class=\"{css}\">"
                    f"{escape(str(ch['grade']))}</span></td><td>{escape(text)}</td></tr>")
    note = ""
    if check["accepted"]:
        note = (f"<p class=\"warn\">Started on a {escape(check['grade'])} signal below the "
                f"protocol's minimum ({escape(str(check['min_signal_grade']))}): accepted by "
                "the user.</p>")
    return ("<h3>Signal check before the session</h3>" + note +
            "<table><tr><th>channel</th><th>grade</th><th>problems and what to do</th></tr>"
            + "".join(rows) + "</table><p class=\"note\">Graded by emgfeedback check "
            "(docs/signal-check.md): good, usable, not usable.</p>")


def verdict_lines(check: dict) -> list[str]:
    """The check's verdicts as text: per channel its grade, then each reason and action."""
    lines = []
    for ch in check["channels"]:
        lines.append(f"{ch['channel']}: {ch['grade'].upper()}")
        problems = [r for r in ch["reasons"] if r["severity"] != "info"]
        if not problems:
            lines.append("  ✓ contact, noise at rest" + (" and contraction" if
                                                          check["contraction"] else "")
                         + ": fine")
        snr = ch["measures"].get("snr_db")
        if snr is not None:
            lines.append(f"  · test contraction: SNR {snr:.1f} dB over rest")
        for r in ch["reasons"]:
            lines.append(f"  {_MARK[r['severity']]} {r['verdict']}")
            if r["severity"] != "info" or r["action"] != "nothing":
                lines.append(f"      → {r['action']}")
    lines.append(f"overall: {check['grade'].upper()}")
    return lines


def placement_lines(name: str, placement_text: str) -> list[str]:
    """Where the electrodes go for one channel, as text lines (diagram when known)."""
    from emgfeedback.analysis.placements import placement_for, text_diagram

    place = placement_for(name, placement_text)
    lines = [f"{name}" + (f" — {place.muscle}" if place else "")]
    if placement_text:
        lines.append(f"  placement: {placement_text}")
    if place is None:
        lines.append("  no placement for this name in hardware/WIRING.md: electrodes on the "
                     "muscle belly along the fibres, 20 mm apart; reference on bone")
        return lines
    lines += ["  " + line for line in text_diagram(place)]
    lines.append(f"  ({place.where})")
    return lines
