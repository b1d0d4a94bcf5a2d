"""The memory figures of the benchmarks: a child's own peak, not its parent's."""

from __future__ import annotations

import sys

import pytest

from emgfeedback.benchmarking.memory import import_floor_mb, run_python_measured

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="peak RSS is read from /proc (Linux)")


def test_a_child_reports_its_own_peak_not_the_parents():
    ballast = bytearray(300 * 2**20)  # the parent holds 300 MB ...
    ballast[::4096] = b"x" * len(ballast[::4096])
    rc, wall_s, small = run_python_measured("-c", "pass")
    assert rc == 0 and wall_s > 0
    assert small < 100  # ... which the child's figure does not include
    rc, _, big = run_python_measured(
        "-c", "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])")
    assert rc == 0 and big - small > 190  # what the child itself touched
    del ballast


def test_import_floor_counts_what_is_imported_and_exit_status_passes_through():
    assert import_floor_mb(("numpy",)) > import_floor_mb(())
    rc, _, _ = run_python_measured("-m", "emgfeedback", ["analyze"])
    assert rc == 2  # argparse's usage error, from the real CLI
