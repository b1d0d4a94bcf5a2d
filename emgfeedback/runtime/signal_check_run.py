"""Running a signal check on a live source, and storing its grade with a session (#20).

:class:`CheckRecorder` collects a check's samples (rest, then an optional test contraction)
from a source's chunks, by sample index (lost samples stay NaN), and grades them with
:func:`emgfeedback.analysis.signal_check.check_signal`. ``emgfeedback check`` and ``run``
drive it with :func:`record_check` (blocking); the window's check step feeds it from a
timer. The grade is stored as a ``signal_check`` result per channel of the session
(:func:`store_check`): no schema change, read back by
:func:`emgfeedback.reports.signal_checks.session_grades`.
"""

from __future__ import annotations

import time

import numpy as np

from emgfeedback.analysis.signal_check import (
    CONTRACTION_S,
    REST_S,
    RESULT_KIND,
    check_signal,
    meets,
)
from emgfeedback.errors import SourceError
from emgfeedback.jsonsafe import json_ready


class CheckRecorder:
    """Samples of one check, placed by index; phases follow the sample count.

    Parameters
    ----------
    info : SourceInfo
        The opened source's info (rate, calibration, channel names, board).
    rest_s : float
        Rest length, seconds.
    contraction_s : float or None
        Test contraction length, seconds; None skips it.
    """

    def __init__(self, info, rest_s: float = REST_S, contraction_s: float | None = CONTRACTION_S):
        self.info = info
        self.fs_hz = float(info.fs_hz)
        self.rest_n = max(int(round(rest_s * self.fs_hz)), 1)
        self.contraction_n = 0 if contraction_s is None else \
            max(int(round(contraction_s * self.fs_hz)), 1)
        self.total_n = self.rest_n + self.contraction_n
        self.counts = np.full((self.total_n, info.n_channels), np.nan)
        self._first: int | None = None
        self.received = 0
        self._end = 0

    @property
    def done(self) -> bool:
        """Whether every sample of the check has arrived (or its index has passed)."""
        return self._end >= self.total_n

    @property
    def phase(self) -> str:
        """``rest``, ``contraction`` or ``done``, by the samples' positions."""
        if self._end < self.rest_n:
            return "rest"
        return "contraction" if self._end < self.total_n else "done"

    @property
    def elapsed_s(self) -> float:
        """Seconds of the check covered so far (by sample index)."""
        return self._end / self.fs_hz

    @property
    def total_s(self) -> float:
        """Length of the whole check, seconds."""
        return self.total_n / self.fs_hz

    def add(self, chunks) -> None:
        """Place chunks' samples at their index (from the first chunk seen)."""
        for chunk in chunks:
            if self._first is None:
                self._first = int(chunk.first_index)
            a = int(chunk.first_index) - self._first
            z = min(a + chunk.samples.shape[0], self.total_n)
            if a >= self.total_n or z <= 0:
                self._end = max(self._end, min(a, self.total_n))
                continue
            self.counts[max(a, 0):z] = chunk.samples[max(-a, 0): z - a]
            self.received += z - max(a, 0)
            self._end = max(self._end, z)

    def result(self, board=None, names=None, placements=None, mains_hz: float = 50.0,
               partial: bool = False) -> dict:
        """Grade the samples (:func:`~emgfeedback.analysis.signal_check.check_signal`).

        With ``partial`` the samples so far are graded as a rest (for a live display).
        """
        from emgfeedback.runtime.processor import default_pipeline_config

        contraction = None
        n = self._end if partial else self.total_n
        if self.contraction_n and not partial:
            contraction = (self.rest_n, self.total_n)
        out = check_signal(self.counts[:n], self.info.calibration, self.fs_hz,
                           rest_samples=min(self.rest_n, n), contraction=contraction,
                           mains_hz=mains_hz, board=board, names=names, placements=placements,
                           pipeline_config=default_pipeline_config(self.fs_hz, mains_hz))
        out["source"] = self.info.url
        out["board"] = self.info.board
        return out


def board_of(info):
    """The :class:`~emgfeedback.acquisition.boards.Board` a source names, or None."""
    from emgfeedback.acquisition.boards import BOARDS

    return BOARDS.get(info.board or "")


def record_check(source, rest_s: float = REST_S, contraction_s: float | None = CONTRACTION_S,
                 on_progress=None, timeout_s: float | None = None) -> CheckRecorder:
    """Record a check from an opened source (started here, stopped at the end).

    Parameters
    ----------
    source : Source
        Opened (``open()``) source.
    rest_s, contraction_s : float
        Lengths, seconds (``contraction_s`` None: no contraction).
    on_progress : callable, optional
        ``on_progress(recorder)`` after each read.
    timeout_s : float, optional
        Wall-clock limit (default: twice the check plus 30 s).

    Raises
    ------
    SourceError
        When the source ends or stays silent before the check is complete.
    """
    rec = CheckRecorder(source.info, rest_s, contraction_s)
    limit = timeout_s if timeout_s is not None else 2 * rec.total_s + 30.0
    deadline = time.monotonic() + limit
    source.start()
    try:
        while not rec.done:
            chunks = source.read(0.1)
            rec.add(chunks)
            if on_progress is not None:
                on_progress(rec)
            if rec.done:
                break
            if getattr(source, "state", "") in ("finished", "closed", "failed") and not chunks:
                raise SourceError(f"the source ended after {rec.elapsed_s:.1f} s of the "
                                  f"{rec.total_s:.0f} s check: check the connection, or give a "
                                  "longer recording")
            if time.monotonic() > deadline:
                raise SourceError(f"the source sent {rec.elapsed_s:.1f} s of the "
                                  f"{rec.total_s:.0f} s check in {limit:.0f} s: check that the "
                                  "board is streaming (emgfeedback ports)")
    finally:
        source.stop()
    return rec


def store_check(store, session_id: int, check: dict, minimum: str | None = None,
                accepted: bool = False) -> None:
    """Store a check's grade with a session: one ``signal_check`` result per channel.

    Each result holds the channel's ``grade``, ``reasons``, ``measures``, the overall
    ``overall_grade``, the protocol's ``min_signal_grade`` and whether a poorer signal was
    ``accepted`` by the user. Results are stored under the session's channel names (the
    names its other results and ``history`` use); the check's own label is kept as
    ``label``.
    """
    stored = list(store.session(session_id).channel_names)
    for c, ch in enumerate(check["channels"]):
        name = stored[c] if c < len(stored) else ch["channel"]
        data = {"grade": ch["grade"], "overall_grade": check["grade"], "label": ch["channel"],
                "reasons": ch["reasons"], "measures": ch["measures"], "output": ch["output"],
                "placement": ch["placement"], "contraction": check["contraction"],
                "min_signal_grade": minimum, "accepted_poor_signal": bool(accepted)}
        store.add_result(session_id, RESULT_KIND, json_ready(data), channel=name)


def below_minimum(check: dict, minimum: str | None) -> bool:
    """Whether a check's grade is worse than a protocol's minimum."""
    return bool(minimum) and not meets(check["grade"], minimum)


def graded_check(source, labels, placements, *, rest_s: float = REST_S,
                 contraction_s: float | None = None, mains_hz: float = 50.0,
                 on_progress=None) -> dict:
    """Record a check on an open source and grade the channels it was asked about.

    Parameters
    ----------
    source : Source
        Open (not started); the caller closes it.
    labels, placements : sequence of str
        Names and placement texts of the first ``len(labels)`` channels, the ones checked.
    rest_s : float
        Seconds of rest.
    contraction_s : float, optional
        Seconds of test contraction after the rest (None: no contraction).
    mains_hz : float
        50 or 60.
    on_progress : callable, optional
        Called with the recorder while recording (see :func:`record_check`).

    Returns
    -------
    dict
        :func:`~emgfeedback.analysis.signal_check.check_signal`'s object for the checked
        channels, each with its ``placement_text``, and the worst ``grade``.
    """
    from emgfeedback.analysis.signal_check import worst_grade

    info = source.info
    n = len(labels)
    rec = record_check(source, rest_s, contraction_s, on_progress=on_progress)
    check = rec.result(board=board_of(info), names=list(labels) + list(info.channel_names[n:]),
                       placements=list(placements) + [""] * (info.n_channels - n),
                       mains_hz=mains_hz)
    check["channels"] = check["channels"][:n]
    for ch, text in zip(check["channels"], placements, strict=True):
        ch["placement_text"] = text
    check["grade"] = worst_grade(ch["grade"] for ch in check["channels"])
    return check
