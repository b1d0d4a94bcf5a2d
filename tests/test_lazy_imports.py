"""Commands import SciPy and Numba only when they need them (issue 16, memory and start-up).

Building the CLI parser imports every command module; none of them may pull in the signal
stack (SciPy's signal package, Numba and their ~130 MB) at import time. Before, every
command, ``--help`` included, started at the full signal-stack floor.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("scipy", "numba", "PyQt5")


def _loaded_after(code: str) -> list[str]:
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_building_the_cli_parser_imports_no_signal_stack():
    assert _loaded_after("import emgfeedback.cli as c\nc.build_parser()") == []


def test_the_engine_and_processor_modules_import_the_dsp_only_when_a_processor_is_built():
    assert _loaded_after("import emgfeedback.runtime.engine, emgfeedback.analysis.quality") \
        == []
    built = _loaded_after(
        "from emgfeedback.acquisition import open_source\n"
        "from emgfeedback.runtime.processor import Processor\n"
        "s = open_source('sim://?channels=2&fs=1000&scenario=drill&seed=1'); s.open()\n"
        "Processor(s.info)")
    assert "scipy" in built and "numba" in built



def test_a_board_recording_and_the_analysis_of_a_file_never_load_scipy_signal(tmp_path):
    # A board's chunks through the processor (warm-up, several quality windows with the ECG
    # filter), then the modules `analyze` runs: SciPy's signal package stays out. (The
    # simulator shapes its noise with it, so no simulator here.)
    probe = """
import sys
import numpy as np
from emgfeedback.acquisition.boards import get_board
from emgfeedback.types import Chunk, SourceInfo
from emgfeedback.runtime.processor import Processor
from emgfeedback.runtime.warmup import warm_up
info = SourceInfo("test://", 1000.0, ("a", "b"), get_board("uno-myoware2").calibration(2))
p = Processor(info)
warm_up(p)
rng = np.random.default_rng(1)
for i in range(0, 12000, 16):
    p.process(Chunk((512 + rng.normal(0, 20, (16, 2))).astype(np.int32), i, 0.0))
assert p.assessed_windows > 0, p.assessed_windows
# analyze of a file long enough to be read in blocks (as every real recording is).
import contextlib, io
from emgfeedback.cli import main
t = np.arange(25000) / 1000.0
x = rng.normal(0, 5, (25000, 2)) * np.where((t % 5) > 3, 8.0, 1.0)[:, None]
np.savetxt(sys.argv[1], np.column_stack([t, x]), delimiter=",", header="time_s,a,b",
           comments="", fmt="%.6f")
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["analyze", sys.argv[1], "--json"]) == 0
print(sorted(m for m in sys.modules if m.startswith("scipy.signal")))
"""
    proc = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "rec.csv")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
