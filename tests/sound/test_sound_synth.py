"""Sound without a device: pitch mappings, tone and cue synthesis, and the sound modes.

The modes are checked on what the real :class:`SoundPlayer` renders (the samples PortAudio
would be handed), so the test hears what a person would.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from emgfeedback.gui.feedback import Bar, FeedbackModel
from emgfeedback.sound import SoundFeedback, SoundPlayer, cue_sound, tone_block, tone_pitch_hz
from emgfeedback.sound.synth import (
    CUES,
    GOAL_HZ,
    HIGH_HZ,
    LOW_HZ,
    MAPPINGS,
    MAX_RATIO,
    SAMPLE_RATE_HZ,
)


def _pitch(x: np.ndarray, fs_hz: float = SAMPLE_RATE_HZ, below_hz: float = 1000.0) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / fs_hz)
    band = freqs < below_hz
    return float(freqs[band][np.argmax(spec[band])])


def test_pitch_is_low_at_rest_the_goal_pitch_at_the_goal_and_capped_above():
    assert tone_pitch_hz(0.0, 40.0) == pytest.approx(LOW_HZ)
    assert tone_pitch_hz(40.0, 40.0) == pytest.approx(GOAL_HZ)
    assert tone_pitch_hz(MAX_RATIO * 40.0, 40.0) == pytest.approx(HIGH_HZ)
    assert tone_pitch_hz(10 * 40.0, 40.0) == pytest.approx(HIGH_HZ)
    assert tone_pitch_hz(-5.0, 40.0) == pytest.approx(LOW_HZ)
    # Musical scale: half-way to the goal is half an octave above rest.
    assert tone_pitch_hz(20.0, 40.0) == pytest.approx(LOW_HZ * math.sqrt(2.0))


@pytest.mark.parametrize("mapping", MAPPINGS)
def test_every_mapping_rises_with_activation_and_depends_only_on_level_over_goal(mapping):
    levels = np.linspace(0.0, 3.0, 301)
    pitches = [tone_pitch_hz(x * 25.0, 25.0, mapping) for x in levels]
    assert all(b >= a for a, b in zip(pitches, pitches[1:], strict=False))
    assert pitches[0] == pytest.approx(LOW_HZ) and pitches[-1] == pytest.approx(HIGH_HZ)
    assert tone_pitch_hz(25.0, 25.0, mapping) == pytest.approx(GOAL_HZ)
    assert tone_pitch_hz(30.0, 20.0, mapping) == pytest.approx(tone_pitch_hz(300.0, 200.0,
                                                                             mapping))


def test_the_steps_mapping_only_plays_notes_of_a_pentatonic_scale():
    notes = {round(tone_pitch_hz(x, 1.0, "steps"), 6) for x in np.linspace(0, 2, 500)}
    semis = {round(12 * math.log2(n / LOW_HZ), 6) % 12 for n in notes}
    assert semis <= {0, 2, 4, 7, 9}
    assert len(notes) == 11  # two octaves of five notes, plus the top


@pytest.mark.parametrize("level, goal", [(math.nan, 40.0), (10.0, math.nan), (10.0, 0.0),
                                         (10.0, -3.0)])
def test_no_level_or_no_goal_means_silence(level, goal):
    assert tone_pitch_hz(level, goal) is None


def test_an_unknown_mapping_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="octaves, linear, steps"):
        tone_pitch_hz(1.0, 1.0, "loud")


def test_tone_blocks_are_phase_continuous_and_at_the_asked_pitch():
    whole, end_whole = tone_block(4410, 440.0, 440.0, 0.0)
    a, phase = tone_block(1000, 440.0, 440.0, 0.0)
    b, end_parts = tone_block(3410, 440.0, 440.0, phase)
    assert np.abs(np.concatenate([a, b]) - whole).max() < 1e-5
    assert end_parts == pytest.approx(end_whole, abs=1e-9)
    assert abs(_pitch(whole) - 440.0) < 15.0
    assert whole.dtype == np.float32 and np.abs(whole).max() <= 1.0


@pytest.mark.parametrize("kind", sorted(CUES))
def test_cue_sounds_are_short_click_free_and_above_the_tone_range(kind):
    x = cue_sound(kind)
    hz, duration_s, _ = CUES[kind]
    assert len(x) == round(duration_s * SAMPLE_RATE_HZ)
    assert abs(x[0]) < 1e-3 and abs(x[-1]) < 0.05 * np.abs(x).max()  # attack and decay
    assert abs(_pitch(x, below_hz=5000.0) - hz) < 20.0
    assert hz > 1000.0 > HIGH_HZ


def _model(level_uv: float, goal_uv: float = 40.0, direction: str = "above") -> FeedbackModel:
    model = FeedbackModel(["a", "b"], 1000.0)
    model.target = 0
    model.bars = [Bar(0, "a", level_uv=level_uv, goal_uv=goal_uv, direction=direction),
                  Bar(1, "b", level_uv=1.0, goal_uv=math.nan, direction="")]
    return model


def test_tone_mode_plays_the_target_bars_pitch_and_fades_out_when_turned_off():
    player = SoundPlayer()
    sound = SoundFeedback(player, mode="off")
    sound.player.start = lambda: True  # noqa: E731 - no stream: render() is what it would play
    sound.set_mode("tone")
    sound.update(_model(40.0))
    player.render(256)  # the glide block
    assert abs(_pitch(player.render(8192)) - GOAL_HZ) < 10.0
    sound.update(_model(10.0))
    player.render(256)
    assert abs(_pitch(player.render(8192)) - tone_pitch_hz(10.0, 40.0)) < 10.0
    sound.set_mode("off")
    player.render(256)
    assert np.abs(player.render(1024)).max() < 1e-6


def test_eyes_closed_mode_has_no_beeps_the_tone_falls_with_tension_and_a_reward_when_held():
    player = SoundPlayer()
    player.start = lambda: True  # noqa: E731 - render() is what the device would be given
    sound = SoundFeedback(player, mode="eyes-closed", reward_hold_s=5.0)
    high = _model(60.0, goal_uv=40.0, direction="below")
    sound.update(high)
    player.render(256)
    tense = _pitch(player.render(8192))
    model = _model(20.0, goal_uv=40.0, direction="below")
    model.segment, model.rep = "work", 1  # a new segment: no beep in this mode
    model.met, model.met_since_index, model.end_index = True, 0, 0
    sound.update(model)
    player.render(256)
    relaxed = _pitch(player.render(8192))
    assert relaxed < tense / 1.3
    assert player.cues_played == []
    model.end_index = int(5.2 * model.fs_hz)  # the goal held for 5.2 s
    sound.update(model)
    player.render(256)
    assert [k for k, _ in player.cues_played] == ["reward"]
    sound.update(model)  # still the same 5 s: no second reward
    assert [k for k, _ in player.cues_played] == ["reward"]


def test_tone_mode_beeps_at_work_and_rest_and_ticks_when_the_goal_is_reached():
    player = SoundPlayer()
    player.start = lambda: True  # noqa: E731 - render() is what the device would be given
    sound = SoundFeedback(player, mode="tone")
    model = _model(5.0)
    sound.update(model)
    model.segment, model.rep = "work", 1
    sound.update(model)
    model.met = True
    sound.update(model)
    model.segment, model.met = "rest", False
    sound.update(model)
    out = player.render(int(0.7 * SAMPLE_RATE_HZ))
    assert [k for k, _ in player.cues_played] == ["start", "goal", "rest"]
    spec = np.abs(np.fft.rfft(out))
    freqs = np.fft.rfftfreq(len(out), 1 / SAMPLE_RATE_HZ)
    for kind in ("start", "goal", "rest"):
        near = np.abs(freqs - CUES[kind][0]) < 20
        assert spec[near].max() > 10 * np.median(spec)
