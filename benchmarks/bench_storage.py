"""Benchmark: recording 8 channels at 2 kHz into the session store.

Feeds simulator counts (``emgfeedback.acquisition.simulator.Simulator``; ten seconds are
generated once and repeated with running indices, so generating them costs nothing
during the run) through :class:`~emgfeedback.storage.SessionWriter` at real-time chunk
sizes and pace, then prints:

* CPU: process CPU time over simulated time, in % of one core (target < 5 %);
* memory: peak and mean resident set size in MB (target < 100 MB);
* storage: database size over the raw 16-bit sample size (target < 1.5×);
* the writer's commit times.

Usage::

    python benchmarks/bench_storage.py                 # 10 simulated minutes, real time
    python benchmarks/bench_storage.py --minutes 1
    python benchmarks/bench_storage.py --fast          # as fast as possible (smoke test;
                                                       # CPU share not representative)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emgfeedback.acquisition.source import Chunk
from emgfeedback.storage import SessionMeta, SessionStore


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; else the peak so far)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size in MB (Unix; NaN elsewhere)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


_GENERATE = """
import sys, numpy as np
from emgfeedback.acquisition.simulator import Simulator
sim = Simulator(scenario="drill", n_channels=int(sys.argv[2]), fs_hz=float(sys.argv[3]), seed=1)
np.save(sys.argv[1], sim.next_counts(int(sys.argv[4])))
"""


def source_block(n_channels: int, fs_hz: float, seconds: float, folder: Path):
    """Ten seconds of simulator counts (or synthetic 10-bit noise if it is missing).

    The simulator runs in a child process so its imports (scipy, numba) do not count
    against the recorder's memory.
    """
    from emgfeedback.acquisition.boards import get_board

    n = int(fs_hz * seconds)
    cal = get_board("uno-myoware2").calibration(n_channels)  # the simulator's default board
    names = tuple(f"ch{i}" for i in range(n_channels))
    target = folder / "block.npy"
    done = subprocess.run([sys.executable, "-c", _GENERATE, str(target), str(n_channels),
                           str(fs_hz), str(n)], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return np.load(target).astype(np.int32), cal, names, "simulator"
    print(f"simulator unavailable ({done.stderr.strip().splitlines()[-1:]}); "
          "using synthetic 10-bit noise", file=sys.stderr)
    rng = np.random.default_rng(1)
    counts = np.clip(np.rint(512 + 8 * rng.standard_normal((n, n_channels))), 0, 1023)
    return counts.astype(np.int32), cal, names, "synthetic"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="simulated minutes")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--fs", type=float, default=2000.0)
    parser.add_argument("--chunk", type=int, default=20, help="samples per chunk (10 ms)")
    parser.add_argument("--commit", type=float, default=0.2, help="commit interval, s")
    parser.add_argument("--fast", action="store_true", help="do not pace in real time")
    parser.add_argument("--db", type=Path, default=None, help="database file (default: temp)")
    args = parser.parse_args(argv)

    tmp = tempfile.TemporaryDirectory()
    block, cal, names, origin = source_block(args.channels, args.fs, 10.0, Path(tmp.name))
    total = int(args.minutes * 60 * args.fs)
    rss_start = rss_mb()
    path = args.db or Path(tmp.name) / "bench.sqlite"
    store = SessionStore(path)
    sid = store.create_session(SessionMeta(args.fs, names, cal, subject="bench",
                                           board="uno-myoware2", source_url="bench"))
    writer = store.open_writer(sid, commit_interval_s=args.commit)
    rss, next_rss = [], 0.0
    cpu0, wall0 = time.process_time(), time.monotonic()
    index = 0
    while index < total:
        n = min(args.chunk, total - index)
        pos = index % block.shape[0]
        samples = block[pos:pos + n]
        if samples.shape[0] < n:
            samples = np.concatenate([samples, block[: n - samples.shape[0]]])
        if not args.fast:
            due = wall0 + (index + n) / args.fs
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        writer.add_chunk(Chunk(samples, index, time.monotonic()))
        index += n
        now = time.monotonic()
        if now >= next_rss:
            rss.append(rss_mb())
            next_rss = now + 1.0
    writer.close()
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    stats = writer.stats()
    store.close()  # checkpoints the WAL into the database file
    size = sum(p.stat().st_size for p in Path(path).parent.glob(Path(path).name + "*"))
    raw = total * args.channels * 2
    simulated_s = total / args.fs
    cpu_pct = 100.0 * cpu / simulated_s
    print(f"recorded {args.minutes:g} simulated min, {args.channels} ch @ {args.fs:g} Hz, "
          f"{args.chunk}-sample chunks, {origin} data, "
          f"{'fast (CPU share not representative)' if args.fast else 'real-time pace'}; "
          f"wall {wall:.1f} s")
    print(f"cpu_percent_of_one_core {cpu_pct:.2f}   (target < 5)   ratio to target "
          f"{cpu_pct / 5.0:.2f}")
    print(f"rss_mean_mb {np.mean(rss):.1f}   rss_peak_mb {peak_rss_mb():.1f}   (target < 100) "
          f"ratio to target {np.mean(rss) / 100.0:.2f}   (at start {rss_start:.1f}: Python, "
          "numpy, emgfeedback.storage and the 10 s source block)")
    print(f"storage_bytes {size}   raw_int16_bytes {raw}   ratio {size / raw:.3f}   "
          f"(target < 1.5)")
    print(f"commits {stats['commits']}   failed {stats['failed_commits']}   "
          f"max_commit_ms {stats['max_commit_ms']:.1f}   samples_written "
          f"{stats['samples_written']} of {total}")
    tmp.cleanup()
    return 0 if stats["samples_written"] == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
