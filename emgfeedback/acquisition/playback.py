"""A stored session as a live source: ``file://PATH?session=ID&pace=realtime|fast&chunk=N``.

Replays the raw counts with their absolute indices and the recorded gaps (as ``Chunk.gaps``),
so a session can be run again through the pipeline, the detectors and the GUI. ``info``
carries the session's rate, channel names and calibration; ``info.extra`` the session's
metadata, markers and results. ``pace=realtime`` (default) delivers samples when they were
due (gaps take their time too); ``pace=fast`` as fast as the consumer reads.
"""

from __future__ import annotations

import time

import numpy as np

from emgfeedback.acquisition.source import (
    Chunk,
    Gap,
    SourceInfo,
    SourceStats,
    SourceUrl,
    choice,
    positive,
    take_options,
)
from emgfeedback.acquisition.threaded import ThreadedSource
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


class PlaybackSource(ThreadedSource):
    """Replay a stored session (see the module docstring).

    A reader thread (:class:`~emgfeedback.acquisition.threaded.ThreadedSource`) reads the
    store and waits for room when the consumer is behind: a file can wait, so nothing is
    dropped.

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
        if pace not in ("realtime", "fast"):
            raise ConfigError(f"playback pace {pace!r}: expected realtime or fast")
        super().__init__(url or f"file://{path}?session={session_id}&pace={pace}",
                         max_queued_samples=None, overflow="wait")
        self.path = path
        self.session_id = int(session_id)
        self.pace = pace
        self._chunk = chunk
        self._store = None
        self._info: SourceInfo | None = None
        self._position: int | None = None  # next index to deliver
        self._gaps: list[Gap] = []

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
        self._max_queued_samples = _QUEUE_CHUNKS * chunk  # bounds memory, never drops
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
        if self._reader_running:
            return
        self._set_state("streaming")
        self._start_reader("playback")

    def stop(self) -> None:
        """Pause; ``start()`` resumes after the last chunk queued (queued ones stay readable)."""
        self._stop_reader(timeout_s=None)  # the store is closed after this: wait for the end
        if self.state == "streaming":
            self._set_state("stopped")

    def close(self) -> None:
        """Stop and close the store. Idempotent."""
        self.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
        self._set_state("closed")

    def stats(self) -> SourceStats:
        """Samples delivered, and the recorded gaps delivered so far by cause."""
        with self._lock:
            return self._loss_counts.snapshot(state=self._state, no_data_s=self._no_data_s(),
                                              framing="file")

    def _reader_error(self, error: BaseException) -> SourceError:
        return SourceError(f"playback {self._url}: {error}")

    # ------------------------------------------------------------------ thread

    def _reader_loop(self) -> None:
        self._deliver_all()
        if not self._quit.is_set():
            self._end_stream()

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
                    if self._quit.wait(max(0.0, due - time.monotonic())):
                        return
                if not self._deliver([Chunk(np.ascontiguousarray(piece), index,
                                            time.monotonic(), tuple(before))]):
                    return
                self._position = index + piece.shape[0]
        if gaps:  # gaps after the last stored sample: deliver them with an empty chunk
            end = gaps[-1].end_index
            empty = np.zeros((0, self._info.n_channels), np.int32)
            self._deliver([Chunk(empty, end, time.monotonic(), tuple(gaps))])
