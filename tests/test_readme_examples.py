"""Every command in the README's ``bash`` blocks runs as written and does what the text says.

Commands run in a subprocess with a private session database (``EMGFEEDBACK_DB``), a private
home folder (settings) and Qt's offscreen platform. Each ``bash`` line of the README must be
claimed by exactly one check below, so a new example without a test fails here.

Windows that stay open until closed (``demo``, ``live``) are run as written and must still
be running, without an error, after a generous time; then they are closed with SIGTERM.
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


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    e = dict(os.environ, EMGFEEDBACK_DB=str(tmp_path / "sessions.sqlite"), HOME=str(home),
             XDG_DATA_HOME=str(home / ".local" / "share"),
             XDG_CONFIG_HOME=str(home / ".config"), QT_QPA_PLATFORM="offscreen",
             PYTHONUNBUFFERED="1")
    # `emgfeedback` as the README calls it: the console script of this environment.
    e["PATH"] = str(Path(sys.executable).parent) + os.pathsep + e.get("PATH", "")
    return e


def _run(cmd: str, env, cwd=ROOT, timeout_s: float = 600.0) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout_s)


def _stays_open(cmd: str, env, alive_s: float = 20.0) -> str:
    """Start a window command; it must still run after ``alive_s``; returns its stderr."""
    proc = subprocess.Popen(["bash", "-c", f"exec {cmd}"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=alive_s)
    except subprocess.TimeoutExpired:
        pass
    still_running = proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    assert still_running, f"{cmd!r} ended early (exit {proc.returncode}):\n{err[-2000:]}"
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


def test_the_quick_start_demo_opens_and_keeps_running(env):
    cmd = QUICK_DEMO[0].split("&&")[-1].strip()  # the install steps ran when this env was made
    assert "pip install -e '.[gui]'" in QUICK_DEMO[0]
    _stays_open(_this_venv(cmd), env)


def test_the_windows_quick_start_mirrors_the_linux_one():
    ps = re.findall(r"```powershell\n(.*?)```", README, flags=re.S)
    assert len(ps) == 1
    line = ps[0].strip()
    assert line.startswith("py -m venv .venv;") and '-e ".[gui]"' in line
    assert line.endswith(r".venv\Scripts\emgfeedback demo")


def test_the_virtual_board_and_the_live_window_on_it(env):
    assert len(SIMULATE) == 1 and len(LIVE_ON_PTY) == 1
    sim_cmd = _command(SIMULATE[0]).rstrip("&").strip()
    dev = subprocess.Popen(shlex.split(sim_cmd), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        first = dev.stdout.readline().strip()  # "prints e.g. /dev/pts/5"
        pty = re.search(r"/dev/pts/\d+", first)
        assert pty, f"simulate-device printed {first!r}"
        live = _command(LIVE_ON_PTY[0]).replace(re.search(r"/dev/pts/\d+",
                                                          LIVE_ON_PTY[0]).group(0), pty.group(0))
        _stays_open(live, env)
        # and samples really flow from the pty into the window
        res = _run(live + " --seconds 5 --json", env)
        assert res.returncode == 0, res.stderr[-2000:]
        import json

        health = json.loads(res.stdout.strip().splitlines()[-1])["health"]
        assert health["samples_in"] > 0
    finally:
        dev.terminate()
        dev.wait(timeout=60)


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
def test_demo_lines_open_the_window(line, env):
    _stays_open(_command(line), env)


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


def _noop():  # pragma: no cover - keeps time imported for readers who add waits
    return time.monotonic()
