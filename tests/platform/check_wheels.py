"""Installable everywhere: every dependency has a wheel for Windows and macOS.

For each target platform and supported Python version, ask the package index (with pip
itself, ``pip install --dry-run --only-binary=:all: --platform ... --python-version ...``)
to resolve the core dependencies and each user-facing extra from ``pyproject.toml``,
transitive dependencies included, using wheels only. A requirement that has no wheel there
fails the check with the package named, unless it is a known, documented gap
(:data:`KNOWN_GAPS`, also listed in ``docs/platforms.md``); a known gap that has closed is
reported so that the list and the docs can be updated.

Usage (network access to the index needed; 12 pip runs in parallel, about 15 s each: about
20 s on a quiet 2-core machine with a warm cache, 2.5 min on a heavily loaded one)::

    python tests/platform/check_wheels.py            # all platforms, Pythons and extras
    python tests/platform/check_wheels.py --json     # machine-readable results
    python tests/platform/check_wheels.py --platform win_amd64 --python 3.12

Exit status: 0 all available (or only known gaps), 1 a dependency lacks a wheel, 2 the
index could not be asked (no network, pip failed for another reason).

Limits: markers of *transitive* dependencies are evaluated by pip for this machine (a
dependency only Windows needs, such as ``pywin32``, is not checked); the project's own
requirements' markers are evaluated for the target here.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Target platform tags. pip expands a macOS tag to every older macOS version of the same
#: architecture: ``macosx_12_0_arm64`` accepts arm64 wheels built for macOS 11.0 to 12.0,
#: ``macosx_12_0_x86_64`` Intel wheels for 10.9 to 12.0. macOS 12 (Monterey) is the oldest
#: that works on Apple silicon: SciPy publishes no ``macosx_11_0_arm64`` wheels.
PLATFORMS = {
    "win_amd64": {"sys_platform": "win32", "platform_system": "Windows",
                  "platform_machine": "AMD64", "os_name": "nt"},
    "macosx_12_0_arm64": {"sys_platform": "darwin", "platform_system": "Darwin",
                          "platform_machine": "arm64", "os_name": "posix"},
    "macosx_12_0_x86_64": {"sys_platform": "darwin", "platform_system": "Darwin",
                           "platform_machine": "x86_64", "os_name": "posix"},
}

#: Python versions the project supports (``requires-python = ">=3.10"``).
PYTHONS = ("3.10", "3.11", "3.12", "3.13")

#: Extras a user installs (``test``, ``dev`` and ``compare`` are for contributors on Linux).
USER_EXTRAS = ("gui", "sound", "edf", "plot", "lsl", "brainflow")

#: Known gaps: (group, platform tag, python) -> why; ``"*"`` matches any platform/python.
#: Each is documented in docs/platforms.md ("Which extras install where").
KNOWN_GAPS: dict[tuple[str, str, str], str] = {}


@dataclass
class Result:
    """The outcome for one group of requirements on one platform and Python."""

    group: str
    platform: str
    python: str
    ok: bool
    missing: list[str] = field(default_factory=list)
    wheels: list[str] = field(default_factory=list)
    error: str = ""
    known_gap: str = ""


def load_requirements(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, list[str]]:
    """Core and extra requirements, with ``emgfeedback[x]`` self-references expanded."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})

    def expand(reqs: list[str], seen: tuple[str, ...] = ()) -> list[str]:
        out: list[str] = []
        for req in reqs:
            match = re.match(r"^\s*emgfeedback\[([^\]]+)\]\s*$", req)
            if match is None:
                out.append(req)
                continue
            for name in match.group(1).split(","):
                name = name.strip()
                if name not in seen:
                    out += expand(extras[name], (*seen, name))
        return out

    groups = {"core": list(project.get("dependencies", []))}
    for name in extras:
        groups[name] = expand(extras[name], (name,))
    return groups


def for_target(reqs: list[str], platform: str, python: str) -> list[str]:
    """The requirements whose markers hold on ``platform`` with ``python`` (markers
    removed: pip would evaluate them for this machine)."""
    from packaging.requirements import Requirement

    env = {**PLATFORMS[platform], "python_version": python, "python_full_version": f"{python}.0",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    out = []
    for text in reqs:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


_NOT_FOUND = re.compile(r"(?:No matching distribution found for|Could not find a version that "
                        r"satisfies the requirement)\s+([A-Za-z0-9_.\-]+)")


def resolve(reqs: list[str], platform: str, python: str, cache: Path) -> tuple[bool, list, list,
                                                                                str]:
    """Ask pip to resolve ``reqs`` with wheels only for the target.

    Returns
    -------
    (ok, wheels, missing, error)
        The chosen wheel file names, the packages without a wheel, pip's error text when it
        failed for another reason.
    """
    if not reqs:
        return True, [], [], ""
    with tempfile.TemporaryDirectory(prefix="emgf-wheels-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--only-binary=:all:", "--platform", platform, "--python-version", python,
               "--implementation", "cp", "--target", str(Path(tmp) / "target"),
               "--report", str(report), "--quiet", "--no-input", "--disable-pip-version-check",
               "--cache-dir", str(cache), *reqs]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode == 0 and report.exists():
            data = json.loads(report.read_text(encoding="utf-8"))
            wheels = [item["download_info"]["url"].rsplit("/", 1)[-1]
                      for item in data.get("install", [])]
            return True, wheels, [], ""
    missing = sorted(set(_NOT_FOUND.findall(proc.stderr)))
    return False, [], missing, "" if missing else proc.stderr.strip()[-2000:]


def gap_reason(group: str, platform: str, python: str) -> str:
    """Why a group is known not to install there ('' if it should)."""
    for (g, p, v), why in KNOWN_GAPS.items():
        if g == group and p in ("*", platform) and v in ("*", python):
            return why
    return ""


def check(platforms, pythons, extras, jobs: int = 12) -> list[Result]:
    """Resolve every group on every platform and Python, in parallel."""
    groups = load_requirements()
    wanted = {"core": groups["core"], **{e: groups["core"] + groups[e] for e in extras}}
    cache = Path(tempfile.gettempdir()) / "emgfeedback-wheel-check-cache"
    combos = [(p, v) for p in platforms for v in pythons]

    def one_target(target):
        platform, python = target
        every = sorted({r for reqs in wanted.values() for r in reqs})
        ok, wheels, missing, error = resolve(for_target(every, platform, python), platform,
                                             python, cache)
        if ok:  # everything resolves together: so does each group (wheels listed once)
            return [Result("all", platform, python, True, wheels=sorted(wheels)),
                    *(Result(g, platform, python, True) for g in wanted)]
        results = []
        for group, reqs in wanted.items():  # attribute the failure to groups
            g_ok, g_wheels, g_missing, g_error = resolve(for_target(reqs, platform, python),
                                                         platform, python, cache)
            results.append(Result(group, platform, python, g_ok, g_missing, g_wheels, g_error,
                                   gap_reason(group, platform, python)))
        if all(r.ok for r in results) and error:
            results.append(Result("all", platform, python, False, missing, [], error))
        return results

    out: list[Result] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for results in pool.map(one_target, combos):
            out += results
    for r in out:
        if r.ok:
            r.known_gap = gap_reason(r.group, r.platform, r.python)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the check; print a table (or JSON); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS),
                        help="target platform tag (repeatable; default: all)")
    parser.add_argument("--python", action="append", help="Python version, e.g. 3.12 "
                        f"(repeatable; default: {', '.join(PYTHONS)})")
    parser.add_argument("--extra", action="append", choices=USER_EXTRAS,
                        help="extra to check besides the core (repeatable; default: all)")
    parser.add_argument("--jobs", type=int, default=12, help="parallel pip runs")
    parser.add_argument("--json", action="store_true", help="print JSON results")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    results = check(args.platform or list(PLATFORMS), args.python or list(PYTHONS),
                    args.extra or list(USER_EXTRAS), args.jobs)
    elapsed = time.monotonic() - t0
    broken = [r for r in results if not r.ok and not r.known_gap]
    errors = [r for r in broken if r.error and not r.missing]
    closed = [r for r in results if r.ok and r.known_gap]
    if args.json:
        print(json.dumps({"elapsed_s": round(elapsed, 1),
                          "results": [r.__dict__ for r in results]}, indent=2))
    else:
        for r in sorted(results, key=lambda r: (r.group, r.platform, r.python)):
            if r.ok and not r.known_gap:
                continue
            state = ("known gap: " + r.known_gap) if r.known_gap and not r.ok else \
                ("now available (remove it from KNOWN_GAPS and docs/platforms.md)"
                 if r.ok else "MISSING " + ", ".join(r.missing) if r.missing else "ERROR")
            print(f"{r.group:10s} {r.platform:20s} py{r.python}: {state}")
        n_ok = sum(r.ok for r in results)
        print(f"check_wheels: {n_ok}/{len(results)} group x platform x Python combinations "
              f"resolve with wheels only ({elapsed:.0f} s)")
        for r in errors:
            print(f"pip failed for {r.group} on {r.platform} py{r.python}:\n{r.error}",
                  file=sys.stderr)
    if errors:
        return 2
    if broken:
        print("check_wheels: no wheel for: " + "; ".join(
            f"{', '.join(r.missing)} ({r.group}, {r.platform}, py{r.python})" for r in broken),
            file=sys.stderr)
        return 1
    if closed:
        print(f"check_wheels: {len(closed)} known gap(s) closed: update KNOWN_GAPS and "
              "docs/platforms.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
