"""Learning a serial stream's shape from its first bytes: framing, text channels, rate.

``framing=auto`` collects about a second of bytes before trusting
:func:`~emgfeedback.acquisition.framing.detect_framing`; a text stream without a channel
count is probed on whole lines (:func:`count_text_channels`); a text stream without a rate
gets an estimate snapped to a usual rate (:func:`snap_rate`).

Both probes hold bytes read from the wire, so both have a byte limit: detection decides
with :data:`DETECT_MAX_BYTES` if it found a framing, else keeps only that many of the
newest bytes (:func:`trim_probe`); the text probe stops at :data:`TEXT_PROBE_MAX_BYTES`
(an endless line) and hands the bytes to the text decoder, which drops lines longer than
1024 bytes and raises a ``rejected`` alarm.
"""

from __future__ import annotations

import re

#: How long framing=auto collects bytes before it decides (seconds).
DETECT_S = 1.0

#: A detection this sure may decide after this long (seconds).
DETECT_EARLY_S = 0.2
DETECT_SURE = 0.99

#: Bytes framing=auto looks at, at most: it decides with this many if a framing fits.
DETECT_MAX_BYTES = 64 * 1024

#: Whole text lines (or seconds with at least one) looked at for the channel count.
TEXT_PROBE_LINES = 8
TEXT_PROBE_S = 0.5

#: Bytes the text probe holds at most (8 lines of the decoder's 1024-byte maximum, twice).
TEXT_PROBE_MAX_BYTES = 16 * 1024

#: Rates a text stream's estimated rate snaps to when within 2 % (Hz).
NOMINAL_RATES_HZ = (50, 100, 125, 200, 250, 256, 300, 400, 500, 512, 1000, 1024, 2000, 2500,
                    4000, 5000, 8000, 10000)

_TEXT_SPLIT = re.compile(r"[ \t,]+")
_TEXT_NUMBER = re.compile(r"^[+-]?\d+(\.\d*)?$")


def framing_decided(result, elapsed_s: float, n_bytes: int = 0) -> bool:
    """Whether an auto-detection ``result`` (a ``DetectedFraming``) after ``elapsed_s`` of
    bytes is final: a framing was found and either the full second passed, it is sure, or
    ``n_bytes`` reached :data:`DETECT_MAX_BYTES`."""
    return result.framing is not None and (
        elapsed_s >= DETECT_S or n_bytes >= DETECT_MAX_BYTES
        or (result.confidence >= DETECT_SURE and elapsed_s >= DETECT_EARLY_S))


def trim_probe(buffer: bytearray, max_bytes: int = DETECT_MAX_BYTES) -> int:
    """Drop the oldest bytes of a probe ``buffer`` beyond ``max_bytes``, in place.

    Returns
    -------
    int
        Bytes dropped (count them as skipped).
    """
    extra = len(buffer) - int(max_bytes)
    if extra > 0:
        del buffer[:extra]
        return extra
    return 0


def whole_lines(buffer: bytes) -> list[bytes]:
    """The complete lines of ``buffer``: the first (maybe joined mid-line) and the last
    (maybe unfinished) are left out."""
    return buffer.split(b"\n")[1:-1]


def text_probe_done(lines: list[bytes], elapsed_s: float, n_bytes: int = 0) -> bool:
    """Enough whole lines to count the channels: :data:`TEXT_PROBE_LINES`, or any after
    :data:`TEXT_PROBE_S` seconds; or the probe holds :data:`TEXT_PROBE_MAX_BYTES` (``n_bytes``)
    and must give up (an endless line: the channel count stays unknown)."""
    return (len(lines) >= TEXT_PROBE_LINES or (elapsed_s >= TEXT_PROBE_S and bool(lines))
            or n_bytes >= TEXT_PROBE_MAX_BYTES)


def count_text_channels(lines: list[bytes]) -> int | None:
    """The most common number of numeric fields per line (``512 498``, ``512,498``,
    ``A0:512,A1:498``), or None if no line has any."""
    counts: dict[int, int] = {}
    for line in lines:
        n = sum(1 for field in _TEXT_SPLIT.split(line.strip().decode("ascii", "replace"))
                if _TEXT_NUMBER.match(field.rpartition(":")[2]))
        if n:
            counts[n] = counts.get(n, 0) + 1
    return max(counts, key=counts.get) if counts else None


def snap_rate(rate_hz: float) -> float:
    """An estimated rate, snapped to a usual nominal rate when within 2 %."""
    for nominal in NOMINAL_RATES_HZ:
        if abs(rate_hz - nominal) <= 0.02 * nominal:
            return float(nominal)
    return float(round(rate_hz))
