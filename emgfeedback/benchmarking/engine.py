"""The engine's per-chunk cost with every stage running, as a recording session runs it.

One :class:`~emgfeedback.runtime.Engine` with the simulator's board description, the default
processing (pipeline, onset detector, quality windows), a protocol runner and a session
recorder (SQLite in a temporary directory) is fed the simulator's samples in fixed chunks
on this thread, and each :meth:`~emgfeedback.runtime.Engine.process_chunk` call is timed
with ``time.perf_counter_ns`` (wall) and ``time.thread_time_ns`` (this thread's CPU). The
samples are generated before each timed call, so only the engine's own work is measured. A
protocol that finishes is started again at once, so the runner works for the whole stream.

The stream is driven as fast as the engine goes, not paced: ten minutes of signal take
seconds, so the recorder's thread commits about as many samples per commit as a paced run
does in a minute, and competes for the interpreter lock that much harder.

Every slow chunk is explained (``slow``): each stage of the chunk (pipeline, onset detector,
protocol runner, quality step, garbage collection, the rest of the engine: recorder queue,
display ring, snapshot) is timed too, and a chunk over 1 ms is put down to its largest stage,
or to *waiting* when its thread got less than half of the wall time as CPU. A wait is split
with the kernel's scheduler statistics (``/proc/thread-self/schedstat``: time runnable but
not running): *another task had the core* (preempted), or *blocked* (the rest: on the
interpreter lock or a lock), which is put down to the recorder thread when that thread ran
(its CPU clock) for at least half of it. Each slow chunk also reports this thread's page
faults (``getrusage``): a first touch of fresh memory costs milliseconds in a chunk.

The headline figures (``chunk_us_*``) are wall time on a shared machine: they include the
time the engine thread was descheduled (another process had the core: with the stream
unpaced, the thread is always runnable and the kernel preempts it like any CPU-bound task)
or waited for the interpreter lock. A chunk that waited counts as slow, which is what a user
would feel. ``chunk_cpu_us_*`` are the same percentiles of the thread's own CPU time per
chunk, which preemption does not inflate (cache and memory contention from other processes
still do): the engine's own cost. ``chunk_unpreempted_us_*`` are wall time minus the time the
thread waited for a core: what the chunks would take on an otherwise idle machine (its
waits for the interpreter lock included), the figure to compare A/B on a loaded one. Report
them all, with the machine's load.
"""

from __future__ import annotations

import functools
import gc
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

#: Simulator scenario used for the stream (rests and contractions, so onsets happen).
SCENARIO = "drill"
#: Stages timed inside each chunk (``engine`` is the chunk's time not spent in the others).
STAGES = ("pipeline", "onsets", "protocol", "quality", "gc", "engine")
#: A chunk slower than this is explained in ``slow`` (µs).
SLOW_US = 1000.0


class _StageClock:
    """Wall time per stage within the current chunk, by wrapping the stages' callables."""

    def __init__(self) -> None:
        self.ns = dict.fromkeys(STAGES, 0)
        self.quality_step = ""
        self._gc_t0 = 0

    def wrap(self, stage: str, fn):
        clock, ns = time.perf_counter_ns, self.ns

        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                ns[stage] += clock() - t0
        return timed

    def wrap_steps(self, make_steps):
        """Wrap the quality assessment's generator factory to note which step ran."""
        def labelled(*args, **kwargs):
            steps = make_steps(*args, **kwargs)

            def gen():
                while True:
                    try:
                        label = next(steps)
                    except StopIteration as end:
                        self.quality_step = self.quality_step or "result"
                        return end.value
                    self.quality_step = str(label or "step")
                    yield label
            return gen()
        return labelled

    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter_ns()
        else:
            self.ns["gc"] += time.perf_counter_ns() - self._gc_t0

    def reset(self) -> None:
        for k in self.ns:
            self.ns[k] = 0
        self.quality_step = ""


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
        ``chunk_us_p50``, ``chunk_us_p99``, ``chunk_us_p999``, ``chunk_us_max`` (wall µs per
        chunk), ``chunk_cpu_us_p50``, ``_p99``, ``_p999``, ``_max`` (this thread's CPU µs per
        chunk), ``chunk_unpreempted_us_p50``, ``_p999``, ``_max`` (wall minus the wait for
        a core), ``blocked_us_p999``, ``blocked_us_max``, ``blocked_over_1ms`` (time blocked
        on the interpreter lock or a lock), ``runq_s`` (total wait for a core),
        ``page_faults`` (this thread's, over the stream), ``writer_cpu_s`` (the recorder
        thread's CPU over the stream), ``chunks``, ``chunk_interval_us`` (the
        time between chunks at this rate), ``over_1ms`` and ``over_5ms`` (chunk counts),
        ``stages_us`` (per stage: ``p50``, ``p999``, ``max`` µs), ``slow`` (chunks over 1 ms
        and over 5 ms of wall time counted by cause, chunks over 1 ms of CPU time counted
        by cause, the ten slowest chunks and the five with the most CPU time, with their stage
        times), ``quality_windows``
        (assessed), ``onsets``, ``cues``, ``writer_commits`` (chunks during which the
        recorder committed), ``warm_up_s`` (:func:`~emgfeedback.runtime.warmup.warm_up`,
        before the stream), ``first_chunk_us``, ``load_avg_1min`` (the highest seen) and
        the configuration.
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
    stages = _StageClock()

    def new_runner(start_index: int) -> ProtocolRunner:
        runner = ProtocolRunner(proto, info.fs_hz, info.channel_names, start_index=start_index)
        runner.step = stages.wrap("protocol", runner.step)
        return runner

    n_total = int(round(minutes * 60.0 * fs_hz)) // chunk_samples * chunk_samples
    n_chunks = n_total // chunk_samples
    times_ns = np.empty(n_chunks, dtype=np.int64)
    cpu_ns = np.empty_like(times_ns)
    stage_ns = np.zeros((n_chunks, len(STAGES)), dtype=np.int64)
    writer_ns = np.zeros_like(times_ns)  # the recorder thread's CPU during each chunk
    runq_ns = np.zeros_like(times_ns)  # runnable, but another task had the core
    faults = np.zeros_like(times_ns)  # this thread's page faults
    causes: list[str] = [""] * n_chunks  # of the wall time
    own: list[str] = [""] * n_chunks  # of the CPU time (this thread's own work)
    onsets = cues = commits = 0
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        store = SessionStore(Path(tmp) / "bench.sqlite")
        sid = store.create_session(SessionMeta(fs_hz=info.fs_hz, channel_names=info.channel_names,
                                               calibration=info.calibration, source_url=url))
        writer = store.open_writer(sid)
        writer_clock = _thread_cpu_clock(writer)
        sched = _SchedClock()
        processor = Processor(info, runner=new_runner(0))
        processor.pipeline.process = stages.wrap("pipeline", processor.pipeline.process)
        processor.detector.process = stages.wrap("onsets", processor.detector.process)
        processor._update_quality = stages.wrap("quality", processor._update_quality)
        processor._assess_steps = stages.wrap_steps(processor._assess_steps)
        engine = Engine(source, processor, writer=writer)
        # Engine.open warms the processing up before the source starts (every chunk is
        # timed, the first one included: it used to load the onset kernels, ~25 ms).
        engine.open()
        warm_up_s = engine.warm_up_s
        sim = Simulator(SCENARIO, n_channels, fs_hz, seed=seed)
        index = 0
        block_samples = int(fs_hz) // chunk_samples * chunk_samples
        clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
        gc.callbacks.append(stages.on_gc)
        k = 0
        try:
            while k < n_chunks:
                block = sim.next_counts(block_samples)
                for start in range(0, block_samples, chunk_samples):
                    if k == n_chunks:
                        break
                    if engine.runner is None:  # the last one finished (and was recorded)
                        engine.start_protocol(new_runner(index))
                    chunk = Chunk(block[start:start + chunk_samples], index, time.monotonic())
                    stages.reset()
                    commits_before = writer.stats()["commits"]
                    w0 = writer_clock()
                    q0, f0 = sched.read()
                    c0, t0 = cpu_clock(), clock()
                    out = engine.process_chunk(chunk)
                    times_ns[k] = clock() - t0
                    cpu_ns[k] = cpu_clock() - c0
                    q1, f1 = sched.read()
                    writer_ns[k] = writer_clock() - w0
                    runq_ns[k], faults[k] = q1 - q0, f1 - f0
                    committed = writer.stats()["commits"] != commits_before
                    commits += committed
                    row = stage_ns[k]
                    for j, name in enumerate(STAGES[:-1]):
                        row[j] = stages.ns[name]
                    row[-1] = max(0, times_ns[k] - int(row[:-1].sum()))
                    if max(times_ns[k], cpu_ns[k]) > SLOW_US * 1000:
                        causes[k] = _cause(times_ns[k], cpu_ns[k], row, stages.quality_step,
                                           out.cues, runq_ns[k], writer_ns[k])
                        own[k] = _cause(cpu_ns[k], cpu_ns[k], row, stages.quality_step,
                                        out.cues, 0, 0)
                    onsets += len(out.onsets)
                    cues += len(out.cues)
                    index += chunk_samples
                    k += 1
        finally:
            gc.callbacks.remove(stages.on_gc)
            sched.close()
        writer.close()
        windows = processor.assessed_windows
        store.close()
    source.close()
    us, cpu_us, writer_us = times_ns / 1000.0, cpu_ns / 1000.0, writer_ns / 1000.0
    runq_us = np.minimum(runq_ns / 1000.0, us)
    blocked_us = np.maximum(0.0, us - cpu_us - runq_us)
    unpreempted_us = us - runq_us
    stage_us = stage_ns / 1000.0
    slowest = np.argsort(us)[::-1][:10]
    busiest = np.argsort(cpu_us)[::-1][:5]

    def detail(i: int) -> dict:
        return {"chunk": int(i), "wall_us": float(us[i]), "cpu_us": float(cpu_us[i]),
                "runq_us": float(runq_us[i]), "blocked_us": float(blocked_us[i]),
                "writer_cpu_us": float(writer_us[i]), "page_faults": int(faults[i]),
                "cause": causes[i], "cpu_cause": own[i],
                **{f"{name}_us": float(stage_us[i, j]) for j, name in enumerate(STAGES)}}

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
        "chunk_cpu_us_p50": float(np.percentile(cpu_us, 50)),
        "chunk_cpu_us_p99": float(np.percentile(cpu_us, 99)),
        "chunk_cpu_us_p999": float(np.percentile(cpu_us, 99.9)),
        "chunk_cpu_us_max": float(cpu_us.max()),
        "chunk_unpreempted_us_p50": float(np.percentile(unpreempted_us, 50)),
        "chunk_unpreempted_us_p999": float(np.percentile(unpreempted_us, 99.9)),
        "chunk_unpreempted_us_max": float(unpreempted_us.max()),
        "blocked_us_p999": float(np.percentile(blocked_us, 99.9)),
        "blocked_us_max": float(blocked_us.max()),
        "blocked_over_1ms": int(np.count_nonzero(blocked_us > 1000.0)),
        "runq_s": float(runq_us.sum() / 1e6),
        "page_faults": int(faults.sum()),
        "cpu_over_1ms": int(np.count_nonzero(cpu_us > 1000.0)),
        "over_1ms": int(np.count_nonzero(us > 1000.0)),
        "over_5ms": int(np.count_nonzero(us > 5000.0)),
        "stages_us": {name: {"p50": float(np.percentile(stage_us[:, j], 50)),
                             "p999": float(np.percentile(stage_us[:, j], 99.9)),
                             "max": float(stage_us[:, j].max())}
                      for j, name in enumerate(STAGES)},
        "slow": {
            "over_1ms_by_cause": _count(causes, us, 1000.0),
            "over_5ms_by_cause": _count(causes, us, 5000.0),
            "cpu_over_1ms_by_cause": _count(own, cpu_us, 1000.0),
            "slowest": [detail(i) for i in slowest],
            "busiest": [detail(i) for i in busiest],
        },
        "quality_windows": int(windows),
        "onsets": int(onsets),
        "cues": int(cues),
        "writer_commits": int(commits),
        "writer_cpu_s": float(writer_ns.sum() / 1e9),
        "warm_up_s": warm_up_s,
        "first_chunk_us": float(us[0]) if us.size else 0.0,
        "load_avg_1min": max(load0, os.getloadavg()[0]),
    }


class _SchedClock:
    """This thread's time spent runnable but not running (the kernel's schedstat
    ``run_delay``: another task had the core) and its page faults, both cumulative."""

    def __init__(self) -> None:
        try:
            self._fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
            os.pread(self._fd, 128, 0)
        except OSError:  # not Linux, or no scheduler statistics
            self._fd = None
        try:
            import resource

            self._usage = functools.partial(resource.getrusage, resource.RUSAGE_THREAD)
            self._usage()
        except (ImportError, AttributeError, OSError):
            self._usage = None

    def read(self) -> tuple[int, int]:
        """``(run_delay_ns, minor_page_faults)``; 0 where not available."""
        runq = int(os.pread(self._fd, 128, 0).split()[1]) if self._fd is not None else 0
        faults = self._usage().ru_minflt if self._usage is not None else 0
        return runq, faults

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _thread_cpu_clock(writer):
    """A function returning the recorder thread's CPU time in ns (0 where not available)."""
    thread = getattr(writer, "_thread", None)
    try:
        clock_id = time.pthread_getcpuclockid(thread.ident)
        time.clock_gettime_ns(clock_id)
    except (AttributeError, OSError, TypeError):
        return lambda: 0
    return lambda: time.clock_gettime_ns(clock_id)


def _cause(wall_ns: int, cpu_ns: int, row: np.ndarray, quality_step: str, cues,
           runq_ns: int, writer_ns: int) -> str:
    """What made one slow chunk slow (see the module docstring)."""
    if cpu_ns < 0.5 * wall_ns:
        blocked_ns = wall_ns - cpu_ns - runq_ns
        if runq_ns >= blocked_ns:
            return "waiting (another task had the core)"
        # Blocked: on the interpreter lock (or a lock). When the recorder thread ran for
        # most of that time, it held the interpreter lock (two threads cannot both run
        # Python).
        if writer_ns >= 0.5 * blocked_ns:
            return "waiting (interpreter lock: recorder thread)"
        return "waiting (interpreter lock or a lock)"
    name = STAGES[int(np.argmax(row))]
    if name == "quality":
        return f"quality ({quality_step or 'copy'})"
    if name == "protocol":
        ends = sorted({c.kind for c in cues if c.kind in ("phase_end", "rep_counted")})
        return f"protocol ({'+'.join(ends) or 'step'})"
    return name


def _count(causes: list[str], us: np.ndarray, over_us: float) -> dict:
    counts = Counter(c for c, u in zip(causes, us, strict=True) if c and u > over_us)
    return dict(counts.most_common())
