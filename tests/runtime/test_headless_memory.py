"""Headless commands keep no display history (issue 16: the record path's memory).

The engine keeps recent processed samples for live displays (30 s by default, 7.7 MB at
8 channels and 2 kHz); ``record``, ``baseline`` and ``run`` have no display, so the set-up
they share (``commands._common.open_recording``) keeps only a short ring, and recording
itself is unchanged: every sample is stored.
"""

from __future__ import annotations

import argparse

from emgfeedback.commands._common import (
    HEADLESS_DISPLAY_S,
    add_source_arguments,
    open_recording,
)
from emgfeedback.storage import SessionStore

FS = 2000.0


def test_a_headless_recording_keeps_a_short_display_ring_and_stores_every_sample(tmp_path):
    parser = argparse.ArgumentParser()
    add_source_arguments(parser)
    db = tmp_path / "s.sqlite"
    url = f"sim://?channels=8&fs={FS:g}&seed=3&pace=fast&seconds=3"
    args = parser.parse_args(["--source", url, "--db", str(db)])
    rec = open_recording(args, url, seconds=3.0)
    try:
        rec.engine.start()
        assert rec.engine.wait(120.0), "the engine did not finish 3 s of a fast source"
    finally:
        outcome = rec.finish(None, command="record")
    display = rec.engine.display
    assert display.capacity == int(HEADLESS_DISPLAY_S * FS) < int(30.0 * FS)
    assert display.end_index == int(3 * FS)  # the ring saw every sample, it keeps few
    assert outcome.exit_code == 0
    with SessionStore(db) as store:
        indices, counts = store.read_samples(rec.session_id)
    assert counts.shape == (int(3 * FS), 8)
    assert (indices == list(range(int(3 * FS)))).all()
