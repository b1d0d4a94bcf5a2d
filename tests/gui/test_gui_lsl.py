"""The GUI's LSL switch: off by default, publishes the live signal when on, withdraws when off."""

from __future__ import annotations

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl", reason="pip install 'emgfeedback[lsl]'")


def test_lsl_switch_publishes_and_withdraws(make_window, qtbot):
    win = make_window("sim://?channels=2&fs=1000&scenario=drill&seed=2")
    win.show()
    win.start()
    assert win.session.lsl_outlet is None and not win.act_lsl.isChecked()
    assert "unauthenticated" in win.act_lsl.toolTip()
    win.toggle_lsl(True)
    assert win.act_lsl.isChecked()
    # By its own source_id: other processes on this machine may publish EMG streams too.
    sid = f"{win.session.lsl_outlet.source_id}:raw"
    found = pylsl.resolve_byprop("source_id", sid, minimum=1, timeout=60.0)
    found = [s for s in found if s.name() == "emgfeedback" and s.channel_count() == 2]
    assert found, "no EMG stream appeared after switching LSL on"
    inlet = pylsl.StreamInlet(found[0])
    samples = []
    qtbot.waitUntil(lambda: samples.extend(inlet.pull_chunk(timeout=0.0)[0]) or
                    len(samples) >= 200, timeout=60000)
    assert np.asarray(samples).shape[1] == 2
    assert np.isfinite(np.asarray(samples)).all()
    win.toggle_lsl(False)
    assert win.session.lsl_outlet is None and not win.act_lsl.isChecked()
    assert win.session.engine.outlets == []
