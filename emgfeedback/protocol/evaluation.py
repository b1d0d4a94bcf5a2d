"""What a protocol phase measured and whether its goals were met (:class:`PhaseEvaluation`).

The runner (:mod:`emgfeedback.protocol.runner`) is the state machine: it walks the timeline
sample by sample, emits cues, fills a buffer with the phase's envelope and reduces it
block by block as it fills (:mod:`emgfeedback.protocol.accumulate`). When a repetition or a
phase ends, the methods here turn those reductions (and, for the measures that need every
sample at once, the buffer) into results: per-channel
measures (:mod:`emgfeedback.protocol.metrics`), each goal's in-zone time and verdict, the
onset order of target and compensator, left/right symmetry, and the phase summary over its
repetitions. Results are plain JSON-ready dicts (:func:`emgfeedback.jsonsafe.json_ready`).

Mixed into :class:`~emgfeedback.protocol.runner.ProtocolRunner`; the attributes used here
(``fs_hz``, ``protocol``, ``_buf``, ``_k``, ``_onsets``, ``_levels``...) are the runner's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from emgfeedback.jsonsafe import json_ready
from emgfeedback.protocol import accumulate as A
from emgfeedback.protocol import metrics as M
from emgfeedback.protocol.schema import Goal, Phase

__all__ = ["PhaseEvaluation"]


class PhaseEvaluation:
    """Measures, goal verdicts and phase results of a protocol run (runner mixin)."""

    def _channel_measures(self, phase: Phase, x: np.ndarray, k: int, whole: np.ndarray | None,
                          parts: dict | None, sums: dict | None = None,
                          whole_sums: dict | None = None, rest_sums: dict | None = None) -> dict:
        """Measures of one channel: ``x`` = work part (or the phase), ``whole`` = the rep.

        ``sums``, ``whole_sums`` and ``rest_sums`` are the block reductions of ``x``, of the
        whole rep and of its rest (:meth:`_sums`): the measures they cover are read from
        them instead of the envelope (same values, to rounding)."""
        want = phase.measure
        col = x[:, k]
        d: dict[str, Any] = {}
        if "mean" in want or "variability" in want:
            stats = A.level_stats(sums, k) if sums is not None else M.level_stats(col)
            if "mean" in want:
                d["mean_uv"] = stats["mean_uv"]
            if "variability" in want:
                d["sd_uv"], d["cv_pct"] = stats["sd_uv"], stats["cv_pct"]
        if "apdf" in want:
            d.update(A.apdf(sums, k) if sums is not None and "apdf" in sums else M.apdf(col))
        if "decline" in want:
            # The thirds are those of the whole segment: from the sums once it is complete.
            d.update(A.decline(sums, k, len(col)) if sums is not None and sums["complete"]
                     else M.decline(col, self.fs_hz))
        if "mvc" in want:
            d["mvc_uv"] = M.moving_mean_max(col, self.fs_hz)
        rep = whole[:, k] if whole is not None else col
        if "peak" in want:
            top = whole_sums if whole is not None else sums
            d.update(A.peak(top, k) if top is not None else M.peak(rep))
        if "rise_time" in want or "recovery_time" in want:
            fl = M.flick(rep, self.fs_hz)
            if "rise_time" in want:
                d["rise_time_ms"] = fl["rise_time_ms"]
            if "recovery_time" in want:
                d["recovery_time_ms"] = fl["recovery_time_ms"]
        if "release" in want and parts is not None and "release" in parts:
            r0 = parts["release"][0] - parts["work"][0]
            r1 = parts["release"][1] - parts["work"][0]
            d.update(M.release(rep, r0, r1, self.fs_hz))
        if parts is not None and "rest" in parts and "mean" in want:
            rs, re = (v - parts["work"][0] for v in parts["rest"])
            d["rest_mean_uv"] = (A.level_stats(rest_sums, k) if rest_sums is not None
                                 else M.level_stats(rep[rs:re]))["mean_uv"]
        return d

    def _sums(self, spans: list[tuple[int, int]], filled: int) -> dict | None:
        """Block reductions over consecutive segments ``spans`` (phase-relative ``(start,
        end)``) filled up to ``filled``; None when a span is not one of the segments."""
        totals = []
        for s, e in spans:
            acc = self._seg_measures.get(s)
            if acc is None or acc.length != e - s:
                return None
            totals.append(acc.totals(self._buf[s:e], max(0, min(filled, e) - s)))
        out = A.combine(totals) if len(totals) > 1 else totals[0]
        out["complete"] = filled >= spans[-1][1]
        return out

    def _counters(self, gi: int, spans: list[tuple[int, int]]) -> list | None:
        """Time-in-zone counters of goal ``gi`` over the segments ``spans``, if it was
        evaluated in every one of them."""
        out = [self._goal_counts.get((s, gi)) for s, _ in spans]
        return None if any(c is None for c in out) else out

    def _goal_result(self, gi: int, goal: Goal, x: np.ndarray,
                     counters: list | None = None) -> dict:
        if counters is not None and sum(c.n for c in counters) == len(x):
            zone = A.in_zone(counters, self.fs_hz)
        else:
            zone = M.in_zone(self._condition(goal, self._levels[gi], x), self.fs_hz)
        hold_n = max(1, round(goal.hold_s * self.fs_hz))
        passed = (round(zone["longest_s"] * self.fs_hz) >= hold_n
                  and (zone["in_zone_pct"] or 0.0) >= goal.min_in_zone_pct)
        return {"goal": gi, "type": goal.type, "description": goal.describe(),
                "during": goal.during, **zone, "passed": bool(passed)}

    def _first_on(self, k: int, start: int, end: int, known_before: int) -> tuple[int | None,
                                                                                  bool]:
        """First onset of protocol channel k in [start, end), and whether it was already on."""
        events = sorted((e for e in self._onsets if e[2] == k and e[1] < known_before),
                        key=lambda e: (e[0], e[1]))
        already = None
        first = None
        for idx, _det, _k, is_on in events:
            if idx < start:
                already = idx if is_on else None
            elif idx < end and is_on:
                first = idx
                break
        if already is not None:
            return already, True
        return first, False

    def _order(self, target: str, compensator: str, start: int, end: int, known: int,
               max_lag_ms: float | None) -> dict:
        t_on, t_pre = self._first_on(self._k[target], start, end, known)
        c_on, c_pre = self._first_on(self._k[compensator], start, end, known)
        res: dict[str, Any] = {"target": target, "compensator": compensator,
                               "target_onset_index": t_on, "compensator_onset_index": c_on,
                               "target_already_on": t_pre, "compensator_already_on": c_pre,
                               "lag_ms": None}
        if t_on is None:
            res["order"] = "no_target"
            ok = False
        elif c_on is None:
            res["order"] = "right"
            ok = True
        else:
            lag = 1000.0 * (t_on - c_on) / self.fs_hz
            res["lag_ms"] = lag
            res["order"] = "right" if t_on <= c_on else "wrong"
            ok = lag <= (0.0 if max_lag_ms is None else max_lag_ms)
        if max_lag_ms is not None:
            res["max_lag_ms"] = max_lag_ms
        res["passed"] = bool(ok)
        return res

    def _evaluate_rep(self, pi: int, rep: int, known_before: int) -> dict:
        phase = self.protocol.phases[pi]
        parts = self._rep_parts[pi][rep]
        ps = self._phase_span[pi][0]
        r0 = parts["work"][0]
        r1 = max(e for _, e in parts.values())
        whole = self._buf[r0:r1]
        w0, w1 = parts["work"]
        work = self._buf[w0:w1]
        result: dict[str, Any] = {"rep": rep, "start_index": self._origin + ps + r0,
                                  "end_index": self._origin + ps + r1}
        spans = sorted(parts.values())
        work_sums = self._sums([parts["work"]], r1)
        whole_sums = self._sums(spans, r1)
        rest_sums = self._sums([parts["rest"]], r1) if "rest" in parts else None
        result["channels"] = {
            cid: self._channel_measures(phase, work, self._k[cid], whole, parts, work_sums,
                                        whole_sums, rest_sums)
            for cid in phase.channels}
        goals = []
        abs_w0, abs_w1 = self._origin + ps + w0, self._origin + ps + w1
        for gi, goal in enumerate(phase.goals):
            if goal.type == "order":
                o = self._order(goal.target, goal.compensator, abs_w0, abs_w1, known_before,
                                goal.max_lag_ms)
                goals.append({"goal": gi, "type": "order", "description": goal.describe(),
                              "during": "work", **o})
                continue
            if goal.during == "all":
                x, goal_spans = whole, spans
            else:
                s, e = parts[goal.during]
                x, goal_spans = self._buf[s:e], [(s, e)]
            goals.append(self._goal_result(gi, goal, x, self._counters(gi, goal_spans)))
        result["goals"] = goals
        if "order" in phase.measure and not any(g.type == "order" for g in phase.goals):
            t = self.protocol.channel_with_role("target")
            c = self.protocol.channel_with_role("compensator")
            result["order"] = self._order(t.id, c.id, abs_w0, abs_w1, known_before, None)
        if "symmetry" in phase.measure:
            result["symmetry"] = self._symmetry(phase, result["channels"], work, abs_w0,
                                                abs_w1, known_before, work_sums)
        result["passed"] = all(g["passed"] for g in goals) if goals else None
        return result

    def _symmetry(self, phase: Phase, channels: dict, x: np.ndarray, start: int, end: int,
                  known: int, sums: dict | None = None) -> dict:
        goal = next((g for g in phase.goals if g.type == "symmetry"), None)
        left = goal.left if goal else self.protocol.channel_with_role("left").id
        right = goal.right if goal else self.protocol.channel_with_role("right").id

        def level(k: int):
            return (A.level_stats(sums, k) if sums is not None
                    else M.level_stats(x[:, k]))["mean_uv"]

        lm, rm = level(self._k[left]), level(self._k[right])
        out = {"left": left, "right": right, "left_mean_uv": lm, "right_mean_uv": rm,
               "index_pct": M.symmetry_index(lm, rm), "onset_lag_ms": None}
        if start is not None:
            lo, _ = self._first_on(self._k[left], start, end, known)
            ro, _ = self._first_on(self._k[right], start, end, known)
            if lo is not None and ro is not None:
                out["onset_lag_ms"] = 1000.0 * (lo - ro) / self.fs_hz
        return out

    def _phase_result(self, pi: int, completed: bool) -> dict:
        phase = self.protocol.phases[pi]
        s, e = self._phase_span[pi]
        filled = (e - s) if completed else max(0, self._pos - s)
        x = self._buf[:filled]
        res: dict[str, Any] = {
            "index": pi, "name": phase.name, "kind": phase.kind,
            "start_index": self._origin + s, "end_index": self._origin + s + filled,
            "duration_s": filled / self.fs_hz, "completed": completed,
            "lost_samples": self._lost,
            "goals_spec": self._goals_info(phase),
        }
        if phase.reps is None:
            sums = self._sums([(0, e - s)], filled)
            res["channels"] = {cid: self._channel_measures(phase, x, self._k[cid], None, None,
                                                           sums)
                               for cid in phase.channels}
            goals = [self._goal_result(gi, g, x, self._counters(gi, [(0, e - s)]))
                     for gi, g in enumerate(phase.goals)]
            res["goals"] = goals
            if "symmetry" in phase.measure:
                res["symmetry"] = self._symmetry(phase, res["channels"], x, None, None, 0,
                                                 sums)
            res["passed"] = all(g["passed"] for g in goals) if goals and filled else None
        else:
            reps = list(self._rep_results)
            res["reps"] = reps
            res["channels"] = {cid: M.summarise([r["channels"][cid] for r in reps])
                               for cid in phase.channels}
            res["goals"] = []
            for gi, goal in enumerate(phase.goals):
                per = [r["goals"][gi]["passed"] for r in reps]
                info = {"goal": gi, "type": goal.type, "description": goal.describe(),
                        "reps_passed": int(sum(per)), "reps": len(per)}
                if goal.is_continuous:
                    info["in_zone_pct"] = M.summarise(
                        [r["goals"][gi] for r in reps]).get("in_zone_pct") if reps else None
                res["goals"].append(info)
            orders = [r.get("order") or next((g for g in r["goals"] if g["type"] == "order"),
                                             None) for r in reps]
            orders = [o for o in orders if o]
            if orders:
                lags = [o["lag_ms"] for o in orders if o["lag_ms"] is not None]
                res["order"] = {"right": sum(o["order"] == "right" for o in orders),
                                "wrong": sum(o["order"] == "wrong" for o in orders),
                                "no_target": sum(o["order"] == "no_target" for o in orders),
                                "mean_lag_ms": float(np.mean(lags)) if lags else None}
            sym = [r["symmetry"] for r in reps if "symmetry" in r]
            if sym:
                res["symmetry"] = M.summarise(sym)
            n_ok = sum(1 for r in reps if r["passed"])
            res["reps_passed"] = n_ok
            if phase.goals and reps:
                need = math.ceil(phase.pass_pct / 100.0 * phase.reps - 1e-9)
                res["passed"] = (n_ok >= need) if completed else None
                res["reps_needed"] = need
            else:
                res["passed"] = None
        return json_ready(res)

    def _overall_passed(self) -> bool | None:
        verdicts = [r["passed"] for r in self._phase_results if r["passed"] is not None]
        return all(verdicts) if verdicts else None
