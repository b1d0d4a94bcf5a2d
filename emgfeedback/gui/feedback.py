"""Feedback: bars with goal lines, hold timer, repetitions, reward, firing order, symmetry.

:class:`FeedbackModel` is the state (plain Python, testable without a screen); it is fed
with the engine's envelope snapshot and, when a protocol runs, with the runner's cues, which
are authoritative for "goal met" (they carry the goal's hold time and grace period and are
stamped with sample indices). Without a protocol the goals come from the captured baseline
and MVC, and "met" is the latest envelope compared with the goal.

:class:`CueCanvas` paints a model; the therapist panel and the client's full-screen view
use the same canvas at different sizes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from emgfeedback.analysis.symmetry import amplitude_index
from emgfeedback.gui import palette

MODES = ("uptraining", "downtraining", "dissociation", "firing_order", "symmetry")
MODE_LABELS = {"uptraining": "Uptraining", "downtraining": "Downtraining",
               "dissociation": "Dissociation", "firing_order": "Firing order",
               "symmetry": "Symmetry"}
REWARD_SHOW_S = 2.0


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
    bars: list = field(default_factory=list)
    met: bool = False
    met_since_index: int | None = None
    hold_goal_s: float = 0.0
    rep: int = 0
    reps: int = 0
    reps_passed: int = 0
    instruction: str = ""
    segment: str = ""
    reward_at: float = -1e9
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
    _scales: dict = field(default_factory=dict)
    _zone_from: int | None = None

    # ------------------------------------------------------------------ configuration
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
                              if spec.get("type") != "order"]
                self._set_met(bool(continuous) and all(self._goal_met.get(g, False)
                                                       for g in continuous), cue.index)
            elif kind == "rep_counted":
                if data.get("passed"):
                    self.reps_passed += 1
                self._add_order_row(data.get("result") or {})
            elif kind == "reward":
                self.reward_at = time.monotonic()
                self.reward_text = "Well done"
            elif kind == "phase_end":
                self.phase_history.append({"name": cue.phase_name,
                                           "reps_passed": self.reps_passed,
                                           "order_rows": list(self.order_rows)})
            elif kind == "protocol_end":
                self.instruction = "Done"
                self.segment = ""
                self._set_met(False, cue.index)

    def _start_phase(self, cue) -> None:
        data = cue.data
        self._goal_specs = list(data.get("goals") or [])
        self._goal_met = {gi: False for gi, g in enumerate(self._goal_specs)
                          if g.get("type") != "order"}
        self.instruction = cue.text or cue.phase_name
        self.rep, self.reps, self.reps_passed = 0, int(data.get("reps") or 0), 0
        if self.reps:  # a rest phase keeps showing the last drill's firing order
            self.order_rows = []
        self.in_zone_samples = 0
        self.hold_goal_s = 0.0
        types = [g.get("type") for g in self._goal_specs]
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
            level = float(env[ch])
            bars.append(Bar(ch, self.channel_names[ch], level, goal_uv, direction,
                            scale_uv=self._scale(ch, level, goal_uv)))
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
        if self.mode == "symmetry" and max(self.left, self.right) < len(env):
            index = amplitude_index(float(env[self.right]), float(env[self.left]))
            self.symmetry_index_pct = float(index)
        self.bars = bars

    def _protocol_bar_specs(self):
        cols = self._protocol_cols
        specs = []
        for g in self._goal_specs:
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

    def _scale(self, ch: int, level: float, goal: float) -> float:
        # The bar's full height only grows (a calm display), at 1-2-5 steps.
        want = max(level if math.isfinite(level) else 0.0,
                   1.6 * goal if math.isfinite(goal) else 0.0, 10.0)
        cur = self._scales.get(ch, 0.0)
        if want > cur:
            from emgfeedback.gui.traces import nice_ceiling

            cur = nice_ceiling(want)
            self._scales[ch] = cur
        return cur

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
        """Reward badge opacity 0..1 (a slow fade, never a flash)."""
        age = time.monotonic() - self.reward_at
        if age < 0 or age > REWARD_SHOW_S:
            return 0.0
        return 1.0 - max(0.0, age - 1.2) / (REWARD_SHOW_S - 1.2)


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


class CueCanvas(QtWidgets.QWidget):
    """Paints a :class:`FeedbackModel`: bars, goals, hold timer, reps, reward.

    Parameters
    ----------
    model : FeedbackModel
        What to show.
    large : bool
        Client view: only the cue, sized to be read from two metres.
    """

    def __init__(self, model: FeedbackModel, large: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.large = large
        self.setMinimumSize(260, 220)
        self.setAutoFillBackground(False)
        self._drawn: tuple | None = None

    def signature(self) -> tuple:
        """What the canvas shows, rounded to what can be seen (repaint only on change)."""
        m = self.model
        bars = tuple((b.channel, round(b.level_uv, 0) if math.isfinite(b.level_uv) else None,
                      round(b.goal_uv, 1) if math.isfinite(b.goal_uv) else None, b.direction,
                      b.met, b.scale_uv) for b in m.bars)
        return (m.mode, m.instruction, m.rep, m.reps, m.reps_passed, m.met, m.holding,
                round(m.held_s, 1), round(m.time_in_zone_s, 1), round(m.reward_visible, 2),
                round(m.symmetry_index_pct, 0) if math.isfinite(m.symmetry_index_pct) else None,
                bars)

    def refresh(self) -> None:
        """Schedule a repaint if anything visible changed."""
        sig = self.signature()
        if sig != self._drawn:
            self._drawn = sig
            self.update()

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt override
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.Antialiasing, True)
        rect = QtCore.QRectF(self.rect())
        p.fillRect(rect, QtGui.QColor(palette.PANEL if not self.large else palette.BACKGROUND))
        m = self.model
        unit = rect.height() / 22.0 if self.large else max(11.0, rect.height() / 19.0)
        unit = min(unit, rect.width() / (18.0 if self.large else 22.0))
        inner = rect.adjusted(unit, unit * 0.5, -unit, -unit * 0.5)
        title_h = unit * (2.6 if self.large else 1.7)
        info_h = unit * (1.4 if self.large else 1.2)
        reward_h = unit * (2.4 if self.large else 1.9)
        self._draw_header(p, QtCore.QRectF(inner.left(), inner.top(), inner.width(), title_h),
                          QtCore.QRectF(inner.left(), inner.top() + title_h, inner.width(),
                                        info_h), unit)
        body = QtCore.QRectF(inner.left(), inner.top() + title_h + info_h + unit * 0.5,
                             inner.width(),
                             inner.height() - title_h - info_h - reward_h - unit * 0.5)
        if m.mode == "symmetry":
            self._draw_symmetry(p, body, unit)
        else:
            self._draw_bars(p, body, unit)
        if m.reward_visible > 0:
            self._draw_reward(p, QtCore.QRectF(inner.left(), inner.bottom() - reward_h,
                                               inner.width(), reward_h), m.reward_visible)
        p.end()

    def _font(self, size: float, bold: bool = False) -> QtGui.QFont:
        f = QtGui.QFont(self.font())
        f.setPixelSize(max(8, int(size)))
        f.setBold(bold)
        return f

    def _fitted_font(self, text: str, width: float, size: float,
                     bold: bool = False) -> QtGui.QFont:
        """The largest font up to ``size`` px in which ``text`` fits ``width``."""
        font = self._font(size, bold)
        w = QtGui.QFontMetricsF(font).horizontalAdvance(text)
        if w > width > 0:
            font = self._font(size * width / w * 0.98, bold)
        return font

    def _draw_header(self, p: QtGui.QPainter, title: QtCore.QRectF, info: QtCore.QRectF,
                     unit: float) -> None:
        m = self.model
        text = m.instruction or MODE_LABELS.get(m.mode, "")
        p.setPen(QtGui.QColor(palette.TEXT))
        p.setFont(self._fitted_font(text, title.width(), title.height() * 0.8, True))
        align = QtCore.Qt.AlignHCenter if self.large else QtCore.Qt.AlignLeft
        p.drawText(title, align | QtCore.Qt.AlignVCenter, text)
        parts = []
        if m.reps:
            parts.append(f"rep {m.rep} of {m.reps} · {m.reps_passed} ✓")
        if m.mode == "downtraining":
            parts.append(f"in zone {m.time_in_zone_s:.1f} s")
        if m.met:
            parts.append(f"goal held {m.held_s:.1f} s")
        elif m.holding:
            parts.append("hold it…")
        p.setFont(self._font(info.height() * 0.75))
        p.setPen(QtGui.QColor(palette.MUTED))
        p.drawText(info, align | QtCore.Qt.AlignVCenter, "   ·   ".join(parts))

    def _draw_bars(self, p: QtGui.QPainter, r: QtCore.QRectF, unit: float) -> None:
        bars = self.model.bars
        if self.large:  # the client sees only the bars that carry a goal
            bars = [b for b in bars if b.direction] or bars[:1]
        if not bars:
            return
        gap = unit * (2.0 if self.large else 1.0)
        width = (r.width() - gap * (len(bars) - 1)) / len(bars)
        width = min(width, unit * (14 if self.large else 7))
        total = width * len(bars) + gap * (len(bars) - 1)
        x = r.left() + (r.width() - total) / 2
        label_h = unit * (1.6 if self.large else 1.4)
        value_h = unit * (2.6 if self.large else 1.6)
        for b in bars:
            col = QtCore.QRectF(x, r.top() + value_h, width, r.height() - value_h - label_h)
            self._draw_bar(p, b, col, unit)
            p.setPen(QtGui.QColor(palette.TEXT))
            p.setFont(self._font(unit * (2.0 if self.large else 1.2), True))
            value = f"{b.level_uv:.0f} µV" if math.isfinite(b.level_uv) else "– µV"
            if b.met:
                value += "  ✓"
            p.drawText(QtCore.QRectF(x - gap / 2, r.top(), width + gap, value_h),
                       QtCore.Qt.AlignCenter, value)
            p.setFont(self._font(unit * (1.2 if self.large else 0.85)))
            p.setPen(QtGui.QColor(palette.MUTED))
            p.drawText(QtCore.QRectF(x - gap / 2, col.bottom() + unit * 0.2, width + gap,
                                     label_h), QtCore.Qt.AlignHCenter | QtCore.Qt.AlignTop,
                       b.label)
            x += width + gap

    def _draw_bar(self, p: QtGui.QPainter, b: Bar, col: QtCore.QRectF, unit: float) -> None:
        p.setPen(QtGui.QPen(QtGui.QColor(palette.GRID), 1))
        p.setBrush(QtGui.QColor("#EFEFEA"))
        p.drawRoundedRect(col, unit * 0.3, unit * 0.3)
        frac = 0.0 if not math.isfinite(b.level_uv) else min(1.0, b.level_uv / b.scale_uv)
        fill = QtCore.QRectF(col.left(), col.bottom() - frac * col.height(), col.width(),
                             frac * col.height())
        colour = palette.MET if b.met else palette.WORKING
        p.setPen(QtCore.Qt.NoPen)
        p.setBrush(QtGui.QColor(colour))
        p.drawRoundedRect(fill, unit * 0.3, unit * 0.3)
        if b.direction and math.isfinite(b.goal_uv):
            y = col.bottom() - min(1.0, b.goal_uv / b.scale_uv) * col.height()
            pen = QtGui.QPen(QtGui.QColor(palette.GOAL_LINE), max(2.0, unit * 0.18),
                             QtCore.Qt.DashLine)
            p.setPen(pen)
            p.drawLine(QtCore.QPointF(col.left() - unit * 0.4, y),
                       QtCore.QPointF(col.right() + unit * 0.4, y))
            font = self._font(unit * (0.95 if self.large else 0.8), True)
            p.setFont(font)
            arrow = "▲" if b.direction == "above" else "▼"
            label = f"{arrow} goal {b.goal_uv:.0f} µV"
            tw = QtGui.QFontMetricsF(font).horizontalAdvance(label) + unit * 0.6
            th = unit * (1.4 if self.large else 1.2)
            top = y - th - unit * 0.2 if b.direction == "above" else y + unit * 0.2
            pill = QtCore.QRectF(col.center().x() - tw / 2, top, tw, th)
            p.setPen(QtCore.Qt.NoPen)
            p.setBrush(QtGui.QColor(255, 255, 255, 225))
            p.drawRoundedRect(pill, th / 3, th / 3)
            p.setPen(QtGui.QColor(palette.TEXT))
            p.drawText(pill, QtCore.Qt.AlignCenter, label)

    def _draw_symmetry(self, p: QtGui.QPainter, r: QtCore.QRectF, unit: float) -> None:
        m = self.model
        bars = {b.channel: b for b in m.bars}
        left, right = bars.get(m.left), bars.get(m.right)
        if left is None or right is None:
            return
        mid = r.center().x()
        h = min(r.height() * 0.35, unit * (6 if self.large else 3.5))
        y = r.top() + r.height() * 0.25
        scale = max(left.scale_uv, right.scale_uv)
        half = r.width() / 2 - unit
        for b, sign in ((left, -1), (right, 1)):
            frac = 0.0 if not math.isfinite(b.level_uv) else min(1.0, b.level_uv / scale)
            w = frac * half
            box = QtCore.QRectF(mid if sign > 0 else mid - half, y, half, h)
            p.setPen(QtGui.QPen(QtGui.QColor(palette.GRID), 1))
            p.setBrush(QtGui.QColor("#EFEFEA"))
            p.drawRect(box)
            fill = QtCore.QRectF(mid if sign > 0 else mid - w, y, w, h)
            p.setPen(QtCore.Qt.NoPen)
            p.setBrush(QtGui.QColor(palette.WORKING if sign < 0 else palette.OKABE_ITO["sky"]))
            p.drawRect(fill)
            p.setPen(QtGui.QColor(palette.TEXT))
            p.setFont(self._font(unit * (1.6 if self.large else 1.1), True))
            value = f"{b.level_uv:.0f} µV" if math.isfinite(b.level_uv) else "–"
            p.drawText(QtCore.QRectF(box.left(), y + h + unit * 0.3, half, unit * 2),
                       QtCore.Qt.AlignCenter, f"{b.label}  {value}")
        p.setPen(QtGui.QPen(QtGui.QColor(palette.TEXT), 2))
        p.drawLine(QtCore.QPointF(mid, y - unit * 0.5), QtCore.QPointF(mid, y + h + unit * 0.5))
        idx = m.symmetry_index_pct
        ok = math.isfinite(idx) and abs(idx) <= m.symmetry_max_pct
        p.setFont(self._font(unit * (2.4 if self.large else 1.6), True))
        p.setPen(QtGui.QColor(palette.TEXT))
        text = f"symmetry index {idx:+.0f} %" if math.isfinite(idx) else "symmetry index –"
        if ok:
            text += "  ✓"
        p.drawText(QtCore.QRectF(r.left(), y + h + unit * 2.6, r.width(), unit * 3),
                   QtCore.Qt.AlignCenter, text)
        if math.isfinite(idx) and round(idx) != 0:
            # The sign follows (R − L) / mean: say which side in words, smaller, below.
            p.setFont(self._font(unit * (1.2 if self.large else 0.9), False))
            p.drawText(QtCore.QRectF(r.left(), y + h + unit * 5.4, r.width(), unit * 1.6),
                       QtCore.Qt.AlignCenter,
                       "right side stronger" if idx > 0 else "left side stronger")

    def _draw_reward(self, p: QtGui.QPainter, band: QtCore.QRectF, alpha: float) -> None:
        text = f"✓ {self.model.reward_text}"
        font = self._font(band.height() * 0.55, True)
        width = QtGui.QFontMetricsF(font).horizontalAdvance(text) + band.height()
        box = QtCore.QRectF(band.center().x() - width / 2, band.top() + band.height() * 0.1,
                            width, band.height() * 0.8)
        colour = QtGui.QColor(palette.OK)
        colour.setAlphaF(0.9 * alpha)
        p.setPen(QtCore.Qt.NoPen)
        p.setBrush(colour)
        p.drawRoundedRect(box, box.height() / 3, box.height() / 3)
        p.setPen(QtGui.QColor(255, 255, 255, int(255 * alpha)))
        p.setFont(font)
        p.drawText(box, QtCore.Qt.AlignCenter, text)


class OrderTimeline(QtWidgets.QWidget):
    """Per-repetition firing order: the target's onset relative to the compensator's."""

    def __init__(self, model: FeedbackModel, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.setMinimumHeight(120)
        self.max_rows = 8
        self.range_ms = 250.0

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt override
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.Antialiasing, True)
        rect = QtCore.QRectF(self.rect())
        p.fillRect(rect, QtGui.QColor(palette.PANEL))
        rows = self.model.order_rows[-self.max_rows:]
        f = QtGui.QFont(self.font())
        f.setPixelSize(12)
        p.setFont(f)
        p.setPen(QtGui.QColor(palette.MUTED))
        names = self.model.channel_names
        t = names[self.model.target] if self.model.target < len(names) else "target"
        c = names[self.model.compensator] if self.model.compensator < len(names) else "comp."
        p.drawText(rect.adjusted(6, 2, -6, 0), QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop,
                   f"Firing order: {t} onset relative to {c} (ms; ● {c} at 0)")
        top = rect.top() + 20
        row_h = max(12.0, (rect.height() - 24) / self.max_rows)
        label_w = 48.0
        verdict_w = 150.0
        axis_l = rect.left() + label_w
        axis_r = rect.right() - verdict_w
        zero = (axis_l + axis_r) / 2

        def xpos(ms: float) -> float:
            ms = max(-self.range_ms, min(self.range_ms, ms))
            return zero + ms / self.range_ms * (axis_r - axis_l) / 2

        p.setPen(QtGui.QPen(QtGui.QColor(palette.GRID), 1))
        p.drawLine(QtCore.QPointF(zero, top), QtCore.QPointF(zero, top + row_h * self.max_rows))
        if not rows:
            p.setPen(QtGui.QColor(palette.MUTED))
            p.drawText(QtCore.QRectF(rect.left(), top, rect.width(), row_h * 2),
                       QtCore.Qt.AlignCenter, "no repetitions yet")
        for i, row in enumerate(rows):
            y = top + i * row_h + row_h / 2
            p.setPen(QtGui.QColor(palette.TEXT))
            p.drawText(QtCore.QRectF(rect.left() + 4, y - row_h / 2, label_w, row_h),
                       QtCore.Qt.AlignVCenter, f"rep {row.rep}")
            p.setPen(QtCore.Qt.NoPen)
            p.setBrush(QtGui.QColor(palette.MUTED))
            p.drawEllipse(QtCore.QPointF(zero, y), 4, 4)
            if row.lag_ms is not None:
                colour = palette.MET if row.passed else palette.WORKING
                p.setPen(QtGui.QPen(QtGui.QColor(colour), 3))
                p.drawLine(QtCore.QPointF(zero, y), QtCore.QPointF(xpos(row.lag_ms), y))
                p.setPen(QtCore.Qt.NoPen)
                p.setBrush(QtGui.QColor(colour))
                p.drawRect(QtCore.QRectF(xpos(row.lag_ms) - 3, y - 6, 6, 12))
            verdict = {"right": "target first", "wrong": "compensator first",
                       "no_target": "no target onset"}.get(row.order, row.order)
            lag = f"{row.lag_ms:+.0f} ms " if row.lag_ms is not None else ""
            mark = "✓" if row.passed else "✗"
            p.setPen(QtGui.QColor(palette.TEXT))
            p.drawText(QtCore.QRectF(axis_r + 6, y - row_h / 2, verdict_w - 6, row_h),
                       QtCore.Qt.AlignVCenter, f"{mark} {lag}{verdict}")
        p.end()


class FeedbackPanel(QtWidgets.QFrame):
    """The therapist's feedback panel: the cue canvas plus the firing-order timeline."""

    def __init__(self, model: FeedbackModel, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.model = model
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.canvas = CueCanvas(model)
        self.timeline = OrderTimeline(model)
        self._rows_drawn = -1
        layout.addWidget(self.canvas, 3)
        layout.addWidget(self.timeline, 2)

    def refresh(self) -> None:
        self.timeline.setVisible(self.model.mode == "firing_order")
        self.canvas.refresh()
        rows = len(self.model.order_rows)
        if self.timeline.isVisible() and rows != self._rows_drawn:
            self._rows_drawn = rows
            self.timeline.update()
