"""Acquisition: bytes from boards (and simulators, files, streams) to :class:`Chunk` objects.

No Qt here; threads are allowed.
"""

from emgfeedback.acquisition.source import (
    Chunk,
    Gap,
    Source,
    SourceInfo,
    SourceStats,
    open_source,
    parse_source_url,
)

__all__ = ["Chunk", "Gap", "Source", "SourceInfo", "SourceStats", "open_source",
           "parse_source_url"]
