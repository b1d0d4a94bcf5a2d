"""Feedback: bars with goal lines, hold timer, repetitions, reward, firing order, symmetry.

:class:`FeedbackModel` is the state (plain Python, testable without a screen); it is fed
with the engine's envelope snapshot and, when a protocol runs, with the runner's cues, which
are authoritative for "goal met" (they carry the goal's hold time and grace period and are
stamped with sample indices). Without a protocol the goals come from the captured baseline
and MVC, and "met" is the latest envelope compared with the goal.

:class:`~emgfeedback.gui.cue_canvas.CueCanvas` (in :mod:`emgfeedback.gui.cue_canvas`,
still importable from here) paints a model; the therapist panel and the client's
full-screen view use the same canvas at different sizes. A goal counts only during its
part of a repetition (``during``: work, rest...), and the countdown, the hold timer and
the reward badge's fade all run on sample indices, never the wall clock.

Scale: every bar of a view is drawn on one µV scale (:meth:`FeedbackModel.shared_scale_uv`),
so a taller bar is always the larger level, whichever muscles are side by side. The scale
covers the goals with room to spare and the highest level of the last
:data:`SCALE_HOLD_S` seconds; after that a peak decays with a half-life of
:data:`SCALE_HALF_LIFE_S` seconds, so one spike does not shrink the bars for good. Time is
the stream's sample index, never the wall clock. The scale is rounded up to a 1-2-5 value
and said on screen ("one scale for all bars: 0-200 µV").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from emgfeedback.analysis.symmetry import amplitude_index

MODES = ("uptraining", "downtraining", "dissociation", "firing_order", "symmetry")
MODE_LABELS = {"uptraining": "Uptraining", "downtraining": "Downtraining",
               "dissociation": "Dissociation", "firing_order": "Firing order",
               "symmetry": "Symmetry"}
#: Seconds of stream the reward badge is shown; it is fully opaque for the first
#: :data:`REWARD_SOLID_S` of them, then fades (never a flash).
REWARD_SHOW_S = 2.0
REWARD_SOLID_S = 1.2
#: Seconds the highest recent level holds the bars' scale before it starts to decay.
SCALE_HOLD_S = 2.0
#: Half-life of that decay in seconds (a 10x spike is forgotten after about 7 s).
SCALE_HALF_LIFE_S = 1.5
#: The scale is at least this many times the highest goal (the line sits at <= 62 %).
SCALE_GOAL_X = 1.6
#: The smallest full scale in µV.
SCALE_MIN_UV = 10.0


@dataclass
class Bar:
    """One bar: a channel's level against its goal."""

    channel: int
    label: str
    level_uv: float = math.nan
    goal_uv: float = math.nan
    direction: str = "above"  # "above", "below" or "" (no goal)
    met: bool = False
    scale_uv: float = 50.0


@dataclass
class OrderRow:
    """Firing order of one repetition."""

    rep: int
    order: str  # "right", "wrong", "no_target"
    lag_ms: float | None
    passed: bool
    target_label: str = ""
    compensator_label: str = ""


@dataclass
class FeedbackModel:
    """What the feedback views show.

    Attributes
    ----------
    channel_names : list of str
        Stream channel names.
    fs_hz : float
        Sample rate.
    """

    channel_names: list
    fs_hz: float
    mode: str = "uptraining"
    target: int = 0
    compensator: int = 1
    left: int = 0
    right: int = 1
    #: Without a protocol, the left/right pair of the same placement compared in symmetry
    #: mode. The window sets it from the channels' placements and sides
    #: (:meth:`set_free_symmetry`); None: no such pair, so no symmetry figure. A model built
    #: without channel identities compares its first two channels.
    free_symmetry_pair: tuple | None = (0, 1)
    bars: list = field(default_factory=list)
    met: bool = False
    met_since_index: int | None = None
    hold_goal_s: float = 0.0
    rep: int = 0
    reps: int = 0
    reps_passed: int = 0
    instruction: str = ""
    segment: str = ""
    #: Sample index of the latest protocol reward (stream time, like every other time here).
    reward_at: float = -1e12
    reward_text: str = ""
    in_zone_samples: int = 0
    order_rows: list = field(default_factory=list)
    symmetry_index_pct: float = math.nan
    symmetry_max_pct: float = 20.0
    end_index: int = 0
    protocol_active: bool = False
    holding: bool = False
    #: (index, goal number, met) of every goal transition the views showed (for tests/logs).
    transitions: list = field(default_factory=list)
    #: What the panel showed at the end of each phase (reps passed, firing-order rows).
    phase_history: list = field(default_factory=list)
    _goal_met: dict = field(default_factory=dict)
    _goal_specs: list = field(default_factory=list)
    _protocol_cols: dict = field(default_factory=dict)
    _peak_uv: float = 0.0
    _peak_index: int = 0
    scale_uv: float = SCALE_MIN_UV
    _zone_from: int | None = None
    #: Sample index at which the current phase part (segment or phase) ends (None: none).
    segment_end_index: int | None = None

    # ------------------------------------------------------------------ configuration
    def set_free_symmetry(self, channel_names, placements=None, sides=None) -> None:
        """Pair the same placement left and right for symmetry without a protocol.

        Two muscles of one side (glute med R and TFL R) are never compared: with no
        left/right pair of the same placement, symmetry mode shows no index.
        """
        from emgfeedback.analysis.symmetry import symmetry_pairs

        pairs = symmetry_pairs(channel_names, placements, sides)
        self.free_symmetry_pair = (pairs[0][0], pairs[0][1]) if pairs else None
        if self.free_symmetry_pair and not self.protocol_active:
            self.left, self.right = self.free_symmetry_pair

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        self.mode = mode
        self.met = False
        self.met_since_index = None
        self._goal_met.clear()
        self._zone_from = None

    def set_protocol_channels(self, cols: dict) -> None:
        """Protocol channel id -> stream column (from the runner's mapping)."""
        self._protocol_cols = dict(cols)
        self.protocol_active = True

    def end_protocol(self) -> None:
        self.protocol_active = False
        self.segment_end_index = None
        self._goal_specs = []
        self._goal_met.clear()
        self.met = False

    # ------------------------------------------------------------------ protocol cues
    def apply_cues(self, cues) -> None:
        """Update from protocol cues, in stream order."""
        for cue in cues:
            kind = cue.kind
            data = cue.data
            if kind == "phase_start":
                self._start_phase(cue)
            elif kind == "segment_start":
                self._set_segment_end(cue)
                self.segment = data.get("segment", "")
                self.rep = int(data.get("rep") or 0)
                self.reps = int(data.get("reps") or 0)
                if cue.text:
                    self.instruction = cue.text
                self._goal_met = {k: False for k in self._goal_met}
                self._set_met(False, cue.index)
            elif kind in ("goal_met", "goal_lost"):
                gi = int(data.get("goal", 0))
                self._goal_met[gi] = kind == "goal_met"
                self.transitions.append((int(cue.index), gi, kind == "goal_met"))
                continuous = [g for g, spec in enumerate(self._goal_specs)
                              if spec.get("type") != "order" and self._active(spec)]
                self._set_met(bool(continuous) and all(self._goal_met.get(g, False)
                                                       for g in continuous), cue.index)
            elif kind == "rep_counted":
                if data.get("passed"):
                    self.reps_passed += 1
                self._add_order_row(data.get("result") or {})
            elif kind == "reward":
                self.reward_at = float(cue.index)
                self.reward_text = "Well done"
            elif kind == "phase_end":
                self.phase_history.append({"name": cue.phase_name,
                                           "reps_passed": self.reps_passed,
                                           "order_rows": list(self.order_rows)})
            elif kind == "protocol_end":
                self.instruction = "Done"
                self.segment = ""
                self.segment_end_index = None
                self._set_met(False, cue.index)

    def _set_segment_end(self, cue) -> None:
        duration_s = cue.data.get("duration_s")
        if duration_s:
            self.segment_end_index = int(cue.index) + int(round(float(duration_s)
                                                                  * self.fs_hz))

    def _start_phase(self, cue) -> None:
        data = cue.data
        self.segment_end_index = None
        self._set_segment_end(cue)
        self._goal_specs = list(data.get("goals") or [])
        self._goal_met = {gi: False for gi, g in enumerate(self._goal_specs)
                          if g.get("type") != "order"}
        self.instruction = cue.text or cue.phase_name
        self.rep, self.reps, self.reps_passed = 0, int(data.get("reps") or 0), 0
        if self.reps:  # a rest phase keeps showing the last drill's firing order
            self.order_rows = []
        self.in_zone_samples = 0
        self.hold_goal_s = 0.0
        # The mode follows the goals of the work (a rest goal of an uptraining phase does
        # not make it downtraining).
        types = [g.get("type") for g in self._goal_specs
                 if (g.get("during") or "all") in ("all", "work")] or \
            [g.get("type") for g in self._goal_specs]
        cols = self._protocol_cols
        for g in self._goal_specs:
            chans = g.get("channels") or []
            if g.get("type") == "dissociation" and len(chans) == 2:
                self.target, self.compensator = cols.get(chans[0], 0), cols.get(chans[1], 1)
            elif g.get("type") == "order" and len(chans) == 2:
                self.target, self.compensator = cols.get(chans[0], 0), cols.get(chans[1], 1)
            elif g.get("type") == "symmetry" and len(chans) == 2:
                self.left, self.right = cols.get(chans[0], 0), cols.get(chans[1], 1)
            elif g.get("type") in ("above", "below") and chans:
                self.target = cols.get(chans[0], 0)
        if "dissociation" in types:
            self.mode = "dissociation"
        elif "symmetry" in types:
            self.mode = "symmetry"
        elif "order" in types:
            self.mode = "firing_order"
        elif "below" in types:
            self.mode = "downtraining"
        elif "above" in types:
            self.mode = "uptraining"
        self._set_met(False, cue.index)

    def _add_order_row(self, result: dict) -> None:
        order = next((g for g in result.get("goals", []) if g.get("type") == "order"), None)
        order = order or result.get("order")
        if not order:
            return
        names = self.channel_names
        self.order_rows.append(OrderRow(
            rep=int(result.get("rep", len(self.order_rows) + 1)),
            order=order.get("order", ""), lag_ms=order.get("lag_ms"),
            passed=bool(order.get("passed")),
            target_label=names[self.target] if self.target < len(names) else "target",
            compensator_label=names[self.compensator] if self.compensator < len(names)
            else "compensator"))

    def _set_met(self, met: bool, index: int) -> None:
        if met and not self.met:
            self.met_since_index = int(index)
            self._zone_from = int(index)
        if not met and self.met and self._zone_from is not None:
            self.in_zone_samples += max(0, int(index) - self._zone_from)
            self._zone_from = None
        if not met:
            self.met_since_index = None
        self.met = met

    # ------------------------------------------------------------------ live levels
    def update_levels(self, envelope_uv: np.ndarray, end_index: int, goals=None) -> None:
        """Take the newest envelope; without a protocol, judge the goals from ``goals``.

        Parameters
        ----------
        envelope_uv : numpy.ndarray
            Newest envelope per channel, µV.
        end_index : int
            Absolute index one past the newest sample.
        goals : Goals, optional
            The session's captured goals (free mode).
        """
        self.end_index = int(end_index)
        env = np.asarray(envelope_uv, float)
        bars = []
        specs = self._protocol_bar_specs() if self.protocol_active else self._free_bar_specs(goals)
        for ch, goal_uv, direction in specs:
            if ch >= len(env):
                continue
            bars.append(Bar(ch, self.channel_names[ch], float(env[ch]), goal_uv, direction))
        scale = self.shared_scale_uv([b.level_uv for b in bars], [b.goal_uv for b in bars])
        for b in bars:
            b.scale_uv = scale
        if not self.protocol_active:
            judged = [b for b in bars if b.direction and math.isfinite(b.goal_uv)]
            met = bool(judged) and all(_bar_ok(b) for b in judged)
            if met != self.met:
                self.transitions.append((self.end_index, 0, met))
            self._set_met(met, self.end_index)
            for b in bars:
                b.met = _bar_ok(b) if b.direction and math.isfinite(b.goal_uv) else False
        else:
            for b in bars:
                b.met = self.met and bool(b.direction)
            judged = [b for b in bars if b.direction and math.isfinite(b.goal_uv)]
            # On the right side of the goal but its hold time not reached yet.
            self.holding = (not self.met and bool(judged)
                            and all(_bar_ok(b) for b in judged))
        paired = self.protocol_active or self.free_symmetry_pair is not None
        if self.mode == "symmetry" and not paired:
            self.symmetry_index_pct = math.nan
        if self.mode == "symmetry" and paired and max(self.left, self.right) < len(env):
            index = amplitude_index(float(env[self.right]), float(env[self.left]))
            self.symmetry_index_pct = float(index)
        self.bars = bars

    def _active(self, spec: dict) -> bool:
        """A goal applies now: during its part of the repetition (work, rest...) or always."""
        during = spec.get("during") or "all"
        return during == "all" or not self.segment or during == self.segment

    def _protocol_bar_specs(self):
        cols = self._protocol_cols
        specs = []
        for g in self._goal_specs:
            if not self._active(g):  # e.g. the rest goal while working
                continue
            t, chans = g.get("type"), g.get("channels") or []
            if t in ("above", "below") and chans:
                specs.append((cols.get(chans[0], 0), g.get("level_uv", math.nan), t))
            elif t == "dissociation" and len(chans) == 2:
                specs.append((cols.get(chans[0], 0), g.get("level_uv", math.nan), "above"))
                specs.append((cols.get(chans[1], 1), g.get("off_level_uv", math.nan), "below"))
            elif t in ("symmetry", "order") and len(chans) == 2:
                specs.append((cols.get(chans[0], 0), math.nan, ""))
                specs.append((cols.get(chans[1], 1), math.nan, ""))
        if not specs:  # rest/baseline phases: show the protocol's channels, no goal
            seen = []
            for c in cols.values():
                if c not in seen:
                    seen.append(c)
            specs = [(c, math.nan, "") for c in seen]
        # a goal may name a channel twice (e.g. above + order): keep the first
        out, seen_ch = [], set()
        for s in specs:
            if s[0] not in seen_ch:
                seen_ch.add(s[0])
                out.append((s[0], _num(s[1]), s[2]))
        return out

    def _free_bar_specs(self, goals):
        n = len(self.channel_names)
        up = (lambda c: goals.up_goal_uv(c)) if goals else (lambda c: math.nan)
        down = (lambda c: goals.down_goal_uv(c)) if goals else (lambda c: math.nan)
        t, k = min(self.target, n - 1), min(self.compensator, n - 1)
        if self.mode == "uptraining":
            return [(t, up(t), "above")] + [(c, math.nan, "") for c in range(n) if c != t][:3]
        if self.mode == "downtraining":
            return [(c, down(c), "below") for c in range(min(n, 4))]
        if self.mode in ("dissociation", "firing_order"):
            if n < 2:
                return [(t, up(t), "above")]
            return [(t, up(t), "above"), (k, down(k) if self.mode == "dissociation"
                                            else math.nan,
                                            "below" if self.mode == "dissociation" else "")]
        return [(min(self.left, n - 1), math.nan, ""), (min(self.right, n - 1), math.nan, "")]

    def shared_scale_uv(self, levels, goals) -> float:
        """The one full scale (µV) of every bar in the view, at ``end_index``.

        Parameters
        ----------
        levels : sequence of float
            The bars' levels now, µV (NaN: no level).
        goals : sequence of float
            The bars' goal levels, µV (NaN: no goal).

        Returns
        -------
        float
            A 1-2-5 value covering :data:`SCALE_GOAL_X` times the highest goal and the
            highest level, held for :data:`SCALE_HOLD_S` s and then decaying with a
            half-life of :data:`SCALE_HALF_LIFE_S` s (in stream time: sample indices).
        """
        from emgfeedback.gui.traces import nice_ceiling

        finite = [v for v in levels if math.isfinite(v)]
        top = max(finite, default=0.0)
        held = self._decayed_peak_uv()
        if top >= held:
            self._peak_uv, self._peak_index = top, self.end_index
            held = top
        aims = [SCALE_GOAL_X * g for g in goals if math.isfinite(g)]
        self.scale_uv = nice_ceiling(max([held, SCALE_MIN_UV] + aims))
        return self.scale_uv

    def _decayed_peak_uv(self) -> float:
        age_s = (self.end_index - self._peak_index) / self.fs_hz
        if age_s <= SCALE_HOLD_S:
            return self._peak_uv
        return self._peak_uv * 0.5 ** ((age_s - SCALE_HOLD_S) / SCALE_HALF_LIFE_S)

    @property
    def held_s(self) -> float:
        """Seconds the goal has been met without a break (0 when not met)."""
        if not self.met or self.met_since_index is None:
            return 0.0
        return max(0.0, (self.end_index - self.met_since_index) / self.fs_hz)

    @property
    def time_in_zone_s(self) -> float:
        extra = (self.end_index - self._zone_from) if self._zone_from is not None else 0
        return (self.in_zone_samples + max(0, extra)) / self.fs_hz

    @property
    def reward_visible(self) -> float:
        """Reward badge strength 0..1 (solid, then a slow fade; never a flash).

        Measured in stream time from the reward cue's sample index, like the hold timer.
        """
        age_s = max(0.0, (self.end_index - self.reward_at) / self.fs_hz)
        if age_s > REWARD_SHOW_S:
            return 0.0
        return 1.0 - max(0.0, age_s - REWARD_SOLID_S) / (REWARD_SHOW_S - REWARD_SOLID_S)

    @property
    def countdown_s(self) -> float:
        """Seconds left in the current part of the phase (NaN when no protocol part runs)."""
        if self.segment_end_index is None or not self.protocol_active:
            return math.nan
        return max(0.0, (self.segment_end_index - self.end_index) / self.fs_hz)

    def countdown_text(self) -> str:
        """The countdown as shown ("7 s", rounded up as a clock counts down; "" if none)."""
        left = self.countdown_s
        if not math.isfinite(left):
            return ""
        return f"{math.ceil(left - 1e-9):d} s"


def scale_caption(scale_uv: float, n_bars: int) -> str:
    """What the header says about the bars' scale."""
    if n_bars > 1:
        return f"one scale for all bars: 0–{scale_uv:g} µV"
    return f"scale 0–{scale_uv:g} µV"


def _num(value) -> float:
    return math.nan if value is None else float(value)


def _bar_ok(bar: Bar) -> bool:
    if not math.isfinite(bar.level_uv):
        return False
    if bar.direction == "above":
        return bar.level_uv >= bar.goal_uv
    if bar.direction == "below":
        return bar.level_uv < bar.goal_uv
    return False


def __getattr__(name: str):
    # The drawing lives in emgfeedback.gui.cue_canvas (this module is the model); the
    # names stay importable from here.
    if name in ("CueCanvas", "FeedbackPanel", "goal_label_rect"):
        from emgfeedback.gui import cue_canvas

        return getattr(cue_canvas, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
