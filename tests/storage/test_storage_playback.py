"""``file://`` playback reproduces a stored session: samples, indices, gaps, pace."""

from __future__ import annotations

import time

import numpy as np
import pytest

from emgfeedback.acquisition.source import open_source
from emgfeedback.errors import ConfigError, SourceError


def _drain(src, limit_s=60.0):
    chunks, deadline = [], time.monotonic() + limit_s
    while not src.finished and time.monotonic() < deadline:
        chunks.extend(src.read(0.2))
    return chunks


def test_fast_playback_reproduces_samples_indices_and_gaps(store, recorder):
    rec = recorder(store, n_channels=2, seconds=2.0, chunk=64, offset=250,
                   gap_at=[(1018, 300, "unplug"), (2598, 11, "crc")])
    url = f"file://{store.path}?session={rec.sid}&pace=fast&chunk=33"
    with open_source(url) as src:
        info = src.info
        assert info.fs_hz == 2000.0 and info.channel_names == rec.meta.channel_names
        assert info.calibration == rec.meta.calibration
        src.start()
        chunks = _drain(src)
        stats = src.stats()
    data = [c for c in chunks if c.n_samples]
    assert all(c.n_samples <= 33 for c in data)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in data]), rec.counts)
    indices = np.concatenate([np.arange(c.first_index, c.end_index) for c in data])
    np.testing.assert_array_equal(indices, rec.indices)
    gaps = [g for c in chunks for g in c.gaps]
    assert gaps == rec.gaps and len(gaps) == 2
    for c in chunks:  # the Chunk contract: gaps sit just before the chunk
        if c.gaps:
            assert c.gaps[-1].end_index == c.first_index
    assert stats.samples == rec.counts.shape[0]
    assert stats.lost_samples == 311 and stats.lost_by_cause == {"unplug": 300, "crc": 11}
    assert stats.gaps_by_cause == {"unplug": 1, "crc": 1}


def test_realtime_playback_takes_the_recorded_time(store, recorder):
    rec = recorder(store, n_channels=2, seconds=0.6)
    src = open_source(f"file://{store.path}?session={rec.sid}")
    src.open()
    t0 = time.monotonic()
    src.start()
    chunks = _drain(src)
    elapsed = time.monotonic() - t0
    src.close()
    assert sum(c.n_samples for c in chunks) == 1200
    # Paced by the recording's time: never ahead of it (a loaded machine may run behind, so
    # there is no upper bound on the wall time).
    assert elapsed >= 0.55
    for c in chunks:
        assert c.arrival_s >= t0 + (c.end_index - chunks[0].first_index) / 2000.0 - 0.005
    assert chunks[0].n_samples == 20  # default chunk: 10 ms


def test_stop_and_resume_continue_where_they_stopped(store, recorder):
    rec = recorder(store, n_channels=2, seconds=1.0)
    with open_source(f"file://{store.path}?session={rec.sid}&pace=fast&chunk=100") as src:
        src.start()
        first = src.read(1.0)
        src.stop()
        got = [c for c in first]
        src.start()
        got += _drain(src)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in got]), rec.counts)


def test_bad_urls_are_clear(store, tmp_path):
    with pytest.raises(ConfigError, match="session=ID"):
        open_source(f"file://{store.path}")
    with pytest.raises(ConfigError, match="pace"):
        open_source(f"file://{store.path}?session=1&pace=slow")
    with pytest.raises(ConfigError, match="unknown option"):
        open_source(f"file://{store.path}?session=1&speed=2")
    with pytest.raises(SourceError, match="does not exist"):
        open_source(f"file://{tmp_path}/missing.sqlite?session=1").open()
    with pytest.raises(SourceError, match="no session 9"):
        open_source(f"file://{store.path}?session=9").open()
