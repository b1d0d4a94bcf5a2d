"""Constructed subjects for protocol tests: envelopes with known activity, and onset events.

``build_subject(protocol, fs_hz, mode)`` walks the protocol's timeline and writes, per
channel and segment, what a subject doing the task well ("pass") or badly ("fail") would
produce. The numbers are chosen so the expected results are known in advance:

pass: rest tone 5 µV (compensator 6 µV); targets at 60 µV in work (the goals in every shipped
      protocol are <= 3 x baseline or 30 % MVC of an MVC of 100 µV); compensators stay
      at 1.2 x their rest and switch on 80 ms after the target; left and right equal;
      relaxation phases fall to 0.6 x baseline; releases ramp down smoothly to rest.
fail: rest tone 15 µV; targets reach only 1.2 x rest in work; compensators switch on 80 ms
      before the target and rise to 3 x rest; the left side reaches 60 µV, the right only 30 %
      of that;
      relaxation stays at baseline; rests stay at 2 x rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.signal import lfilter

WORK_UV = 60.0
MVC_UV = 100.0
REACTION_S = 0.3
ORDER_LAG_S = 0.08


@dataclass(frozen=True)
class Onset:
    """Stand-in with the OnsetEvent fields the runner reads."""

    channel: int
    kind: str
    index: int
    detected_index: int


def _segments(proto, fs):
    t = 0.0
    for pi, phase in enumerate(proto.phases):
        for seg in phase.segments():
            start = round(t * fs)
            t += seg.duration_s
            yield pi, phase, seg, start, round(t * fs)


def build_subject(proto, fs_hz: float, mode: str, first_index: int = 0, seed: int = 0,
                  smooth_s: float = 0.05, noise: float = 0.03):
    """Envelope (n, channels) in µV and onset events (absolute indices from ``first_index``)
    for a subject that passes ("pass") or fails ("fail") the protocol.

    ``noise`` is the relative SD of white multiplicative noise on the envelope (0: the smooth
    amplitude, e.g. to modulate synthetic raw EMG with).
    """
    ok = mode == "pass"
    segs = list(_segments(proto, fs_hz))
    n = segs[-1][4]
    roles = [c.role for c in proto.channels]
    rest = np.array([6.0 if r == "compensator" else 5.0 for r in roles]) * (1 if ok else 3)
    level = np.tile(rest, (n, 1))
    onsets: list[Onset] = []
    react = round(REACTION_S * fs_hz)
    lag = round(ORDER_LAG_S * fs_hz)
    for _pi, phase, seg, s, e in segs:
        if seg.kind == "phase" and phase.kind in ("baseline",):
            continue
        if seg.kind == "phase" and phase.kind == "rest":
            relax = any(g.type == "below" for g in phase.goals)
            if relax and ok:
                level[s:e] = rest * 0.6
            continue
        if seg.kind == "phase" and phase.kind == "mvc":
            level[s:e] = MVC_UV  # the MVC itself is done in both modes
            continue
        if seg.kind == "rest":
            level[s:e] = rest * (1.0 if ok else 2.0)
            continue
        if seg.kind == "release":
            ramp = np.linspace(1.0, 0.0, round(0.8 * (e - s)))
            for c, r in enumerate(roles):
                top = WORK_UV if ok else rest[c] * 1.2
                if r in ("target", "left", "right"):
                    level[s:s + len(ramp), c] = rest[c] + (top - rest[c]) * ramp
            continue
        # work (a rep's work part, or a whole hold/work/free phase)
        a = s + react
        for c, r in enumerate(roles):
            if r == "left":
                top = WORK_UV
            elif r == "target":
                top = WORK_UV if ok else rest[c] * 1.2
            elif r == "right":
                top = WORK_UV if ok else WORK_UV * 0.3
            elif r == "compensator":
                top = rest[c] * (1.2 if ok else 3.0)
            else:
                continue
            if phase.kind == "release":
                level[a:e, c] = np.linspace(rest[c], top, e - a)
            elif seg.kind == "phase" and phase.kind == "hold":
                level[a:e, c] = top * np.linspace(1.0, 0.8, e - a)  # fatigue: 20 % decline
            elif r == "compensator" and seg.kind == "work":
                level[a + (lag if ok else -lag):e, c] = top
            else:
                level[a:e, c] = top
        if seg.kind == "work":
            for c, r in enumerate(roles):
                if r == "compensator":
                    on = a + (lag if ok else -lag)
                elif r in ("target", "left", "right"):
                    on = a
                else:
                    continue
                on += first_index
                off = e + react + first_index
                onsets.append(Onset(c, "on", on, on + lag // 2))
                onsets.append(Onset(c, "off", off, off + lag // 2))
    env = lfilter([1 - np.exp(-1 / (smooth_s * fs_hz))], [1, -np.exp(-1 / (smooth_s * fs_hz))],
                  level, axis=0, zi=level[:1] * np.exp(-1 / (smooth_s * fs_hz)))[0]
    rng = np.random.default_rng(seed)
    env = env * (1.0 + noise * rng.standard_normal(env.shape))
    onsets.sort(key=lambda ev: ev.detected_index)
    return env, onsets


@pytest.fixture
def subject():
    """The :func:`build_subject` function."""
    return build_subject
