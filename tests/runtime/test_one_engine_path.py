"""One engine, consumed one way (issue 17): the recorder, protocol ends as events, swaps.

Real simulator, real SQLite writer, the real protocol runner; chunks are fed by sample
count (``Engine.process_chunk``) or with ``run_to_end``, so nothing races the clock.
"""

from __future__ import annotations

import json
import time

import numpy as np

from emgfeedback.acquisition import open_source
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import Chunk
from emgfeedback.jsonsafe import json_ready
from emgfeedback.protocol import ProtocolRunner
from emgfeedback.protocol.schema import loads_protocol
from emgfeedback.runtime import Engine
from emgfeedback.runtime.recording import Recorder
from emgfeedback.storage import SessionMeta, SessionStore
from tests.runtime.test_headless_commands import SHORT_PROTOCOL, cli

FS = 1000.0
PROTOCOL_S = 8.0  # SHORT_PROTOCOL: baseline 2 s, 2 x (1.5 s work + 1 s rest), rest 1 s
NAMES = ("glute med R", "TFL R")


def _store_and_writer(tmp_path, info):
    store = SessionStore(tmp_path / "s.sqlite")
    sid = store.create_session(SessionMeta(fs_hz=info.fs_hz, channel_names=NAMES,
                                           calibration=info.calibration, source_url=info.url))
    return store, sid, store.open_writer(sid)


def _runner(info, start_index=None):
    proto = loads_protocol(SHORT_PROTOCOL)
    return ProtocolRunner(proto, info.fs_hz, NAMES, start_index=start_index)


def test_a_protocol_end_is_an_event_and_a_live_engine_keeps_acquiring(tmp_path):
    source = open_source("sim://?channels=2&fs=1000&scenario=drill&seed=3&pace=fast"
                         "&seconds=12")
    source.open()
    store, sid, writer = _store_and_writer(tmp_path, source.info)
    engine = Engine(source, recorder=Recorder(writer, channel_names=NAMES, session_id=sid))
    engine.start_protocol(_runner(source.info))
    done = []
    engine.add_protocol_listener(lambda runner, results: done.append((runner, results)))
    engine.run_to_end()
    engine.stop()
    engine.recorder.stop()
    # The protocol ended at 8 s; the engine went on to the source's end (12 s).
    assert engine.health.samples_in == 12000
    assert len(done) == 1 and done[0][0].finished
    assert engine.runner is None and engine.protocol_finished
    stored = store.results(sid, kind="protocol")
    assert len(stored) == 1  # recorded once, by the engine
    assert stored[0].data["phases"] == done[0][1]["phases"] == engine.results["phases"]
    store.close()


def test_a_headless_engine_ends_with_its_protocol():
    source = open_source("sim://?channels=2&fs=1000&scenario=drill&seed=3&pace=fast"
                         "&seconds=12")
    source.open()
    engine = Engine(source, stop_when_protocol_done=True)
    engine.start_protocol(_runner(source.info))
    engine.run_to_end()
    engine.stop()
    assert engine.protocol_finished
    assert PROTOCOL_S * FS <= engine.health.samples_in < 12000


def test_protocols_swap_and_the_recorder_switches_while_the_engine_runs(tmp_path):
    """Driven chunk by chunk: record 1-5 s only; cancel one protocol, run another to its end."""
    source = open_source("sim://?channels=2&fs=1000&scenario=drill&seed=5")
    source.open()
    info = source.info
    store, sid, writer = _store_and_writer(tmp_path, info)
    recorder = Recorder(channel_names=NAMES)
    engine = Engine(source, recorder=recorder)
    engine.open()
    finished = []
    engine.add_protocol_listener(lambda runner, results: finished.append(results))
    sim = Simulator("drill", 2, FS, seed=5)
    chunk_n = 50
    index = 0

    def feed(seconds: float) -> None:
        nonlocal index
        for _ in range(int(seconds * FS) // chunk_n):
            engine.process_chunk(Chunk(sim.next_counts(chunk_n), index, time.monotonic()))
            index += chunk_n

    feed(1.0)
    recorder.start(writer, sid)
    engine.start_protocol(_runner(info, start_index=index))
    feed(3.0)
    partial = engine.cancel_protocol()
    assert partial is not None and engine.runner is None
    assert engine.cancel_protocol() is None  # nothing runs any more
    engine.start_protocol(_runner(info, start_index=index))
    feed(1.0)
    recorder.stop()
    assert not recorder.recording
    feed(PROTOCOL_S)  # the second protocol finishes while nothing is recorded
    assert len(finished) == 1 and engine.runner is None
    assert partial["phases"] != finished[0]["phases"]

    indices, samples = store.read_samples(sid)
    np.testing.assert_array_equal(indices, np.arange(1000, 5000))
    np.testing.assert_array_equal(samples, Simulator("drill", 2, FS, seed=5)
                                  .next_counts(5000)[1000:])
    stored = store.results(sid, kind="protocol")
    assert [r.data["phases"] for r in stored] == [json_like(partial["phases"])]
    store.close()


def json_like(value):
    """``value`` as it reads back from the store (standard JSON)."""
    return json.loads(json.dumps(json_ready(value)))


def test_record_stores_onset_markers_under_the_given_channel_names(tmp_path):
    """The engine used to write onset markers with the source's names (exports relabelled)."""
    db = tmp_path / "s.sqlite"
    url = "sim://?channels=2&fs=2000&scenario=drill&seed=6&pace=fast&board=olimex-ekg-emg"
    done = cli("record", "--source", url, "--seconds", "10", "--db", str(db),
               "--names", ",".join(NAMES))
    session_id = int(done.stdout.strip().splitlines()[-1])
    with SessionStore(db) as store:
        onsets = [m for m in store.markers(session_id) if m.kind in ("on", "off")]
    assert onsets, "no onset markers recorded on the drill scenario"
    assert {m.text for m in onsets} == set(NAMES)  # not the simulator's glute_med/tfl


def test_run_takes_give_up_like_record(tmp_path):
    bad = cli("run", "--protocol", "demo", "--source", "sim://?pace=fast", "--no-record",
              "--give-up", "0", check=False)
    assert bad.returncode == 2 and "--give-up" in bad.stderr and "Traceback" not in bad.stderr
    assert "--give-up" in cli("run", "--help").stdout
