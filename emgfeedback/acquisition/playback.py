"""A stored session as a live source: ``file://PATH?session=ID&pace=realtime|fast&chunk=N``.

Replays the raw counts with their absolute indices and the recorded gaps (as ``Chunk.gaps``),
so a session can be run again through the pipeline, the detectors and the GUI. ``info``
carries the session's rate, channel names and calibration; ``info.extra`` the session's
metadata, markers and results. ``pace=realtime`` (default) delivers samples when they were
due (gaps take their time too); ``pace=fast`` as fast as the consumer reads.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np

from emgfeedback.acquisition.source import (
    Chunk,
    Gap,
    Source,
    SourceInfo,
    SourceUrl,
    choice,
    positive,
    take_options,
)
from emgfeedback.errors import ConfigError, SourceError, StorageError
from emgfeedback.storage import SessionStore

_OPTIONS = {
    "session": (positive(int), None),
    "pace": (choice("realtime", "fast"), "realtime"),
    "chunk": (positive(int), None),
}

#: Chunks held ahead of the consumer in fast mode (bounds memory, never drops).
_QUEUE_CHUNKS = 64


def source_from_url(parsed: SourceUrl) -> PlaybackSource:
    """Create a :class:`PlaybackSource` from a parsed ``file://`` URL.

    Raises
    ------
    ConfigError
        If the path or ``session`` is missing or an option is unknown or invalid.
    """
    opts = take_options(parsed, _OPTIONS)
    if not parsed.path:
        raise ConfigError(f"source {parsed.url!r}: give the database path, "
                          "e.g. file:///home/me/sessions.sqlite?session=3")
    if opts["session"] is None:
        raise ConfigError(f"source {parsed.url!r}: option session=ID is required "
                          "(list the ids with: emgfeedback sessions --db PATH)")
    return PlaybackSource(parsed.path, opts["session"], pace=opts["pace"], chunk=opts["chunk"],
                          url=parsed.url)


class PlaybackSource(Source):
    """Replay a stored session (see the module docstring).

    Parameters
    ----------
    path : str
        The session store file.
    session_id : int
        The session to replay.
    pace : str
        ``realtime`` or ``fast``.
    chunk : int, optional
        Samples per delivered chunk; default about 10 ms of samples.
    url : str, optional
        The URL it was opened from (for ``info.url``).
    """

    def __init__(self, path: str, session_id: int, *, pace: str = "realtime",
                 chunk: int | None = None, url: str | None = None) -> None:
        super().__init__()
        if pace not in ("realtime", "fast"):
            raise ConfigError(f"playback pace {pace!r}: expected realtime or fast")
        self.path = path
        self.session_id = int(session_id)
        self.pace = pace
        self._chunk = chunk
        self._url = url or f"file://{path}?session={session_id}&pace={pace}"
        self._store = None
        self._info: SourceInfo | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._position: int | None = None  # next index to deliver
        self._gaps: list[Gap] = []
        self._error: BaseException | None = None
        self._stats = {"samples": 0, "lost_samples": 0, "gaps_by_cause": {}, "chunks": 0}
        self._stats_lock = threading.Lock()

    @property
    def info(self) -> SourceInfo:
        """Rate, channel names, calibration and board of the stored session."""
        if self._info is None:
            raise SourceError(f"playback {self._url}: call open() first")
        return self._info

    def open(self) -> None:
        """Open the store and read the session's metadata."""
        if self._store is not None:
            return
        try:
            store = SessionStore(self.path, create=False)
            meta = store.session(self.session_id)
        except StorageError as exc:
            raise SourceError(f"playback {self._url}: {exc}") from exc
        self._store = store
        self._gaps = store.gaps(self.session_id)
        markers = store.markers(self.session_id)
        results = store.results(self.session_id)
        chunk = self._chunk or max(1, int(round(meta.fs_hz / 100.0)))
        self._chunk = chunk
        self._info = SourceInfo(
            url=self._url, fs_hz=float(meta.fs_hz), channel_names=meta.channel_names,
            calibration=meta.calibration, board=meta.board or "generic", framing="file",
            extra={"session": meta, "markers": markers, "results": results,
                   "chunk": chunk, "pace": self.pace},
        )
        self._set_state("open")

    def start(self) -> None:
        """Start (or resume) delivering samples from a background thread."""
        if self._store is None:
            self.open()
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="playback", daemon=True)
        self._set_state("streaming")
        self._thread.start()

    def read(self, timeout_s: float = 0.1) -> list[Chunk]:
        """Chunks delivered since the last call (empty on timeout or once finished)."""
        if self._error is not None:
            error, self._error = self._error, None
            raise SourceError(f"playback {self._url}: {error}") from error
        out: list[Chunk] = []
        try:
            item = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return out
        while True:
            if item is None:
                self._set_state("finished")
            else:
                out.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out

    def stop(self) -> None:
        """Pause; ``start()`` resumes where it stopped."""
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:  # unblock a producer waiting on a full queue
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(0.05)
        if self.state == "streaming":
            self._set_state("stopped")

    def close(self) -> None:
        """Stop and close the store. Idempotent."""
        self.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
        self._set_state("closed")

    def stats(self) -> dict:
        """``samples`` delivered, ``lost_samples`` and ``gaps_by_cause`` from the recording."""
        with self._stats_lock:
            out = dict(self._stats)
            out["gaps_by_cause"] = dict(self._stats["gaps_by_cause"])
        return out

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        try:
            self._deliver_all()
        except BaseException as exc:  # reach the consumer through read()
            self._error = exc
        if not self._stop.is_set():
            self._put(None)

    def _deliver_all(self) -> None:
        chunk, fs = self._chunk, self._info.fs_hz
        gaps = [g for g in self._gaps if self._position is None or g.end_index > self._position]
        t_start = time.monotonic()
        origin: int | None = None
        for first, block in self._store.iter_chunks(self.session_id,
                                                    start_index=self._position):
            if self._position is not None and first < self._position:
                block, first = block[self._position - first:], self._position
            for start in range(0, block.shape[0], chunk):
                piece = block[start:start + chunk]
                index = first + start
                before = []
                while gaps and gaps[0].end_index <= index:
                    before.append(gaps.pop(0))
                if origin is None:
                    origin = min([index, *[g.start_index for g in before]])
                if self.pace == "realtime":
                    due = t_start + (index + piece.shape[0] - origin) / fs
                    if self._stop.wait(max(0.0, due - time.monotonic())):
                        return
                if not self._put(Chunk(np.ascontiguousarray(piece), index, time.monotonic(),
                                       tuple(before))):
                    return
                self._count(piece.shape[0], before)
                self._position = index + piece.shape[0]
        if gaps:  # gaps after the last stored sample: deliver them with an empty chunk
            end = gaps[-1].end_index
            empty = np.zeros((0, self._info.n_channels), np.int32)
            if self._put(Chunk(empty, end, time.monotonic(), tuple(gaps))):
                self._count(0, gaps)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _count(self, n: int, gaps: list[Gap]) -> None:
        with self._stats_lock:
            self._stats["samples"] += n
            self._stats["chunks"] += 1
            for g in gaps:
                self._stats["lost_samples"] += g.n_samples
                by = self._stats["gaps_by_cause"]
                by[g.cause] = by.get(g.cause, 0) + g.n_samples
