"""Exports built from the session store: CSV and EDF+/BDF+.

Both are written to a temporary file next to the target (mode 0600) and renamed into place,
so a failed export never leaves half a file under the final name.

CSV
    ``#`` comment lines (session, subject, rate, channels with their names, units and
    calibration, every gap with its cause, every marker), then a header
    ``sample_index,time_s,<channel>_uV,...`` and one row per stored sample; gaps show as
    jumps in ``sample_index`` (no made-up rows). ``time_s`` counts from the first row.
    Read with ``pandas.read_csv(path, comment="#")`` or ``numpy.loadtxt(path,
    delimiter=",", skiprows=N)`` where N counts the ``#`` lines and the header.
    ``emgfeedback analyze FILE.csv`` reads it back with no options (rate, names, units,
    gaps and markers from those lines).
EDF+ / BDF+
    One signal per channel in µV (``uV``) whose digital values are the raw ADC counts, with
    the physical range set from the calibration, so the file is exact (EDF: 16-bit counts;
    BDF: 24-bit). Counts outside the format's range are rescaled (the summary says so).
    EDF needs a continuous timeline: gaps are filled with 0 µV and annotated
    ``gap (cause): N samples missing``. The file starts on the whole second (UTC) before the
    first sample, padded up to it, so the start is right to half a sample in any reader;
    the padding before and after the recording is annotated ``padding: not recorded``.
    Markers (onsets, protocol phases, user marks) become annotations; onsets are named by
    the session's channel names.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emgfeedback.errors import ConfigError, StorageError, require
from emgfeedback.storage import db

#: Export formats.
FORMATS = ("csv", "edf", "bdf")

_DIGITAL_RANGE = {"edf": (-32768, 32767), "bdf": (-(2**23), 2**23 - 1)}


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    path: Path
    format: str
    n_samples: int
    n_channels: int
    n_gaps: int
    n_annotations: int
    exact: bool  # every sample written without rescaling
    renamed: tuple = ()  # (channel name, EDF/BDF label) where the label differs


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a binary file object for a temporary file that becomes ``path`` on success.

    The file is created with mode 0600, flushed to disk and renamed into place; on an
    exception it is removed and the target is left as it was.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise StorageError(f"export: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else None
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def export_session(store, session_id: int, out: str | os.PathLike, fmt: str) -> ExportSummary:
    """Export a stored session.

    Parameters
    ----------
    store : SessionStore
    session_id : int
    out : path-like
        Target file (replaced atomically).
    fmt : str
        ``csv``, ``edf`` or ``bdf``.

    Returns
    -------
    ExportSummary
    """
    if fmt not in FORMATS:
        raise ConfigError(f"export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return export_csv(store, session_id, out)
    return export_edf(store, session_id, out, bdf=(fmt == "bdf"))


# ---------------------------------------------------------------------- CSV


def export_csv(store, session_id: int, out: str | os.PathLike) -> ExportSummary:
    """Write a session as CSV (see the module docstring). Returns an :class:`ExportSummary`."""
    meta = store.session(session_id)
    cals = _calibrations(meta)
    gaps = store.gaps(session_id)
    offsets = np.array([c.offset_counts for c in cals])
    scales = np.array([c.uv_per_count for c in cals])
    origin = None
    n_total = 0
    with atomic_output(out) as fh:
        lines = [
            f"# emgfeedback {meta.app_version} export of session {meta.id}",
            f"# subject: {_one_line(meta.subject or '')}",
            f"# note: {_one_line(meta.note)}",
            f"# status: {meta.status}",
            f"# started_utc: {meta.started_utc}",
            f"# first_sample_utc: {meta.first_sample_utc or ''}",
            f"# fs_hz: {meta.fs_hz:g}",
            f"# board: {meta.board}  source: {meta.source_url}",
            "# values: µV at the electrode = (counts - offset_counts) * uv_per_count",
        ]
        for i, name in enumerate(meta.channel_names):
            c = cals[i]
            lines.append(
                f"# channel {i}: {_one_line(name)}; placement: "
                f"{_one_line(meta.placements[i]) if meta.placements else ''}"
                f"; side: {meta.sides[i] if meta.sides else ''}; units: uV; uv_per_count: "
                f"{c.uv_per_count!r}; offset_counts: {c.offset_counts!r}; output: {c.output}")
        for g in gaps:
            lines.append(f"# gap: start_index={g.start_index} n_samples={g.n_samples} "
                         f"cause={g.cause} (missing, no rows)")
        for m in store.markers(session_id):
            lines.append(f"# marker: index={m.index} kind={_one_line(m.kind).replace(' ', '_')}"
                         f" text={_one_line(marker_label(m, meta.channel_names))}")
        lines.append("sample_index,time_s," + ",".join(
            f"{_csv_name(n)}_uV" for n in meta.channel_names))
        fh.write(("\n".join(lines) + "\n").encode("utf-8"))
        for first, counts in store.iter_chunks(session_id):
            if origin is None:
                origin = first
            n = counts.shape[0]
            index = np.arange(first, first + n, dtype=np.int64)
            uv = (counts - offsets) * scales
            time_s = (index - origin) / meta.fs_hz
            text = "\n".join(
                f"{i},{t:.6f}," + ",".join(repr(float(v)) for v in row)
                for i, t, row in zip(index.tolist(), time_s.tolist(), uv.tolist(), strict=True)
            )
            fh.write((text + "\n").encode("ascii"))
            n_total += n
    return ExportSummary(Path(out), "csv", n_total, meta.n_channels, len(gaps), 0, True)


def _csv_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "ch"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _calibrations(meta):
    if meta.calibration:
        return meta.calibration
    from emgfeedback.types import ChannelCalibration

    return tuple(ChannelCalibration(uv_per_count=1.0) for _ in meta.channel_names)


# ---------------------------------------------------------------------- EDF+ / BDF+


def export_edf(store, session_id: int, out: str | os.PathLike, *,
               bdf: bool = False) -> ExportSummary:
    """Write a session as EDF+ (or BDF+ with ``bdf=True``); needs the ``edf`` extra (edfio).

    Returns
    -------
    ExportSummary
    """
    edfio = require("edfio", "edf")
    fmt = "bdf" if bdf else "edf"
    meta = store.session(session_id)
    cals = _calibrations(meta)
    fs = float(meta.fs_hz)
    indices, counts = store.read_samples(session_id)
    gaps = store.gaps(session_id)
    markers = store.markers(session_id)
    if indices.size == 0:
        raise StorageError(f"session {session_id} has no samples to export")
    first = int(min(indices[0], *(g.start_index for g in gaps))) if gaps else int(indices[0])
    end = int(max(indices[-1] + 1, *(g.end_index for g in gaps))) if gaps else int(indices[-1] + 1)
    # Start the file on a whole second (padding before the first sample) so that every
    # reader gets the start right to half a sample, with or without EDF+ sub-second support.
    first_time = _start_datetime(meta, first)
    start = first_time.replace(microsecond=0)
    pad_front = int(round((first_time - start).total_seconds() * fs))
    origin = first - pad_front
    record_s, per_record = _record_length(fs)
    n_timeline = end - origin
    n_padded = -(-n_timeline // per_record) * per_record
    dmin_fmt, dmax_fmt = _DIGITAL_RANGE[fmt]

    signal_cls = edfio.BdfSignal if bdf else edfio.EdfSignal
    signals, exact_all = [], True
    labels = edf_labels(meta.channel_names)
    for ch, label in enumerate(labels):
        cal = cals[ch]
        col = counts[:, ch].astype(np.int64)
        exact = bool(col.min() >= dmin_fmt and col.max() <= dmax_fmt)
        transducer = _ascii(f"{meta.sensor or meta.board} {cal.output} "
                            f"{meta.placements[ch] if meta.placements else ''}", 80)
        prefilter = "none (raw ADC counts)"
        if exact:
            lo = int(max(dmin_fmt, min(cal.adc_min, col.min())))
            hi = int(min(dmax_fmt, max(cal.adc_max, col.max())))
            if hi <= lo:
                hi = lo + 1
            fill = int(np.clip(round(cal.offset_counts), lo, hi))
            digital = np.full(n_padded, fill, dtype=np.int32 if bdf else np.int16)
            digital[indices - origin] = col
            physical = ((lo - cal.offset_counts) * cal.uv_per_count,
                        (hi - cal.offset_counts) * cal.uv_per_count)
            signals.append(signal_cls.from_digital(
                digital, fs, label=label, transducer_type=transducer, physical_dimension="uV",
                physical_range=physical, digital_range=(lo, hi), prefiltering=prefilter))
        else:
            exact_all = False
            uv = np.zeros(n_padded)
            uv[indices - origin] = (col - cal.offset_counts) * cal.uv_per_count
            lo_uv, hi_uv = float(uv.min()), float(uv.max())
            if hi_uv <= lo_uv:
                hi_uv = lo_uv + 1.0
            signals.append(signal_cls(
                uv, fs, label=label, transducer_type=transducer, physical_dimension="uV",
                physical_range=(lo_uv, hi_uv), digital_range=(dmin_fmt, dmax_fmt),
                prefiltering=prefilter))

    annotations = []
    for g in gaps:
        annotations.append(edfio.EdfAnnotation((g.start_index - origin) / fs, g.n_samples / fs,
                                               f"gap ({g.cause}): {g.n_samples} samples missing"))
    for m in markers:
        if origin <= m.index < end:
            annotations.append(edfio.EdfAnnotation((m.index - origin) / fs, None,
                                                   _annotation_text(marker_label(
                                                       m, meta.channel_names))))
    if pad_front:
        annotations.append(edfio.EdfAnnotation(
            0.0, pad_front / fs, "padding: not recorded (before the first sample)"))
    if n_padded > n_timeline:
        annotations.append(edfio.EdfAnnotation(
            n_timeline / fs, (n_padded - n_timeline) / fs,
            "padding: not recorded (end of recording)"))
    annotations.sort(key=lambda a: a.onset)

    subject = re.sub(r"\s+", "_", _ascii(meta.subject or "X", 60)) or "X"
    patient = edfio.Patient(code=subject)
    additional = (f"emgfeedback_session_{meta.id}", "starttime_in_UTC")
    # The recording field holds 80 characters: "Startdate DD-MMM-YYYY X X <equipment>
    # <additional ...>"; the board name is cut to what is left (long board names such as
    # uno-myoware2-env overflowed it).
    room = 80 - len("Startdate 01-JAN-2000 X X ") - sum(1 + len(a) for a in additional)
    equipment = re.sub(r"\s+", "_", _ascii(meta.board or "X", 40))[:max(room, 1)] or "X"
    recording = edfio.Recording(startdate=start.date(), equipment_code=equipment,
                                additional=additional)
    container = edfio.Bdf if bdf else edfio.Edf
    edf = container(signals, patient=patient, recording=recording,
                    starttime=start.time().replace(tzinfo=None),
                    data_record_duration=record_s, annotations=annotations)
    with atomic_output(out) as fh:
        edf.write(fh)
    return ExportSummary(Path(out), fmt, int(indices.size), meta.n_channels, len(gaps),
                         len(annotations), exact_all,
                         tuple((n, lb) for n, lb in zip(meta.channel_names, labels, strict=True)
                               if n != lb))


#: Characters of an EDF/BDF signal label.
EDF_LABEL_CHARS = 16


def edf_labels(names) -> list[str]:
    """EDF/BDF signal labels for channel names: 16 ASCII characters each, all different.

    Accents are dropped (``Glutäus`` -> ``Glutaus``, not ``Glut?us``). A longer name keeps
    its last word when that is short (a side such as ``L``/``R``/``left``), so ``quadratus
    lumborum L`` and ``... R`` become ``quadratus lumb L`` and ``quadratus lumb R`` rather
    than two ``quadratus lumbor`` (which lost the side, the left/right pair and each
    channel's identity). Labels still equal after that end in ``~2``, ``~3`` ...

    Parameters
    ----------
    names : sequence of str
        The session's channel names.

    Returns
    -------
    list of str
    """
    n = EDF_LABEL_CHARS
    out = []
    for ch, name in enumerate(names):
        text = " ".join(_ascii(name, 200).split()) or f"ch{ch + 1}"
        if len(text) > n:
            head, _, tail = text.rpartition(" ")
            if head and len(tail) <= 5:
                text = head[:n - len(tail) - 1].rstrip() + " " + tail
            else:
                text = text[:n].rstrip()
        out.append(text)
    for ch, label in enumerate(out):
        k = 2
        while label in out[:ch]:  # an earlier channel has this label
            suffix = f"~{k}"
            label = out[ch][:n - len(suffix)] + suffix
            k += 1
        out[ch] = label
    return out


def marker_label(marker, channel_names=None) -> str:
    """Readable text of a marker (onsets, protocol cues, user marks).

    Onset markers name their channel by the session's stored channel names (the user's
    names, e.g. ``TFL R``) when ``channel_names`` is given, whatever name the source used
    when the marker was written.
    """
    data = marker.data or {}
    if marker.kind in ("on", "off"):  # onsets as the engine stores them
        name = marker.text
        ch = data.get("channel")
        if channel_names is not None and isinstance(ch, int) and 0 <= ch < len(channel_names):
            name = channel_names[ch]
        return f"onset {marker.kind}: {name}".strip()
    if marker.kind.startswith("cue:"):
        what = marker.kind[4:].replace("_", " ")
        name = data.get("phase_name") or marker.text
        return f"{what}: {name}" if name else what
    return marker.kind if not marker.text else f"{marker.kind}: {marker.text}"


def _record_length(fs: float) -> tuple[float, int]:
    """Data record length: 1 s when the rate is a whole number of hertz, else one sample."""
    if abs(fs - round(fs)) < 1e-9:
        return 1.0, int(round(fs))
    return 1.0 / fs, 1


def _start_datetime(meta, origin: int) -> dt.datetime:
    """Wall-clock UTC time of sample ``origin``."""
    ref = db.parse_utc(meta.first_sample_utc)
    ref_index = meta.first_index
    if ref is None or ref_index is None:
        ref, ref_index = db.parse_utc(meta.started_utc), origin
    return ref + dt.timedelta(seconds=(origin - ref_index) / meta.fs_hz)


def _ascii(text: str, limit: int) -> str:
    # Accented letters lose their accent (NFKD, combining marks dropped); what has no
    # ASCII form becomes "?".
    text = unicodedata.normalize("NFKD", str(text).replace("µ", "u"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.encode("ascii", "replace").decode("ascii").strip()[:limit]


def _annotation_text(text: str) -> str:
    return re.sub(r"[\x00-\x1f]", " ", _ascii(text, 200))
