"""Readers for recordings: CSV/TSV, the BioSPPy text format, UCI lower-limb text, EDF/BDF.

:func:`read_recording` detects the format from the file's first lines (or the extension
for EDF/BDF) and returns a :class:`Recording`: samples ``(n_samples, n_channels)`` in the
file's units, the sample rate, channel names and units, and notes saying what was
detected (header lines, a time or index column, the delimiter). Any problem raises
:class:`~emgfeedback.errors.DataFileError` naming the file, the line and what was
expected.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emgfeedback.errors import DataFileError, require

#: Units the analysis converts to µV (case-insensitive); anything else is "other".
UV_FACTORS = {"uv": 1.0, "µv": 1.0, "microvolt": 1.0, "mv": 1000.0, "v": 1e6}

_BIOSPPY_RATE = re.compile(r"^#\s*Sampling Rate \(Hz\)\s*:=\s*([0-9.eE+-]+)")
_BIOSPPY_KEY = re.compile(r"^#\s*([^:]+?)\s*:=\s*(.*)$")
_UCI_CHANNEL = re.compile(
    r"^Channel\s+(\d+):\s*'([^']*)',\s*(\d+)\s+values,\s*engineering units:\s*([^,]+),",
    re.IGNORECASE,
)


@dataclass
class Recording:
    """A recording read from a file.

    Attributes
    ----------
    path : str
        The file.
    format : str
        ``csv``, ``biosppy``, ``uci``, ``edf`` or ``bdf``.
    samples : numpy.ndarray
        float64 ``(n_samples, n_channels)`` in the file's units (NaN for empty cells).
    fs_hz : float or None
        Sample rate if the file says (or a time column implies) it.
    channel_names : list of str
    units : list of str
        Per channel as the file gives them (``""`` when unknown).
    notes : list of str
        What was detected (header lines, time/index column, delimiter ...).
    meta : dict
        Header fields.
    """

    path: str
    format: str
    samples: np.ndarray
    fs_hz: float | None
    channel_names: list
    units: list
    notes: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return self.samples.shape[1]

    def select(self, channels) -> Recording:
        """A copy with only the given channels (names or 0-based numbers, in that order)."""
        idx = []
        for ch in channels:
            key = str(ch)
            if key in self.channel_names:
                idx.append(self.channel_names.index(key))
            elif key.isdigit() and int(key) < self.n_channels:
                idx.append(int(key))
            else:
                raise DataFileError(
                    f"{self.path}: no channel {ch!r}; channels are "
                    f"{', '.join(self.channel_names)} (or numbers 0-{self.n_channels - 1})"
                )
        return Recording(self.path, self.format, self.samples[:, idx], self.fs_hz,
                         [self.channel_names[i] for i in idx], [self.units[i] for i in idx],
                         list(self.notes), dict(self.meta))


def read_session(db_path, session_id: int) -> Recording:
    """A stored session as a recording in µV at the electrode (NaN over recorded gaps).

    Parameters
    ----------
    db_path : str or pathlib.Path
        The session database.
    session_id : int
        The session's id (``emgfeedback sessions`` lists them).

    Returns
    -------
    Recording
    """
    from emgfeedback.acquisition.boards import counts_to_uv
    from emgfeedback.storage import SessionStore

    if not Path(db_path).is_file():
        raise DataFileError(f"{db_path}: no such session database")
    with SessionStore(db_path, create=False) as store:
        meta = store.session(session_id)
        indices, counts = store.read_samples(session_id)
        gaps = store.gaps(session_id)
    if len(indices) == 0:
        raise DataFileError(f"{db_path}: session {session_id} holds no samples")
    first = int(indices[0])
    x = np.full((int(indices[-1]) - first + 1, meta.n_channels), np.nan)
    x[indices - first] = counts_to_uv(counts, meta.calibration)
    notes = [f"session {session_id} of {db_path}: {len(indices)} samples, "
             f"{len(gaps)} gap(s) shown as missing samples"]
    return Recording(path=f"{db_path}#session={session_id}", format="session", samples=x,
                     fs_hz=float(meta.fs_hz), channel_names=list(meta.channel_names),
                     units=["uV"] * meta.n_channels, notes=notes,
                     meta={"subject": meta.subject, "started_utc": meta.started_utc})


def read_recording(path) -> Recording:
    """Read a recording, detecting its format.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    Recording

    Raises
    ------
    DataFileError
        When the file cannot be read or is inconsistent.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix in (".edf", ".bdf"):
        return read_edf(p)
    try:
        text = p.read_text(encoding="utf-8-sig", errors="strict")
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataFileError(
            f"{p}: line {line}: expected UTF-8 text (byte offset {exc.start} is not); "
            "EDF/BDF files need the .edf/.bdf extension"
        ) from None
    lines = text.splitlines()
    if not lines:
        raise DataFileError(f"{p}: line 1: expected data, the file is empty")
    if lines[0].startswith("#") and any(_BIOSPPY_KEY.match(ln) for ln in lines[:20]):
        return _read_biosppy(p, lines)
    if lines[0].startswith("File Name:") or any(_UCI_CHANNEL.match(ln) for ln in lines[:8]):
        return _read_uci(p, lines)
    return _read_delimited(p, lines)


def _parse_rows(path, lines, first_line_no, delimiter, n_cols=None):
    """Parse numeric rows; blank (or delimiter-only) lines are skipped."""
    rows = []
    for k, raw in enumerate(lines):
        line_no = first_line_no + k
        stripped = raw.strip()
        if not stripped or not stripped.strip(delimiter or " \t").strip():
            continue
        cells = stripped.split(delimiter) if delimiter else stripped.split()
        if n_cols is None:
            n_cols = len(cells)
        if len(cells) != n_cols:
            raise DataFileError(
                f"{path}: line {line_no}: expected {n_cols} values, found {len(cells)}"
            )
        try:
            rows.append([float(c) if c.strip() else math.nan for c in cells])
        except ValueError:
            bad = next(c for c in cells if not _is_number(c))
            raise DataFileError(
                f"{path}: line {line_no}: expected a number, found {bad.strip()!r}"
            ) from None
    if not rows:
        raise DataFileError(f"{path}: line {first_line_no}: expected numeric data, found none")
    return np.array(rows, dtype=np.float64)


def _is_number(cell: str) -> bool:
    if not cell.strip():
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_biosppy(path, lines) -> Recording:
    meta = {}
    k = 0
    while k < len(lines) and lines[k].startswith("#"):
        m = _BIOSPPY_KEY.match(lines[k])
        if m:
            meta[m.group(1).strip()] = m.group(2).strip()
        k += 1
    fs = None
    for k2, ln in enumerate(lines[:k]):
        m = _BIOSPPY_RATE.match(ln)
        if m:
            try:
                fs = float(m.group(1))
            except ValueError:
                raise DataFileError(
                    f"{path}: line {k2 + 1}: expected a sample rate in Hz, found "
                    f"{m.group(1)!r}"
                ) from None
            if not fs > 0:
                raise DataFileError(f"{path}: line {k2 + 1}: the sample rate must be > 0")
    data = _parse_rows(path, lines[k:], k + 1, None)
    labels = [s.strip() for s in meta.get("Labels", "").replace("\t", ",").split(",")
              if s.strip()]
    if len(labels) != data.shape[1]:
        labels = [f"ch{c + 1}" for c in range(data.shape[1])]
    notes = [f"BioSPPy text format, {k} header lines"]
    if fs is None:
        notes.append("no sample rate in the header")
    units = ["counts" if "Resolution" in meta else ""] * data.shape[1]
    return Recording(str(path), "biosppy", data, fs, labels, units, notes, meta)


def _read_uci(path, lines) -> Recording:
    names, units, counts = [], [], []
    k = 0
    while k < len(lines) and not _looks_numeric(lines[k], "\t"):
        m = _UCI_CHANNEL.match(lines[k].strip())
        if m:
            names.append(m.group(2).strip())
            counts.append(int(m.group(3)))
            units.append(m.group(4).strip())
        elif lines[k].strip() and not lines[k].startswith("File Name:"):
            raise DataFileError(
                f"{path}: line {k + 1}: expected a UCI header line "
                "(\"Channel N: 'name', K values, engineering units: U, ...\") or data"
            )
        k += 1
    if not names:
        raise DataFileError(f"{path}: line 1: expected UCI channel header lines, found none")
    data = _parse_rows(path, lines[k:], k + 1, "\t", n_cols=len(names))
    if counts and data.shape[0] != counts[0]:
        notes = [f"header says {counts[0]} values, file has {data.shape[0]} rows"]
    else:
        notes = []
    notes.insert(0, f"UCI lower-limb format, {k} header lines, tab-separated")
    other = [n for n, u in zip(names, units, strict=True) if u.lower() not in UV_FACTORS]
    if other:
        notes.append(f"not EMG (units not µV/mV/V): {', '.join(other)}")
    # The UCI recordings were made at 1 kHz (dataset description); the files do not say.
    return Recording(str(path), "uci", data, 1000.0, names, units,
                     notes + ["sample rate 1000 Hz (UCI dataset description)"],
                     {"values": counts})


def _looks_numeric(line: str, delimiter) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    cells = stripped.split(delimiter) if delimiter else stripped.split()
    return all(_is_number(c) for c in cells) and any(c.strip() for c in cells)


def _detect_delimiter(sample_lines) -> str | None:
    for delim in ("\t", ",", ";"):
        counts = {ln.count(delim) for ln in sample_lines if ln.strip()}
        if len(counts) == 1 and counts.pop() > 0:
            return delim
    return None


def _read_delimited(path, lines) -> Recording:
    # Header: leading lines that are not all numbers.
    k = 0
    header_lines = []
    while k < len(lines):
        if lines[k].strip().startswith("#"):
            header_lines.append(lines[k])
            k += 1
            continue
        delim_guess = _detect_delimiter(lines[k: k + 20])
        if _looks_numeric(lines[k], delim_guess):
            break
        header_lines.append(lines[k])
        k += 1
        if k > 50:
            raise DataFileError(
                f"{path}: line {k}: expected numeric rows after at most 50 header lines"
            )
    if k >= len(lines):
        raise DataFileError(f"{path}: line {len(lines)}: expected numeric data, found none")
    delim = _detect_delimiter(lines[k: k + 50])
    data = _parse_rows(path, lines[k:], k + 1, delim)
    n_cols = data.shape[1]
    names = [f"ch{c + 1}" for c in range(n_cols)]
    if header_lines:
        last = header_lines[-1].lstrip("#").strip()
        cells = [c.strip() for c in (last.split(delim) if delim else last.split())]
        if len(cells) == n_cols:
            names = [c or f"ch{i + 1}" for i, c in enumerate(cells)]
    delim_name = {None: "whitespace", "\t": "tab", ",": "comma", ";": "semicolon"}[delim]
    notes = [f"delimited text ({delim_name}), {len(header_lines)} header line(s)"]
    units = [_unit_from_name(n) for n in names]
    fs = None
    first = data[:, 0]
    if n_cols > 1 and first.size > 2 and np.all(np.isfinite(first)):
        step = np.diff(first)
        med = float(np.median(step))
        regular = med > 0 and np.all(np.abs(step - med) <= 0.01 * med + 1e-9)
        name0 = names[0].lower()
        timeish = any(w in name0 for w in ("time", "sec", "(s)", "[s]", "ms", "t"))
        if regular and (med == 1.0 and first[0] in (0.0, 1.0)) and "time" not in name0:
            notes.append(f"column 1 ({names[0]!r}) is a sample index: dropped")
            data, names, units = data[:, 1:], names[1:], units[1:]
        elif regular and (timeish or med < 1.0):
            scale = 1000.0 if ("ms" in name0 and "s" != name0) else 1.0
            fs = scale / med
            notes.append(f"column 1 ({names[0]!r}) is time in {'ms' if scale > 1 else 's'}: "
                         f"sample rate {fs:g} Hz")
            data, names, units = data[:, 1:], names[1:], units[1:]
    return Recording(str(path), "csv", data, fs, names, units, notes,
                     {"header": header_lines})


def _unit_from_name(name: str) -> str:
    m = re.search(r"[\(\[]\s*(µV|uV|mV|V|counts?)\s*[\)\]]", name, re.IGNORECASE)
    return m.group(1) if m else ""


def read_edf(path) -> Recording:
    """Read an EDF/EDF+/BDF file with ``edfio`` (optional extra ``edf``).

    Signals with the most common sample rate are kept; others (and EDF+ annotations) are
    listed in the notes.
    """
    edfio = require("edfio", "edf")
    p = Path(path)
    try:
        rec = edfio.read_bdf(p) if p.suffix.lower() == ".bdf" else edfio.read_edf(p)
    except Exception as exc:  # edfio raises ValueError/IndexError... on bad headers
        raise DataFileError(f"{p}: line 1 (header): expected a valid EDF/BDF header: {exc}") \
            from None
    signals = list(rec.signals)
    if not signals:
        raise DataFileError(f"{p}: line 1 (header): the file has no signals")
    rates = [float(s.sampling_frequency) for s in signals]
    fs = max(set(rates), key=rates.count)
    keep = [s for s in signals if float(s.sampling_frequency) == fs]
    skipped = [s.label for s in signals if float(s.sampling_frequency) != fs]
    n = min(len(s.data) for s in keep)
    data = np.column_stack([np.asarray(s.data[:n], dtype=np.float64) for s in keep])
    notes = [f"{p.suffix.lower().lstrip('.').upper()}, {len(keep)} signal(s) at {fs:g} Hz"]
    if skipped:
        notes.append(f"skipped signals at other rates: {', '.join(skipped)}")
    return Recording(str(p), p.suffix.lower().lstrip("."), data, fs,
                     [s.label or f"ch{i + 1}" for i, s in enumerate(keep)],
                     [s.physical_dimension for s in keep], notes, {})


def to_uv(recording: Recording, units: str | None = None, uv_per_count: float = 1.0):
    """Samples in µV, and which channels are EMG.

    Parameters
    ----------
    recording : Recording
    units : str, optional
        ``counts``, ``uv`` or ``mv`` for all channels, overriding the file's units.
    uv_per_count : float
        Scale for counts (µV per count); the mean is removed from counts.

    Returns
    -------
    tuple
        ``(samples_uv, is_emg)``: float64 array and a boolean per channel (False for
        channels in other units, e.g. a goniometer in degrees, which are kept as they are).
    """
    x = recording.samples.astype(np.float64, copy=True)
    is_emg = np.ones(x.shape[1], dtype=bool)
    for c in range(x.shape[1]):
        unit = (units or recording.units[c] or "uv").lower()
        if unit in ("count", "counts"):
            x[:, c] = (x[:, c] - np.nanmean(x[:, c])) * uv_per_count
        elif unit in UV_FACTORS:
            x[:, c] *= UV_FACTORS[unit]
        else:
            is_emg[c] = False
    return x, is_emg
