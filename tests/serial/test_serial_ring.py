"""Ring buffer: write counter, newest samples with their absolute indices.

(Issue 17 removed the ring's reader machinery, which only these tests used; the display
path's skipping and gap filling are tested through ``DisplayRing`` in tests/runtime.)
"""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.acquisition.ring import RingBuffer


def block(first: int, n: int, ch: int = 2) -> tuple[int, np.ndarray]:
    values = np.arange(first, first + n, dtype=np.int32)[:, None] * np.ones(ch, np.int32)
    values[:, 1:] += 100_000
    return first, values


def test_write_larger_than_capacity_keeps_the_newest():
    ring = RingBuffer(1, 10)
    ring.write(*block(0, 25, ch=1))
    assert ring.written == 25 and ring.oldest == 15
    first, latest = ring.latest(4)
    assert first == 21 and latest[:, 0].tolist() == [21, 22, 23, 24]
    first, held = ring.latest(100)
    assert first == 15 and held[:, 0].tolist() == list(range(15, 25))


def test_latest_across_the_wrap_keeps_absolute_indices_and_channels():
    ring = RingBuffer(2, 8)
    assert ring.latest(3)[0] == -1 and ring.latest(3)[1].shape == (0, 2)
    ring.write(*block(100, 6))
    ring.write(*block(110, 5))  # after a jump: the indices are the chunk's own
    first, latest = ring.latest(7)
    assert first == 104
    assert latest[:, 0].tolist() == [104, 105, 110, 111, 112, 113, 114]
    assert (latest[:, 1] - latest[:, 0]).tolist() == [100_000] * 7
    latest[:] = 0  # a copy: the ring is unchanged
    assert ring.latest(1)[1][0, 0] == 114


def test_wrong_channel_count_is_rejected():
    ring = RingBuffer(2, 10)
    with pytest.raises(ValueError, match="2 channels"):
        ring.write(*block(0, 3, ch=3))
