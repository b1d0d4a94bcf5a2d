"""The window's Sound button and the Qt start-up probe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from emgfeedback.gui.qt_check import install_line, missing_libraries, qt_problem


def test_sound_button_cycles_every_mode_and_says_when_sound_is_unavailable(
        qtbot, make_window, monkeypatch, tmp_path):
    # No sound server: the mode is kept, the toolbar and the status bar say so.
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'none'}")
    win = make_window("sim://?scenario=drill&channels=2&seed=1", window_s=5.0)
    win.show()
    client = win.client
    assert client.sound_mode == "off"
    seen = []
    for _ in range(5):
        win.toggle_sound()
        seen.append(client.sound_mode)
        assert win.act_sound.text().startswith(f"Sound: {client.sound_mode}")
        assert win.act_sound.isChecked() == (client.sound_mode != "off")
        client.refresh()
    assert seen == ["chime", "tone", "eyes-closed", "off", "chime"]
    assert client.sound_problem.startswith("sound unavailable")
    assert win.act_sound.text() == "Sound: chime (unavailable)"
    assert win.sound_label.isVisible() and win.sound_label.text() == "sound unavailable"
    win.set_sound_mode("off")
    assert not win.sound_label.isVisible()
    with pytest.raises(ValueError, match="sound mode"):
        client.set_sound_mode("loud")


def test_ldd_output_becomes_the_exact_install_command():
    ldd = ("\tlibxcb-icccm.so.4 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6\n"
           "\tlibxcb-keysyms.so.1 => not found\n\tlibxcb-icccm.so.4 => not found\n")
    libs = missing_libraries(ldd)
    assert libs == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert install_line(libs) == "sudo apt-get install libxcb-icccm4 libxcb-keysyms1"


def test_the_offscreen_platform_starts():
    assert qt_problem(dict(os.environ, QT_QPA_PLATFORM="offscreen")) is None


def test_a_window_that_cannot_open_is_one_line_and_a_non_zero_exit_not_an_abort(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.run([sys.executable, "-m", "emgfeedback", "demo", "--seconds", "1"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: the window cannot open:")
    # Either the plugin's libraries are missing (named, with the install command) or, with
    # them present, there is no display to connect to.
    assert "apt-get install libxcb" in lines[0] or "no display" in lines[0]
