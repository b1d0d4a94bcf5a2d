"""The protocol runner: a pure state machine driven by sample indices.

The runner never reads a clock. Time is the absolute sample index of the envelope it is fed,
so a recording played back at any speed, in any block sizes, gives the same cues and the same
results as the live session did. Per-sample logic (goal states, countdowns, rewards) is
vectorised per block with explicit carried state. The phase's envelope is kept in a buffer
filled in sample order; what the results need is reduced from it while the phase runs
(:mod:`emgfeedback.protocol.accumulate`: levels, variability, peaks, decline, percentiles,
time in zone), so a phase or repetition end costs little on the engine thread; MVC, rise
and release times (phases and repetitions of seconds) are computed from the buffer at the
end. Measures and goal verdicts live in
:mod:`emgfeedback.protocol.evaluation`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emgfeedback.errors import ProtocolError
from emgfeedback.jsonsafe import json_ready
from emgfeedback.protocol import metrics
from emgfeedback.protocol.accumulate import GoalCounter, SegmentMeasures
from emgfeedback.protocol.evaluation import PhaseEvaluation
from emgfeedback.protocol.schema import Goal, Phase, Protocol, Segment

CUE_KINDS = ("phase_start", "segment_start", "countdown", "goal_met", "goal_lost",
             "rep_counted", "reward", "phase_end", "protocol_end")
# Order of cues stamped with the same sample index: what ends comes before what starts.
_PRIORITY = {"rep_counted": 0, "reward": 1, "phase_end": 2, "protocol_end": 3, "phase_start": 4,
             "segment_start": 5, "countdown": 6, "goal_met": 7, "goal_lost": 7}
_MAX_GAP_BLOCK = 1 << 20


@dataclass(frozen=True)
class Features:
    """What the runner consumes for one block of samples.

    Attributes
    ----------
    first_index : int
        Absolute sample index of the first row.
    envelope_uv : ndarray
        Envelope in µV, ``(n_samples, n_channels)`` over the stream's channels.
    onsets : sequence
        Onset events detected in this block (objects with ``channel`` (stream column),
        ``kind`` ("on"/"off"), ``index`` (backdated onset) and optionally
        ``detected_index``). An event must be delivered no later than the block that
        contains its ``detected_index``.
    """

    first_index: int
    envelope_uv: np.ndarray
    onsets: Sequence[Any] = ()


@dataclass(frozen=True)
class Cue:
    """An event for the user interface, stamped with the sample index it belongs to.

    Attributes
    ----------
    index : int
        Absolute sample index (for ends: the first sample after what ended).
    kind : str
        One of :data:`CUE_KINDS`.
    phase : int
        0-based phase number.
    phase_name : str
        Name of the phase.
    text : str
        Text to show (instruction, goal description...).
    data : dict
        Kind-specific details (see ``protocols/README.md``).
    """

    index: int
    kind: str
    phase: int
    phase_name: str
    text: str = ""
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The cue as a JSON-ready dict."""
        return {"index": self.index, "kind": self.kind, "phase": self.phase,
                "phase_name": self.phase_name, "text": self.text, "data": dict(self.data)}


@dataclass
class _Seg:
    phase: int
    seg: Segment
    start: int  # sample offset from the protocol start
    end: int
    first_in_phase: bool
    last_in_phase: bool
    last_in_rep: bool
    countdown_at: np.ndarray  # offsets of countdown cues
    countdown_left: np.ndarray  # whole seconds remaining at each


@dataclass
class _GoalState:
    met: bool = False
    run_true: int = 0
    run_false: int = 0


def _runs(cond: np.ndarray, carried: int) -> np.ndarray:
    """Length of the run of True values ending at each sample (carried from the last block)."""
    n = len(cond)
    pos = np.arange(1, n + 1, dtype=np.int64)
    last_false = np.maximum.accumulate(np.where(cond, 0, pos))
    run = pos - last_false
    return np.where(last_false == 0, run + carried, run)


class ProtocolRunner(PhaseEvaluation):
    """Run a protocol over a stream of envelope features.

    Parameters
    ----------
    protocol : Protocol
        A loaded protocol (:func:`~emgfeedback.protocol.load_protocol`).
    fs_hz : float
        Sampling rate of the features.
    channel_names : sequence of str
        Names of the stream's channels (columns of ``Features.envelope_uv``).
    baseline_uv, mvc_uv : float, sequence or mapping, optional
        Resting baseline and MVC in µV used by goals in ``baseline``/``mvc_pct`` units until a
        ``baseline``/``mvc`` phase of this run has measured them (a measured value wins). A
        sequence is per stream channel; a mapping is keyed by protocol channel id or stream
        channel name; a scalar applies to every channel.
    channel_map : mapping, optional
        Protocol channel id -> stream channel name or column. Unmapped protocol channels take
        the stream channel of the same name, else the free columns in declaration order.
    start_index : int, optional
        Absolute sample index at which the protocol starts (default: the first sample fed).

    Raises
    ------
    ProtocolError
        If the stream has too few channels, a mapping is invalid, a phase is shorter than one
        sample at ``fs_hz``, or a goal needs a baseline/MVC that nothing provides.
    """

    def __init__(self, protocol: Protocol, fs_hz: float, channel_names: Sequence[str],
                 baseline_uv=None, mvc_uv=None, channel_map: Mapping | None = None,
                 start_index: int | None = None):
        if not (fs_hz > 0 and math.isfinite(fs_hz)):
            raise ValueError(f"fs_hz must be a positive number, got {fs_hz}")
        self.protocol = protocol
        self.fs_hz = float(fs_hz)
        self.channel_names = tuple(channel_names)
        self._n_stream = len(self.channel_names)
        self._ids = protocol.channel_ids
        self._k = {cid: i for i, cid in enumerate(self._ids)}
        self._cols = self._map_channels(channel_map or {})
        self._baseline_given = self._per_channel(baseline_uv, "baseline_uv")
        self._mvc_given = self._per_channel(mvc_uv, "mvc_uv")
        self._baseline_measured = np.full(len(self._ids), np.nan)
        self._mvc_measured = np.full(len(self._ids), np.nan)
        self._segs, self._phase_span, self._rep_parts = self._timeline()
        self._check_references()
        self._start_index = start_index
        self._origin: int | None = None
        self._pos = 0
        self._seg_i = 0
        self._seg_started = False
        self._countdown_next = 0
        self._phase_open = False
        self.finished = False
        self._onsets: list[tuple[int, int, int, bool]] = []  # index, detected, k, is_on
        self._phase_results: list[dict] = []
        self._rep_results: list[dict] = []
        self._buf: np.ndarray | None = None
        self._levels: list[tuple[float, float]] = []
        self._goal_states: list[_GoalState] = []
        self._reward_count = 0
        self._lost = 0
        # What the phase's segments reduced so far, keyed by the segment's start in the
        # phase: block sums per channel, and time in zone per (start, goal).
        self._seg_measures: dict[int, SegmentMeasures] = {}
        self._goal_counts: dict[tuple[int, int], GoalCounter] = {}
        # The measures' imports happen now, not at the first phase end (on the engine thread).
        metrics.preload()

    # ---------------------------------------------------------------- set-up

    def _map_channels(self, channel_map: Mapping) -> np.ndarray:
        if len(self._ids) > self._n_stream:
            raise ProtocolError(
                f"{self.protocol.path}: protocol needs {len(self._ids)} channels "
                f"({', '.join(self._ids)}) but the stream has {self._n_stream}; fix: use a "
                "source with more channels or a protocol with fewer")
        cols: dict[str, int] = {}
        for cid, where in channel_map.items():
            if cid not in self._ids:
                raise ProtocolError(f"channel map names {cid!r}, which the protocol does not "
                                    f"define; fix: use one of {', '.join(self._ids)}")
            if isinstance(where, (int, np.integer)) and not isinstance(where, bool):
                if not 0 <= where < self._n_stream:
                    raise ProtocolError(f"channel map: column {where} for {cid!r} is out of "
                                        f"range; fix: use 0..{self._n_stream - 1}")
                cols[cid] = int(where)
            elif where in self.channel_names:
                cols[cid] = self.channel_names.index(where)
            else:
                raise ProtocolError(f"channel map: stream has no channel {where!r} for {cid!r};"
                                    f" fix: use one of {', '.join(self.channel_names)}")
        for cid in self._ids:
            if cid not in cols and cid in self.channel_names:
                cols[cid] = self.channel_names.index(cid)
        free = [c for c in range(self._n_stream) if c not in cols.values()]
        for cid in self._ids:
            if cid not in cols:
                cols[cid] = free.pop(0)
        if len(set(cols.values())) != len(cols):
            raise ProtocolError("channel map: two protocol channels use the same stream "
                                "channel; fix: map each to a different channel")
        return np.array([cols[cid] for cid in self._ids], dtype=np.int64)

    def _per_channel(self, value, what: str) -> np.ndarray:
        out = np.full(len(self._ids), np.nan)
        if value is None:
            return out
        if isinstance(value, Mapping):
            for key, v in value.items():
                if key in self._k:
                    out[self._k[key]] = float(v)
                elif key in self.channel_names:
                    col = self.channel_names.index(key)
                    hit = np.flatnonzero(self._cols == col)
                    if hit.size:
                        out[hit[0]] = float(v)
                else:
                    raise ProtocolError(f"{what}: unknown channel {key!r}; fix: key it by a "
                                        f"protocol channel id ({', '.join(self._ids)}) or a "
                                        "stream channel name")
            return out
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim == 0:
            return np.full(len(self._ids), float(arr))
        if arr.shape != (self._n_stream,):
            raise ProtocolError(f"{what}: expected {self._n_stream} values (one per stream "
                                f"channel), got shape {arr.shape}; fix: pass one per channel")
        return arr[self._cols].astype(np.float64)

    def _timeline(self):
        segs: list[_Seg] = []
        spans: list[tuple[int, int]] = []
        rep_parts: list[dict[int, dict[str, tuple[int, int]]]] = []
        t = 0.0
        fs = self.fs_hz
        for pi, phase in enumerate(self.protocol.phases):
            parts = phase.segments()
            p_start = round(t * fs)
            reps: dict[int, dict[str, tuple[int, int]]] = {}
            for si, s in enumerate(parts):
                start = round(t * fs)
                t += s.duration_s
                end = round(t * fs)
                if end <= start:
                    raise ProtocolError(
                        f"{self.protocol.path}: phases[{pi}] ({phase.name}): a {s.kind} part of "
                        f"{s.duration_s:g} s is shorter than one sample at {fs:g} Hz; fix: "
                        "lengthen it or use a higher sampling rate")
                whole = np.arange(1, int(math.floor(s.duration_s + 1e-9)) + 1)
                at = end - np.round(whole * fs).astype(np.int64)
                keep = at >= start
                segs.append(_Seg(
                    phase=pi, seg=s, start=start, end=end, first_in_phase=si == 0,
                    last_in_phase=si == len(parts) - 1,
                    last_in_rep=si == len(parts) - 1 or parts[si + 1].rep != s.rep,
                    countdown_at=at[keep][::-1], countdown_left=whole[keep][::-1]))
                if s.rep:
                    reps.setdefault(s.rep, {})[s.kind] = (start - p_start, end - p_start)
            spans.append((p_start, round(t * fs)))
            rep_parts.append(reps)
        return segs, spans, rep_parts

    def _check_references(self) -> None:
        have_baseline = np.isfinite(self._baseline_given)
        have_mvc = np.isfinite(self._mvc_given)
        for pi, phase in enumerate(self.protocol.phases):
            for gi, goal in enumerate(phase.goals):
                for key, unit, cid in self._goal_units(goal):
                    k = self._k[cid]
                    if unit == "baseline" and not have_baseline[k]:
                        raise ProtocolError(
                            f"{self.protocol.path}: phases[{pi}].goals[{gi}].{key}: in baseline "
                            f"units but no baseline phase comes before it and no baseline_uv "
                            f"was given for {cid!r}; fix: add a phase of kind \"baseline\" "
                            "before it or supply baseline_uv")
                    if unit == "mvc_pct" and not have_mvc[k]:
                        raise ProtocolError(
                            f"{self.protocol.path}: phases[{pi}].goals[{gi}].{key}: in % MVC "
                            f"but no mvc phase comes before it and no mvc_uv was given for "
                            f"{cid!r}; fix: add a phase of kind \"mvc\" before it or supply "
                            "mvc_uv")
            if phase.kind == "baseline":
                have_baseline = have_baseline | np.isin(
                    np.arange(len(self._ids)), [self._k[c] for c in phase.channels])
            if phase.kind == "mvc":
                have_mvc = have_mvc | np.isin(
                    np.arange(len(self._ids)), [self._k[c] for c in phase.channels])

    @staticmethod
    def _goal_units(goal: Goal) -> list[tuple[str, str, str]]:
        if goal.type in ("above", "below"):
            return [("level", goal.unit, goal.channel)]
        if goal.type == "dissociation":
            return [("level", goal.unit, goal.target),
                    ("off_level", goal.off_unit, goal.compensator)]
        return []

    # ---------------------------------------------------------------- streaming

    @property
    def duration_samples(self) -> int:
        """Length of the protocol in samples."""
        return self._segs[-1].end

    @property
    def position(self) -> int:
        """Samples of the protocol consumed so far."""
        return self._pos

    @property
    def current_phase(self) -> int | None:
        """0-based number of the phase in progress, or None when finished."""
        return None if self.finished else self._segs[self._seg_i].phase

    def phase_progress(self) -> tuple[int, int]:
        """(samples done, samples total) of the phase in progress (for a progress bar)."""
        if self.finished:
            s, e = self._phase_span[-1]
            return e - s, e - s
        s, e = self._phase_span[self._segs[self._seg_i].phase]
        return self._pos - s, e - s

    def step(self, features: Features) -> list[Cue]:
        """Consume one block of features and return the cues it produced, in order.

        Missing samples (a block starting after the expected index) count as lost: they are
        treated as unknown (NaN), which never meets a goal. A block overlapping samples already
        consumed is an error.

        Parameters
        ----------
        features : Features
            The next block.

        Returns
        -------
        list of Cue
            Sorted by sample index; for one index, ends come before starts.
        """
        env = np.asarray(features.envelope_uv, dtype=np.float64)
        if env.ndim == 1 and self._n_stream == 1:
            env = env[:, None]
        if env.ndim != 2 or env.shape[1] != self._n_stream:
            raise ValueError(f"envelope_uv must be (n_samples, {self._n_stream}), got "
                             f"{env.shape}")
        first = int(features.first_index)
        if self._origin is None:
            self._origin = first if self._start_index is None else int(self._start_index)
        if self.finished:
            return []
        self._ingest(features.onsets)
        off = first - self._origin
        if off < 0:
            env = env[min(len(env), -off):]
            off = 0
        if off < self._pos:
            if len(env) == 0:
                return []
            raise ValueError(f"block starting at index {first} overlaps samples already "
                             f"consumed (next expected {self._origin + self._pos})")
        out: list[Cue] = []
        x = env[:, self._cols]
        while off > self._pos and not self.finished:
            n = min(off - self._pos, _MAX_GAP_BLOCK)
            self._lost += n
            self._advance(np.full((n, len(self._ids)), np.nan), out)
        if not self.finished and len(x):
            self._advance(x, out)
        out.sort(key=lambda c: (c.index, _PRIORITY[c.kind]))
        return out

    def _ingest(self, onsets) -> None:
        for ev in onsets or ():
            hit = np.flatnonzero(self._cols == int(ev.channel))
            if not hit.size:
                continue
            detected = getattr(ev, "detected_index", None)
            idx = int(ev.index)
            self._onsets.append((idx, idx if detected is None else int(detected), int(hit[0]),
                                 ev.kind == "on"))

    def _advance(self, x: np.ndarray, out: list[Cue]) -> None:
        i = 0
        n = len(x)
        while i < n and not self.finished:
            seg = self._segs[self._seg_i]
            if not self._seg_started:
                self._begin_segment(seg, out)
                self._seg_started = True
                self._countdown_next = 0
            take = min(n - i, seg.end - self._pos)
            self._run_segment(seg, x[i:i + take], out)
            i += take
            self._pos += take
            if self._pos == seg.end:
                self._end_segment(seg, out)

    def _cue(self, out: list[Cue], offset: int, cue_kind: str, phase: int, text: str = "",
             **data) -> None:
        out.append(Cue(self._origin + offset, cue_kind, phase, self.protocol.phases[phase].name,
                       text, json_ready(data)))

    def _begin_segment(self, seg: _Seg, out: list[Cue]) -> None:
        phase = self.protocol.phases[seg.phase]
        if seg.first_in_phase:
            s, e = self._phase_span[seg.phase]
            # Not filled: every sample is written (NaN for lost ones) before anything reads
            # it (measures read [0, _pos) only). Filling a long phase's buffer took
            # milliseconds of page faults in one chunk; now they are spread over the phase.
            self._buf = np.empty((e - s, len(self._ids)))
            self._levels = [self._resolve(g) for g in phase.goals]
            self._goal_states = [_GoalState() for _ in phase.goals]
            self._rep_results = []
            self._reward_count = 0
            self._lost = 0
            self._seg_measures = {}
            self._goal_counts = {}
            self._phase_open = True
            self._cue(out, seg.start, "phase_start", seg.phase, phase.cue,
                      kind=phase.kind, duration_s=(e - s) / self.fs_hz, reps=phase.reps,
                      sound=phase.sound,
                      goals=self._goals_info(phase))
        ps = self._phase_span[seg.phase][0]
        self._seg_measures[seg.start - ps] = SegmentMeasures(
            seg.end - seg.start, len(self._ids), self.fs_hz,
            # Decline and percentiles are measured on the work part (or the whole phase).
            decline="decline" in phase.measure and seg.seg.kind in ("work", "phase"),
            apdf="apdf" in phase.measure and seg.seg.kind in ("work", "phase"))
        if seg.seg.kind != "phase":
            self._cue(out, seg.start, "segment_start", seg.phase, seg.seg.cue,
                      segment=seg.seg.kind, rep=seg.seg.rep, reps=phase.reps,
                      duration_s=(seg.end - seg.start) / self.fs_hz)
        for goal, state in zip(phase.goals, self._goal_states, strict=True):
            if goal.during != "all" or seg.seg.kind in ("work", "phase"):
                state.met, state.run_true, state.run_false = False, 0, 0

    def _goals_info(self, phase: Phase) -> list[dict]:
        return [self._goal_info(g, lv) for g, lv in zip(phase.goals, self._levels, strict=True)]

    def _goal_info(self, goal: Goal, levels: tuple[float, float]) -> dict:
        info = {"type": goal.type, "description": goal.describe(), "during": goal.during,
                "channels": list(goal.channels)}
        if goal.type in ("above", "below", "dissociation"):
            info["level_uv"] = levels[0]
        if goal.type == "dissociation":
            info["off_level_uv"] = levels[1]
        return info

    def _resolve(self, goal: Goal) -> tuple[float, float]:
        levels = []
        for key, unit, cid in self._goal_units(goal):
            value = goal.level if key == "level" else goal.off_level
            k = self._k[cid]
            if unit == "uv":
                levels.append(value)
            elif unit == "baseline":
                base = self._baseline_measured[k]
                if not math.isfinite(base):
                    base = self._baseline_given[k]
                levels.append(value * base)
            else:
                mvc = self._mvc_measured[k]
                if not math.isfinite(mvc):
                    mvc = self._mvc_given[k]
                levels.append(value / 100.0 * mvc)
        levels += [math.nan] * (2 - len(levels))
        return levels[0], levels[1]

    def _active(self, goal: Goal, seg: Segment) -> bool:
        return goal.is_continuous and (goal.during == "all" or seg.kind == "phase"
                                       or goal.during == seg.kind)

    def _condition(self, goal: Goal, levels: tuple[float, float], x: np.ndarray) -> np.ndarray:
        # Comparisons with NaN (lost samples, unmeasured levels) are False without a
        # warning; only the symmetry index divides (an errstate block costs ~5 µs a chunk).
        if goal.type == "above":
            return x[:, self._k[goal.channel]] >= levels[0]
        if goal.type == "below":
            return x[:, self._k[goal.channel]] < levels[0]
        if goal.type == "dissociation":
            return ((x[:, self._k[goal.target]] >= levels[0])
                    & (x[:, self._k[goal.compensator]] < levels[1]))
        with np.errstate(invalid="ignore", divide="ignore"):
            left, right = x[:, self._k[goal.left]], x[:, self._k[goal.right]]
            total = left + right
            index = 200.0 * np.abs(left - right) / total
            return (total > 0) & (index <= goal.max_index_pct)

    def _run_segment(self, seg: _Seg, x: np.ndarray, out: list[Cue]) -> None:
        p0 = self._pos
        p1 = p0 + len(x)
        phase = self.protocol.phases[seg.phase]
        ps = self._phase_span[seg.phase][0]
        self._buf[p0 - ps:p1 - ps] = x
        self._seg_measures[seg.start - ps].advance(self._buf[seg.start - ps:seg.end - ps],
                                                   p1 - seg.start)
        # The countdowns in [p0, p1): a cursor, as blocks come in order within a segment.
        at_, k = seg.countdown_at, self._countdown_next
        while k < at_.size and at_[k] < p1:
            if at_[k] >= p0:
                left = seg.countdown_left[k]
                self._cue(out, int(at_[k]), "countdown", seg.phase, f"{int(left)}",
                          remaining_s=int(left), segment=seg.seg.kind, rep=seg.seg.rep)
            k += 1
        self._countdown_next = k
        all_ok = None
        for gi, goal in enumerate(phase.goals):
            if not self._active(goal, seg.seg):
                continue
            cond = self._condition(goal, self._levels[gi], x)
            counter = self._goal_counts.setdefault((seg.start - ps, gi), GoalCounter())
            counter.add(cond)
            all_ok = cond if all_ok is None else all_ok & cond
            self._goal_transitions(seg, gi, goal, cond, p0, out)
        if all_ok is not None and phase.reps is None and phase.reward_every_s > 0:
            every = max(1, round(phase.reward_every_s * self.fs_hz))
            cum = self._reward_count + np.cumsum(all_ok, dtype=np.int64)
            for j in np.flatnonzero(all_ok & (cum % every == 0)):
                self._cue(out, p0 + int(j), "reward", seg.phase, "",
                          in_zone_s=int(cum[j]) / self.fs_hz)
            self._reward_count = int(cum[-1])

    def _goal_transitions(self, seg: _Seg, gi: int, goal: Goal, cond: np.ndarray, p0: int,
                          out: list[Cue]) -> None:
        st = self._goal_states[gi]
        hold_n = max(1, round(goal.hold_s * self.fs_hz))
        grace_n = max(1, round(goal.grace_s * self.fs_hz))
        n = len(cond)
        hits = int(np.count_nonzero(cond))
        if n and (hits == n or hits == 0):
            # Most blocks are wholly in or out of the zone: the runs just grow, and at most
            # one transition happens, where the growing run reaches hold_n (grace_n). The
            # same cues as the general case below, at a tenth of its cost (engine thread).
            if hits == n:
                run, need, flip = st.run_true, hold_n, not st.met
                st.run_true, st.run_false = run + n, 0
            else:
                run, need, flip = st.run_false, grace_n, st.met
                st.run_true, st.run_false = 0, run + n
            if flip and run + n >= need:
                st.met = not st.met
                self._cue(out, p0 + max(0, need - run - 1),
                          "goal_met" if st.met else "goal_lost", seg.phase,
                          goal.describe(), goal=gi, type=goal.type, rep=seg.seg.rep)
            return
        rt = _runs(cond, st.run_true)
        rf = _runs(~cond, st.run_false)
        on_at = np.flatnonzero(rt >= hold_n)
        off_at = np.flatnonzero(rf >= grace_n)
        p = 0
        while True:
            hits = off_at if st.met else on_at
            i = np.searchsorted(hits, p)
            if i >= len(hits):
                break
            j = int(hits[i])
            st.met = not st.met
            self._cue(out, p0 + j, "goal_met" if st.met else "goal_lost", seg.phase,
                      goal.describe(), goal=gi, type=goal.type, rep=seg.seg.rep)
            p = j + 1
        st.run_true, st.run_false = int(rt[-1]), int(rf[-1])

    def _end_segment(self, seg: _Seg, out: list[Cue]) -> None:
        phase = self.protocol.phases[seg.phase]
        if seg.last_in_rep and seg.seg.rep:
            rep = self._evaluate_rep(seg.phase, seg.seg.rep, self._origin + seg.end)
            self._rep_results.append(rep)
            self._cue(out, seg.end, "rep_counted", seg.phase,
                      f"{seg.seg.rep}/{phase.reps}", rep=seg.seg.rep, reps=phase.reps,
                      passed=rep["passed"], result=rep)
            if rep["passed"]:
                self._cue(out, seg.end, "reward", seg.phase, "", rep=seg.seg.rep)
        if seg.last_in_phase:
            result = self._phase_result(seg.phase, completed=True)
            self._phase_results.append(result)
            self._phase_open = False
            if phase.kind == "baseline":
                for k in (self._k[c] for c in phase.channels):
                    self._baseline_measured[k] = _or_nan(result["channels"][self._ids[k]]
                                                         .get("mean_uv"))
            if phase.kind == "mvc":
                for k in (self._k[c] for c in phase.channels):
                    self._mvc_measured[k] = _or_nan(result["channels"][self._ids[k]]
                                                    .get("mvc_uv"))
            self._cue(out, seg.end, "phase_end", seg.phase, "", passed=result["passed"],
                      result=result)
        self._seg_i += 1
        self._seg_started = False
        if self._seg_i == len(self._segs):
            self.finished = True
            self._cue(out, seg.end, "protocol_end", seg.phase, "Done",
                      passed=self._overall_passed())

    # ---------------------------------------------------------------- results

    def results(self) -> dict:
        """Results so far: completed phases, plus the phase in progress (``completed`` False).

        Returns
        -------
        dict
            ``protocol``, ``title``, ``version``, ``fs_hz``, ``start_index``, ``finished``,
            ``channels`` (protocol id -> stream channel name), ``baseline_uv``/``mvc_uv``
            (measured, else given, per protocol channel), ``passed`` (all judged phases
            passed; None if none was judged) and ``phases`` (one dict per phase).
        """
        phases = list(self._phase_results)
        if not self.finished and self._phase_open:
            phases.append(self._phase_result(self._segs[self._seg_i].phase, completed=False))
        base = np.where(np.isfinite(self._baseline_measured), self._baseline_measured,
                        self._baseline_given)
        mvc = np.where(np.isfinite(self._mvc_measured), self._mvc_measured, self._mvc_given)
        return json_ready({
            "protocol": self.protocol.name, "title": self.protocol.title,
            "version": self.protocol.version, "fs_hz": self.fs_hz,
            "start_index": self._origin, "finished": self.finished,
            "channels": {cid: self.channel_names[c]
                         for cid, c in zip(self._ids, self._cols, strict=True)},
            "baseline_uv": dict(zip(self._ids, base.tolist(), strict=True)),
            "mvc_uv": dict(zip(self._ids, mvc.tolist(), strict=True)),
            "passed": self._overall_passed() if self.finished else None,
            "phases": phases,
        })


def _or_nan(value) -> float:
    return math.nan if value is None else float(value)
