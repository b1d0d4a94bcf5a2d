"""Unplugging the device: the banner says so, acquisition and recording carry on."""

from __future__ import annotations

from emgfeedback.acquisition.virtual_device import Faults, VirtualDevice
from emgfeedback.storage import SessionStore


def test_unplug_shows_the_banner_and_recording_resumes_with_the_gap_recorded(
        qtbot, make_window, tmp_path):
    link = tmp_path / "emg-board"
    device = VirtualDevice(framing="emgf", channels=2, fs_hz=1000.0, scenario="drill",
                           link=str(link), reset_on_open=False,
                           faults=Faults(unplug_after_s=1.5, replug_after_s=1.5)).start()
    db = tmp_path / "sessions.sqlite"
    try:
        win = make_window(f"serial://{link}?framing=emgf&reset_wait=0.2", db_path=db)
        win.show()
        win.start()
        sid = win.session.start_recording(db)
        qtbot.waitUntil(lambda: win.status.banner.isVisible(), timeout=10000)
        assert "Device lost" in win.status.banner.text()
        assert "Recording continues" in win.status.banner.text()
        assert win.session.recorder.recording
        before = win.session.engine.health.samples_in
        qtbot.waitUntil(lambda: win.session.source_state == "streaming"
                        and not win.status.banner.isVisible()
                        and win.session.engine.health.samples_in > before + 1000,
                        timeout=15000)
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
