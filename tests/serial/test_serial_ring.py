"""Ring buffer: write counter, display overruns, lossless alarms, source gaps."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from emgfeedback.acquisition.ring import RingBuffer
from emgfeedback.acquisition.source import Chunk, Gap


def block(first: int, n: int, ch: int = 2) -> Chunk:
    values = np.arange(first, first + n, dtype=np.int32)[:, None] * np.ones(ch, np.int32)
    values[:, 1:] += 100_000
    return Chunk(values, first, 0.0)


def test_reader_gets_every_sample_in_order():
    ring = RingBuffer(2, 64)
    reader = ring.reader(lossless=True)
    got = []
    for first in range(0, 300, 30):
        ring.write(block(first, 30))
        idx, samples = reader.read()
        assert idx == first
        got.append(samples[:, 0])
    assert np.array_equal(np.concatenate(got), np.arange(300))
    assert ring.written == 300 and reader.overrun_samples == 0 and not ring.alarms


def test_read_stops_at_a_source_gap_and_reports_it():
    ring = RingBuffer(2, 100)
    reader = ring.reader()
    ring.write(block(0, 10))
    gap = Gap(10, 5, "crc")
    ring.write(Chunk(block(15, 10).samples, 15, 1.0, (gap,)))
    assert reader.read()[0] == 0
    assert reader.pop_gaps() == []
    idx, samples = reader.read()
    assert idx == 15 and samples[0, 0] == 15
    assert reader.pop_gaps() == [gap]
    assert reader.read()[0] == -1


def test_read_chunks_carry_source_gaps():
    ring = RingBuffer(1, 100)
    reader = ring.reader(lossless=True)
    ring.write(Chunk(np.zeros((4, 1), np.int32), 0, 0.0))
    ring.write(Chunk(np.ones((4, 1), np.int32), 10, 2.0, (Gap(4, 6, "unplug"),)))
    chunks = reader.read_chunks()
    assert [(c.first_index, c.n_samples) for c in chunks] == [(0, 4), (10, 4)]
    assert chunks[1].gaps == (Gap(4, 6, "unplug"),)
    assert chunks[1].arrival_s == 2.0


def test_display_reader_falls_behind_and_counts_overruns():
    ring = RingBuffer(2, 100)
    reader = ring.reader()
    for first in range(0, 250, 50):
        ring.write(block(first, 50))
    idx, samples = reader.read()
    assert reader.overrun_samples == 150 and reader.overruns == 1
    assert idx == 150 and np.array_equal(samples[:, 0], np.arange(150, 250))
    assert reader.pop_gaps() == [Gap(0, 150, "overrun")]
    assert not ring.alarms  # a display reader may lag: no alarm


def test_lossless_reader_overrun_is_an_alarm_never_silent():
    ring = RingBuffer(1, 50)
    alarms = []
    reader = ring.reader(lossless=True, name="recorder", on_overrun=alarms.append)
    ring.write(block(0, 20, ch=1))
    assert reader.read()[1].shape[0] == 20
    ring.write(block(20, 40, ch=1))
    # a source gap inside the stretch the reader misses stays a source gap
    ring.write(Chunk(block(70, 30, ch=1).samples, 70, 0.0, (Gap(60, 10, "crc"),)))
    chunks = reader.read_chunks()
    assert reader.overrun_samples == 20  # positions 20..39 were overwritten unread
    assert chunks[0].gaps == (Gap(20, 20, "overrun"),)
    assert chunks[0].first_index == 40
    assert [g for c in chunks for g in c.gaps] == [Gap(20, 20, "overrun"), Gap(60, 10, "crc")]
    assert len(ring.alarms) == 1 and ring.alarms[0].gap == Gap(20, 20, "overrun")
    assert alarms == ring.alarms and alarms[0].reader == "recorder"


def test_write_larger_than_capacity_keeps_the_newest():
    ring = RingBuffer(1, 10)
    reader = ring.reader()
    ring.write(block(0, 25, ch=1))
    idx, samples = reader.read()
    assert idx == 15 and samples[:, 0].tolist() == list(range(15, 25))
    assert reader.overrun_samples == 15
    first, latest = ring.latest(4)
    assert first == 21 and latest[:, 0].tolist() == [21, 22, 23, 24]


def test_wrong_channel_count_is_rejected():
    ring = RingBuffer(2, 10)
    with pytest.raises(ValueError, match="2 channels"):
        ring.write(block(0, 3, ch=3))


def test_one_writer_many_readers_threads():
    ring = RingBuffer(2, 4096)
    lossless = ring.reader(lossless=True)
    display = ring.reader()
    n_total = 200_000
    got: list[np.ndarray] = []
    display_seen = [0]
    done = threading.Event()

    def recorder():
        while True:
            for chunk in lossless.read_chunks():
                got.append(chunk.samples[:, 0].copy())
            if done.is_set() and lossless.available == 0:
                return
            ring.wait(lossless.position, 0.01)

    def viewer():
        while not done.is_set():
            _, samples = display.read()
            display_seen[0] += samples.shape[0]

    threads = [threading.Thread(target=recorder), threading.Thread(target=viewer)]
    for t in threads:
        t.start()
    rng = np.random.default_rng(0)
    first = 0
    while first < n_total:
        n = int(rng.integers(1, 64))
        ring.write(block(first, n))
        first += n
        if rng.random() < 0.02:
            threading.Event().wait(0.0005)  # let the readers run
    done.set()
    for t in threads:
        t.join(10)
    values = np.concatenate(got)
    if ring.alarms:  # the recorder was overtaken: every lost sample is accounted for
        assert lossless.overrun_samples + values.size == first
    else:
        assert np.array_equal(values, np.arange(first))
    assert display_seen[0] + display.overrun_samples <= first


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(capacity=st.integers(1, 40), lossless=st.booleans(),
       ops=st.lists(st.tuples(st.booleans(), st.integers(0, 30), st.integers(0, 5)),
                    min_size=1, max_size=60))
def test_every_index_is_delivered_or_explained_exactly_once(capacity, lossless, ops):
    """Any interleaving of writes (with source gaps) and reads: each absolute index is
    either delivered once or covered once by a gap (source or overrun), in order."""
    ring = RingBuffer(1, capacity)
    reader = ring.reader(lossless=lossless)
    next_index = 0
    delivered: list[tuple[int, int]] = []  # (first, n)
    gaps: list = []
    written_gaps = []
    for is_write, n, gap in ops:
        if is_write:
            if n == 0:
                continue
            chunk_gaps = ()
            if gap:
                chunk_gaps = (Gap(next_index, gap, "crc"),)
                written_gaps.append(chunk_gaps[0])
                next_index += gap
            ring.write(Chunk(np.arange(next_index, next_index + n, dtype=np.int32)[:, None],
                             next_index, 0.0, chunk_gaps))
            next_index += n
        else:
            for chunk in reader.read_chunks(max_samples=n or None):
                assert np.array_equal(chunk.samples[:, 0],
                                      np.arange(chunk.first_index, chunk.end_index))
                gaps.extend(chunk.gaps)
                delivered.append((chunk.first_index, chunk.n_samples))
    for chunk in reader.read_chunks():
        gaps.extend(chunk.gaps)
        delivered.append((chunk.first_index, chunk.n_samples))
    cover = np.zeros(next_index, dtype=int)
    for first, n in delivered:
        cover[first:first + n] += 1
    for g in gaps:
        cover[g.start_index:g.end_index] += 1
    last = delivered[-1][0] + delivered[-1][1] if delivered else 0
    assert np.all(cover[:last] == 1)
    overrun = sum(g.n_samples for g in gaps if g.cause == "overrun")
    assert reader.overrun_samples <= overrun + sum(g.n_samples for g in written_gaps)
    assert (len(ring.alarms) > 0) == (lossless and overrun > 0)
