"""Benchmark: whole-recording analysis, one hour of 8 channels at 2 kHz in EDF+.

The recording comes from the simulator (scenario ``drill``) through a session store and the
project's EDF+ exporter (``emgfeedback export``'s code), and is kept (``--file``) so later
runs skip making it. Then, each in a fresh Python that reports its own peak RSS
(``VmHWM``) as it exits:

* ``emgfeedback analyze FILE --json``: wall time from start-up to exit, its CPU time
  (``cpu_s``: user + system over all its threads, the work done, which a loaded shared
  machine inflates much less than the wall time), peak RSS;
* the import floor: a Python that imports only NumPy, SciPy's signal package and Numba;
* NeuroKit2's ``emg_process`` on ten minutes of one channel (``--nk-minutes``), scaled to
  the whole file (× channels × file length / timed length), as issue 16 did.

Usage::

    python benchmarks/bench_analyze.py --json
    python benchmarks/bench_analyze.py --minutes 5 --nk-minutes 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import resource  # the child's CPU time (POSIX)
except ImportError:  # pragma: no cover - Windows
    resource = None

from emgfeedback.benchmarking.memory import SIGNAL_STACK, import_floor_mb, run_python_measured

NK_CODE = """
import sys, time, numpy as np
import neurokit2 as nk
from emgfeedback.io.recordings import open_recording
src = open_recording(sys.argv[1])
need = int(float(sys.argv[2]) * 60 * src.fs_hz)
parts, have = [], 0
for block in src.chunks():
    x = block[1] if isinstance(block, tuple) else getattr(block, "samples", block)
    parts.append(np.asarray(x)[:, 0])
    have += len(parts[-1])
    if have >= need:
        break
x = np.concatenate(parts)[:need].astype(float)
t0 = time.perf_counter()
nk.emg_process(x, sampling_rate=int(src.fs_hz))
print(time.perf_counter() - t0, len(x) / src.fs_hz)
"""


def make_recording(path: Path, minutes: float, n_channels: int, fs_hz: float) -> None:
    """Simulate ``minutes`` of ``drill`` and export it as EDF+ to ``path``."""
    from emgfeedback.acquisition import open_source
    from emgfeedback.acquisition.simulator import Simulator
    from emgfeedback.acquisition.source import Chunk
    from emgfeedback.io.export import export_edf
    from emgfeedback.storage import SessionMeta, SessionStore

    url = f"sim://?channels={n_channels}&fs={fs_hz:g}&scenario=drill&seed=1"
    source = open_source(url)
    source.open()
    info = source.info
    source.close()
    sim = Simulator("drill", n_channels, fs_hz, seed=1)
    total = int(round(minutes * 60 * fs_hz))
    step = int(fs_hz)
    with tempfile.TemporaryDirectory() as tmp:
        store = SessionStore(Path(tmp) / "gen.sqlite")
        sid = store.create_session(SessionMeta(fs_hz=info.fs_hz, channel_names=info.channel_names,
                                               calibration=info.calibration, source_url=url))
        writer = store.open_writer(sid)
        for first in range(0, total, step):
            n = min(step, total - first)
            writer.add_chunk(Chunk(sim.next_counts(n), first, 0.0))
            while writer.queue_depth() > 64:  # never outrun the writer (it would drop)
                time.sleep(0.01)
            if sys.stderr.isatty() and first % (60 * step) == 0:
                sys.stderr.write(f"\rbench_analyze: simulating {first / fs_hz / 60:5.1f} / "
                                 f"{minutes:g} min")
        writer.close()
        summary = export_edf(store, sid, path)
        store.close()
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(f"bench_analyze: wrote {path} ({path.stat().st_size / 1e6:.0f} MB, "
          f"{getattr(summary, 'n_samples', total)} samples)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (or one JSON object)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="recording length")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--fs", type=float, default=2000.0)
    parser.add_argument("--file", type=Path, default=None,
                        help="EDF+ file to analyse, made first if missing (default: "
                             "$TMPDIR/emgfeedback-bench-<minutes>min-<ch>ch.edf)")
    parser.add_argument("--nk-minutes", type=float, default=10.0,
                        help="minutes of one channel timed through NeuroKit2 (0 skips it)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    path = args.file or Path(tempfile.gettempdir()) / (
        f"emgfeedback-bench-{args.minutes:g}min-{args.channels}ch-{args.fs:g}hz.edf")
    if not path.exists():
        make_recording(path, args.minutes, args.channels, args.fs)
    floor = import_floor_mb(SIGNAL_STACK)
    # CPU time of the analysis process too: on a shared machine the wall time says how
    # loaded it was as much as how fast the analysis is (user + system, all its threads).
    before = resource.getrusage(resource.RUSAGE_CHILDREN) if resource else None
    rc, wall, peak = run_python_measured("-m", "emgfeedback", ["analyze", str(path), "--json"],
                                         stdout=subprocess.DEVNULL)
    cpu = math.nan
    if resource:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if rc != 0:
        print(f"bench_analyze: analyze exited with {rc}", file=sys.stderr)
        return 1
    result = {
        "file": str(path),
        "file_mb": path.stat().st_size / 1e6,
        "minutes": args.minutes,
        "n_channels": args.channels,
        "fs_hz": args.fs,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": peak,
        "import_floor_mb": floor,
        "above_floor_mb": peak - floor,
        "load_avg_1min": os.getloadavg()[0],
    }
    if args.nk_minutes > 0:
        out = subprocess.run([sys.executable, "-c", NK_CODE, str(path), str(args.nk_minutes)],
                             capture_output=True, text=True, check=True)
        nk_s, timed_s = map(float, out.stdout.split()[-2:])
        scale = args.channels * (args.minutes * 60.0) / timed_s
        result["neurokit2_timed_s"] = nk_s
        result["neurokit2_wall_s"] = nk_s * scale
        result["neurokit2_ratio"] = nk_s * scale / wall
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"analyze {result['file_mb']:.0f} MB EDF+ ({args.minutes:g} min, {args.channels} ch, "
          f"{args.fs:g} Hz): {wall:.1f} s wall (target <= 5 s; {cpu:.1f} s CPU), peak RSS "
          f"{peak:.0f} MB "
          f"(import floor {floor:.0f} MB; target <= 600 MB)")
    if "neurokit2_wall_s" in result:
        print(f"NeuroKit2 emg_process, scaled from {result['neurokit2_timed_s']:.1f} s on "
              f"{args.nk_minutes:g} min of one channel: {result['neurokit2_wall_s']:.0f} s "
              f"({result['neurokit2_ratio']:.0f}x ours)")
    print(f"load average {result['load_avg_1min']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
