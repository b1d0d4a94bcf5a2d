"""Optional sound: the envelope-to-pitch mapping, the generated tone, and the Sound button."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emgfeedback.gui.sound import (
    GOAL_HZ,
    HIGH_HZ,
    LOW_HZ,
    MAX_RATIO,
    SAMPLE_RATE_HZ,
    ToneOutput,
    tone_block,
    tone_pitch_hz,
)


def test_pitch_is_low_at_rest_the_goal_pitch_at_the_goal_and_capped_above():
    assert tone_pitch_hz(0.0, 40.0) == pytest.approx(LOW_HZ)
    assert tone_pitch_hz(40.0, 40.0) == pytest.approx(GOAL_HZ)
    assert tone_pitch_hz(MAX_RATIO * 40.0, 40.0) == pytest.approx(HIGH_HZ)
    assert tone_pitch_hz(10 * 40.0, 40.0) == pytest.approx(HIGH_HZ)
    assert tone_pitch_hz(-5.0, 40.0) == pytest.approx(LOW_HZ)
    # Musical scale: half-way to the goal is half an octave above rest.
    assert tone_pitch_hz(20.0, 40.0) == pytest.approx(LOW_HZ * math.sqrt(2.0))


def test_pitch_rises_with_activation_and_depends_only_on_level_over_goal():
    levels = np.linspace(0.0, 3.0, 301)
    pitches = [tone_pitch_hz(x * 25.0, 25.0) for x in levels]
    assert all(b >= a for a, b in zip(pitches, pitches[1:], strict=False))
    assert pitches[-1] > pitches[0]
    assert tone_pitch_hz(30.0, 20.0) == pytest.approx(tone_pitch_hz(300.0, 200.0))


@pytest.mark.parametrize("level, goal", [(math.nan, 40.0), (10.0, math.nan), (10.0, 0.0),
                                         (10.0, -3.0)])
def test_no_level_or_no_goal_means_silence(level, goal):
    assert tone_pitch_hz(level, goal) is None


def test_tone_blocks_are_phase_continuous_and_at_the_asked_pitch():
    whole, end_whole = tone_block(2205, 440.0, 440.0, 0.0)
    a, phase = tone_block(1000, 440.0, 440.0, 0.0)
    b, end_parts = tone_block(1205, 440.0, 440.0, phase)
    assert np.abs(np.concatenate([a, b]).astype(int) - whole.astype(int)).max() <= 1
    assert end_parts == pytest.approx(end_whole, abs=1e-9)
    spectrum = np.abs(np.fft.rfft(whole.astype(float)))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE_HZ / len(whole)
    assert abs(peak_hz - 440.0) < 15.0
    assert whole.dtype == np.int16 and np.abs(whole).max() < 32767


def test_tone_output_degrades_to_silence_without_qtmultimedia(qtbot):
    try:
        from PyQt5 import QtMultimedia  # noqa: F401
        loads = True
    except Exception:  # noqa: BLE001 - e.g. libpulse-mainloop-glib missing
        loads = False
    tone = ToneOutput()
    if not loads:
        assert tone.available is False
    tone.start()
    tone.feed(GOAL_HZ)
    tone.feed(None)
    tone.stop()
    assert not tone.playing


def test_sound_button_cycles_off_chime_tone_and_never_raises(qtbot, make_window):
    from emgfeedback.gui.feedback import Bar

    win = make_window("sim://?scenario=drill&channels=2&seed=1", window_s=5.0)
    win.show()
    client = win.client
    assert client.sound_mode == "off"
    seen = []
    for _ in range(4):
        win.toggle_sound()
        seen.append(client.sound_mode)
        assert win.act_sound.text().startswith(f"Sound: {client.sound_mode}")
        assert win.act_sound.isChecked() == (client.sound_mode != "off")
        client.refresh()
    assert seen == ["chime", "tone", "off", "chime"]
    win.toggle_sound()
    assert client.sound_mode == "tone"
    # The tone follows the target channel's bar against its goal.
    win.model.target = 1
    win.model.bars = [Bar(0, "a", level_uv=5.0, goal_uv=40.0, direction="above"),
                      Bar(1, "b", level_uv=40.0, goal_uv=40.0, direction="above")]
    assert client.target_pitch_hz() == pytest.approx(GOAL_HZ)
    client.refresh()
    win.model.bars = [Bar(1, "b", direction="")]
    assert client.target_pitch_hz() is None
    with pytest.raises(ValueError, match="sound mode"):
        client.set_sound_mode("loud")
    win.close()
