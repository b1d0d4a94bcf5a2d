"""Signal processing: filter design and the streaming Numba pipeline.

>>> from emgfeedback.dsp import PipelineConfig, Pipeline, process_offline
>>> pipe = Pipeline(PipelineConfig(fs_hz=2000.0), n_channels=2)  # doctest: +SKIP
>>> filtered_uv, envelope_uv = pipe.process(x_uv)                 # doctest: +SKIP
"""

from __future__ import annotations

from emgfeedback.dsp.pipeline import (
    ARV_PER_RMS,
    RMS_PER_ARV,
    Design,
    KindPipeline,
    Pipeline,
    PipelineConfig,
    chain_for,
    design,
    process_offline,
)

__all__ = ["ARV_PER_RMS", "RMS_PER_ARV", "Design", "KindPipeline", "Pipeline", "PipelineConfig",
           "chain_for", "design", "process_offline"]
