"""Every command in the README's ``bash`` blocks runs as written and does what the text says.

Commands run in a subprocess with a private session database (``EMGFEEDBACK_DB``), a private
home folder (settings) and Qt's offscreen platform. Each ``bash`` line of the README must be
claimed by exactly one check below, so a new example without a test fails here.

Windows that stay open until closed (``demo``, ``live``) are run as written and must still
be running, without an error, after a generous time; then they are closed with SIGTERM.
They are all started together at the first window test (module fixture ``windows``) and
share that time, instead of one waiting after the other (issue 16, the CI budget).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def bash_lines() -> list[str]:
    """Every non-empty, non-comment line of the README's ```bash blocks."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def _command(line: str) -> str:
    """The shell command of a README line (its trailing ``# comment`` removed)."""
    return line.split("  #")[0].strip()


def _comment(line: str) -> str:
    return line.split("  #", 1)[1].strip() if "  #" in line else ""


def _private_env(folder: Path) -> dict:
    """The environment of one command: its own session database and home under ``folder``."""
    home = folder / "home"
    home.mkdir(parents=True)
    e = dict(os.environ, EMGFEEDBACK_DB=str(folder / "sessions.sqlite"), HOME=str(home),
             XDG_DATA_HOME=str(home / ".local" / "share"),
             XDG_CONFIG_HOME=str(home / ".config"), QT_QPA_PLATFORM="offscreen",
             PYTHONUNBUFFERED="1")
    # `emgfeedback` as the README calls it: the console script of this environment.
    e["PATH"] = str(Path(sys.executable).parent) + os.pathsep + e.get("PATH", "")
    return e


@pytest.fixture
def env(tmp_path):
    return _private_env(tmp_path)


def _run(cmd: str, env, cwd=ROOT, timeout_s: float = 600.0) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout_s)


ALIVE_S = 20.0  # how long a window must keep running; generous for a loaded machine


class _Window:
    """A window command started as written; :meth:`check` judges it after ``ALIVE_S``."""

    def __init__(self, cmd: str, env):
        self.cmd = cmd
        self.proc = subprocess.Popen(["bash", "-c", f"exec {cmd}"], env=env, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.started_s = time.monotonic()
        self.err: str | None = None

    def close(self) -> tuple[bool, str]:
        """SIGTERM; returns (was it still running, its stderr)."""
        if self.err is None:
            still_running = self.proc.poll() is None
            self.proc.send_signal(signal.SIGTERM)
            try:
                _out, self.err = self.proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                _out, self.err = self.proc.communicate()
            self.was_running = still_running
        return self.was_running, self.err

    def check(self, alive_s: float = ALIVE_S) -> str:
        """It must still run ``alive_s`` after its start, without an error; returns stderr."""
        try:
            self.proc.wait(timeout=max(0.0, self.started_s + alive_s - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        still_running, err = self.close()
        assert still_running, (f"{self.cmd!r} ended early (exit {self.proc.returncode}):\n"
                               f"{err[-2000:]}")
        assert "Traceback" not in err, err[-3000:]
        return err


CLAIMED: set[str] = set()


def claim(predicate) -> list[str]:
    lines = [ln for ln in bash_lines() if predicate(ln)]
    CLAIMED.update(lines)
    return lines


QUICK_DEMO = claim(lambda ln: ln.startswith("python3 -m venv")
                   and ln.endswith("emgfeedback demo"))
QUICK_TESTS = claim(lambda ln: ln.startswith("python3 -m venv") and "pytest" in ln)
SIMULATE = claim(lambda ln: ln.startswith("emgfeedback simulate-device"))
LIVE_ON_PTY = claim(lambda ln: ln.startswith("emgfeedback live --source \"serial:///dev/pts/"))
RUNS = claim(lambda ln: ln.startswith("emgfeedback run "))
DEMO_LINES = claim(lambda ln: ln.startswith("emgfeedback demo "))
CHECKS = claim(lambda ln: ln.startswith("emgfeedback protocols check"))


def test_every_readme_bash_line_has_a_check():
    assert set(bash_lines()) <= CLAIMED, sorted(set(bash_lines()) - CLAIMED)


def test_the_quick_start_is_two_commands_install_and_demo_then_install_and_tests():
    assert len(QUICK_DEMO) == 1 and len(QUICK_TESTS) == 1
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = QUICK_TESTS[0].split("&&")[-1].strip()
    assert test_cmd in ci, "the README's test command is not what .ci/run runs"


def _this_venv(cmd: str) -> str:
    """The README's ``.venv/bin/`` is this test environment's (the install already ran)."""
    return cmd.replace(".venv/bin/", str(Path(sys.executable).parent) + "/")


@pytest.fixture(scope="module")
def windows(tmp_path_factory):
    """Every window line of the README, started as written at the same time.

    Keys: ``"quick"`` (the quick start's ``demo``), each demo line, ``"live"`` (the live
    window on the pty of ``simulate-device``, whose first line is ``"live_device_line"``) and
    ``"live_json"`` (the same line with ``--seconds 5 --json`` on a second virtual board).
    """
    started: dict = {}
    devices: list[subprocess.Popen] = []
    try:
        boards = {}
        if len(SIMULATE) == 1 and len(LIVE_ON_PTY) == 1:
            # Two virtual boards: one for the window left open, one for the same window
            # closing itself after 5 s to report what arrived (a pty has one reader).
            sim_cmd = _command(SIMULATE[0]).rstrip("&").strip()
            for key in ("live", "live_json"):
                env = _private_env(tmp_path_factory.mktemp(key))
                boards[key] = (env, subprocess.Popen(
                    shlex.split(sim_cmd), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True))
                devices.append(boards[key][1])
        cmd = QUICK_DEMO[0].split("&&")[-1].strip()  # the install steps ran for this env
        started["quick"] = _Window(_this_venv(cmd), _private_env(tmp_path_factory.mktemp("q")))
        for line in DEMO_LINES:
            started[line] = _Window(_command(line), _private_env(tmp_path_factory.mktemp("d")))
        for key, (env, dev) in boards.items():
            first = dev.stdout.readline().strip()  # "prints e.g. /dev/pts/5"
            started[f"{key}_device_line"] = first
            pty = re.search(r"/dev/pts/\d+", first)
            if not pty:
                continue
            live = _command(LIVE_ON_PTY[0]).replace(
                re.search(r"/dev/pts/\d+", LIVE_ON_PTY[0]).group(0), pty.group(0))
            if key == "live":
                started["live"] = _Window(live, env)
            else:
                started["live_json"] = subprocess.Popen(
                    ["bash", "-c", live + " --seconds 5 --json"], env=env, cwd=ROOT,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        yield started
    finally:
        for w in started.values():
            if isinstance(w, _Window):
                w.close()
            elif isinstance(w, subprocess.Popen) and w.poll() is None:
                w.kill()
                w.communicate()
        for dev in devices:
            dev.terminate()
            dev.wait(timeout=60)


def test_the_quick_start_demo_opens_and_keeps_running(windows):
    assert "pip install -e '.[gui]'" in QUICK_DEMO[0]
    windows["quick"].check()


def test_the_windows_quick_start_mirrors_the_linux_one():
    ps = re.findall(r"```powershell\n(.*?)```", README, flags=re.S)
    assert len(ps) == 1
    line = ps[0].strip()
    assert line.startswith("py -m venv .venv;") and '-e ".[gui]"' in line
    assert line.endswith(r".venv\Scripts\emgfeedback demo")


def test_the_virtual_board_and_the_live_window_on_it(windows):
    assert len(SIMULATE) == 1 and len(LIVE_ON_PTY) == 1
    for key in ("live", "live_json"):
        first = windows[f"{key}_device_line"]
        assert re.search(r"/dev/pts/\d+", first), f"simulate-device printed {first!r}"
    windows["live"].check()
    # and samples really flow from the pty into the window
    res = windows["live_json"]
    out, err = res.communicate(timeout=600)
    assert res.returncode == 0, err[-2000:]
    import json

    health = json.loads(out.strip().splitlines()[-1])["health"]
    assert health["samples_in"] > 0


@pytest.mark.parametrize("line", RUNS)
def test_protocol_runs_end_as_the_readme_says(line, env):
    res = _run(_command(line), env)
    out = res.stdout + res.stderr
    assert "Traceback" not in out, out[-3000:]
    expect = _comment(line)
    verdicts = re.findall(r"\b(not passed|passed)\b", res.stdout)
    assert verdicts, res.stdout[-2000:]
    if expect.startswith("not passed"):
        assert "not passed" in verdicts, res.stdout[-2000:]
        assert re.search(r"reason|rep \d+:", res.stdout), "no reasons were printed"
    elif expect.startswith("passed"):
        assert res.returncode == 0, out[-2000:]
        assert "not passed" not in verdicts, res.stdout[-3000:]


@pytest.mark.parametrize("line", DEMO_LINES)
def test_demo_lines_open_the_window(line, windows):
    windows[line].check()


@pytest.mark.parametrize("line", CHECKS)
def test_protocol_check_lines_pass(line, env):
    res = _run(_command(line), env)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_headless_screenshot_example(env, tmp_path):
    example = re.search(r"`(QT_QPA_PLATFORM=offscreen emgfeedback demo [^`]*)`",
                        README.replace("\n", " "))
    assert example, "the README's headless example moved"
    res = _run(re.sub(r"\s+", " ", example.group(1)), env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    png = tmp_path / "demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_window_check_example_matches_what_the_command_prints():
    # The README quotes the one line `live`/`demo` print when Qt cannot start.
    from emgfeedback.gui.qt_check import install_line

    libs = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xinerama.so.0"]
    assert install_line(libs) in README
