"""Numba pipeline vs the same chain of SciPy calls: offline throughput, 16-sample blocks.

Run: ``python benchmarks/bench_pipeline.py [--json] [--minutes M]`` (same as
``emgfeedback bench``); the logic lives in :mod:`emgfeedback.benchmarking.pipeline`.
"""

from __future__ import annotations

from emgfeedback.benchmarking.pipeline import main

if __name__ == "__main__":
    raise SystemExit(main())
