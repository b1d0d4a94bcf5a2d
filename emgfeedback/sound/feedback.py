"""Which sound to play when: the sound modes, driven by what the feedback views show.

:class:`SoundFeedback` reads the same feedback model the bars are drawn from (target level
and goal, the protocol's segment and repetition, goal met, reward) once per display frame,
so what is heard always agrees with what is shown. It holds no Qt and no audio device: it
tells a :class:`~emgfeedback.sound.player.SoundPlayer` (or anything with ``set_tone`` and
``play``) what to do.

Modes
-----
``off``
    Silence.
``chime``
    Cue sounds only: a beep when work starts, a lower note at rest, a tick when the goal is
    reached, a soft chime for a reward.
``tone``
    A continuous tone whose pitch follows the target's activation relative to its goal
    (higher = more), plus the cue sounds.
``eyes-closed``
    Downtraining without looking at the screen: the tone only (no beeps to startle), falling
    as tension falls; a soft reward chime each time the goal has been held for a further
    ``reward_hold_s`` seconds (and on the protocol's own rewards).
"""

from __future__ import annotations

import math

from emgfeedback.sound.synth import GAIN, tone_pitch_hz

MODES = ("off", "chime", "tone", "eyes-closed")


class SoundFeedback:
    """Turns the feedback model's state, frame by frame, into tone and cue sounds.

    Parameters
    ----------
    player : SoundPlayer
        Where the sounds go (``set_tone(pitch_hz, gain)``, ``play(kind)``).
    mode : str
        One of :data:`MODES`.
    mapping : str
        Pitch mapping (see :func:`~emgfeedback.sound.synth.tone_pitch_hz`).
    reward_hold_s : float
        In eyes-closed mode, the reward chime sounds each time the goal has been held this
        much longer.
    """

    def __init__(self, player, mode: str = "off", mapping: str = "octaves",
                 reward_hold_s: float = 5.0) -> None:
        self.player = player
        self.mapping = mapping
        self.reward_hold_s = float(reward_hold_s)
        self.mode = "off"
        self._last: dict = {}
        self._rewards_given = 0
        self._last_goal: dict[int, float] = {}
        self.set_mode(mode)

    def set_mode(self, mode: str) -> None:
        """Switch mode; the tone fades out when the new mode has none."""
        if mode not in MODES:
            raise ValueError(f"sound mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        if mode != "off":
            self.player.start()
        if mode not in ("tone", "eyes-closed"):
            self.player.set_tone(None)

    def pitch_hz(self, model) -> float | None:
        """The tone's pitch for the model's target bar (None: no level or goal yet).

        Between work periods (a rest with no goal of its own) the tone keeps following the
        target against the last goal it had, so the person hears the muscle let go.
        """
        bars = list(model.bars)
        if not bars:
            return None
        judged = [b for b in bars if getattr(b, "direction", "")]
        bar = next((b for b in judged if b.channel == model.target), None)
        if bar is None:
            bar = next((b for b in bars if b.channel == model.target), judged[0] if judged
                       else bars[0])
        goal = bar.goal_uv if math.isfinite(bar.goal_uv) and bar.goal_uv > 0 else None
        if goal is not None:
            self._last_goal[bar.channel] = goal
        goal = self._last_goal.get(bar.channel, math.nan)
        return tone_pitch_hz(bar.level_uv, goal, self.mapping)

    def update(self, model) -> None:
        """Per display frame: follow the model's state."""
        if self.mode == "off":
            self._remember(model)
            return
        if self.mode in ("tone", "eyes-closed"):
            self.player.set_tone(self.pitch_hz(model), GAIN)
        last = self._last
        if last:
            if self.mode in ("chime", "tone"):
                new_segment = (model.segment, model.rep) != (last["segment"], last["rep"])
                if new_segment and model.segment == "work":
                    self.player.play("start")
                elif new_segment and model.segment == "rest":
                    self.player.play("rest")
                elif model.met and not last["met"]:
                    self.player.play("goal")
            if model.reward_at != last["reward_at"]:
                self.player.play("reward")
        if self.mode == "eyes-closed":
            held = model.held_s if model.met else 0.0
            due = int(math.floor(held / self.reward_hold_s)) if held > 0 else 0
            if due > self._rewards_given:
                self.player.play("reward")
            self._rewards_given = due
        self._remember(model)

    def _remember(self, model) -> None:
        self._last = {"segment": model.segment, "rep": model.rep, "met": model.met,
                      "reward_at": model.reward_at}

    def close(self) -> None:
        """Silence and release the device (the session ends)."""
        self.player.set_tone(None)
        self.player.stop()
