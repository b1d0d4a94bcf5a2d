"""Benchmark: cold compile and cache load of the pipeline kernel, per channel count.

For each channel count, two fresh Pythons share an empty ``NUMBA_CACHE_DIR``: the first
builds a :class:`~emgfeedback.dsp.pipeline.Pipeline` and filters one 16-sample block, which
compiles the kernel (cold) and writes the cache; the second does the same and loads it.
Both report the seconds from constructing the pipeline to the end of the first block (after
imports and the filter design), in wall and CPU time, and the cold run lists the CPU
seconds Numba spent on each function it compiled (``compiled_functions_cpu_s``, from
``numba.core.event``; the rest of the cold time is Numba's own start-up, which a cache load
pays too). Target (issue 16): cold compile under 3 s per configuration, or a cached kernel.

Usage::

    python benchmarks/bench_kernel_compile.py [--json] [--channels 1,2,4,8,16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

# The filter design (and its SciPy import) runs before the clock starts: only the kernel's
# compile or cache load is timed, in wall and in CPU time (steadier on a shared machine).
_CHILD = """
import json
import time
import numpy as np
from numba.core import event
from emgfeedback.dsp.pipeline import Pipeline, PipelineConfig
n = int({n})
x = np.zeros((16, n))
cfg = PipelineConfig(fs_hz=2000.0)
# Numba's compiler events: CPU seconds per compiled function, excluding the functions it
# compiled in turn (which are counted under their own name).
frames, spent = [], {{}}
class Timer(event.Listener):
    def on_start(self, ev):
        frames.append([ev.data["dispatcher"].py_func.__qualname__, time.process_time(), 0.0])
    def on_end(self, ev):
        name, t0, inner = frames.pop()
        dt = time.process_time() - t0
        spent[name] = spent.get(name, 0.0) + dt - inner
        if frames:
            frames[-1][2] += dt
event.register("numba:compile", Timer())
start, start_cpu = time.perf_counter(), time.process_time()
Pipeline(cfg, n).process(x)
print(json.dumps([time.perf_counter() - start, time.process_time() - start_cpu, spent]))
"""


def first_block_s(n_channels: int, cache_dir: str) -> tuple[float, float, dict]:
    """Wall and CPU seconds of a fresh Python's first pipeline block with ``cache_dir``, and
    the CPU seconds Numba spent compiling each function (empty when loaded from cache)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", _CHILD.format(n=n_channels)], env=env,
                         capture_output=True, text=True, check=True)
    wall, cpu, spent = json.loads(out.stdout.strip().splitlines()[-1])
    return float(wall), float(cpu), spent


def main(argv: list[str] | None = None) -> int:
    """Measure and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", default="1,2,4,8,16",
                        help="comma-separated channel counts (default 1,2,4,8,16)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.channels.split(",") if c.strip()]
    result = {}
    for n in counts:
        with tempfile.TemporaryDirectory(prefix="emgf-numba-") as cache_dir:
            cold, cold_cpu, spent = first_block_s(n, cache_dir)
            warm, warm_cpu, _ = first_block_s(n, cache_dir)
        result[str(n)] = {"cold_compile_s": cold, "cold_compile_cpu_s": cold_cpu,
                          "cache_load_s": warm, "cache_load_cpu_s": warm_cpu,
                          "compiled_functions_cpu_s": {k: round(v, 3) for k, v in spent.items()}}
        print(f"{n} ch: cold {cold:.1f} s ({cold_cpu:.1f} s CPU), cached {warm:.2f} s "
              f"({warm_cpu:.2f} s CPU)", file=sys.stderr, flush=True)
    result["load_avg_1min"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'channels':>8}{'cold compile s':>16}{'(CPU s)':>9}{'cache load s':>14}{'(CPU s)':>9}")
    for n in counts:
        e = result[str(n)]
        print(f"{n:>8}{e['cold_compile_s']:16.1f}{e['cold_compile_cpu_s']:9.1f}"
              f"{e['cache_load_s']:14.2f}{e['cache_load_cpu_s']:9.2f}")
    print(f"load average {result['load_avg_1min']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
