"""Resident memory of a command, and the floor of what it imports (Linux).

A command's memory is judged against its *import floor*: the peak RSS of a fresh Python
that only imports the same modules. Both are measured in child Pythons that report their
own peak (``VmHWM`` in ``/proc/self/status``) as they exit. The OS's ``ru_maxrss`` of a
child is not used: Linux carries the parent's peak into it across ``fork``/``exec``, so a
large measuring process would inflate it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

#: What the signal path imports: the floor the recorder and ``analyze`` are judged against.
SIGNAL_STACK = ("numpy", "scipy.signal", "numba")

_WRAPPER = """
import atexit, os, runpy, sys

def _peak():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                with open(os.environ["EMGF_PEAK_FILE"], "w") as out:
                    out.write(line.split()[1])

atexit.register(_peak)
mode, target = sys.argv[1], sys.argv[2]
sys.argv = sys.argv[2:]
if mode == "-m":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    exec(compile(target, "<measured>", "exec"), {"__name__": "__main__"})
"""


def rss_mb() -> float:
    """This process's current resident set size in MB (Linux; 0.0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def run_python_measured(mode: str, target: str, args=(), *, stdout=None,
                        stderr=None) -> tuple[int, float, float]:
    """Run ``python -m target args`` (``mode="-m"``) or ``python -c target args``
    (``mode="-c"``) in a fresh process; its exit status, wall time and peak RSS.

    Returns
    -------
    tuple
        ``(returncode, wall_s, peak_rss_mb)``; the peak is NaN when the child could not
        report it (not Linux, or killed).
    """
    fd, peak_file = tempfile.mkstemp(prefix="emgf-peak-")
    os.close(fd)
    env = dict(os.environ, EMGF_PEAK_FILE=peak_file)
    try:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _WRAPPER, mode, target, *args], env=env,
                              stdout=stdout, stderr=stderr)
        wall = time.perf_counter() - start
        with open(peak_file) as fh:
            text = fh.read().strip()
        peak = int(text) / 1024.0 if text else float("nan")
    finally:
        os.unlink(peak_file)
    return proc.returncode, wall, peak


def import_floor_mb(modules=SIGNAL_STACK) -> float:
    """Peak RSS (MB) of a fresh Python that imports ``modules`` (those that import) and
    nothing else."""
    code = (f"import importlib\nfor _m in {tuple(modules)!r}:\n    try:\n"
            "        importlib.import_module(_m)\n    except Exception:\n        pass\n")
    rc, _, peak = run_python_measured("-c", code)
    if rc != 0:
        raise RuntimeError("the import-floor child failed")
    return peak
