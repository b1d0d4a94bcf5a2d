"""Readable per-phase results: reps passed and, for every failure, the reason.

The same facts the live window shows at the end of a phase (reps passed, the firing order
of each rep, time in zone), as text for ``emgfeedback run`` and for tests. Everything is
read from :meth:`ProtocolRunner.results() <emgfeedback.protocol.runner.ProtocolRunner.results>`
and the protocol's goal definitions (hold time, time-in-zone requirement).
"""

from __future__ import annotations

from emgfeedback.protocol.schema import Goal, Protocol


def _fmt(value, spec: str = ".1f", none: str = "–") -> str:
    return none if value is None else format(value, spec)


def goal_reason(goal: Goal, result: dict) -> str:
    """Why one goal failed (or what it achieved) in one rep or one timed phase.

    Parameters
    ----------
    goal : Goal
        The goal's definition.
    result : dict
        Its result for one repetition or one phase without repetitions.

    Returns
    -------
    str
        E.g. ``"in zone 45.0 % (needs 70 %)"`` or ``"compensator first by 150 ms"``.
    """
    if result.get("type") == "order":
        order = result.get("order")
        if order == "no_target":
            return f"no onset of {goal.target} detected"
        lag = result.get("lag_ms")
        if lag is None:
            return f"{goal.target} on, {goal.compensator} never switched on"
        if lag <= 0:
            return f"{goal.target} first by {-lag:.0f} ms"
        return (f"{goal.compensator} first by {lag:.0f} ms (allowed: {goal.max_lag_ms:g} ms)")
    parts = []
    pct = result.get("in_zone_pct")
    parts.append(f"in zone {_fmt(pct)} %"
                 + (f" (needs {goal.min_in_zone_pct:g} %)" if goal.min_in_zone_pct else ""))
    if goal.hold_s:
        parts.append(f"longest {_fmt(result.get('longest_s'))} s (needs {goal.hold_s:g} s)")
    elif not goal.min_in_zone_pct:
        parts.append("never reached" if not result.get("longest_s") else
                     f"longest {_fmt(result.get('longest_s'))} s")
    return ", ".join(parts)


def _level(spec: dict, goal: Goal) -> str:
    levels = []
    if spec.get("level_uv") is not None and goal.unit != "uv":
        levels.append(f"{spec['level_uv']:.1f} µV")
    if spec.get("off_level_uv") is not None and goal.off_unit != "uv":
        levels.append(f"{spec['off_level_uv']:.1f} µV")
    return f" (= {', '.join(levels)})" if levels else ""


def phase_lines(protocol: Protocol, phase: dict) -> list[str]:
    """Lines for one phase: verdict, reps, each goal, and the reason of every failure.

    Parameters
    ----------
    protocol : Protocol
        The protocol that ran.
    phase : dict
        One entry of ``results["phases"]``.

    Returns
    -------
    list of str
    """
    spec_phase = protocol.phases[phase["index"]]
    verdict = {True: "passed", False: "not passed"}.get(phase.get("passed"), "done")
    if not phase.get("completed", True):
        verdict = "stopped early"
    head = f"{phase['name']}: {verdict}"
    reps = phase.get("reps")
    if reps is not None and spec_phase.goals:
        head += (f", {phase.get('reps_passed', 0)}/{len(reps)} reps passed"
                 f" (needs {phase.get('reps_needed', '?')})")
    lines = [head]
    if spec_phase.kind in ("baseline", "mvc"):
        key = "mean_uv" if spec_phase.kind == "baseline" else "mvc_uv"
        what = "resting baseline (mean envelope)" if spec_phase.kind == "baseline" else "MVC"
        values = ", ".join(f"{cid} {_fmt((ch or {}).get(key), '.2f')} µV"
                           for cid, ch in (phase.get("channels") or {}).items())
        lines.append(f"  {what}: {values}")
    specs = phase.get("goals_spec") or []
    for gi, goal in enumerate(spec_phase.goals):
        desc = goal.describe() + (_level(specs[gi], goal) if gi < len(specs) else "")
        if reps is None:
            res = next((g for g in phase.get("goals", []) if g.get("goal") == gi), None)
            if res is None:
                continue
            mark = "ok" if res.get("passed") else "FAILED"
            lines.append(f"  {desc}: {mark}: {goal_reason(goal, res)}")
            continue
        per = [r["goals"][gi] for r in reps if gi < len(r.get("goals", []))]
        ok = sum(1 for g in per if g.get("passed"))
        lines.append(f"  {desc}: {ok}/{len(per)} reps")
        for r, g in zip(reps, per, strict=False):
            if not g.get("passed"):
                lines.append(f"    rep {r['rep']}: {goal_reason(goal, g)}")
            elif goal.type == "order":  # the order of every rep, as the window's timeline
                lines.append(f"    rep {r['rep']}: ok: {goal_reason(goal, g)}")
    order = phase.get("order")
    if order and not any(g.type == "order" for g in spec_phase.goals):
        lines.append(f"  firing order: target first in {order.get('right', 0)}, "
                     f"compensator first in {order.get('wrong', 0)}, "
                     f"mean lag {_fmt(order.get('mean_lag_ms'), '.0f')} ms")
    sym = phase.get("symmetry")
    if sym and sym.get("index_pct") is not None:
        lines.append(f"  symmetry index of the means: {sym['index_pct']:.0f} %")
    return lines


def results_lines(protocol: Protocol, results: dict) -> list[str]:
    """Every phase's lines, then the overall verdict."""
    lines = []
    for phase in results.get("phases", []):
        lines += phase_lines(protocol, phase)
    overall = {True: "passed", False: "not passed"}.get(results.get("passed"),
                                                      "no goal judged")
    if not results.get("finished"):
        overall = "not finished"
    lines.append(f"overall: {overall}")
    return lines
