"""The threaded-source base: bounded hand-off, overrun gaps, errors re-raised, end of stream;
and the typed statistics every source returns."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from emgfeedback.acquisition.source import open_source
from emgfeedback.acquisition.threaded import ThreadedSource
from emgfeedback.errors import SourceError
from emgfeedback.types import Chunk, Gap, SourceInfo, SourceStats

DEADLINE_S = 60.0


class ListSource(ThreadedSource):
    """A source whose reader thread delivers given chunks, then ends (or fails)."""

    def __init__(self, chunks, *, fail_with=None, **kwargs) -> None:
        super().__init__("test://list", **kwargs)
        self._given = list(chunks)
        self._fail_with = fail_with
        self.delivered_all = threading.Event()

    @property
    def info(self) -> SourceInfo:
        return SourceInfo("test://list", 100.0, ("a",), ())

    def open(self) -> None:
        self._set_state("open")

    def start(self) -> None:
        self._set_state("streaming")
        self._start_reader("list")

    def stop(self) -> None:
        self._stop_reader()

    def close(self) -> None:
        self._stop_reader()
        self._set_state("closed")

    def stats(self) -> SourceStats:
        with self._lock:
            return self._loss_counts.snapshot(state=self._state)

    def _reader_loop(self) -> None:
        for chunk in self._given:
            if not self._deliver([chunk]):
                return
        self.delivered_all.set()
        if self._fail_with is not None:
            raise self._fail_with
        self._end_stream()


def _chunks(n_chunks: int, size: int) -> list[Chunk]:
    return [Chunk(np.full((size, 1), i, np.int32), i * size, float(i)) for i in range(n_chunks)]


def _drain(src) -> list[Chunk]:
    out, deadline = [], time.monotonic() + DEADLINE_S
    while not src.finished and time.monotonic() < deadline:
        out.extend(src.read(0.2))
    return out


def test_a_live_source_drops_the_oldest_chunks_as_an_overrun_gap():
    src = ListSource(_chunks(10, 5), max_queued_samples=20)  # room for 4 chunks
    src.open()
    src.start()
    assert src.delivered_all.wait(DEADLINE_S)
    chunks = _drain(src)
    # the 6 oldest chunks were dropped: one gap per chunk, in front of the first kept
    assert [c.first_index for c in chunks] == [30, 35, 40, 45]
    assert chunks[0].gaps == tuple(Gap(i * 5, 5, "overrun") for i in range(6))
    assert chunks[0].gaps[-1].end_index == chunks[0].first_index
    stats = src.stats()
    assert stats.samples == 20 and stats.chunks == 4
    assert stats.lost_by_cause == {"overrun": 30} and stats.gaps_by_cause == {"overrun": 6}
    assert stats.lost_samples == 30 and src.state == "finished"
    src.close()


def test_a_waiting_source_loses_nothing_with_a_small_queue():
    src = ListSource(_chunks(50, 3), max_queued_samples=6, overflow="wait")
    src.open()
    src.start()
    chunks = _drain(src)
    assert [c.first_index for c in chunks] == list(range(0, 150, 3))
    assert src.stats().lost_samples == 0 and src.stats().samples == 150
    src.close()


def test_an_exception_of_the_reader_thread_reaches_the_consumer():
    src = ListSource(_chunks(2, 4), fail_with=OSError("disk gone"))
    src.open()
    src.start()
    assert src.delivered_all.wait(DEADLINE_S)
    got: list[Chunk] = []
    with pytest.raises(SourceError, match="test://list: disk gone"):
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            got.extend(src.read(0.2))
    # every chunk queued before the failure is handed over (before or after it is raised),
    # then the source ends
    got.extend(_drain(src))
    assert [c.first_index for c in got] == [0, 4]
    assert src.finished
    src.close()


def test_stats_are_the_same_type_for_every_source_and_serialise():
    with open_source("sim://?channels=2&fs=500&pace=fast&seconds=1") as src:
        src.start()
        _drain(src)
        stats = src.stats()
    assert isinstance(stats, SourceStats)
    assert stats.samples == 500 and stats.framing == "sim" and stats.state == "finished"
    assert stats.serial is None and stats.fs_hz_measured is None
    as_dict = stats.as_dict()
    assert as_dict["samples"] == 500 and as_dict["lost_samples"] == 0
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_the_kind_part_is_flattened_into_the_dict():
    from emgfeedback.types import SerialStats

    stats = SourceStats(samples=3, lost_by_cause={"crc": 2}, gaps_by_cause={"crc": 1},
                        serial=SerialStats(frames=7, device_tx_dropped=None))
    out = stats.as_dict()
    assert out["frames"] == 7 and out["device_tx_dropped"] is None
    assert out["lost_samples"] == 2 and "serial" not in out
