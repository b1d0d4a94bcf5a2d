"""Fixtures for the session-store tests: real SQLite files, real simulator data."""

from __future__ import annotations

import time

import numpy as np
import pytest

from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import Chunk, Gap
from emgfeedback.storage import SessionMeta, SessionStore


class Recording:
    """What was handed to a writer, for comparison with what comes back."""

    def __init__(self, sid, counts, indices, gaps, meta):
        self.sid, self.counts, self.indices, self.gaps, self.meta = (sid, counts, indices,
                                                                      gaps, meta)


def record_simulated(store: SessionStore, *, n_channels=2, seconds=3.0, chunk=40, seed=1,
                     gap_at=(), subject="p01", names=None, offset=0, extra_samples=None,
                     **meta_kw) -> Recording:
    """Record simulator counts through a real writer; ``gap_at``: (index, n, cause) tuples.

    ``extra_samples`` (counts) replace the simulator output when given (e.g. int32 values).
    """
    sim = Simulator(scenario="drill", n_channels=n_channels, fs_hz=2000.0, seed=seed)
    names = names or tuple(f"ch{i}" for i in range(n_channels))
    meta = SessionMeta(2000.0, tuple(names), sim.calibration, subject=subject,
                       board="uno-myoware2", **meta_kw)
    sid = store.create_session(meta)
    total = int(seconds * 2000)
    counts = sim.next_counts(total) if extra_samples is None else extra_samples
    gap_map = {a: Gap(a, n, c) for a, n, c in gap_at}
    kept, indices, gaps = [], [], []
    with store.open_writer(sid) as writer:
        pos, index = 0, offset
        while pos < counts.shape[0]:
            before = ()
            if index in gap_map:
                before = (gap_map[index],)
                gaps.append(gap_map[index])
                index += gap_map[index].n_samples
            block = counts[pos:pos + chunk]
            writer.add_chunk(Chunk(block, index, time.monotonic(), before))
            kept.append(block)
            indices.append(np.arange(index, index + block.shape[0]))
            pos += block.shape[0]
            index += block.shape[0]
    return Recording(sid, np.concatenate(kept), np.concatenate(indices), gaps, meta)


@pytest.fixture
def db_path(tmp_path):
    """A fresh database path in a private temporary folder."""
    return tmp_path / "store" / "sessions.sqlite"


@pytest.fixture
def store(db_path):
    s = SessionStore(db_path)
    yield s
    s.close()


@pytest.fixture
def recorder():
    """The :func:`record_simulated` helper."""
    return record_simulated
