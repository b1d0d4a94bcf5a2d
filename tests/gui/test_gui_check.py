"""The window's signal check step (#20), offscreen: before a recording, skippable, graded
live on the real simulator and engine, stored with the recorded session in SQLite."""

from __future__ import annotations

import pytest
from pyqtgraph.Qt import QtWidgets

from emgfeedback.gui.check_step import CheckStep, PlacementPicture
from emgfeedback.runtime.live_session import ChannelSetup, LiveSession
from emgfeedback.storage import SessionStore

URL = "sim://?scenario=check&channels=2&board=esp32-myoware2&hum=0.5"
CHANNELS = [ChannelSetup("glute med R", "", "right"), ChannelSetup("TFL R", "", "right")]


def _record_action(win) -> QtWidgets.QAction:
    (act,) = [a for a in win.findChildren(QtWidgets.QAction) if a.text() == "● Record"]
    return act


def test_check_before_recording_names_the_fault_and_is_stored(qtbot, make_window, tmp_path):
    db = tmp_path / "s.db"
    win = make_window(URL + "&fault=off", db_path=db, channels=CHANNELS)
    win.check_before_start = True
    win.show()
    qtbot.waitExposed(win)
    _record_action(win).trigger()
    dlg = win.check_step
    assert dlg.isVisible() and not win.session.recorder.recording
    good_row, off_row = dlg.rows
    assert good_row.placement.muscle == "gluteus medius"
    assert off_row.placement.muscle == "tensor fasciae latae"
    assert all(isinstance(r.picture, PlacementPicture) for r in dlg.rows)
    assert not dlg.start_button.isEnabled()
    # Check from the stream's first sample, so the simulator contracts when asked to.
    dlg.check_button.click()
    win.start()
    qtbot.waitUntil(lambda: dlg.check is not None, timeout=60000)
    assert "GOOD" in good_row.grade.text() and "so far" not in good_row.grade.text()
    assert "NOT USABLE" in off_row.grade.text()
    assert "press the electrodes on" in off_row.verdicts.text()
    assert dlg.check["contraction"] is True
    assert dlg.check["channels"][0]["measures"]["snr_db"] > 15
    assert "NOT USABLE" in dlg.summary.text()
    assert dlg.start_button.isEnabled()  # no minimum for a plain recording
    dlg.start_button.click()
    qtbot.waitUntil(lambda: win.session.recorder.recording, timeout=30000)
    sid = win.session.recorder.session_id
    win.toggle_recording()
    with SessionStore(db) as store:
        stored = {r.channel: r.data["grade"] for r in store.results(sid, "signal_check")}
    assert stored == {"glute med R": "good", "TFL R": "not usable"}


def test_the_check_can_be_skipped(qtbot, make_window, tmp_path):
    db = tmp_path / "s.db"
    win = make_window(URL, db_path=db)
    win.check_before_start = True
    win.show()
    win.start()
    _record_action(win).trigger()
    win.check_step.skip_button.click()
    qtbot.waitUntil(lambda: win.session.recorder.recording, timeout=30000)
    sid = win.session.recorder.session_id
    win.toggle_recording()
    with SessionStore(db) as store:
        assert store.results(sid, "signal_check") == []


def test_without_the_step_the_window_starts_at_once(make_window, tmp_path):
    win = make_window(URL, db_path=tmp_path / "s.db")
    win.show()
    win.start()
    _record_action(win).trigger()
    assert win.session.recorder.recording and getattr(win, "check_step", None) is None
    win.toggle_recording()


@pytest.fixture
def fast_session():
    sessions = []

    def make(url):
        s = LiveSession(url + "&pace=fast", CHANNELS)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        s.close()


def test_below_the_minimum_needs_an_explicit_accept(qtbot, fast_session):
    session = fast_session(URL + "&fault=rail")
    dlg = CheckStep(session, purpose="protocol demo", minimum="usable")
    qtbot.addWidget(dlg)
    dlg.contraction_box.setChecked(False)
    dlg.check_button.click()
    session.start()
    qtbot.waitUntil(lambda: dlg.check is not None, timeout=60000)
    assert dlg.check["grade"] == "not usable"
    assert "stuck at full scale" in dlg.rows[1].verdicts.text()
    assert not dlg.start_button.isEnabled()
    assert dlg.accept_poor.isVisibleTo(dlg) and "'usable'" in dlg.accept_poor.text()
    assert dlg.start_button.text() == "Start protocol demo anyway"
    dlg.accept_poor.setChecked(True)
    assert dlg.start_button.isEnabled()
    assert dlg.outcome()["accepted"] is True and dlg.outcome()["minimum"] == "usable"


def test_the_docs_screenshots_are_made_from_real_checks(tmp_path):
    from pyqtgraph.Qt import QtGui

    from emgfeedback.gui.check_step import save_verdict_screenshots

    paths = save_verdict_screenshots(tmp_path, cases=["good", "rail"])
    assert [p.name for p in paths] == ["signal-check-good.png", "signal-check-rail.png"]
    for p in paths:
        image = QtGui.QImage(str(p))
        assert image.width() >= 800 and image.height() >= 400


def test_verdicts_update_live_during_the_rest(qtbot, fast_session):
    """Chunks handed over by the engine (here: the simulator's, in order) are graded as
    they come: after 3 s of rest the lifted electrode is already named, marked "so far"."""
    from emgfeedback.acquisition.simulator import Simulator
    from emgfeedback.acquisition.source import Chunk

    session = fast_session(URL + "&fault=off")  # never started: the test feeds the step
    dlg = CheckStep(session)
    qtbot.addWidget(dlg)
    dlg.check_button.click()
    sim = Simulator("check", 2, board="esp32-myoware2", hum_uv=0.5, faults="off")
    fs = int(sim.fs_hz)
    for k in range(3):
        dlg._queue.append(Chunk(sim.next_counts(fs), k * fs, 0.0))
        dlg._tick()
    off_row = dlg.rows[1]
    assert "so far" in off_row.grade.text() and "NOT USABLE" in off_row.grade.text()
    assert "electrode off" in off_row.verdicts.text()
    assert dlg.check is None and not dlg.start_button.isEnabled()
