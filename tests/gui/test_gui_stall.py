"""A stalled window never stalls acquisition or recording; what it skipped is counted."""

from __future__ import annotations

import time

import numpy as np

from emgfeedback.storage import SessionStore

#: How long a wait for something that should happen may take before the test fails; only a
#: failing test waits this long (every wait ends as soon as its condition holds).
DEADLINE_MS = 60_000


def test_a_stalled_gui_loses_nothing_in_the_recording_and_counts_what_it_skipped(
        qtbot, make_window, tmp_path):
    db = tmp_path / "s.sqlite"
    fs, window_s = 1000, 2.0
    win = make_window(f"sim://?scenario=drill&channels=2&seed=2&fs={fs}", window_s=window_s,
                      db_path=db)
    win.show()
    win.start()
    sid = win.session.start_recording(db)
    qtbot.waitUntil(lambda: win.frames > 5, timeout=DEADLINE_MS)
    engine = win.session.engine
    frames = win.frames
    skipped_before = engine.health.display_overruns
    drawn_up_to = win._since  # the display has drawn every sample before this index
    window_n = int(window_s * fs)
    # Block the GUI thread (no event processing, no frame) until acquisition has gone
    # 1.5 s of samples beyond what the 2 s window can hold: the stall is measured in
    # samples, so a slow machine makes it longer in seconds, never shorter in samples.
    deadline = time.monotonic() + DEADLINE_MS / 1000
    while engine.display.end_index - drawn_up_to < window_n + 1500:
        assert time.monotonic() < deadline, "acquisition stopped while the GUI was blocked"
        time.sleep(0.01)
    stalled_to = engine.display.end_index
    assert win.frames == frames  # no frame was drawn meanwhile, acquisition went on
    qtbot.waitUntil(lambda: engine.health.display_overruns > skipped_before,
                    timeout=DEADLINE_MS)
    newest = engine.display.end_index
    skipped = engine.health.display_overruns - skipped_before
    # The first frame after the stall draws the newest 2 s and skips what came before
    # them: at least what was there when the stall ended, at most what is there now.
    assert stalled_to - window_n - drawn_up_to <= skipped <= newest - window_n - drawn_up_to
    qtbot.waitUntil(lambda: f"display skipped {engine.health.display_overruns}"
                    in win.status.lost.text(), timeout=DEADLINE_MS)
    win.close()
    store = SessionStore(db)
    assert store.gaps(sid) == []
    index, _samples = store.read_samples(sid)
    # Every sample from the start of the recording to the last one processed, none missing.
    assert np.all(np.diff(index) == 1)
    assert index[-1] + 1 == win.session.engine.display.end_index
    assert len(index) >= window_n + 1500  # the stall and more


def test_setup_dialog_names_channels_from_muscles_and_sides(qtbot):
    from emgfeedback.gui.settings import Settings
    from emgfeedback.gui.setup_dialog import SetupDialog

    ports = [("/dev/ttyACM0 — uno-myoware2",
              "serial:///dev/ttyACM0?framing=auto&board=uno-myoware2")]
    dlg = SetupDialog(Settings(), ports=ports)
    qtbot.addWidget(dlg)
    dlg.source.setCurrentIndex(1)
    dlg.subject.setText("S07")
    dlg.n_channels.setValue(3)
    dlg.table.cellWidget(0, 0).setCurrentText("gluteus medius")
    dlg.table.cellWidget(0, 1).setCurrentIndex(2)
    dlg.table.cellWidget(1, 0).setCurrentText("tensor fasciae latae")
    dlg.table.cellWidget(1, 1).setCurrentIndex(2)
    dlg.table.cellWidget(2, 0).setCurrentText("lumbar erector spinae")
    dlg.table.cellWidget(2, 1).setCurrentIndex(1)
    url, channels, subject = dlg.result_setup()
    assert url == "serial:///dev/ttyACM0?framing=auto&board=uno-myoware2"
    assert subject == "S07"
    assert [c.name for c in channels] == ["gluteus medius R", "tensor fasciae latae R",
                                          "lumbar erector spinae L"]
    assert [c.side for c in channels] == ["right", "right", "left"]
