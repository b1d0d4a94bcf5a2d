"""Sound feedback: the tone that follows activation, cue sounds, and the audio output.

No Qt here: :mod:`~emgfeedback.sound.synth` makes the samples, :mod:`~emgfeedback.sound.player`
plays them through PortAudio (``sounddevice``, the ``sound`` extra), and
:mod:`~emgfeedback.sound.feedback` decides what to play from the feedback model's state.
"""

from emgfeedback.sound.feedback import MODES, SoundFeedback
from emgfeedback.sound.player import SoundPlayer, sound_problem
from emgfeedback.sound.synth import MAPPINGS, cue_sound, tone_block, tone_pitch_hz

__all__ = ["MAPPINGS", "MODES", "SoundFeedback", "SoundPlayer", "cue_sound", "sound_problem",
           "tone_block", "tone_pitch_hz"]
