"""Analyse many recordings at once: ``emgfeedback analyze DIR/ [FILE ...] --jobs N``.

Each recording is analysed by its own ``emgfeedback analyze FILE`` process, ``jobs`` at a
time (default: every core), so one file's memory is returned to the system when it is
done, a file that fails (unreadable, too short) is reported and the others go on, and the
reports are exactly those of single-file runs. Progress goes to stderr, one line per
finished file; the reports go to stdout in the order the inputs were given (directories
sorted by name), each as soon as it and every file before it are done.

With ``--json`` stdout is one object: ``{"files": [{"file", "ok", "seconds", "result" or
"error"}...], "n_files", "n_failed"}``. The exit status is 0 when every file was analysed,
1 otherwise (2 for bad options, before anything runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from emgfeedback.errors import ConfigError
from emgfeedback.io.recordings import recording_files

#: ``analyze`` options passed on to every file's run: (attribute, option, takes a value).
FORWARDED = (
    ("fs", "--fs", True), ("channels", "--channels", True), ("units", "--units", True),
    ("uv_per_count", "--uv-per-count", True), ("detector", "--detector", True),
    ("mains", "--mains", True), ("highpass", "--highpass", True),
    ("reference", "--reference", True), ("json", "--json", False),
)


def is_batch(inputs) -> bool:
    """True when ``inputs`` (the positional arguments of ``analyze``) name several files or
    a directory."""
    return len(inputs) > 1 or any(Path(p).is_dir() for p in inputs)


def child_argv(args, path: Path) -> list[str]:
    """The ``emgfeedback analyze`` command line for one file of a batch."""
    argv = [sys.executable, "-m", "emgfeedback", "analyze", str(path)]
    for attr, option, has_value in FORWARDED:
        value = getattr(args, attr, None)
        if has_value and attr == "uv_per_count" and value == 1.0:
            continue  # the default
        if has_value and attr == "detector" and value == "streaming":
            continue
        if value is None or value is False:
            continue
        if not has_value:
            argv.append(option)
        elif isinstance(value, list):
            argv += [option, *map(str, value)]
        else:
            argv += [option, f"{value:g}" if isinstance(value, float) else str(value)]
    return argv


def run_batch(args, out=None, err=None) -> int:
    """Analyse every recording of ``args.file`` (a list) with ``args.jobs`` processes.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``analyze`` options (``file`` a list, ``jobs`` an int or None).
    out, err : file, optional
        Where reports and progress go (default: ``sys.stdout``/``sys.stderr`` at call
        time).

    Returns
    -------
    int
        0 when every file was analysed, 1 otherwise.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    if getattr(args, "session", None) is not None:
        raise ConfigError("--session analyses one database: give one FILE")
    if getattr(args, "plot", None):
        raise ConfigError("--plot draws one recording: give one FILE (or run each file)")
    jobs = args.jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    files = recording_files(args.file)
    results: list[dict | None] = [None] * len(files)
    lock = threading.Lock()
    state = {"next": 0, "done": 0}
    start = time.perf_counter()
    print(f"analyze: {len(files)} recording(s), {min(jobs, len(files))} at a time",
          file=err, flush=True)

    def one(k: int) -> None:
        t0 = time.perf_counter()
        proc = subprocess.run(child_argv(args, files[k]), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        entry = {"file": str(files[k]), "ok": proc.returncode == 0,
                 "seconds": round(time.perf_counter() - t0, 3), "stdout": proc.stdout,
                 "error": _last_line(proc.stderr) if proc.returncode else None}
        with lock:
            results[k] = entry
            state["done"] += 1
            status = "ok" if entry["ok"] else f"FAILED: {entry['error']}"
            print(f"analyze: [{state['done']}/{len(files)}] {files[k]} "
                  f"({entry['seconds']:.1f} s) {status}", file=err, flush=True)
            if not args.json:
                _print_ready(results, state, out)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, range(len(files))))
    failed = sum(1 for r in results if not r["ok"])
    if args.json:
        entries = []
        for r in results:
            entry = {"file": r["file"], "ok": r["ok"], "seconds": r["seconds"]}
            if r["ok"]:
                entry["result"] = json.loads(r["stdout"])
            else:
                entry["error"] = r["error"]
            entries.append(entry)
        json.dump({"files": entries, "n_files": len(files), "n_failed": failed}, out,
                  indent=1, allow_nan=False)
        print(file=out)
    print(f"analyze: {len(files) - failed} of {len(files)} analysed in "
          f"{time.perf_counter() - start:.1f} s" + (f"; {failed} failed" if failed else ""),
          file=err, flush=True)
    return 1 if failed else 0


def _print_ready(results, state, out) -> None:
    # Reports in input order: print every finished one up to the first still running.
    while state["next"] < len(results) and results[state["next"]] is not None:
        r = results[state["next"]]
        if state["next"]:
            print(file=out)
        print(f"=== {r['file']}", file=out)
        out.write(r["stdout"] if r["ok"] else f"not analysed: {r['error']}\n")
        out.flush()
        state["next"] += 1


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "failed without a message"
