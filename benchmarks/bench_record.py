"""Benchmark: the whole recording path, 8 channels at 2 kHz, as ``emgfeedback record`` runs it.

Source (the simulator, paced in real time) → engine thread (calibration, pipeline, onset
detector, quality) → session writer (SQLite, commits every 200 ms). Prints, in one run:

* CPU: process CPU time over stream time, in % of one core (target < 5 %). The simulator
  generating the signal is included, so a real board costs a little less;
* memory: mean and peak resident set size in MB, the *import floor* (peak RSS of a fresh
  Python that imports every module this run had imported, and does nothing) and the
  path's RSS above it (target: within 25 MB), and the RSS growth rate over the run after
  its first minute, a least-squares slope extrapolated to MB per hour (target < 5 MB/h);
  also the *JIT floor*: the same imports after one cached one-line Numba kernel has run
  (Numba's JIT start-up, LLVM, costs ~45-65 MB on the first call of any kernel), and the
  floor without SciPy (the third-party modules imported, minus ``scipy``), i.e. what
  keeping ``scipy.signal`` out of the record path would save;
* storage: database size over the raw 16-bit sample size (target < 1.5×);
* lost samples and the sample age (arrival to processed) p50/p95 in ms.

Usage::

    python benchmarks/bench_record.py               # 10 minutes of stream, real time
    python benchmarks/bench_record.py --minutes 1 --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path


def rss_mb() -> float:
    """Current resident set size in MB (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def import_floor_mb(modules) -> float:
    """Peak RSS (MB) of a fresh Python that only imports ``modules``."""
    from emgfeedback.benchmarking.memory import import_floor_mb as floor

    return floor(sorted(m for m in modules if m != "__main__" and not m.startswith("__")))


#: Imported last by the second floor: runs one cached one-line Numba kernel, which costs what
#: Numba's JIT start-up costs (LLVM, ~45-65 MB) whatever the kernels.
JIT_INIT = "emgfeedback.benchmarking.jit_init"


def growth_mb_per_h(samples: list[tuple[float, float]], skip_s: float = 60.0) -> float:
    """Least-squares slope of (time s, RSS MB) after ``skip_s``, in MB per hour (NaN when
    fewer than 30 samples remain)."""
    import numpy as np

    kept = [(t, m) for t, m in samples if t >= skip_s]
    if len(kept) < 30:
        return float("nan")
    t, m = np.array(kept).T
    return float(np.polyfit(t, m, 1)[0] * 3600.0)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--fs", type=float, default=2000.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from emgfeedback.acquisition import open_source
    from emgfeedback.runtime import Engine
    from emgfeedback.storage import SessionMeta, SessionStore

    seconds = args.minutes * 60.0
    url = (f"sim://?channels={args.channels}&fs={args.fs:g}&scenario=drill&seed=1"
           f"&board=uno-myoware2&seconds={seconds:g}")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        store = SessionStore(db)
        source = open_source(url)
        source.open()
        info = source.info
        sid = store.create_session(SessionMeta(fs_hz=info.fs_hz, channel_names=info.channel_names,
                                               calibration=info.calibration, source_url=url))
        writer = store.open_writer(sid)
        engine = Engine(source, writer=writer)
        engine.open()  # builds (and compiles) the processor before the clock starts
        rss: list[float] = []
        rss_t: list[tuple[float, float]] = []
        done = threading.Event()
        t_start = time.monotonic()

        def sample_rss() -> None:
            while not done.wait(1.0):
                rss.append(rss_mb())
                rss_t.append((time.monotonic() - t_start, rss[-1]))

        threading.Thread(target=sample_rss, daemon=True).start()
        cpu0, wall0 = time.process_time(), time.monotonic()
        engine.start()
        while not engine.wait(1.0):
            if sys.stderr.isatty():
                done_s = engine.health.samples_in / info.fs_hz
                sys.stderr.write(f"\r{done_s:7.1f} / {seconds:.0f} s")
        engine.stop()
        writer.close()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        done.set()
        store.close()
        size = sum(p.stat().st_size for p in Path(tmp).glob("bench.sqlite*"))
    health = engine.health.as_dict()
    floor = import_floor_mb(list(sys.modules))
    jit_floor = import_floor_mb([*sys.modules, JIT_INIT])
    # What SciPy's share of the floor is: the third-party modules this run imported, without
    # SciPy and without our own (some of which import scipy.signal at module level).
    no_scipy_floor = import_floor_mb([m for m in sys.modules
                                      if not m.startswith(("scipy", "emgfeedback"))])
    raw_bytes = health["samples_in"] * args.channels * 2
    result = {
        "stream_s": health["samples_in"] / info.fs_hz,
        "wall_s": wall,
        "cpu_pct_of_one_core": 100.0 * cpu / max(health["samples_in"] / info.fs_hz, 1e-9),
        "rss_mean_mb": sum(rss) / len(rss) if rss else rss_mb(),
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "import_floor_mb": floor,
        "rss_above_floor_mb": (sum(rss) / len(rss) if rss else rss_mb()) - floor,
        "floor_without_scipy_mb": no_scipy_floor,
        "imports_scipy_signal": "scipy.signal" in sys.modules,
        "jit_floor_mb": jit_floor,
        "rss_above_jit_floor_mb": (sum(rss) / len(rss) if rss else rss_mb()) - jit_floor,
        "rss_growth_mb_per_h": growth_mb_per_h(rss_t),
        "load_avg_1min": os.getloadavg()[0],
        "storage_ratio": size / raw_bytes if raw_bytes else float("nan"),
        "lost_samples": health["lost_samples"],
        "sample_age_ms_p50": health["sample_age_ms_p50"],
        "sample_age_ms_p95": health["sample_age_ms_p95"],
    }
    if args.json:
        print(json.dumps(result))
        return 0
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(f"recording {args.channels} ch @ {args.fs:g} Hz for {result['stream_s']:.0f} s "
          f"(simulator, real time)")
    print(f"  CPU            {result['cpu_pct_of_one_core']:6.2f} % of one core   (target < 5 %)")
    print(f"  memory mean    {result['rss_mean_mb']:6.1f} MB              (target < 100 MB)")
    print(f"  memory peak    {result['rss_peak_mb']:6.1f} MB")
    print(f"  import floor   {result['import_floor_mb']:6.1f} MB; mean above it "
          f"{result['rss_above_floor_mb']:.1f} MB (target <= 25 MB)")
    scipy_mb = result["import_floor_mb"] - result["floor_without_scipy_mb"]
    print(f"  SciPy's share  {scipy_mb:6.1f} MB "
          f"of the floor (scipy.signal imported: {result['imports_scipy_signal']})")
    print(f"  JIT floor      {result['jit_floor_mb']:6.1f} MB (the same imports after one cached "
          f"one-line Numba kernel ran); mean above it {result['rss_above_jit_floor_mb']:.1f} MB")
    print(f"  RSS growth     {result['rss_growth_mb_per_h']:6.1f} MB/h after the first minute "
          f"(target < 5 MB/h)")
    print(f"  load average   {result['load_avg_1min']:.1f}")
    print(f"  storage        {result['storage_ratio']:6.2f} × raw 16-bit     (target < 1.5×)")
    print(f"  lost samples   {result['lost_samples']}")
    print(f"  sample age     p50 {result['sample_age_ms_p50']:.1f} ms, "
          f"p95 {result['sample_age_ms_p95']:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
