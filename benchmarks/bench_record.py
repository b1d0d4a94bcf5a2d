"""Benchmark: the whole recording path, 8 channels at 2 kHz, as ``emgfeedback record`` runs it.

Source (the simulator, paced at real time or ``--speed`` times it) → engine thread
(calibration, pipeline, onset detector, quality) → session writer (SQLite, commits every
200 ms), with the display window ``record`` uses (:data:`HEADLESS_DISPLAY_S`). Prints, in
one run:

* CPU: process CPU time over stream time, in % of one core (target < 5 %). The simulator
  generating the signal is included, so a real board costs a little less;
* memory: mean and peak resident set size in MB, the *import floor* (peak RSS of a fresh
  Python that imports every module this run had imported, and does nothing) and the
  path's RSS above it (target: within 25 MB); the RSS just after the engine opened
  (kernels loaded, warm-up done) and at the end; also the *JIT floor*: the same imports
  after one cached one-line Numba kernel has run (Numba's JIT start-up, ~32 MB here, 28 MB
  of it LLVM's code pages, on the first call of any kernel), and the floor without SciPy
  (the third-party modules imported, minus ``scipy``);
* growth: least-squares slopes of RSS after ``--skip-minutes`` of signal, per hour of
  recorded signal and per wall-clock hour, with the fit's RMS residual in MB (target
  < 5 MB/h). ``--speed 10`` covers an hour of signal in six minutes; ``--trace`` adds the
  Python allocation sites that grew over the same span (tracemalloc; slower);
* storage: database size over the raw 16-bit sample size (target < 1.5×);
* lost samples and the sample age (arrival to processed) p50/p95 in ms.

A child Python first opens the same engine, so Numba's cache holds every kernel and the run
measures loading them, not compiling them (which a first run after an edit would do).

Usage::

    python benchmarks/bench_record.py               # 10 minutes of stream, real time
    python benchmarks/bench_record.py --minutes 60 --speed 10 --json   # 1 h in 6 min
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
import tracemalloc
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


def growth_fit(samples: list[tuple[float, float]], skip_s: float) -> tuple[float, float, int]:
    """Least-squares line through ``(t s, RSS MB)`` for ``t >= skip_s``.

    Returns
    -------
    tuple
        ``(slope MB per hour of t, RMS residual MB, points used)``; NaNs when fewer than 30
        points remain.
    """
    import numpy as np

    kept = [(t, m) for t, m in samples if t >= skip_s]
    if len(kept) < 30:
        return float("nan"), float("nan"), len(kept)
    t, m = np.array(kept).T
    slope, icpt = np.polyfit(t, m, 1)
    resid = m - (slope * t + icpt)
    return float(slope * 3600.0), float(np.sqrt(np.mean(resid ** 2))), len(kept)


def tenths_mb(samples: list[tuple[float, float]], skip_s: float) -> list[float]:
    """Median RSS (MB) in each tenth of the span after ``skip_s`` (steps and transients
    show here; a leak shows as a staircase)."""
    import numpy as np

    kept = [(t, m) for t, m in samples if t >= skip_s]
    if len(kept) < 10:
        return []
    return [round(float(np.median([m for _, m in part])), 2)
            for part in np.array_split(np.array(kept), 10)]


def traced_growth(before, after, top: int = 5) -> list[dict]:
    """The ``top`` Python allocation sites that grew most between two tracemalloc snapshots."""
    out = []
    grown = [st for st in after.compare_to(before, "traceback") if st.size_diff > 0]
    for st in sorted(grown, key=lambda st: -st.size_diff)[:top]:
        frame = st.traceback[-1]
        out.append({"site": f"{frame.filename}:{frame.lineno}",
                    "grew_kb": round(st.size_diff / 1024.0, 1), "blocks": st.count_diff})
    return out


def fill_kernel_cache(url: str) -> None:
    """Open an engine on ``url`` in a child Python, so the kernels this run loads are in
    Numba's cache: after an edit to a kernel's module, the first process compiles it, and
    compiling leaves tens of MB that loading from the cache does not (not the record path's
    cost)."""
    import subprocess

    code = ("from emgfeedback.acquisition import open_source\n"
            "from emgfeedback.runtime import Engine\n"
            f"Engine(open_source({url!r})).open()\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of signal")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="deliver the signal at this many times real time (default 1)")
    parser.add_argument("--skip-minutes", type=float, default=None,
                        help="minutes of signal left out of the growth fit (start-up: SQLite's "
                             "page cache, malloc arenas); default 2, or 1 for runs under 5")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--fs", type=float, default=2000.0)
    parser.add_argument("--trace", action="store_true",
                        help="tracemalloc: list the Python allocation sites that grew (its "
                             "own bookkeeping adds to the RSS figures: use a separate run)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.speed > 0:
        parser.error("--speed must be > 0")

    from emgfeedback.acquisition import open_source
    from emgfeedback.commands._common import HEADLESS_DISPLAY_S
    from emgfeedback.runtime import Engine
    from emgfeedback.storage import SessionMeta, SessionStore

    seconds = args.minutes * 60.0
    skip_s = 60.0 * (args.skip_minutes if args.skip_minutes is not None
                     else (2.0 if args.minutes >= 5 else 1.0))
    url = (f"sim://?channels={args.channels}&fs={args.fs:g}&scenario=drill&seed=1"
           f"&board=uno-myoware2&seconds={seconds:g}&speed={args.speed:g}")
    trace = None
    fill_kernel_cache(url)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        store = SessionStore(db)
        source = open_source(url)
        source.open()
        info = source.info
        sid = store.create_session(SessionMeta(fs_hz=info.fs_hz, channel_names=info.channel_names,
                                               calibration=info.calibration, source_url=url))
        writer = store.open_writer(sid)
        # As `record` builds it (commands/_common.py:open_recording): nothing reads a display.
        engine = Engine(source, writer=writer, display_window_s=HEADLESS_DISPLAY_S)
        engine.open()  # builds the processor, loads the kernels, warms up: before the clock
        rss_open = rss_mb()
        # (wall s, stream s, RSS MB), sampled every second of wall time, more often in a
        # faster run (up to 5 per second), so its slope is fitted through enough points.
        points: list[tuple[float, float, float]] = []
        every_s = 1.0 / min(max(args.speed, 1.0), 5.0)
        done = threading.Event()
        t_start = time.monotonic()

        def sample_rss() -> None:
            nonlocal trace
            while not done.wait(every_s):
                stream_s = engine.health.samples_in / info.fs_hz
                points.append((time.monotonic() - t_start, stream_s, rss_mb()))
                if args.trace and trace is None and stream_s >= skip_s:
                    trace = tracemalloc.take_snapshot()

        if args.trace:
            tracemalloc.start(1)
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
        rss_end = rss_mb()
        grew = (traced_growth(trace, tracemalloc.take_snapshot())
                if args.trace and trace is not None else None)
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
    rss = [m for _, _, m in points] or [rss_end]
    rss_mean = sum(rss) / len(rss)
    stream_s = health["samples_in"] / info.fs_hz
    per_signal_h, resid, n_fit = growth_fit([(s, m) for _, s, m in points], skip_s)
    per_wall_h, resid_wall, _ = growth_fit(
        [(w, m) for w, s, m in points if s >= skip_s], 0.0)
    tenths = tenths_mb([(s, m) for _, s, m in points], skip_s)
    span_h = (stream_s - skip_s) / 3600.0
    result = {
        "stream_s": stream_s,
        "wall_s": wall,
        "speed": args.speed,
        "cpu_pct_of_one_core": 100.0 * cpu / max(stream_s, 1e-9),
        "rss_mean_mb": rss_mean,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "rss_after_open_mb": rss_open,
        "rss_end_mb": rss_end,
        "import_floor_mb": floor,
        "rss_above_floor_mb": rss_mean - floor,
        "floor_without_scipy_mb": no_scipy_floor,
        "imports_scipy_signal": "scipy.signal" in sys.modules,
        "jit_floor_mb": jit_floor,
        "rss_above_jit_floor_mb": rss_mean - jit_floor,
        "growth_skip_s": skip_s,
        "growth_points": n_fit,
        "rss_growth_mb_per_h": per_signal_h,  # per hour of recorded signal
        "rss_growth_mb_per_wall_h": per_wall_h,
        "growth_fit_rms_mb": resid,
        # Robust to transients: last tenth's median minus the first's, per hour of signal
        # (the tenths' centres are 0.9 of the span apart).
        "rss_growth_tenths_mb_per_h": ((tenths[-1] - tenths[0]) / (0.9 * span_h)
                                       if tenths and span_h > 0 else float("nan")),
        "rss_tenths_mb": tenths,
        "load_avg_1min": os.getloadavg()[0],
        "storage_ratio": size / raw_bytes if raw_bytes else float("nan"),
        "lost_samples": health["lost_samples"],
        "sample_age_ms_p50": health["sample_age_ms_p50"],
        "sample_age_ms_p95": health["sample_age_ms_p95"],
    }
    if grew is not None:
        result["traced_growth"] = grew
    if args.json:
        print(json.dumps(result))
        return 0
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    pace = "real time" if args.speed == 1 else f"{args.speed:g}× real time"
    print(f"recording {args.channels} ch @ {args.fs:g} Hz for {result['stream_s']:.0f} s "
          f"(simulator, {pace}, {wall:.0f} s wall)")
    print(f"  CPU            {result['cpu_pct_of_one_core']:6.2f} % of one core per stream "
          f"second   (target < 5 %)")
    print(f"  memory mean    {result['rss_mean_mb']:6.1f} MB              (target < 100 MB)")
    print(f"  memory peak    {result['rss_peak_mb']:6.1f} MB; after open {rss_open:.1f} MB, "
          f"at the end {rss_end:.1f} MB")
    print(f"  import floor   {result['import_floor_mb']:6.1f} MB; mean above it "
          f"{result['rss_above_floor_mb']:.1f} MB (target <= 25 MB)")
    scipy_mb = result["import_floor_mb"] - result["floor_without_scipy_mb"]
    print(f"  SciPy's share  {scipy_mb:6.1f} MB "
          f"of the floor (scipy.signal imported: {result['imports_scipy_signal']})")
    print(f"  JIT floor      {result['jit_floor_mb']:6.1f} MB (the same imports after one cached "
          f"one-line Numba kernel ran); mean above it {result['rss_above_jit_floor_mb']:.1f} MB")
    print(f"  RSS growth     {per_signal_h:6.2f} MB per hour of signal, {per_wall_h:.2f} MB per "
          f"wall hour (target < 5 MB/h); fit after {skip_s / 60:g} min of signal over "
          f"{n_fit} points, RMS residual {resid:.2f} MB")
    print(f"                 median RSS per tenth of that span: "
          f"{' '.join(f'{m:.2f}' for m in tenths)} MB "
          f"({result['rss_growth_tenths_mb_per_h']:.2f} MB/h first to last)")
    for g in grew or ():
        print(f"    grew {g['grew_kb']:8.1f} kB in {g['blocks']:+d} blocks at {g['site']}")
    print(f"  load average   {result['load_avg_1min']:.1f}")
    print(f"  storage        {result['storage_ratio']:6.2f} × raw 16-bit     (target < 1.5×)")
    print(f"  lost samples   {result['lost_samples']}")
    print(f"  sample age     p50 {result['sample_age_ms_p50']:.1f} ms, "
          f"p95 {result['sample_age_ms_p95']:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
