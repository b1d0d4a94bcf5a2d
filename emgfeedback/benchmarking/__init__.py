"""Benchmarks shared by ``emgfeedback bench`` and the scripts in ``benchmarks/``.

Kept out of the processing packages (``dsp``, ``runtime``): measuring is a client of them.

* :mod:`emgfeedback.benchmarking.pipeline`: the Numba pipeline against the same chain of
  SciPy calls (offline throughput, per-block cost, bit-identity);
* :mod:`emgfeedback.benchmarking.engine`: the engine's per-chunk cost with every stage
  running (pipeline, onset detector, protocol runner, quality, recorder);
* :mod:`emgfeedback.benchmarking.memory`: resident set size and import floors.
"""
