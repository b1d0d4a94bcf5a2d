"""The engine on real sources: simulator, stored sessions; health, errors, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.acquisition import open_source
from emgfeedback.acquisition.boards import get_board
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import Chunk, Source, SourceInfo
from emgfeedback.runtime import Engine, EngineError, Processor
from emgfeedback.runtime.display import DisplayRing

SIM = "sim://?channels=2&fs=2000&scenario=drill&seed=4&pace=fast"


def run_fast(url: str, **engine_kwargs) -> tuple[Engine, list]:
    processed = []
    engine = Engine(open_source(url), **engine_kwargs)
    engine.add_listener(processed.append)
    engine.run_to_end()
    engine.stop()
    return engine, processed


def test_engine_processes_every_sample_of_the_simulator_in_order():
    engine, blocks = run_fast(SIM + "&seconds=6")
    counts = np.concatenate([b.chunk.samples for b in blocks])
    starts = [b.chunk.first_index for b in blocks]
    assert starts == sorted(starts)
    assert counts.shape == (12000, 2)
    expected = Simulator("drill", 2, 2000.0, seed=4).next_counts(12000)
    np.testing.assert_array_equal(counts, expected)
    health = engine.health.as_dict()
    assert health["samples_in"] == 12000
    assert health["lost_samples"] == 0
    snap = engine.snapshot()
    assert snap.end_index == 12000 and snap.time_s == pytest.approx(6.0)
    assert snap.health["envelope_delay_ms"] > 0


def test_onsets_the_engine_publishes_match_the_simulator_truth():
    # Onsets reach consumers through listeners (every one, in order), not the snapshot.
    engine, blocks = run_fast(SIM + "&seconds=30")
    truth = engine.source.info.extra["truth"]
    onsets = [e for b in blocks for e in b.onsets if e.kind == "on"]
    assert onsets, "no onsets detected on the drill scenario"
    for channel in (0, 1):
        true_on = np.array([a[0] for a in truth.activations[channel] if a[0] < 60000])
        found = np.array([e.index for e in onsets if e.channel == channel])
        assert len(found) == len(true_on)
        errors_ms = np.abs(found - true_on) / 2.0
        assert np.median(errors_ms) <= 25.0


def test_calibration_turns_counts_into_microvolts_at_the_electrode():
    _, blocks = run_fast(SIM + "&seconds=1")
    board = get_board("uno-myoware2")
    chunk = blocks[0].chunk
    expected = (chunk.samples[:, 0] - 512) * board.calibration(1)[0].uv_per_count
    np.testing.assert_allclose(blocks[0].uv[:, 0], expected)


class ExplodingSource(Source):
    """A real Source whose read fails after a few chunks, like a broken driver."""

    def __init__(self) -> None:
        super().__init__()
        cal = get_board("uno-myoware2").calibration(1)
        self._info = SourceInfo("test://", 1000.0, ("a",), cal)
        self.reads = 0

    @property
    def info(self):
        return self._info

    def open(self):
        self._set_state("open")

    def start(self):
        self._set_state("streaming")

    def read(self, timeout_s=0.1):
        self.reads += 1
        if self.reads > 3:
            raise OSError("driver exploded")
        return [Chunk(np.full((10, 1), 512, np.int32), (self.reads - 1) * 10, 0.0)]

    def stop(self):
        self._set_state("stopped")

    def close(self):
        self._set_state("closed")

    def stats(self):
        return {"samples": 10 * self.reads, "lost_samples": 0, "gaps_by_cause": {}}


def test_an_error_in_the_engine_thread_reaches_the_caller_and_the_log(caplog):
    engine = Engine(ExplodingSource())
    engine.start()
    with pytest.raises(EngineError) as raised:
        engine.wait(5.0)
    assert isinstance(raised.value.__cause__, OSError)
    assert "engine thread failed" in caplog.text
    with pytest.raises(EngineError):
        engine.stop()
    assert engine.source.state == "closed"


def test_threaded_engine_publishes_snapshots_and_display_samples():
    engine = Engine(open_source("sim://?channels=3&fs=1000&scenario=rest&seed=2&seconds=1"))
    engine.start()
    assert engine.wait(10.0)
    engine.stop()
    snap = engine.snapshot()
    assert snap.end_index == 1000
    block = engine.read_display(None)
    assert block.filtered_uv.shape == (1000, 3)
    assert block.first_index == 0 and block.skipped == 0


def test_display_ring_counts_what_a_slow_reader_missed():
    ring = DisplayRing(n_channels=1, capacity=100)
    for i in range(0, 250, 10):
        block = np.full((10, 1), float(i))
        ring.write(i, block, block, arrival_s=0.0)
    got = ring.read_since(0)
    assert got.skipped == 150
    assert got.first_index == 150
    np.testing.assert_array_equal(got.filtered_uv[:, 0], np.repeat(np.arange(150, 250, 10), 10))
    later = ring.read_since(got.first_index + len(got.filtered_uv))
    assert later.skipped == 0 and len(later.filtered_uv) == 0


def test_display_ring_marks_a_gap_with_nan():
    ring = DisplayRing(n_channels=1, capacity=100)
    ring.write(0, np.ones((10, 1)), np.ones((10, 1)), 0.0)
    ring.write(15, np.ones((5, 1)), np.ones((5, 1)), 0.0)
    got = ring.read_since(0)
    assert len(got.filtered_uv) == 20
    assert np.isnan(got.filtered_uv[10:15]).all()
    assert np.isfinite(got.filtered_uv[15:]).all()


def test_a_gap_restarts_the_filters_but_not_the_sample_clock():
    info_source = open_source("sim://?channels=1&fs=1000&scenario=rest&seed=1&pace=fast")
    info_source.open()
    processor = Processor(info_source.info)
    from emgfeedback.acquisition.source import Gap

    first = Chunk(np.full((500, 1), 600, np.int32), 0, 0.0)
    after_gap = Chunk(np.full((500, 1), 600, np.int32), 700, 0.0, (Gap(500, 200, "crc"),))
    processor.process(first)
    out = processor.process(after_gap)
    fresh = Processor(info_source.info).process(Chunk(after_gap.samples, 700, 0.0))
    np.testing.assert_array_equal(out.filtered_uv, fresh.filtered_uv)
    info_source.close()


def test_quality_windows_do_not_depend_on_chunk_sizes():
    source = open_source("sim://?channels=2&fs=1000&scenario=drill&seed=1&pace=fast")
    source.open()
    counts = Simulator("drill", 2, 1000.0, seed=1).next_counts(7000)

    def assessed(sizes):
        processor, start, results = Processor(source.info), 0, []
        for size in sizes:
            out = processor.process(Chunk(counts[start:start + size], start, 0.0))
            start += size
            if out.quality is not None:
                results.append(out.quality)
        assert processor.assessed_windows == 3  # one per completed 2 s window
        return results

    whole, pieces = assessed([7000]), assessed([13, 987, 1000, 2500, 2500])
    assert whole[-1] == pieces[-1]
    source.close()
