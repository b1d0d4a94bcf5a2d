"""Optional sound: a continuous tone whose pitch follows the target's activation.

The pitch is a pure function of the target channel's envelope relative to its goal
(:func:`tone_pitch_hz`), rising on a musical (logarithmic) scale from ``LOW_HZ`` at rest to
``GOAL_HZ`` at the goal and on to ``HIGH_HZ`` at ``MAX_RATIO`` times the goal, so "higher =
more" whether the person trains up to the goal or keeps below it. The samples are generated
here (:func:`tone_block`, phase-continuous, with a glide so pitch steps do not click) and
pushed to QtMultimedia's ``QAudioOutput`` in small blocks from the GUI's frame timer.

Sound is optional: without QtMultimedia, its system libraries (e.g. PulseAudio's
``libpulse-mainloop-glib``) or an output device, :class:`ToneOutput` stays silent and
``available`` is False; nothing raises.
"""

from __future__ import annotations

import math

import numpy as np

LOW_HZ = 220.0
GOAL_HZ = 440.0
HIGH_HZ = 880.0
#: Envelope / goal at which the pitch stops rising.
MAX_RATIO = 2.0
SAMPLE_RATE_HZ = 22050
#: Audio queued ahead of the speaker: enough to ride over a late frame, short enough
#: that the pitch follows the muscle within about this delay.
BUFFER_S = 0.08
GAIN = 0.25


def tone_pitch_hz(level_uv: float, goal_uv: float) -> float | None:
    """The tone's pitch for an envelope level against its goal.

    Parameters
    ----------
    level_uv : float
        The target channel's envelope, µV.
    goal_uv : float
        Its goal, µV (> 0).

    Returns
    -------
    float or None
        ``LOW_HZ`` at rest, ``GOAL_HZ`` exactly at the goal, ``HIGH_HZ`` at
        ``MAX_RATIO`` x the goal and above (log-linear in between, one octave from rest to
        goal and one from goal to ``MAX_RATIO`` x goal); None (silence) when the level or
        the goal is unknown.
    """
    if not (math.isfinite(level_uv) and math.isfinite(goal_uv)) or goal_uv <= 0:
        return None
    ratio = min(MAX_RATIO, max(0.0, level_uv / goal_uv))
    if ratio <= 1.0:
        return LOW_HZ * (GOAL_HZ / LOW_HZ) ** ratio
    return GOAL_HZ * (HIGH_HZ / GOAL_HZ) ** ((ratio - 1.0) / (MAX_RATIO - 1.0))


def tone_block(n: int, start_hz: float, end_hz: float, phase: float,
               fs_hz: float = SAMPLE_RATE_HZ, gain: float = GAIN) -> tuple[np.ndarray, float]:
    """``n`` samples of a sine gliding from ``start_hz`` to ``end_hz``, phase-continuous.

    Returns
    -------
    samples : ndarray of int16
        Mono 16-bit samples.
    phase : float
        The phase (radians, wrapped) to start the next block with.
    """
    if n <= 0:
        return np.zeros(0, dtype=np.int16), phase
    freq = np.linspace(start_hz, end_hz, n, endpoint=False)
    steps = np.cumsum(2.0 * math.pi * freq / fs_hz)
    # Sample k has the phase accumulated over samples 0..k-1: the first sample continues
    # exactly where the previous block stopped.
    x = gain * np.sin(phase + np.concatenate(([0.0], steps[:-1])))
    next_phase = float(phase + steps[-1]) % (2.0 * math.pi)
    return (x * 32767.0).astype(np.int16), next_phase


class ToneOutput:
    """A continuous tone through ``QAudioOutput`` (push mode); silent when unavailable."""

    def __init__(self) -> None:
        self.available = False
        self._out = None
        self._dev = None
        self._phase = 0.0
        self._hz = LOW_HZ
        self._gain = 0.0  # fades in/out instead of clicking
        try:
            from PyQt5 import QtMultimedia  # optional: may lack system libraries

            fmt = QtMultimedia.QAudioFormat()
            fmt.setSampleRate(SAMPLE_RATE_HZ)
            fmt.setChannelCount(1)
            fmt.setSampleSize(16)
            fmt.setCodec("audio/pcm")
            fmt.setByteOrder(QtMultimedia.QAudioFormat.LittleEndian)
            fmt.setSampleType(QtMultimedia.QAudioFormat.SignedInt)
            device = QtMultimedia.QAudioDeviceInfo.defaultOutputDevice()
            if device.isNull() or not device.isFormatSupported(fmt):
                return
            out = QtMultimedia.QAudioOutput(device, fmt)
            out.setBufferSize(int(SAMPLE_RATE_HZ * BUFFER_S) * 2)
            self._out = out
            self.available = True
        except Exception:  # noqa: BLE001 - no multimedia module, libraries or device
            self._out = None

    @property
    def playing(self) -> bool:
        return self._dev is not None

    def start(self) -> None:
        if self._out is None or self._dev is not None:
            return
        try:
            self._dev = self._out.start()
        except Exception:  # noqa: BLE001 - sound is optional
            self._dev = None

    def stop(self) -> None:
        if self._out is not None and self._dev is not None:
            try:
                self._out.stop()
            except Exception:  # noqa: BLE001 - sound is optional
                pass
        self._dev = None

    def feed(self, pitch_hz: float | None) -> None:
        """Top up the audio buffer with the tone at ``pitch_hz`` (None fades to silence)."""
        if self._dev is None or self._out is None:
            return
        try:
            n = self._out.bytesFree() // 2
            if n <= 0:
                return
            target = pitch_hz if pitch_hz is not None else self._hz
            samples, self._phase = tone_block(n, self._hz, target, self._phase, gain=1.0)
            want = GAIN if pitch_hz is not None else 0.0
            ramp = np.linspace(self._gain, want, n, endpoint=False)
            self._gain, self._hz = want, target
            self._dev.write((samples * ramp).astype("<i2").tobytes())
        except Exception:  # noqa: BLE001 - sound is optional
            self.stop()
