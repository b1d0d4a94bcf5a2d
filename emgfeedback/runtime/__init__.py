"""Runtime: the engine thread that joins sources, processing, displays and the recorder."""

from emgfeedback.runtime.engine import Engine, EngineError, Snapshot
from emgfeedback.runtime.processor import Processed, Processor, default_pipeline_config

__all__ = ["Engine", "EngineError", "Snapshot", "Processed", "Processor",
           "default_pipeline_config"]
