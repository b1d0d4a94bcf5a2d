"""What the sound feedback plays: pitch mappings, the continuous tone and the cue sounds.

Pure numpy, no audio device: :mod:`emgfeedback.sound.player` sends these samples to the
sound card. The tone's pitch is a function of the target channel's envelope relative to its
goal only, so the same muscle effort sounds the same whatever the µV scale of the board.

Two ranges are kept apart on purpose: the continuous tone lives between ``LOW_HZ`` and
``HIGH_HZ`` (220-880 Hz), the cue sounds above 1 kHz, so a listener (and the audio-path
test) can tell "the muscle" from "the protocol" by ear.
"""

from __future__ import annotations

import math

import numpy as np

LOW_HZ = 220.0
GOAL_HZ = 440.0
HIGH_HZ = 880.0
#: Envelope / goal at which the pitch stops rising.
MAX_RATIO = 2.0
#: Output sample rate used by the player (every sound card takes it).
SAMPLE_RATE_HZ = 44100
GAIN = 0.25

#: How the envelope/goal ratio becomes a pitch (see :func:`tone_pitch_hz`).
MAPPINGS = ("octaves", "linear", "steps")

#: Cue sound -> (fundamental Hz, duration s, second partial ratio). All above 1 kHz.
CUES = {
    "start": (1568.0, 0.15, 0.0),    # G6 beep: work starts
    "rest": (1174.7, 0.25, 0.0),     # D6, longer and lower: let go
    "goal": (1760.0, 0.12, 0.0),     # A6 tick: the goal is reached
    "reward": (2093.0, 0.6, 1.5),    # C7 soft chime with a fifth: goal held / well done
}


def tone_pitch_hz(level_uv: float, goal_uv: float, mapping: str = "octaves") -> float | None:
    """The tone's pitch for an envelope level against its goal.

    Higher always means more activation, whether the person trains up to the goal or keeps
    below it: in downtraining the tone falls as the muscle lets go.

    Parameters
    ----------
    level_uv : float
        The target channel's envelope, µV.
    goal_uv : float
        Its goal, µV (> 0).
    mapping : {"octaves", "linear", "steps"}
        ``"octaves"`` (default): musical scale, one octave from rest (``LOW_HZ``) to the
        goal (``GOAL_HZ``) and one more to ``MAX_RATIO`` x the goal (``HIGH_HZ``).
        ``"linear"``: the same end points, linear in hertz (finer steps near rest).
        ``"steps"``: the octave mapping rounded to a pentatonic scale, calmer for long
        relaxation work (the pitch moves only when the level really changes).

    Returns
    -------
    float or None
        Pitch in Hz; None (silence) when the level or the goal is unknown.
    """
    if mapping not in MAPPINGS:
        raise ValueError(f"sound mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}")
    if not (math.isfinite(level_uv) and math.isfinite(goal_uv)) or goal_uv <= 0:
        return None
    ratio = min(MAX_RATIO, max(0.0, level_uv / goal_uv))
    if mapping == "linear":
        if ratio <= 1.0:
            return LOW_HZ + (GOAL_HZ - LOW_HZ) * ratio
        return GOAL_HZ + (HIGH_HZ - GOAL_HZ) * (ratio - 1.0) / (MAX_RATIO - 1.0)
    if ratio <= 1.0:
        octaves = ratio
    else:
        octaves = 1.0 + (ratio - 1.0) / (MAX_RATIO - 1.0)
    if mapping == "steps":
        # Major pentatonic degrees in semitones, per octave.
        degrees = np.array([0, 2, 4, 7, 9, 12])
        semis = octaves * 12.0
        whole = math.floor(semis / 12.0)
        rest = semis - 12.0 * whole
        semis = 12.0 * whole + float(degrees[np.argmin(np.abs(degrees - rest))])
        octaves = semis / 12.0
    return LOW_HZ * 2.0 ** octaves


def tone_block(n: int, start_hz: float, end_hz: float, phase: float,
               fs_hz: float = SAMPLE_RATE_HZ, gain: float = GAIN) -> tuple[np.ndarray, float]:
    """``n`` samples of a sine gliding from ``start_hz`` to ``end_hz``, phase-continuous.

    Parameters
    ----------
    n : int
        Number of samples.
    start_hz, end_hz : float
        Pitch at the first sample and the pitch the glide heads for.
    phase : float
        Phase (radians) of the first sample: the previous block's returned phase.
    fs_hz : float
        Output sample rate.
    gain : float
        Peak amplitude (full scale 1.0).

    Returns
    -------
    samples : ndarray of float32
        Mono samples in [-1, 1].
    phase : float
        The phase (radians, wrapped) to start the next block with.
    """
    if n <= 0:
        return np.zeros(0, dtype=np.float32), phase
    freq = np.linspace(start_hz, end_hz, n, endpoint=False)
    steps = np.cumsum(2.0 * math.pi * freq / fs_hz)
    # Sample k has the phase accumulated over samples 0..k-1: the first sample continues
    # exactly where the previous block stopped.
    x = gain * np.sin(phase + np.concatenate(([0.0], steps[:-1])))
    next_phase = float(phase + steps[-1]) % (2.0 * math.pi)
    return x.astype(np.float32), next_phase


def cue_sound(kind: str, fs_hz: float = SAMPLE_RATE_HZ, gain: float = 0.3) -> np.ndarray:
    """A short cue sound (``"start"``, ``"rest"``, ``"goal"`` or ``"reward"``).

    Parameters
    ----------
    kind : str
        One of :data:`CUES`.
    fs_hz : float
        Output sample rate.
    gain : float
        Peak amplitude.

    Returns
    -------
    ndarray of float32
        Mono samples with a 5 ms attack and an exponential decay (no clicks).
    """
    try:
        pitch_hz, duration_s, partial = CUES[kind]
    except KeyError:
        raise ValueError(f"cue sound must be one of {', '.join(CUES)}, got {kind!r}") from None
    t = np.arange(int(round(duration_s * fs_hz))) / fs_hz
    env = np.minimum(1.0, t / 0.005) * np.exp(-t * 4.0 / duration_s)
    x = np.sin(2 * math.pi * pitch_hz * t)
    if partial:
        x = (x + 0.4 * np.sin(2 * math.pi * partial * pitch_hz * t)) / 1.4
    return (gain * env * x).astype(np.float32)


def wav_bytes(samples: np.ndarray, fs_hz: float = SAMPLE_RATE_HZ) -> bytes:
    """Float samples in [-1, 1] as 16-bit mono WAV bytes (for saving or other players)."""
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(fs_hz))
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()
