"""Delimited text recordings (CSV/TSV/whitespace), read in blocks of lines.

The layout is worked out from the first lines (:func:`scan_delimited`): ``#`` comment lines,
a header row of column names, the delimiter, which columns are a sample index or a time
axis (never channels), the channels' units (from names such as ``glute_R_uV`` or
``glute R (mV)``) and what the project's own files say in their ``#`` lines: the sample
rate (``# fs_hz: 2000``), the user's channel names (``# channel 0: glute med R; ...``),
gaps (``# gap: start_index=.. n_samples=.. cause=..`` in an export,
``# gap start=.. n=.. cause=..`` in a ``capture --out`` file) and markers
(``# marker: index=.. kind=.. text=..``).

:func:`iter_delimited` then yields the channel samples block by block (float64, NaN for
empty cells and for the samples an index or time column says are missing), so a file of
any length is read with a bounded amount of memory.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from emgfeedback.errors import DataFileError

#: Lines parsed per block.
BLOCK_LINES = 16384
#: Header lines (not ``#`` comments) allowed before the numeric rows.
MAX_HEADER_LINES = 50
#: Longest line accepted, bytes (a file without line breaks is not a recording).
MAX_LINE_BYTES = 1 << 20
#: Largest jump of a sample index (or time axis) read as a gap, in samples.
MAX_GAP_SAMPLES = 2**31

#: Sensor output kinds a ``# channel`` line may name (``output: env``).
OUTPUT_KINDS = ("raw", "uv", "rect", "env")

_INDEX_NAME = re.compile(r"^(sample[ _-]?)?(index|idx|no|nr|number|num|#)$|^(sample|i|n|row)$")
_TIME_NAME = re.compile(
    r"^(t|time|times|timestamp|time[ _-]?stamp|seconds|secs?|elapsed|elapsed[ _-]?time)"
    r"(?:[ _-]*[\(\[]?\s*(s|sec|secs|seconds|ms|us|µs)\s*[\)\]]?)?$")
_UNIT_SUFFIX = re.compile(
    r"(?:[ _-]*[\(\[]\s*(µV|uV|mV|V|counts?)\s*[\)\]]|[ _-](µV|uV|mV|counts?))\s*$",
    re.IGNORECASE)
_KEY = re.compile(r"^#\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*:\s*(.*)$")
_CHANNEL = re.compile(r"^#\s*channel\s+(\d+)\s*:\s*(.*)$")
_PAIRS = re.compile(r"(\w+)=(\S*)")


@dataclass
class DelimitedLayout:
    """What the first lines of a delimited file say about the rest.

    Attributes
    ----------
    delimiter : str or None
        ``","``, ``"\\t"``, ``";"`` or None for whitespace.
    n_columns : int
    data_line : int
        1-based number of the first numeric line.
    channel_columns : list of int
        Columns holding channels (0-based).
    channel_names, units : list of str
        Per channel column.
    index_column, time_column : int or None
        Column with the absolute sample index, column with the time axis.
    time_scale : float
        Time units per second of the time column (1 for s, 1000 for ms).
    fs_hz : float or None
    notes : list of str
    meta : dict
        ``header`` (the header lines) and ``#`` key/value fields.
    gaps : list of dict
        ``start_index`` (absolute), ``n_samples``, ``cause`` from the ``#`` lines.
    markers : list of dict
        ``index`` (absolute), ``label`` from the ``#`` lines.
    """

    delimiter: str | None
    n_columns: int
    data_line: int
    channel_columns: list
    channel_names: list
    units: list
    index_column: int | None = None
    time_column: int | None = None
    time_scale: float = 1.0
    time_positions: bool = False
    fs_hz: float | None = None
    notes: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    gaps: list = field(default_factory=list)
    markers: list = field(default_factory=list)


def _decode(path, raw: bytes, line_no: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = line_no + raw[: exc.start].count(b"\n")
        raise DataFileError(
            f"{path}: line {line}: expected UTF-8 text (a byte is not); "
            "EDF/BDF files need the .edf/.bdf extension"
        ) from None


def is_number(cell: str) -> bool:
    """True for a number or an empty cell."""
    if not cell.strip():
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def looks_numeric(line: str, delimiter) -> bool:
    """True when every cell of ``line`` is a number (or empty) and one is not empty."""
    stripped = line.strip()
    if not stripped:
        return False
    cells = stripped.split(delimiter) if delimiter else stripped.split()
    return all(is_number(c) for c in cells) and any(c.strip() for c in cells)


def detect_delimiter(sample_lines) -> str | None:
    """Tab, comma or semicolon when every non-blank line has the same count of it."""
    lines = [ln for ln in sample_lines if ln.strip() and not ln.lstrip().startswith("#")]
    for delim in ("\t", ",", ";"):
        counts = {ln.count(delim) for ln in lines}
        if len(counts) == 1 and counts.pop() > 0:
            return delim
    return None


def parse_rows(path, lines, first_line_no: int, delimiter, n_cols=None) -> np.ndarray:
    """Parse numeric rows cell by cell (blank and ``#`` lines skipped), naming bad lines."""
    rows = []
    for k, raw in enumerate(lines):
        line_no = first_line_no + k
        stripped = raw.strip()
        if (not stripped or stripped.startswith("#")
                or not stripped.strip(delimiter or " \t").strip()):
            continue
        cells = stripped.split(delimiter) if delimiter else stripped.split()
        if n_cols is None:
            n_cols = len(cells)
        if len(cells) != n_cols:
            raise DataFileError(
                f"{path}: line {line_no}: expected {n_cols} values, found {len(cells)}")
        try:
            rows.append([float(c) if c.strip() else math.nan for c in cells])
        except ValueError:
            bad = next(c for c in cells if not is_number(c))
            raise DataFileError(
                f"{path}: line {line_no}: expected a number, found {bad.strip()!r}") from None
    if not rows:
        return np.empty((0, n_cols or 0))
    return np.array(rows, dtype=np.float64)


def unit_from_name(name: str) -> tuple[str, str]:
    """``(name without its unit suffix, unit)`` for names such as ``glute_R_uV``."""
    m = _UNIT_SUFFIX.search(name)
    if not m:
        return name, ""
    unit = m.group(1) or m.group(2)
    base = name[: m.start()].strip(" _-")
    return (base or name), unit


def _time_scale(name: str) -> float | None:
    m = _TIME_NAME.match(name.strip().lower())
    if not m:
        return None
    unit = m.group(2) or ""
    if unit == "ms" or (name.strip().lower().endswith("ms") and not unit):
        return 1000.0
    if unit in ("us", "µs"):
        return 1e6
    return 1.0


def _header_fields(comment_lines, path):
    """Key/value fields, channel lines, gaps and markers of the ``#`` lines."""
    meta, channels, gaps, markers = {}, {}, [], []
    for ln in comment_lines:
        s = ln.strip()
        m = _CHANNEL.match(s)
        if m:
            parts = [p.strip() for p in m.group(2).split(";")]
            info = {"name": parts[0]}
            for p in parts[1:]:
                key, _, value = p.partition(":")
                info[key.strip()] = value.strip()
            channels[int(m.group(1))] = info
            continue
        if re.match(r"^#\s*gap\b", s):
            kv = dict(_PAIRS.findall(s))
            start = kv.get("start_index", kv.get("start"))
            n = kv.get("n_samples", kv.get("n"))
            if start is not None and n is not None and start.lstrip("-").isdigit() \
                    and n.isdigit():
                gaps.append({"start_index": int(start), "n_samples": int(n),
                             "cause": kv.get("cause", "unknown")})
            continue
        if re.match(r"^#\s*marker\s*:", s):
            body = s.split(":", 1)[1]
            label = body.split("text=", 1)[1].strip() if "text=" in body else ""
            kv = dict(_PAIRS.findall(body.split("text=", 1)[0]))
            if kv.get("index", "").lstrip("-").isdigit():
                kind = kv.get("kind", "")
                markers.append({"index": int(kv["index"]), "kind": kind,
                                "label": label or kind})
            continue
        m = _KEY.match(s)
        if m:
            meta[m.group(1).strip()] = m.group(2).strip()
    return meta, channels, gaps, markers


def scan_delimited(path, head_lines) -> DelimitedLayout:
    """Work out the layout of a delimited file from its first lines.

    Parameters
    ----------
    path : str
        The file (for messages).
    head_lines : list of str
        The file's first lines (at least up to the first numeric line plus ~50).
    """
    k = 0
    comments, header_lines = [], []
    while k < len(head_lines):
        line = head_lines[k]
        if line.strip().startswith("#"):
            comments.append(line)
            k += 1
            continue
        delim_guess = detect_delimiter(head_lines[k: k + 20])
        if looks_numeric(line, delim_guess):
            break
        header_lines.append(line)
        k += 1
        if len(header_lines) > MAX_HEADER_LINES:
            raise DataFileError(
                f"{path}: line {k}: expected numeric rows after at most "
                f"{MAX_HEADER_LINES} header lines")
    if k >= len(head_lines):
        raise DataFileError(f"{path}: line {max(len(head_lines), 1)}: expected numeric data, "
                            "found none")
    delim = detect_delimiter(head_lines[k: k + 50])
    first = head_lines[k].strip()
    n_cols = len(first.split(delim) if delim else first.split())
    meta, ch_info, gaps, markers = _header_fields(comments, path)
    names = [f"ch{c + 1}" for c in range(n_cols)]
    named = False
    last = header_lines[-1] if header_lines else (
        comments[-1].lstrip("#") if comments and not _KEY.match(comments[-1].strip())
        else "")
    if last.strip():
        cells = [c.strip() for c in (last.strip().split(delim) if delim
                                     else last.strip().split())]
        if len(cells) == n_cols:
            names = [c or f"ch{i + 1}" for i, c in enumerate(cells)]
            named = True
    delim_name = {None: "whitespace", "\t": "tab", ",": "comma", ";": "semicolon"}[delim]
    notes = [f"delimited text ({delim_name}), {len(comments) + len(header_lines)} header "
             "line(s)"]
    fs = None
    if "fs_hz" in meta:
        try:
            fs = float(meta["fs_hz"].split()[0])
        except (ValueError, IndexError):
            raise DataFileError(f"{path}: '# fs_hz: {meta['fs_hz']}': expected a sample rate "
                                "in Hz") from None
        if not (math.isfinite(fs) and fs > 0):
            raise DataFileError(f"{path}: '# fs_hz: {meta['fs_hz']}': the sample rate must "
                                "be a positive number of Hz")
        notes.append(f"sample rate {fs:g} Hz (from the file's '# fs_hz' line)")

    index_col = time_col = None
    time_scale = 1.0
    if named:
        for c, name in enumerate(names):
            low = name.strip().lower()
            if index_col is None and _INDEX_NAME.match(low):
                index_col = c
            elif time_col is None and _time_scale(name) is not None:
                time_col, time_scale = c, _time_scale(name)
    sample = parse_rows(path, head_lines[k:k + 200], k + 1, delim, n_cols)
    time_positions = False
    if n_cols > 1 and sample.shape[0] > 2 and index_col is None and time_col is None:
        first_col = sample[:, 0]
        if np.all(np.isfinite(first_col)):
            step = np.diff(first_col)
            med = float(np.median(step))
            regular = med > 0 and bool(np.all(np.abs(step - med) <= 0.01 * med + 1e-9))
            name0 = names[0].lower()
            timeish = any(w in name0 for w in ("time", "sec", "(s)", "[s]", "ms"))
            if regular and med == 1.0 and first_col[0] in (0.0, 1.0) and "time" not in name0:
                index_col = 0
            elif regular and (timeish or med < 1.0):
                time_col = 0
                time_scale = 1000.0 if ("ms" in name0 and name0 != "s") else 1.0
    if time_col is not None:
        t = sample[:, time_col]
        t = t[np.isfinite(t)]
        step = np.diff(t)
        pos = step[step > 0]
        if pos.size:
            med = float(np.median(pos))
            if fs is None and med > 0:
                fs = time_scale / med
                notes.append(f"column {time_col + 1} ({names[time_col]!r}) is time in "
                             f"{'ms' if time_scale == 1000 else 'us' if time_scale == 1e6 else 's'}"
                             f": sample rate {fs:g} Hz")
            else:
                notes.append(f"column {time_col + 1} ({names[time_col]!r}) is time: dropped")
            regular = bool(np.all((np.abs(step - med) <= 0.01 * med + 1e-12)
                                  | (step > 1.5 * med)))
            time_positions = index_col is None and regular and fs is not None
    if index_col is not None:
        notes.append(f"column {index_col + 1} ({names[index_col]!r}) is a sample index: "
                     "dropped (jumps are gaps)")
    chan_cols = [c for c in range(n_cols) if c not in (index_col, time_col)]
    if not chan_cols:
        raise DataFileError(f"{path}: line {k + 1}: no channel columns besides the "
                            "index/time columns")
    ch_names, units = [], []
    for c in chan_cols:
        base, unit = unit_from_name(names[c]) if named else (names[c], "")
        ch_names.append(base)
        units.append(unit)
    # The project's own files name each channel in a '# channel i: NAME; ...' line.
    if len(ch_info) == len(chan_cols) and sorted(ch_info) == list(range(len(chan_cols))):
        ch_names = [ch_info[i]["name"] or ch_names[i] for i in range(len(chan_cols))]
        meta["placements"] = [ch_info[i].get("placement", "") for i in range(len(chan_cols))]
        meta["sides"] = [ch_info[i].get("side", "") for i in range(len(chan_cols))]
        if "units" in ch_info[0]:
            units = [ch_info[i].get("units", u) for i, u in enumerate(units)]
        kinds = [ch_info[i].get("output", "").lower() for i in range(len(chan_cols))]
        if all(k in OUTPUT_KINDS for k in kinds):
            meta["output_kinds"] = dict(zip(ch_names, kinds, strict=True))
    meta["header"] = header_lines
    return DelimitedLayout(delim, n_cols, k + 1, chan_cols, ch_names, units, index_col,
                           time_col, time_scale, time_positions, fs, notes, meta, gaps,
                           markers)


def _loadtxt(text: str, delimiter) -> np.ndarray | None:
    """Fast parse of clean numeric text; None when a cell needs the careful parser."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return np.loadtxt(io.StringIO(text), delimiter=delimiter, comments="#",
                              ndmin=2, dtype=np.float64)
    except (ValueError, UserWarning):
        return None


class DelimitedReader:
    """Yields the channel samples of a delimited file in blocks.

    Gaps found while reading (index jumps, ``# gap`` lines between the rows) are added to
    :attr:`gaps` as ``{"start", "n_samples", "cause"}`` with ``start`` counted in rows of
    the output from its first sample.
    """

    def __init__(self, path, layout: DelimitedLayout, block_lines: int = BLOCK_LINES):
        self.path = path
        self.layout = layout
        self.block_lines = block_lines
        self.gaps: list = []
        self.first_index: int | None = None
        self.n_samples = 0
        self._causes = {g["start_index"]: g["cause"] for g in layout.gaps}

    def _blocks(self):
        """``(first_line_no, text)`` blocks of whole data lines (about 1 MB each)."""
        with open(self.path, "rb") as fh:
            line_no = 0
            for _ in range(self.layout.data_line - 1):
                fh.readline(MAX_LINE_BYTES + 1)
                line_no += 1
            carry = b""
            while True:
                data = fh.read(self.block_lines * 64)
                if not data:
                    break
                data = carry + data
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    if len(data) > MAX_LINE_BYTES:
                        raise DataFileError(f"{self.path}: line {line_no + 1}: longer than "
                                            f"{MAX_LINE_BYTES} bytes; expected rows of numbers")
                    carry = data
                    continue
                raw, carry = data[:cut], data[cut:]
                if line_no == 0 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                yield line_no + 1, _decode(self.path, raw, line_no + 1)
                line_no += raw.count(b"\n")
            if carry.strip():
                yield line_no + 1, _decode(self.path, carry, line_no + 1)

    def _parse(self, first_line_no: int, text: str) -> np.ndarray:
        lay = self.layout
        inline = [ln for ln in text.splitlines() if ln.lstrip().startswith("#")]
        for ln in inline:
            _, _, gaps, _ = _header_fields([ln], self.path)
            for g in gaps:
                self._causes[g["start_index"]] = g["cause"]
        rows = _loadtxt(text, lay.delimiter)
        if rows is None or (rows.size and rows.shape[1] != lay.n_columns):
            rows = parse_rows(self.path, text.splitlines(), first_line_no, lay.delimiter,
                              lay.n_columns)
        return rows.reshape(-1, lay.n_columns)

    def __iter__(self):
        lay = self.layout
        prev = None  # absolute position of the previous row
        for first_line_no, text in self._blocks():
            rows = self._parse(first_line_no, text)
            if rows.shape[0] == 0:
                continue
            values = rows[:, lay.channel_columns]
            if lay.index_column is not None or lay.time_positions:
                pos = self._positions(rows, first_line_no)
                if self.first_index is None:
                    self.first_index = int(pos[0])
                    prev = int(pos[0]) - 1
                yield from self._fill(pos, values, prev)
                prev = int(pos[-1])
            else:
                if self.first_index is None:
                    self.first_index = 0
                self.n_samples += values.shape[0]
                yield values
        if self.n_samples == 0:
            raise DataFileError(f"{self.path}: line {lay.data_line}: expected numeric data, "
                                "found none")

    def _positions(self, rows, first_line_no) -> np.ndarray:
        lay = self.layout
        if lay.index_column is not None:
            col = rows[:, lay.index_column]
            if not np.all(np.isfinite(col)) or np.any(col != np.round(col)):
                raise DataFileError(f"{self.path}: line {first_line_no}: the sample index "
                                    "column holds values that are not whole numbers")
            pos = col.astype(np.int64)
        else:
            t = rows[:, lay.time_column]
            if not np.all(np.isfinite(t)):
                raise DataFileError(f"{self.path}: line {first_line_no}: an empty time cell")
            pos = np.round(t / lay.time_scale * lay.fs_hz).astype(np.int64)
        return pos

    def _fill(self, pos, values, prev):
        """Rows placed at their positions, NaN rows for the positions in between."""
        step = np.diff(np.concatenate([[prev], pos]))
        if np.any(step < 1):
            k = int(np.flatnonzero(step < 1)[0])
            raise DataFileError(
                f"{self.path}: sample {self.n_samples + k}: index/time {pos[k]} does not "
                f"come after {prev if k == 0 else pos[k - 1]}; rows must be in order")
        breaks = np.flatnonzero(step > 1)
        start = 0
        for b in list(breaks) + [None]:
            if b is not None:
                if b > start:
                    self.n_samples += b - start
                    yield values[start:b]
                missing = int(step[b]) - 1
                if missing > MAX_GAP_SAMPLES:
                    raise DataFileError(f"{self.path}: a gap of {missing} samples before "
                                        f"index {pos[b]}: expected at most {MAX_GAP_SAMPLES}")
                gap_start = int(pos[b]) - missing
                self.gaps.append({"start": gap_start - self.first_index,
                                  "n_samples": missing,
                                  "cause": self._causes.get(gap_start, "unknown")})
                while missing > 0:
                    n = min(missing, 1 << 16)
                    self.n_samples += n
                    yield np.full((n, values.shape[1]), np.nan)
                    missing -= n
                start = b
            else:
                if values.shape[0] > start:
                    self.n_samples += values.shape[0] - start
                    yield values[start:]
