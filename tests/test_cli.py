"""The command line: discovery, help, errors without tracebacks."""

import subprocess
import sys

from emgfeedback.cli import main


def test_help_lists_commands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "usage: emgfeedback" in out


def test_python_dash_m_runs():
    done = subprocess.run([sys.executable, "-m", "emgfeedback", "--version"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("emgfeedback ")
