"""Runtime: the engine thread that joins sources, processing, displays and the recorder."""

from emgfeedback.runtime.engine import Engine, EngineError, Snapshot
from emgfeedback.runtime.processor import Processed, Processor, default_pipeline_config
from emgfeedback.runtime.recording import Recorder

__all__ = ["Engine", "EngineError", "Snapshot", "Processed", "Processor", "Recorder",
           "default_pipeline_config"]
