"""Readers for recordings: CSV/TSV, the BioSPPy text format, UCI lower-limb text, EDF/BDF.

:func:`read_recording` detects the format from the file's first lines (or the extension
for EDF/BDF) and returns a :class:`Recording`: samples ``(n_samples, n_channels)`` in the
file's units, the sample rate, channel names and units, and notes saying what was
detected (header lines, a time or index column, the delimiter). Any problem raises
:class:`~emgfeedback.errors.DataFileError` naming the file, the line and what was
expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emgfeedback.analysis.units import UV_FACTORS
from emgfeedback.errors import ConfigError, DataFileError

#: File name endings :func:`recording_files` takes from a directory (other files, e.g.
#: databases, are left out).
RECORDING_SUFFIXES = (".csv", ".tsv", ".txt", ".edf", ".bdf")

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
        ``csv``, ``biosppy``, ``uci``, ``edf``, ``bdf`` or ``session``.
    samples : numpy.ndarray
        float64 ``(n_samples, n_channels)`` in the file's units (NaN for empty cells and
        for samples the file says are missing).
    fs_hz : float or None
        Sample rate if the file says (or a time column implies) it.
    channel_names : list of str
    units : list of str
        Per channel as the file gives them (``""`` when unknown).
    notes : list of str
        What was detected (header lines, time/index column, delimiter ...).
    meta : dict
        Header fields.
    markers : list of dict
        ``index`` (sample number from the first sample) and ``label``.
    gaps : list of dict
        ``start`` (sample number), ``n_samples`` and ``cause`` of each missing stretch.
    """

    path: str
    format: str
    samples: np.ndarray
    fs_hz: float | None
    channel_names: list
    units: list
    notes: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    markers: list = field(default_factory=list)
    gaps: list = field(default_factory=list)

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return self.samples.shape[1]

    def select(self, channels) -> Recording:
        """A copy with only the given channels (names or 0-based numbers, in that order)."""
        idx = _channel_indices(self.path, self.channel_names, channels)
        return Recording(self.path, self.format, self.samples[:, idx], self.fs_hz,
                         [self.channel_names[i] for i in idx], [self.units[i] for i in idx],
                         list(self.notes), _select_meta(self.meta, self.n_channels, idx),
                         list(self.markers), list(self.gaps))


#: ``meta`` keys holding one value per channel, in channel order (a selection keeps them in
#: step with the channels: the symmetry pairs come from them).
PER_CHANNEL_META = ("placements", "sides")


def _select_meta(meta: dict, n_channels: int, idx) -> dict:
    """A copy of ``meta`` whose per-channel lists hold the channels ``idx``, in that order."""
    out = dict(meta)
    for key in PER_CHANNEL_META:
        if isinstance(out.get(key), (list, tuple)) and len(out[key]) == n_channels:
            out[key] = [out[key][i] for i in idx]
    return out


def _channel_indices(path, names, channels) -> list[int]:
    idx = []
    for ch in channels:
        key = str(ch)
        if key in names:
            idx.append(names.index(key))
        elif key.isdigit() and int(key) < len(names):
            idx.append(int(key))
        else:
            raise DataFileError(
                f"{path}: no channel {ch!r}; channels are "
                f"{', '.join(names)} (or numbers 0-{len(names) - 1})"
            )
    return idx


class RecordingSource:
    """A recording whose samples are read in blocks (any length, bounded memory).

    The header attributes are those of :class:`Recording`; :meth:`chunks` yields the
    samples; :attr:`markers` and :attr:`gaps` are complete once the chunks have been read
    (a ``capture`` file notes its gaps between the rows).
    """

    def __init__(self, path, fmt, fs_hz, channel_names, units, notes, meta, markers, gaps,
                 blocks, columns=None, digital=None):
        self.path, self.format, self.fs_hz = str(path), fmt, fs_hz
        self.channel_names, self.units = list(channel_names), list(units)
        self.notes, self.meta = list(notes), dict(meta)
        # Shared with the copies select() makes: reading the rows may complete them.
        self._facts = {"markers": list(markers), "gaps": list(gaps)}
        self._blocks = blocks  # callable(columns) -> iterator of (n, n_columns) arrays
        self._columns = columns
        # Files of integers (EDF/BDF): (callable(columns) -> iterator of (block, digits),
        # callable(digits, columns) -> block), see digital_chunks(); else None.
        self._digital = digital

    @property
    def markers(self) -> list:
        """``{"index", "label"}`` per marker (complete once the chunks have been read)."""
        return self._facts["markers"]

    @markers.setter
    def markers(self, value) -> None:
        self._facts["markers"] = list(value)

    @property
    def gaps(self) -> list:
        """``{"start", "n_samples", "cause"}`` per gap (complete once the chunks were read)."""
        return self._facts["gaps"]

    @gaps.setter
    def gaps(self, value) -> None:
        self._facts["gaps"] = list(value)

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channel_names)

    def select(self, channels) -> RecordingSource:
        """The same recording restricted to the given channels (names or 0-based numbers)."""
        idx = _channel_indices(self.path, self.channel_names, channels)
        base = list(range(self.n_channels)) if self._columns is None else self._columns
        meta = _select_meta(self.meta, self.n_channels, idx)
        out = RecordingSource(self.path, self.format, self.fs_hz,
                              [self.channel_names[i] for i in idx],
                              [self.units[i] for i in idx], self.notes, meta,
                              (), (), self._blocks, [base[i] for i in idx], self._digital)
        out._facts = self._facts
        return out

    def chunks(self):
        """Yield float64 ``(n, n_channels)`` blocks in order (NaN where missing)."""
        for block in self._blocks(self._columns):
            if block.shape[0]:
                yield block

    @property
    def has_digits(self) -> bool:
        """Whether :meth:`digital_chunks` is available (a file of integers, EDF/BDF)."""
        return self._digital is not None

    def digital_chunks(self):
        """Yield ``(block, digits)``: :meth:`chunks`' blocks with the file's integers of the
        same samples (any value where the block's is missing; :meth:`from_digits` gives the
        block back from them, bit for bit). Only when :attr:`has_digits`."""
        cols = list(range(self.n_channels)) if self._columns is None else self._columns
        for block, digits in self._digital[0](cols):
            if block.shape[0]:
                yield block, digits

    def from_digits(self, digits: np.ndarray, channels=None) -> np.ndarray:
        """The float64 samples of ``(n, len(channels))`` integers of the channels
        ``channels`` (0-based, default all), as :meth:`chunks` gives them."""
        base = list(range(self.n_channels)) if self._columns is None else self._columns
        idx = range(self.n_channels) if channels is None else channels
        return self._digital[1](digits, [base[i] for i in idx])

    def read(self) -> Recording:
        """All samples at once (memory grows with the recording's length)."""
        parts = list(self.chunks())
        samples = np.concatenate(parts) if parts else np.empty((0, self.n_channels))
        return Recording(self.path, self.format, samples, self.fs_hz, self.channel_names,
                         self.units, self.notes, self.meta, self.markers, self.gaps)


def _array_source(rec: Recording) -> RecordingSource:
    def blocks(columns):
        x = rec.samples if columns is None else rec.samples[:, columns]
        for a in range(0, x.shape[0], 1 << 16):
            yield x[a: a + (1 << 16)]
    return RecordingSource(rec.path, rec.format, rec.fs_hz, rec.channel_names, rec.units,
                           rec.notes, rec.meta, rec.markers, rec.gaps, blocks)


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
    return open_session(db_path, session_id).read()


def open_session(db_path, session_id: int) -> RecordingSource:
    """A stored session, read chunk by chunk, in µV at the electrode (NaN over gaps).

    Markers carry the same labels as in an export (``onset on: glute med R``, ...) and
    channel names are the ones stored with the session.
    """
    from emgfeedback.acquisition.boards import counts_to_uv
    from emgfeedback.io.export import marker_label
    from emgfeedback.storage import SessionStore

    if not Path(db_path).is_file():
        raise DataFileError(f"{db_path}: no such session database")
    with SessionStore(db_path, create=False) as store:
        meta = store.session(session_id)
        gaps = store.gaps(session_id)
        markers = store.markers(session_id)
        first = last = None
        n_stored = 0
        for start, counts in store.iter_chunks(session_id):
            first = start if first is None else first
            last = start + counts.shape[0]
            n_stored += counts.shape[0]
    if first is None:
        raise DataFileError(f"{db_path}: session {session_id} holds no samples")
    cal = meta.calibration

    def blocks(columns):
        pos = first
        with SessionStore(db_path, create=False) as st:
            for start, counts in st.iter_chunks(session_id):
                if start > pos:
                    n_ch = meta.n_channels if columns is None else len(columns)
                    while pos < start:
                        n = min(start - pos, 1 << 16)
                        yield np.full((n, n_ch), np.nan)
                        pos += n
                uv = counts_to_uv(counts, cal)
                yield uv if columns is None else uv[:, columns]
                pos = start + counts.shape[0]

    notes = [f"session {session_id} of {db_path}: {n_stored} samples, "
             f"{len(gaps)} gap(s) shown as missing samples"]
    names = _stored_names(meta)
    mk = [{"index": m.index - first, "label": marker_label(m, names)} for m in markers
          if first <= m.index < last]
    gp = [{"start": g.start_index - first, "n_samples": g.n_samples, "cause": g.cause}
          for g in gaps if first <= g.start_index < last]
    return RecordingSource(f"{db_path}#session={session_id}", "session", float(meta.fs_hz),
                           names, ["uV"] * meta.n_channels, notes,
                           {"subject": meta.subject, "started_utc": meta.started_utc,
                            "placements": list(meta.placements or ()),
                            "sides": list(meta.sides or ()),
                            # Sensor output per channel name (raw, rect, env, uv): decides
                            # the processing chain in analyze (H1, #12.1).
                            "output_kinds": {n: c.output for n, c in zip(names, cal,
                                                                          strict=False)},
                            # The ADC facts (noise floor, clipping, rails) analyze uses, by
                            # name so that select() keeps them right (X5).
                            "calibration": {n: c for n, c in zip(names, cal, strict=False)}},
                           mk, gp, blocks)


def _stored_names(meta) -> list[str]:
    return list(meta.channel_names)


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
    return open_recording(path).read()


def open_recording(path) -> RecordingSource:
    """Open a recording for reading in blocks, detecting its format from its first lines.

    CSV/TSV and EDF/BDF are read block by block (any length); the small BioSPPy and UCI
    text formats are read whole.

    Raises
    ------
    DataFileError
        When the file cannot be read or is inconsistent.
    """
    from emgfeedback.io import csv_reader

    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix in (".edf", ".bdf"):
        return _open_edf(p)
    head = _head_lines(p)
    if not head:
        raise DataFileError(f"{p}: line 1: expected data, the file is empty")
    if head[0].startswith("#") and any(_BIOSPPY_KEY.match(ln) for ln in head[:20]):
        return _array_source(_read_biosppy(p, _all_lines(p)))
    if head[0].startswith("File Name:") or any(_UCI_CHANNEL.match(ln) for ln in head[:8]):
        return _array_source(_read_uci(p, _all_lines(p)))
    layout = csv_reader.scan_delimited(str(p), head)
    return _delimited_source(p, layout)


def _head_lines(p: Path, extra: int = 200, limit: int = 100_000) -> list[str]:
    """The first lines: every ``#``/header line and ``extra`` lines after the first data."""
    from emgfeedback.io.csv_reader import MAX_LINE_BYTES, _decode, looks_numeric

    out: list[str] = []
    after = None
    with open(p, "rb") as fh:
        for k, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b"")):
            if len(raw) > MAX_LINE_BYTES:
                raise DataFileError(f"{p}: line {k + 1}: longer than {MAX_LINE_BYTES} bytes; "
                                    "expected a header or rows of numbers")
            if k == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            line = _decode(p, raw, k + 1).rstrip("\r\n")
            out.append(line)
            if after is None and not line.lstrip().startswith("#") and (
                    looks_numeric(line, "\t") or looks_numeric(line, ",")
                    or looks_numeric(line, ";") or looks_numeric(line, None)):
                after = k
            if after is not None and k - after >= extra:
                break
            if k >= limit:
                break
    return out


def _all_lines(p: Path) -> list[str]:
    try:
        text = p.read_text(encoding="utf-8-sig", errors="strict")
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataFileError(
            f"{p}: line {line}: expected UTF-8 text (byte offset {exc.start} is not); "
            "EDF/BDF files need the .edf/.bdf extension"
        ) from None
    return text.splitlines()


def _delimited_source(p: Path, layout) -> RecordingSource:
    from emgfeedback.io.csv_reader import DelimitedReader

    src = None

    def blocks(columns):
        reader = DelimitedReader(str(p), layout)
        for block in reader:
            yield block if columns is None else block[:, columns]
        # What the rows said (index jumps, '# gap' lines between rows) completes the header.
        src.gaps = reader.gaps
        first = reader.first_index or 0
        src.markers = [{"index": m["index"] - first, "label": m["label"]}
                       for m in layout.markers if m["index"] >= first]

    src = RecordingSource(str(p), "csv", layout.fs_hz, layout.channel_names, layout.units,
                          layout.notes, layout.meta, [], [], blocks)
    return src


def _open_edf(p: Path) -> RecordingSource:
    from emgfeedback.io import edf_reader

    lay = edf_reader.scan_edf(p)
    gaps, markers = edf_reader.gaps_and_markers(lay)
    names = [lay.labels[i] or f"ch{k + 1}" for k, i in enumerate(lay.keep)]
    units = [lay.dims[i] for i in lay.keep]
    meta = {"output_kinds": dict(zip(names, lay.output_kinds, strict=True))} \
        if lay.output_kinds else {}
    digital = None
    if edf_reader.exact_digital(lay):
        digital = (lambda columns: edf_reader.iter_edf(lay, columns, digital=True),
                   lambda digits, columns: edf_reader.physical(lay, digits, columns))
    return RecordingSource(str(p), p.suffix.lower().lstrip("."), lay.fs_hz, names, units,
                           lay.notes, meta, markers, gaps,
                           lambda columns: edf_reader.iter_edf(lay, columns), digital=digital)


def _parse_rows(path, lines, first_line_no, delimiter, n_cols=None):
    from emgfeedback.io.csv_reader import parse_rows

    rows = parse_rows(path, lines, first_line_no, delimiter, n_cols)
    if rows.shape[0] == 0:
        raise DataFileError(f"{path}: line {first_line_no}: expected numeric data, found none")
    return rows


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
    from emgfeedback.io.csv_reader import looks_numeric

    return looks_numeric(line, delimiter)


def read_edf(path) -> Recording:
    """Read an EDF/EDF+/BDF file (see :mod:`emgfeedback.io.edf_reader`).

    Signals with the most common sample rate are kept; others are listed in the notes.
    """
    return _open_edf(Path(path)).read()


def recording_files(inputs) -> list[Path]:
    """The recordings named by ``inputs``: files as given, directories' recordings sorted.

    Parameters
    ----------
    inputs : sequence of str or pathlib.Path
        Files and directories (``analyze DIR/ FILE ...``).

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    ConfigError
        When an input does not exist, or nothing is left to analyse.
    """
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir()
                                if f.is_file() and f.suffix.lower() in RECORDING_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError(f"{p}: no such file or directory")
    if not files:
        raise ConfigError(f"no recording ({', '.join(RECORDING_SUFFIXES)}) in "
                          f"{', '.join(map(str, inputs))}")
    return files
