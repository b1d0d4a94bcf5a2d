"""The session store: SQLite file with raw samples, gaps, markers and results; exports.

>>> from emgfeedback.storage import SessionStore, SessionMeta, default_db_path
"""

from emgfeedback.storage.store import (
    HistoryPoint,
    Marker,
    Result,
    SessionMeta,
    SessionStore,
    default_db_path,
)
from emgfeedback.storage.writer import SessionWriter

__all__ = ["HistoryPoint", "Marker", "Result", "SessionMeta", "SessionStore", "SessionWriter",
           "default_db_path"]
