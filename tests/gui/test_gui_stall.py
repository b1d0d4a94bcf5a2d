"""A stalled window never stalls acquisition or recording; what it skipped is counted."""

from __future__ import annotations

import time

import numpy as np

from emgfeedback.storage import SessionStore


def test_a_stalled_gui_loses_nothing_in_the_recording_and_counts_what_it_skipped(
        qtbot, make_window, tmp_path):
    db = tmp_path / "s.sqlite"
    win = make_window("sim://?scenario=drill&channels=2&seed=2&fs=1000", window_s=2.0,
                      db_path=db)
    win.show()
    win.start()
    sid = win.session.start_recording(db)
    qtbot.waitUntil(lambda: win.frames > 5, timeout=10000)
    before = win.session.engine.health.samples_in
    time.sleep(3.5)  # the GUI thread is blocked: no frame for 3.5 s
    assert win.session.engine.health.samples_in - before >= 3000  # acquisition went on
    qtbot.waitUntil(lambda: win.session.engine.health.display_overruns > 0, timeout=5000)
    skipped = win.session.engine.health.display_overruns
    assert 1000 <= skipped <= 2500  # ~1.5 s beyond the 2 s window, at 1 kHz
    qtbot.waitUntil(lambda: f"display skipped {skipped}" in win.status.lost.text(),
                    timeout=5000)
    win.close()
    store = SessionStore(db)
    assert store.gaps(sid) == []
    index, _samples = store.read_samples(sid)
    # Every sample from the start of the recording to the last one processed, none missing.
    assert np.all(np.diff(index) == 1)
    assert index[-1] + 1 == win.session.engine.display.end_index
    assert len(index) >= 3500  # the 3.5 s stall and more, at 1 kHz


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
