"""The engine's per-chunk cost with every stage running, as a recording session runs it.

One :class:`~emgfeedback.runtime.Engine` with the simulator's board description, the default
processing (pipeline, onset detector, quality windows), a protocol runner and a session
recorder (SQLite in a temporary directory) is fed the simulator's samples in fixed chunks
on this thread, and each :meth:`~emgfeedback.runtime.Engine.process_chunk` call is timed
with ``time.perf_counter_ns``. The samples are generated before each timed call, so only
the engine's own work is measured. A protocol that finishes is started again at once, so
the runner works for the whole stream.

The figures are wall time on a shared machine: a chunk that waited for the CPU counts as
slow, which is what a user would feel. Report the machine's load with them.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

#: Simulator scenario used for the stream (rests and contractions, so onsets happen).
SCENARIO = "drill"


def engine_chunk_cost(minutes: float = 10.0, n_channels: int = 8, fs_hz: float = 2000.0,
                      chunk_samples: int = 16, protocol: str = "uptraining",
                      seed: int = 1) -> dict:
    """Time every chunk of a ``minutes``-long stream through a fully loaded engine.

    Parameters
    ----------
    minutes : float
        Stream length, minutes of signal.
    n_channels : int
        Channels.
    fs_hz : float
        Sample rate in hertz.
    chunk_samples : int
        Samples per chunk (16 at 2 kHz is one chunk every 8 ms).
    protocol : str
        Protocol run by the runner (restarted whenever it finishes).
    seed : int
        Simulator seed.

    Returns
    -------
    dict
        ``chunk_us_p50``, ``chunk_us_p99``, ``chunk_us_p999``, ``chunk_us_max`` (µs per
        chunk), ``chunks``, ``chunk_interval_us`` (the time between chunks at this rate),
        ``over_1ms`` and ``over_5ms`` (chunk counts), ``quality_windows`` (assessed),
        ``onsets``, ``cues`` and the configuration.
    """
    from emgfeedback.acquisition import open_source
    from emgfeedback.acquisition.simulator import Simulator
    from emgfeedback.acquisition.source import Chunk
    from emgfeedback.protocol import ProtocolRunner, load_protocol
    from emgfeedback.runtime import Engine
    from emgfeedback.runtime.processor import Processor
    from emgfeedback.storage import SessionMeta, SessionStore

    url = f"sim://?channels={n_channels}&fs={fs_hz:g}&scenario={SCENARIO}&seed={seed}"
    source = open_source(url)
    source.open()
    info = source.info
    proto = load_protocol(protocol)

    def new_runner(start_index: int) -> ProtocolRunner:
        return ProtocolRunner(proto, info.fs_hz, info.channel_names, start_index=start_index)

    n_total = int(round(minutes * 60.0 * fs_hz)) // chunk_samples * chunk_samples
    times_ns = np.empty(n_total // chunk_samples, dtype=np.int64)
    cpu_ns = np.empty_like(times_ns)
    onsets = cues = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = SessionStore(Path(tmp) / "bench.sqlite")
        sid = store.create_session(SessionMeta(fs_hz=info.fs_hz, channel_names=info.channel_names,
                                               calibration=info.calibration, source_url=url))
        writer = store.open_writer(sid)
        processor = Processor(info, runner=new_runner(0))
        engine = Engine(source, processor, writer=writer)
        engine.open()
        sim = Simulator(SCENARIO, n_channels, fs_hz, seed=seed)
        engine.process_chunk(Chunk(sim.next_counts(chunk_samples), 0, time.monotonic()))
        index = chunk_samples  # the first (compiling) chunk is not timed
        block_samples = int(fs_hz) // chunk_samples * chunk_samples
        clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
        k = 0
        while k < times_ns.size:
            block = sim.next_counts(block_samples)
            for start in range(0, block_samples, chunk_samples):
                if k == times_ns.size:
                    break
                if processor.runner.finished:
                    processor.runner = new_runner(index)
                chunk = Chunk(block[start:start + chunk_samples], index, time.monotonic())
                c0, t0 = cpu_clock(), clock()
                out = engine.process_chunk(chunk)
                times_ns[k] = clock() - t0
                cpu_ns[k] = cpu_clock() - c0
                onsets += len(out.onsets)
                cues += len(out.cues)
                index += chunk_samples
                k += 1
        writer.close()
        windows = processor.assessed_windows
        store.close()
    source.close()
    us, cpu_us = times_ns / 1000.0, cpu_ns / 1000.0
    return {
        "n_channels": n_channels,
        "fs_hz": fs_hz,
        "chunk_samples": chunk_samples,
        "minutes": minutes,
        "protocol": protocol,
        "chunks": int(us.size),
        "chunk_interval_us": 1e6 * chunk_samples / fs_hz,
        "chunk_us_p50": float(np.percentile(us, 50)),
        "chunk_us_p99": float(np.percentile(us, 99)),
        "chunk_us_p999": float(np.percentile(us, 99.9)),
        "chunk_us_max": float(us.max()),
        "cpu_us_p50": float(np.percentile(cpu_us, 50)),
        "cpu_us_p999": float(np.percentile(cpu_us, 99.9)),
        "cpu_us_max": float(cpu_us.max()),
        "over_1ms": int(np.count_nonzero(us > 1000.0)),
        "over_5ms": int(np.count_nonzero(us > 5000.0)),
        "quality_windows": int(windows),
        "onsets": int(onsets),
        "cues": int(cues),
        "load_avg_1min": os.getloadavg()[0],
    }
