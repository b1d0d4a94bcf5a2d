"""Activation timing, resting tone, symmetry and signal quality (pure, on the dsp output).

>>> from emgfeedback.analysis.onset import OnsetDetector, OnsetConfig, OnsetEvent
>>> from emgfeedback.analysis.offline import detect_bursts, DETECTORS
>>> from emgfeedback.analysis.tone import resting_tone, ToneResult, noise_floor_uv
>>> from emgfeedback.analysis.quantities import rest_quantities, baseline_mean_uv
>>> from emgfeedback.analysis.quality import assess_quality
>>> from emgfeedback.analysis.timing import analyse_timing
>>> from emgfeedback.analysis.symmetry import pair_symmetry, amplitude_index
>>> from emgfeedback.analysis.mvc import capture_mvc, percent_mvc
>>> from emgfeedback.analysis.units import to_uv, UV_FACTORS
>>> from emgfeedback.analysis.summary import analyse, analyse_recording

Pure: arrays (or a recording source's blocks) in, numbers out. Files are read by
:mod:`emgfeedback.io` and numbers are rendered by :mod:`emgfeedback.reports`.

What each number means (tone, floor, baseline, static level, MVC, symmetry) is defined
once, in :mod:`emgfeedback.analysis.quantities` and docs/analysis.md.

Submodules are imported on demand so that ``import emgfeedback.analysis`` stays cheap.
"""
