"""Unplugging the device: the banner says so, acquisition and recording carry on."""

from __future__ import annotations

import dataclasses

from emgfeedback.acquisition.virtual_device import Faults, VirtualDevice
from emgfeedback.storage import SessionStore


def test_unplug_shows_the_banner_and_recording_resumes_with_the_gap_recorded(
        qtbot, make_window, tmp_path):
    link = tmp_path / "emg-board"
    device = VirtualDevice(framing="emgf", channels=2, fs_hz=1000.0, scenario="drill",
                           link=str(link), reset_on_open=False, faults=Faults()).start()
    db = tmp_path / "sessions.sqlite"
    try:
        win = make_window(f"serial://{link}?framing=emgf&reset_wait=0.2", db_path=db)
        win.show()
        win.start()
        sid = win.session.start_recording(db)
        # Unplug once the recording has samples (not at a fixed time after the port opened:
        # building the window may take longer than that on a loaded machine). The device
        # reads its faults on every tick; an unplug due "0 s after the open" happens now.
        qtbot.waitUntil(lambda: win.session.engine.health.samples_in > 500, timeout=60000)
        device.faults = dataclasses.replace(device.faults, unplug_after_s=0.0,
                                            replug_after_s=1.5)
        qtbot.waitUntil(lambda: win.status.banner.isVisible(), timeout=60000)
        assert "Device lost" in win.status.banner.text()
        assert "Recording continues" in win.status.banner.text()
        assert win.session.recorder.recording
        before = win.session.engine.health.samples_in
        qtbot.waitUntil(lambda: win.session.source_state == "streaming"
                        and not win.status.banner.isVisible()
                        and win.session.engine.health.samples_in > before + 1000,
                        timeout=60000)
        win.close()
    finally:
        device.stop()
    store = SessionStore(db)
    gaps = store.gaps(sid)
    assert [g.cause for g in gaps] == ["unplug"]
    index, samples = store.read_samples(sid)
    after = index > gaps[0].start_index
    assert after.sum() >= 1000  # recorded after the replug
    assert samples.shape[1] == 2
    assert store.session(sid).status == "complete"
