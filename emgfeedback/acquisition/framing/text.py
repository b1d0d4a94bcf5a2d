"""Text lines: bare numbers, CSV and the Arduino Serial Plotter convention.

One sample per line ending ``\\n`` (``\\r`` stripped). Fields are split on ``[ \\t,]+``;
each field is a number or ``label:number``. A line of labels only (``EMG1 EMG2``) sets
the channel names. Lines without numbers are passed on as ``DeviceMessage("text")``.
A line with a different number of values than the stream (ragged) or with values mixed
with junk is a format error: counted, never yielded. Text carries no counter: given host
arrival times (``feed(data, arrival_s, fs_hz)``), a silence is counted as lost samples of
its measured length (cause ``"pause"``, see :mod:`.timing`); the rate is given by the user
or estimated from arrival times (:class:`RateEstimator`). A line longer than
:data:`MAX_LINE` bytes, or :data:`BINARY_LINES_ALARM` lines with non-printable bytes
(binary data, a wrong baud rate), raise one ``rejected`` alarm until a numeric line is
accepted again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np

from emgfeedback.acquisition.framing.base import (
    Decoder,
    DeviceMessage,
    Item,
    alarm,
    as_block,
)

MAX_LINE = 1024  # bytes; longer "lines" are binary garbage, not text
BINARY_LINES_ALARM = 3  # non-printable lines in a row (no numeric line between) that alarm
_SPLIT = re.compile(r"[ \t,]+")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/()%#]*:?$")
_INT32 = (-(2**31), 2**31 - 1)


def _number(token: str) -> int | None:
    """Parse a number token (int, or float rounded to int counts); None if not a number."""
    try:
        return int(token)
    except ValueError:
        pass
    try:
        value = float(token)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return int(round(value))


class TextDecoder(Decoder):
    """Incremental decoder of numeric text lines (plain, CSV, Serial Plotter)."""

    name = "text"

    def __init__(self, n_channels: int | None = None, fs_hz: float | None = None):
        super().__init__(n_channels, fs_hz)
        self._pending = b""
        self._discarding = False  # inside an over-long line, dropping bytes until "\n"
        self._candidate: tuple[list[int], list[str], bytes] | None = None
        self._alarmed = False  # a rejected alarm was raised since the last accepted line
        self._binary_lines = 0  # non-printable lines since the last accepted line
        self.counters["lines"] = 0

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def feed(self, data: bytes, arrival_s: float | None = None,
             fs_hz: float | None = None) -> list[Item]:
        return self._time_gaps(self._decode(data), arrival_s, fs_hz)

    def _decode(self, data: bytes) -> list[Item]:
        buf = self._pending + bytes(data)
        out: list[Item] = []
        rows: list[list[int]] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            if self._discarding:
                self._discarding = False
                self._skip(len(line) + 1)
                self.counters["format_errors"] += 1
            elif len(line) > MAX_LINE:
                self._too_long(rows, out)
                self._skip(len(line) + 1)
                self.counters["format_errors"] += 1
            else:
                self._line(line, rows, out)
            start = nl + 1
        rest = buf[start:]
        if self._discarding or len(rest) > MAX_LINE:
            if not self._discarding:
                self._too_long(rows, out)
            self._skip(len(rest))
            self._discarding = True
            rest = b""
        self._pending = rest
        self._flush(rows, out)
        return out

    def flush(self) -> list[Item]:
        """End of stream: decode a last line without ``\\n`` and a lone unconfirmed row."""
        out: list[Item] = []
        rows: list[list[int]] = []
        rest, self._pending = self._pending, b""
        if self._discarding:
            self._discarding = False
            self._skip(len(rest))
            self.counters["format_errors"] += 1
        elif rest:
            self._line(rest, rows, out)
        if self._candidate is not None and self.n_channels is None:
            values, labels, _ = self._candidate
            self.n_channels = len(values)
            if self.channel_names is not None and len(self.channel_names) != len(values):
                self.channel_names = None
            self._accept(values, labels, rows)
        self._candidate = None
        self._flush(rows, out)
        return out

    def _too_long(self, rows: list[list[int]], out: list[Item]) -> None:
        self._alarm(rows, out, f"a line longer than {MAX_LINE} bytes: not a text stream? "
                    "check framing= and the baud rate")

    def _alarm(self, rows: list[list[int]], out: list[Item], message: str) -> None:
        """One ``rejected`` alarm per run of bad lines (stream order kept)."""
        if self._alarmed:
            return
        self._alarmed = True
        self._flush(rows, out)
        out.append(alarm("text", message))

    def _flush(self, rows: list[list[int]], out: list[Item]) -> None:
        if rows:
            out.append(as_block(np.array(rows, dtype=np.int64), None))
            rows.clear()

    def _line(self, raw: bytes, rows: list[list[int]], out: list[Item]) -> None:
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            text = None
        if text is None or not text.replace("\t", " ").isprintable():
            self._skip(len(raw) + 1)
            self.counters["format_errors"] += 1
            self._binary_lines += 1
            if self._binary_lines >= BINARY_LINES_ALARM:  # one is boot noise, more is not
                self._alarm(rows, out, "non-printable bytes on a text stream: binary data "
                            "or a wrong baud rate? check framing= and baud=")
            return
        if not text:
            return
        self.counters["lines"] += 1
        tokens = _SPLIT.split(text.strip(" \t,"))
        values: list[int] = []
        labels: list[str] = []
        junk = 0
        for tok in tokens:
            label, sep, num = tok.rpartition(":")
            value = _number(num)
            if value is None or not _INT32[0] <= value <= _INT32[1] or (sep and not label):
                junk += 1
                continue
            values.append(value)
            labels.append(label)
        if not values:
            self._text_line(text, tokens, raw, out, rows)
            return
        if junk or (self.n_channels is not None and len(values) != self.n_channels):
            self._reject_line(raw)
            return
        if self.n_channels is None:
            self._first_rows(values, labels, raw, rows)
            return
        self._accept(values, labels, rows)

    def _reject_line(self, raw: bytes) -> None:
        self._skip(len(raw) + 1)
        self.counters["format_errors"] += 1

    def _accept(self, values: list[int], labels: list[str], rows: list[list[int]]) -> None:
        if self.channel_names is None and all(labels):
            self.channel_names = tuple(labels)
        self._alarmed = False
        self._binary_lines = 0
        rows.append(values)
        self.counters["frames"] += 1
        self.counters["samples"] += 1

    def _first_rows(self, values: list[int], labels: list[str], raw: bytes,
                    rows: list[list[int]]) -> None:
        """Fix the column count only when two consecutive lines agree on it.

        A port opened mid-stream starts with the tail of a line (``b:5,c:7`` of a 3-channel
        stream); taking its column count would reject every good line after it.
        """
        if self._candidate is not None and len(self._candidate[0]) == len(values):
            self.n_channels = len(values)
            if self.channel_names is not None and len(self.channel_names) != len(values):
                self.channel_names = None  # a header of another width was not ours
            self._accept(*self._candidate[:2], rows)
            self._candidate = None
            self._accept(values, labels, rows)
            return
        if self._candidate is not None:
            self._reject_line(self._candidate[2])
        self._candidate = (values, labels, raw)

    def _text_line(self, text: str, tokens: list[str], raw: bytes, out: list[Item],
                   rows: list[list[int]]) -> None:
        """A line without numbers: a label header (sets channel names) or a device message."""
        if all(_LABEL.match(t) for t in tokens) and (
                self.n_channels is None or len(tokens) == self.n_channels):
            self.channel_names = tuple(t.rstrip(":") for t in tokens)
        self._flush(rows, out)
        out.append(DeviceMessage("text", text, raw))


def encode_text(samples, labels: Iterable[str] | None = None, style: str = "plain") -> bytes:
    """Encode samples as text lines the way Arduino sketches print them.

    Parameters
    ----------
    samples : array_like
        ``(n_samples, n_channels)`` integers.
    labels : sequence of str, optional
        Channel labels: a header line for ``csv``, ``label:value`` fields for ``plotter``.
    style : {"plain", "csv", "plotter"}
        ``plain``: values separated by spaces; ``csv``: by commas (header line if labels);
        ``plotter``: ``label:value`` separated by commas (tabs without labels).

    Returns
    -------
    bytes
        Lines ending ``\\r\\n`` (``Serial.println``).
    """
    arr = np.asarray(samples).astype(np.int64)
    if arr.ndim != 2:
        raise ValueError(f"samples must be 2-D (n_samples, n_channels), got shape {arr.shape}")
    labels = None if labels is None else [str(x) for x in labels]
    if labels is not None and len(labels) != arr.shape[1]:
        raise ValueError(f"{len(labels)} labels for {arr.shape[1]} channels")
    lines: list[str] = []
    if style == "plain":
        lines = [" ".join(map(str, row)) for row in arr.tolist()]
    elif style == "csv":
        if labels:
            lines.append(",".join(labels))
        lines += [",".join(map(str, row)) for row in arr.tolist()]
    elif style == "plotter":
        if labels:
            lines = [",".join(f"{lab}:{v}" for lab, v in zip(labels, row, strict=True))
                     for row in arr.tolist()]
        else:
            lines = ["\t".join(map(str, row)) for row in arr.tolist()]
    else:
        raise ValueError(f"unknown text style {style!r}; use 'plain', 'csv' or 'plotter'")
    return "".join(line + "\r\n" for line in lines).encode("ascii")


def estimate_fs_hz(arrivals: Iterable[tuple[float, int]], min_span_s: float = 0.5
                   ) -> float | None:
    """Estimate the sample rate from ``(arrival time in s, samples received)`` pairs.

    Fits a line to the cumulative sample count against host arrival time (least squares),
    which averages out USB/OS burst jitter.

    Parameters
    ----------
    arrivals : iterable of (float, int)
        Host monotonic time of each read and the number of samples it delivered.
    min_span_s : float
        Minimum time span covered before an estimate is given.

    Returns
    -------
    float or None
        Samples per second, or None if there is not enough data yet.
    """
    pairs = np.asarray(list(arrivals), dtype=np.float64).reshape(-1, 2)
    if len(pairs) < 3:
        return None
    t = pairs[:, 0]
    cum = np.cumsum(pairs[:, 1])
    if t[-1] - t[0] < min_span_s or cum[-1] - cum[0] <= 0:
        return None
    slope = np.polyfit(t - t[0], cum, 1)[0]
    return float(slope) if slope > 0 else None


class RateEstimator:
    """Running sample-rate estimate for formats that carry no rate (text, byb).

    Parameters
    ----------
    max_points : int
        Most recent reads kept for the fit.
    """

    def __init__(self, max_points: int = 2000):
        self._points: list[tuple[float, int]] = []
        self._max = int(max_points)

    def add(self, t_s: float, n_samples: int) -> None:
        """Record that ``n_samples`` arrived at host time ``t_s``."""
        self._points.append((float(t_s), int(n_samples)))
        if len(self._points) > self._max:
            del self._points[: len(self._points) - self._max]

    @property
    def fs_hz(self) -> float | None:
        """Current estimate in Hz (None until about 0.5 s of data)."""
        return estimate_fs_hz(self._points)
