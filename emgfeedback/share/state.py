"""The shared view's state: what a browser needs to draw the client view, nothing more.

:func:`build_state` reads a feedback model (``emgfeedback.gui.feedback.FeedbackModel`` or
any object with the same attributes; this module never imports Qt) and returns a small
JSON-ready dict: the cue, one entry per bar the client sees (level, goal, direction, met),
the shared scale, the hold timer, the countdown, the repetition count, the reward badge,
the symmetry index and the protocol's result. No raw samples, no stored sessions, and no
subject id unless the therapist allowed names (``--share-names``).

The dict is versioned by :data:`STATE_VERSION`; the page ignores keys it does not know.
"""

from __future__ import annotations

import math

#: Bumped when a key changes meaning.
STATE_VERSION = 1

#: Key names the page reads; everything else in a state is ignored by it.
STATE_KEYS = ("v", "seq", "t_ms", "mode", "instruction", "rep", "reps", "reps_passed",
              "met", "holding", "held_s", "in_zone_s", "countdown_s", "scale_uv", "bars",
              "reward", "reward_text", "symmetry", "result", "subject")

MODE_LABELS = {"uptraining": "Uptraining", "downtraining": "Downtraining",
               "dissociation": "Dissociation", "firing_order": "Firing order",
               "symmetry": "Symmetry"}


def _num(value, digits: int = 1):
    """A finite float rounded to ``digits`` places, or None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def client_bars(model) -> list:
    """The bars the client view shows: those with a goal (or the first bar).

    The same rule as the Qt client view (:class:`~emgfeedback.gui.feedback.CueCanvas`
    with ``large=True``); in symmetry mode both sides are kept.
    """
    bars = list(model.bars)
    if model.mode == "symmetry":
        by_channel = {b.channel: b for b in bars}
        return [b for b in (by_channel.get(model.left), by_channel.get(model.right))
                if b is not None]
    return [b for b in bars if b.direction] or bars[:1]


def build_state(model, *, seq: int = 0, t_ms: float | None = None,
                countdown_s: float | None = None, result: bool | None = None,
                subject: str = "", allow_names: bool = False) -> dict:
    """The state a browser draws, read from a feedback model.

    Parameters
    ----------
    model : FeedbackModel
        The feedback model (attributes read: ``mode``, ``instruction``, ``rep``, ``reps``,
        ``reps_passed``, ``met``, ``holding``, ``held_s``, ``time_in_zone_s``, ``scale_uv``,
        ``bars``, ``reward_visible``, ``reward_text``, ``symmetry_index_pct``,
        ``symmetry_max_pct``, ``left``, ``right``).
    seq : int
        Sequence number of this state (increases by one per published state).
    t_ms : float, optional
        Host monotonic time, ms, of the arrival of the newest sample the state shows
        (used for the sample-to-paint latency; the page only echoes it).
    countdown_s : float, optional
        Seconds left in the protocol's current segment (None: no countdown).
    result : bool, optional
        The protocol's overall result once it has ended (None while running / no protocol).
    subject : str
        The subject id; sent only when ``allow_names`` is true.
    allow_names : bool
        The therapist allowed the subject id on the shared screen.

    Returns
    -------
    dict
        JSON-ready; levels and goals in µV rounded to 0.1 µV, times in seconds.
    """
    bars = []
    for b in client_bars(model):
        bars.append({"label": str(b.label), "level_uv": _num(b.level_uv),
                     "goal_uv": _num(b.goal_uv) if b.direction else None,
                     "direction": b.direction, "met": bool(b.met)})
    symmetry = None
    if model.mode == "symmetry":
        index = _num(model.symmetry_index_pct, 0)
        symmetry = {"index_pct": index, "max_pct": _num(model.symmetry_max_pct, 1),
                    "ok": index is not None and abs(index) <= model.symmetry_max_pct}
    return {
        "v": STATE_VERSION,
        "seq": int(seq),
        "t_ms": _num(t_ms, 3),
        "mode": model.mode,
        "instruction": model.instruction or MODE_LABELS.get(model.mode, ""),
        "rep": int(model.rep),
        "reps": int(model.reps),
        "reps_passed": int(model.reps_passed),
        "met": bool(model.met),
        "holding": bool(model.holding),
        "held_s": _num(model.held_s, 2),
        "in_zone_s": _num(model.time_in_zone_s, 2) if model.mode == "downtraining" else None,
        "countdown_s": None if countdown_s is None else max(0, math.ceil(countdown_s - 1e-9)),
        "scale_uv": _num(model.scale_uv, 3),
        "bars": bars,
        "reward": _num(model.reward_visible, 2) or 0.0,
        "reward_text": model.reward_text if model.reward_visible > 0 else "",
        "symmetry": symmetry,
        "result": None if result is None else ("passed" if result else "not passed"),
        "subject": subject if allow_names and subject else None,
    }
