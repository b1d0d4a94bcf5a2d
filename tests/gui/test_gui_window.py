"""The live window on real sources: the simulator and a virtual device on a pty."""

from __future__ import annotations

import numpy as np

from emgfeedback.acquisition.virtual_device import VirtualDevice


def _wait_for_traces(qtbot, win, seconds: float, timeout_ms: int = 60000) -> None:
    fs = win.session.fs_hz
    qtbot.waitUntil(lambda: win.traces.decimator.end_index is not None
                    and win.traces.decimator.end_index >= seconds * fs and win.frames > 10,
                    timeout=timeout_ms)


def test_window_opens_on_the_simulator_and_draws_what_the_engine_produced(qtbot, make_window):
    win = make_window("sim://?scenario=drill&channels=2&seed=1", window_s=5.0)
    win.show()
    win.start()
    _wait_for_traces(qtbot, win, 1.0)
    assert win.session.source_state == "streaming"
    assert win.latency.frames > 0 and np.isfinite(win.latency.latency_ms(95))
    assert win.status.state.text() == "● streaming"
    assert len(win.model.bars) >= 1
    win.session.engine.stop()
    win.frame()  # draw what the engine produced before it stopped
    ring = win.session.engine.display
    dec = win.traces.decimator
    assert dec.end_index == ring.end_index
    # The newest point of each line covers the newest sample the engine published.
    newest = ring.read_since(ring.end_index - 1)
    assert np.all(dec.y_peak[:, -2] <= newest.filtered_uv[-1])
    assert np.all(dec.y_peak[:, -1] >= newest.filtered_uv[-1])
    assert np.all(dec.y_env[:, -1] >= newest.envelope_uv[-1])
    win.close()
    assert win.session.source.state == "closed"


def test_window_opens_on_a_virtual_device_through_a_pty(qtbot, make_window):
    device = VirtualDevice(framing="emgf", channels=2, fs_hz=1000.0, scenario="drill",
                           seed=3).start()
    try:
        win = make_window(f"serial://{device.path}?framing=emgf&reset_wait=0.2", window_s=5.0)
        win.show()
        win.start()
        _wait_for_traces(qtbot, win, 1.0)
        assert win.session.fs_hz == 1000.0
        health = win.session.engine.health.as_dict()
        assert health["samples_in"] >= 1000 and health["lost_samples"] == 0
        win.close()
    finally:
        device.stop()
