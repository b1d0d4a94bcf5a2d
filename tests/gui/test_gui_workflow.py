"""The therapist's workflow through the window: guided baseline and MVC captures set the
goals, per-subject set-ups come back in the next run, markers land in the session store and
closing the window ends a recording cleanly.

Everything runs on the real simulator (paced in real time), the real engine and a real
SQLite file; keys and toolbar actions are triggered as a user would.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyqtgraph.Qt import QtCore, QtWidgets

from emgfeedback.acquisition.boards import counts_to_uv
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import Chunk
from emgfeedback.dsp import process_offline
from emgfeedback.errors import ConfigError, StorageError
from emgfeedback.gui.settings import load_settings, load_subject, subject_path
from emgfeedback.gui.setup_dialog import CaptureDialog, SetupDialog
from emgfeedback.runtime import default_pipeline_config
from emgfeedback.storage import SessionStore

FS = 2000.0


def _started(qtbot, make_window, url: str, min_s: float = 0.3, **kwargs):
    """A shown, running window with at least ``min_s`` of stream drawn."""
    win = make_window(url, **kwargs)
    win.show()
    win.activateWindow()
    qtbot.waitExposed(win)
    win.start()
    qtbot.waitUntil(lambda: win.session.end_index >= min_s * FS and win.frames > 3,
                    timeout=60000)
    return win


def _action(win, text: str) -> QtWidgets.QAction:
    """The toolbar action labelled ``text``."""
    found = [a for a in win.findChildren(QtWidgets.QAction) if a.text() == text]
    assert len(found) == 1, [a.text() for a in win.findChildren(QtWidgets.QAction)]
    return found[0]


def _open_dialogs(win) -> list[CaptureDialog]:
    return [d for d in win.findChildren(CaptureDialog) if d.isVisible()]


def _capture_dialog(qtbot, win) -> CaptureDialog:
    """The capture dialog the window has just opened."""
    qtbot.waitUntil(lambda: len(_open_dialogs(win)) == 1, timeout=60000)
    return _open_dialogs(win)[0]


def _accept_when_done(qtbot, dlg: CaptureDialog, timeout_ms: int) -> None:
    """Wait for the countdown to end, then press the dialog's OK button."""
    ok = dlg.buttons.button(QtWidgets.QDialogButtonBox.Ok)
    assert not ok.isEnabled()  # nothing to accept before the capture has run
    qtbot.waitUntil(ok.isEnabled, timeout=timeout_ms)
    qtbot.mouseClick(ok, QtCore.Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=60000)
    # A window manager hands the keyboard back to the main window; offscreen Qt does not.
    win = dlg.parent()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=60000)


def _matching_window_ends(values, candidates) -> list[int]:
    """Indices ``k`` whose candidate per-channel values equal ``values`` (to rounding)."""
    return [k for k, v in candidates if np.allclose(v, values, rtol=1e-9, atol=0.0)]


def _frame_after_capture(qtbot, win) -> None:
    frames = win.frames
    qtbot.waitUntil(lambda: win.frames > frames + 2, timeout=60000)


def test_baseline_key_captures_ten_seconds_of_rest_and_sets_the_goals(qtbot, make_window):
    win = _started(qtbot, make_window, "sim://?scenario=rest&channels=2&seed=1",
                   subject="S02")
    s = win.session
    # No baseline yet: no goal in free training.
    assert all(math.isnan(v) for v in s.goals.baseline_uv)
    assert math.isnan(win.model.bars[0].goal_uv)
    pressed_at = s.end_index
    qtbot.keyClick(win, QtCore.Qt.Key_B)
    dlg = _capture_dialog(qtbot, win)
    assert dlg.kind == "baseline" and dlg.seconds == 10.0
    _accept_when_done(qtbot, dlg, timeout_ms=60000)
    baseline = list(s.goals.baseline_uv)
    assert baseline == dlg.values and all(np.isfinite(baseline))

    # Independent check: the baseline is the mean of the display ring's envelope over
    # 10 s that all came after the key was pressed.
    n = int(10.0 * FS)
    block = s.engine.display.read_since(pressed_at)
    assert block.first_index == pressed_at and block.skipped == 0
    env = block.envelope_uv
    assert np.isfinite(env).all()
    c = np.vstack([np.zeros((1, env.shape[1])), np.cumsum(env, axis=0)])
    candidates = [(block.first_index + j, (c[j] - c[j - n]) / n)
                  for j in range(n, len(env) + 1)]
    ends = _matching_window_ends(baseline, candidates)
    assert len(ends) == 1, "the baseline is not the mean envelope of any 10 s after the key"
    end = ends[0]
    # The dialog measures at its first 100 ms tick after the countdown (1 s of slack).
    assert pressed_at + n <= end <= pressed_at + n + int(1.0 * FS)

    # ... and the same samples recomputed offline from the simulator give the same value.
    sim = Simulator(scenario="rest", n_channels=2, fs_hz=FS, seed=1)
    uv = counts_to_uv(sim.next_counts(end), sim.calibration)
    _filtered, offline_env = process_offline(uv, default_pipeline_config(FS, 50.0))
    assert np.allclose(offline_env[end - n:end].mean(axis=0), baseline, rtol=1e-6)

    # The goals of free training follow: uptraining 3 x baseline on the target ...
    _frame_after_capture(qtbot, win)
    assert win.model.mode == "uptraining"
    assert win.model.bars[0].goal_uv == pytest.approx(3.0 * baseline[0], rel=1e-12)
    assert win.traces._goals[0] == pytest.approx(3.0 * baseline[0], rel=1e-12)
    # ... downtraining (key 2) 1.2 x baseline on every channel.
    qtbot.keyClick(win, QtCore.Qt.Key_2)
    assert win.model.mode == "downtraining"
    _frame_after_capture(qtbot, win)
    goals = {b.channel: b.goal_uv for b in win.model.bars}
    assert goals == pytest.approx({0: 1.2 * baseline[0], 1: 1.2 * baseline[1]}, rel=1e-12)
    # With a subject id the capture is saved at once.
    saved = load_subject("S02")
    assert saved is not None and saved.baseline_uv == pytest.approx(baseline, rel=1e-12)


def test_mvc_action_during_an_activation_sets_the_percent_mvc_goal(qtbot, make_window):
    win = _started(qtbot, make_window, "sim://?scenario=drill&channels=2&seed=1", min_s=1.0)
    s = win.session
    truth = s.info.extra["truth"]
    assert math.isnan(win.model.bars[0].goal_uv)
    pressed_at = s.end_index
    # The 5 s capture must hold the plateau of the first repetition (onset ~4.25 s).
    onset = truth.activations[0][0][0]
    assert pressed_at + 5.0 * FS > onset + 0.7 * FS and pressed_at < onset
    _action(win, "MVC…").trigger()
    dlg = _capture_dialog(qtbot, win)
    assert dlg.kind == "mvc" and dlg.seconds == 5.0
    _accept_when_done(qtbot, dlg, timeout_ms=60000)
    mvc = list(s.goals.mvc_uv)
    assert mvc == dlg.values

    # Independent check: the highest 0.5 s mean of the display ring's envelope within 5 s
    # that all came after the action was triggered.
    n, w = int(5.0 * FS), int(0.5 * FS)
    block = s.engine.display.read_since(pressed_at)
    assert block.first_index == pressed_at and block.skipped == 0
    env = block.envelope_uv
    c = np.vstack([np.zeros((1, env.shape[1])), np.cumsum(env, axis=0)])
    means = (c[w:] - c[:-w]) / w  # means[j]: samples j .. j+w-1 of the block
    candidates = [(block.first_index + j, means[j - n:j - w + 1].max(axis=0))
                  for j in range(n, len(env) + 1)]
    ends = _matching_window_ends(mvc, candidates)
    assert ends, "the MVC is not the highest 0.5 s mean envelope of any 5 s after the action"
    assert pressed_at + n <= min(ends) <= pressed_at + n + int(1.0 * FS)
    # ... and close to the simulator's plateau RMS of that activation (the envelope adds
    # the resting background and the burst's slow ±8 % modulation).
    for ch in range(2):
        assert mvc[ch] == pytest.approx(truth.amplitudes_uv[ch][0], rel=0.15)

    # Uptraining's goal is now 40 % MVC of the target.
    _frame_after_capture(qtbot, win)
    assert win.model.bars[0].goal_uv == pytest.approx(0.4 * mvc[0], rel=1e-12)


def test_subject_setup_and_settings_come_back_in_the_next_window(qtbot, make_window):
    url = "sim://?scenario=drill&channels=2&seed=5"
    # The set-up dialog, driven through its widgets.
    setup = SetupDialog(load_settings(), ports=[])
    qtbot.addWidget(setup)
    setup.subject.setText("S01")
    setup.table.cellWidget(0, 0).setCurrentText("gluteus medius")
    setup.table.cellWidget(0, 1).setCurrentIndex(2)
    setup.table.cellWidget(1, 0).setCurrentText("tensor fasciae latae")
    setup.table.cellWidget(1, 1).setCurrentIndex(1)
    _url, channels, subject = setup.result_setup()
    assert subject == "S01"

    settings = load_settings()
    win = _started(qtbot, make_window, url, min_s=1.2, subject=subject, channels=channels,
                   settings=settings)
    s = win.session
    assert s.channel_names == ["gluteus medius R", "tensor fasciae latae L"]
    # Short guided captures (the same dialog as B / V, 1 s each).
    for kind in ("baseline", "mvc"):
        win.capture(kind, 1.0)
        _accept_when_done(qtbot, _capture_dialog(qtbot, win), timeout_ms=60000)
    baseline, mvc = list(s.goals.baseline_uv), list(s.goals.mvc_uv)
    assert all(np.isfinite(baseline)) and all(np.isfinite(mvc))
    path = subject_path("S01")
    path.unlink()  # saved after the captures; now saved again by the action
    _action(win, "Save set-up").trigger()
    assert path.exists()
    assert str(path) in win.statusBar().currentMessage()
    qtbot.keyClick(win, QtCore.Qt.Key_3)  # dissociation
    qtbot.keyClick(win, QtCore.Qt.Key_Plus)  # 10 s -> next longer window
    window_s = win.traces.window_s
    assert window_s > 10.0
    win.close()
    assert win.session.source.state == "closed"

    # Next run: the same subject, no channels given.
    settings = load_settings()
    assert (settings.mode, settings.window_s) == ("dissociation", window_s)
    again = make_window(url, subject="S01", settings=settings)
    s2 = again.session
    assert s2.channel_names == ["gluteus medius R", "tensor fasciae latae L"]
    assert [c.placement for c in s2.channels] == ["gluteus medius", "tensor fasciae latae"]
    assert [c.side for c in s2.channels] == ["right", "left"]
    assert s2.goals.baseline_uv == pytest.approx(baseline, rel=1e-12)
    assert s2.goals.mvc_uv == pytest.approx(mvc, rel=1e-12)
    assert again.model.mode == "dissociation" and again.traces.window_s == window_s

    # A damaged set-up file is reported with its name and line, before any source opens.
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1].endswith('"S01",')
    lines[1] = lines[1].rstrip(",")  # a missing comma: JSON notices it on line 3
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"S01\.json: line 3"):
        make_window(url, subject="S01")


def test_marker_key_while_recording_stores_a_marker_at_the_current_sample(
        qtbot, make_window, tmp_path):
    db = tmp_path / "markers.sqlite"
    # (5 s of stream: the recording surely starts before it ends, even on a loaded machine)
    win = _started(qtbot, make_window, "sim://?scenario=drill&channels=2&seed=3&seconds=5",
                   db_path=db)
    s = win.session
    qtbot.keyClick(win, QtCore.Qt.Key_R)
    assert s.recorder.recording and win.act_record.isChecked()
    sid = s.recorder.session_id
    qtbot.waitUntil(lambda: s.end_index >= 1.2 * FS, timeout=60000)
    before = s.end_index
    qtbot.keyClick(win, QtCore.Qt.Key_M)
    after = s.end_index
    # The stream ends at 5 s: a marker then is exactly at the last sample.
    qtbot.waitUntil(lambda: s.engine.finished, timeout=60000)
    last = s.engine.display.end_index - 1
    assert last == int(5 * FS) - 1
    qtbot.keyClick(win, QtCore.Qt.Key_M)
    win.close()

    store = SessionStore(db)
    marks = store.markers(sid, kind="marker")
    assert len(marks) == 2
    assert before - 1 <= marks[0].index <= after
    assert marks[1].index == last
    index, _samples = store.read_samples(sid)
    assert np.all(np.diff(index) == 1) and index[-1] == last
    assert marks[0].index in set(index.tolist())


def test_closing_the_window_while_recording_ends_the_session_cleanly(
        qtbot, make_window, tmp_path):
    db = tmp_path / "close.sqlite"
    win = _started(qtbot, make_window, "sim://?scenario=drill&channels=2&seed=2", min_s=0.5,
                   db_path=db)
    s = win.session
    qtbot.keyClick(win, QtCore.Qt.Key_R)
    assert s.recorder.recording
    # The recording starts at the snapshot's end index or at most one chunk after it.
    started_by = s.end_index
    sid = s.recorder.session_id
    writer = s.recorder._writer
    # 1.2 s of stream after the key, however long that takes on a loaded machine
    qtbot.waitUntil(lambda: s.end_index >= started_by + 1.2 * FS, timeout=60000)
    win.close()  # the window's close button: closeEvent

    assert not s.recorder.recording
    assert s.engine.finished and s.source.state == "closed"
    assert writer.close() is True  # already closed: all stored, its thread has ended
    with pytest.raises(StorageError, match="closed"):
        writer.add_chunk(Chunk(np.zeros((1, 2), np.int32), 10**9, 0.0))
    store = SessionStore(db)
    meta = store.session(sid)
    assert meta.status == "complete" and meta.ended_utc
    index, samples = store.read_samples(sid)
    # Everything the engine processed after the key is in the file, with no hole.
    assert np.all(np.diff(index) == 1)
    assert index[-1] + 1 == s.engine.display.end_index
    assert len(index) >= 1.0 * FS and samples.shape[1] == 2
    assert list(meta.channel_names) == s.channel_names
