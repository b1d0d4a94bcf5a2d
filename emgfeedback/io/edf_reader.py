"""EDF/EDF+/BDF/BDF+ recordings, read data record by data record.

Written from the EDF+ specification (https://www.edfplus.info/specs/edfplus.html) so that
a file of any length is read in blocks with bounded memory. What the file says is used:
the rate, the labels and physical dimensions, and the EDF+ annotations: ``gap (...)`` and
``padding: ...`` annotations (as written by ``emgfeedback export``) become missing samples
(NaN; leading and trailing padding is cut off), other annotations become markers, and the
data records of a discontinuous file (EDF+D) are placed at their time stamps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emgfeedback.errors import DataFileError

#: Data records read per block.
BLOCK_RECORDS = 32
#: The integer path decodes blocks of at least this many rows with compiled loops
#: (:mod:`.edf_kernels`, the same values); smaller ones with NumPy (no Numba to load).
COMPILED_ROWS = 4096

_GAP = re.compile(r"^gap\s*\(([^)]*)\)", re.IGNORECASE)
_PADDING = re.compile(r"^padding\b", re.IGNORECASE)


@dataclass
class EdfLayout:
    """Header of an EDF/BDF file and its annotations.

    ``keep`` are the signals read (those at the most common rate); ``first``/``end`` the
    span of output samples after cutting the padding, counted on the file's timeline.
    """

    path: Path
    bdf: bool
    header_bytes: int
    n_records: int
    record_s: float
    labels: list
    dims: list
    gains: np.ndarray
    offsets: np.ndarray
    spr: list
    keep: list
    annotation_signal: int | None
    fs_hz: float
    discontinuous: bool
    record_onsets: list = field(default_factory=list)
    annotations: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    first: int = 0
    end: int = 0
    missing: list = field(default_factory=list)  # (start, stop, cause) on the timeline
    markers: list = field(default_factory=list)  # (position, label) on the timeline
    output_kinds: list = field(default_factory=list)  # per kept signal, when the file says

    @property
    def record_bytes(self) -> int:
        return sum(self.spr) * (3 if self.bdf else 2)


def _field(raw: bytes, base: int, n: int, width: int) -> list[str]:
    return [raw[base + i * width: base + (i + 1) * width].decode("latin-1").strip()
            for i in range(n)]


def scan_edf(path) -> EdfLayout:
    """Read the header and every annotation of an EDF/BDF file."""
    p = Path(path)
    bdf = p.suffix.lower() == ".bdf"

    def bad(what):
        return DataFileError(f"{p}: line 1 (header): expected a valid "
                             f"{'BDF' if bdf else 'EDF'} header: {what}")

    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(256)
        if len(head) < 256:
            raise bad("the file is shorter than the 256-byte header")
        try:
            header_bytes = int(head[184:192])
            n_records = int(head[236:244])
            record_s = float(head[244:252])
            ns = int(head[252:256])
        except ValueError:
            raise bad("header fields are not numbers") from None
        reserved = head[192:236].decode("latin-1").strip()
        if ns < 1 or header_bytes != 256 * (ns + 1):
            raise bad(f"{ns} signals do not match a {header_bytes}-byte header")
        raw = head + fh.read(256 * ns)
    if len(raw) < header_bytes:
        raise bad("the signal headers are cut short")
    try:
        labels = _field(raw, 256, ns, 16)
        transducers = _field(raw, 256 + ns * 16, ns, 80)
        dims = _field(raw, 256 + ns * 96, ns, 8)
        pmin = np.array([float(v) for v in _field(raw, 256 + ns * 104, ns, 8)])
        pmax = np.array([float(v) for v in _field(raw, 256 + ns * 112, ns, 8)])
        dmin = np.array([float(v) for v in _field(raw, 256 + ns * 120, ns, 8)])
        dmax = np.array([float(v) for v in _field(raw, 256 + ns * 128, ns, 8)])
        spr = [int(v) for v in _field(raw, 256 + ns * 216, ns, 8)]
    except ValueError:
        raise bad("a signal header field is not a number") from None
    if any(s < 1 for s in spr) or np.any(dmax <= dmin) or not record_s > 0:
        raise bad("samples per record, digital range or record duration out of range")
    gains = (pmax - pmin) / (dmax - dmin)
    offsets = pmin - dmin * gains
    ann = next((i for i, lab in enumerate(labels)
                if lab in ("EDF Annotations", "BDF Annotations")), None)
    rates = [spr[i] / record_s for i in range(ns) if i != ann]
    if not rates:
        raise bad("the file has no signals")
    fs = max(set(rates), key=rates.count)
    keep = [i for i in range(ns) if i != ann and spr[i] / record_s == fs]
    lay = EdfLayout(p, bdf, header_bytes, n_records, record_s, labels, dims, gains, offsets,
                    spr, keep, ann, float(fs), reserved.endswith("+D"))
    # emgfeedback's exports write "<board> <output kind> <placement>" as the transducer.
    kinds = []
    for i in keep:
        words = transducers[i].split()[1:2]
        kinds.append(words[0].lower() if words else "")
    if all(k in ("raw", "uv", "rect", "env") for k in kinds):
        lay.output_kinds = kinds
    if n_records < 0:  # -1: unknown (still recording); count from the size
        n_records = (size - header_bytes) // lay.record_bytes
        lay.n_records = n_records
    if size < header_bytes + n_records * lay.record_bytes:
        raise DataFileError(f"{p}: the file holds fewer data records than its header's "
                            f"{n_records}: cut short?")
    skipped = [labels[i] for i in range(ns) if i != ann and i not in keep]
    lay.notes.append(f"{'BDF' if bdf else 'EDF'}{'+' if ann is not None else ''}, "
                     f"{len(keep)} signal(s) at {fs:g} Hz")
    if skipped:
        lay.notes.append(f"skipped signals at other rates: {', '.join(skipped)}")
    _scan_annotations(lay)
    return lay


def _scan_annotations(lay: EdfLayout) -> None:
    spr_rec = lay.spr[lay.keep[0]]
    per_record = spr_rec
    onsets = []
    if lay.annotation_signal is not None:
        width = 3 if lay.bdf else 2
        offset = sum(lay.spr[: lay.annotation_signal]) * width
        nbytes = lay.spr[lay.annotation_signal] * width
        with open(lay.path, "rb") as fh:
            for r in range(lay.n_records):
                fh.seek(lay.header_bytes + r * lay.record_bytes + offset)
                block = fh.read(nbytes)
                first = True
                for tal in block.split(b"\x00"):
                    if not tal:
                        continue
                    parts = tal.split(b"\x14")
                    onset_dur = parts[0].split(b"\x15")
                    try:
                        onset = float(onset_dur[0])
                        dur = float(onset_dur[1]) if len(onset_dur) > 1 and onset_dur[1] \
                            else None
                    except ValueError:
                        continue
                    texts = [t.decode("utf-8", "replace") for t in parts[1:] if t]
                    if first:
                        onsets.append(onset)
                        first = False
                    for text in texts:
                        lay.annotations.append((onset, dur, text))
    start_s = onsets[0] if onsets else 0.0  # sub-second start of EDF+ files
    if lay.discontinuous and len(onsets) == lay.n_records:
        lay.record_onsets = [int(round((o - start_s) * lay.fs_hz)) for o in onsets]
    else:
        lay.record_onsets = [r * per_record for r in range(lay.n_records)]
    timeline = (lay.record_onsets[-1] + per_record) if lay.n_records else 0
    fs = lay.fs_hz
    front = back = 0
    for onset, dur, text in lay.annotations:
        a = int(round((onset - start_s) * fs))
        b = a + int(round((dur or 0.0) * fs))
        if _PADDING.match(text):
            if a <= 0:
                front = max(front, b)
            elif b >= timeline:
                back = max(back, timeline - a)
            else:
                lay.missing.append((a, b, "padding"))
        elif _GAP.match(text) and b > a:
            lay.missing.append((a, b, _GAP.match(text).group(1).strip() or "unknown"))
        else:
            lay.markers.append((a, text))
    lay.first, lay.end = front, max(timeline - back, front)
    for r in range(1, lay.n_records):
        expected = lay.record_onsets[r - 1] + per_record
        if lay.record_onsets[r] > expected:
            lay.missing.append((expected, lay.record_onsets[r], "edf+d"))
    if lay.missing:
        n = sum(b - a for a, b, _ in lay.missing)
        lay.notes.append(f"{len(lay.missing)} gap(s) in the annotations: {n} samples read "
                         "as missing")
    if front or back:
        lay.notes.append(f"padding cut off: {front} sample(s) before, {back} after")


def iter_edf(lay: EdfLayout, columns=None, block_records: int = BLOCK_RECORDS,
             digital: bool = False):
    """Yield float64 ``(n, n_channels)`` blocks in physical units, NaN where missing.

    Records that follow each other on the timeline inside the kept span are decoded
    together (one array per run of up to ``block_records`` records, one NumPy operation
    per channel); the others (EDF+D jumps, the cut padding) record by record.
    With ``digital``, each item is ``(physical, digits)``: the same block and the file's
    integers of the same samples (``int16``, ``int32`` for BDF; any value where the
    physical value is missing), from which :func:`physical` gives the block again, bit for
    bit (NaN aside).
    """
    cols = list(range(len(lay.keep))) if columns is None else list(columns)
    width = 3 if lay.bdf else 2
    spr = lay.spr[lay.keep[0]]
    starts = np.cumsum([0] + lay.spr[:-1]) * width
    missing = sorted(lay.missing)
    onsets = lay.record_onsets
    dtype = (np.int32 if lay.bdf else np.int16) if digital else None
    pos = lay.first  # next output position on the timeline
    with open(lay.path, "rb") as fh:
        fh.seek(lay.header_bytes)
        for r0 in range(0, lay.n_records, block_records):
            n_rec = min(block_records, lay.n_records - r0)
            raw = fh.read(n_rec * lay.record_bytes)
            recs = np.frombuffer(raw, np.uint8).reshape(n_rec, lay.record_bytes)
            k = 0
            while k < n_rec:
                onset = onsets[r0 + k]
                j = k
                # A run of whole records, each right after the previous one on the timeline.
                while (j < n_rec and onsets[r0 + j] == onset + (j - k) * spr
                       and onsets[r0 + j] >= lay.first and onsets[r0 + j] + spr <= lay.end):
                    j += 1
                if j > k and onset == pos:
                    a, b = onset, onset + (j - k) * spr
                    out, dig = _decode(lay, recs[k:j], cols, starts, spr, width, dtype)
                    k = j
                else:  # one record: cut to the kept span, after a jump if it is apart
                    a, b = max(onset, lay.first), min(onset + spr, lay.end)
                    k += 1
                    if b <= a:
                        continue
                    if a > pos:  # EDF+D: records apart
                        while pos < a:
                            n = min(a - pos, 1 << 16)
                            gap = np.full((n, len(cols)), np.nan)
                            yield (gap, np.zeros(gap.shape, dtype)) if digital else gap
                            pos += n
                    out, dig = _decode(lay, recs[k - 1:k], cols, starts, spr, width, dtype)
                    out = out[a - onset: b - onset]
                    dig = None if dig is None else dig[a - onset: b - onset]
                for ma, mb, _ in missing:
                    lo, hi = max(ma, a), min(mb, b)
                    if hi > lo:
                        out[lo - a: hi - a] = np.nan
                pos = b
                yield (out, dig) if digital else out


def _decode(lay: EdfLayout, recs: np.ndarray, cols, starts, spr: int, width: int,
            dtype=None) -> tuple:
    """Physical values of the signals ``cols`` of the records ``recs`` (``(m, bytes)``),
    ``(m · spr, len(cols))``: digital value × gain + offset, as two roundings; and, with a
    ``dtype``, the digital values themselves (else None)."""
    m = recs.shape[0]
    sigs = [lay.keep[c] for c in cols]
    if dtype is not None and not lay.bdf and m * spr >= COMPILED_ROWS:
        # The integer path (analyze): one compiled pass over the rows (edf_kernels).
        from emgfeedback.io.edf_kernels import decode_records

        return decode_records(recs, [int(starts[sig]) // 2 for sig in sigs], spr,
                              lay.gains[sigs], lay.offsets[sigs])
    out = np.empty((m * spr, len(cols)))
    dig = None if dtype is None else np.empty((m * spr, len(cols)), dtype)
    for j, c in enumerate(cols):
        sig = lay.keep[c]
        seg = recs[:, starts[sig]: starts[sig] + spr * width]
        if lay.bdf:
            b3 = seg.reshape(-1, 3).astype(np.int32)
            d = b3[:, 0] | (b3[:, 1] << 8) | (b3[:, 2] << 16)
            d = np.where(d >= 2**23, d - 2**24, d)
        else:
            d = np.ascontiguousarray(seg).view("<i2").reshape(-1)
        col = out[:, j]
        np.multiply(d, lay.gains[sig], out=col)
        col += lay.offsets[sig]
        if dig is not None:
            dig[:, j] = d
    return out, dig


def physical(lay: EdfLayout, digits: np.ndarray, columns) -> np.ndarray:
    """The physical values of ``(n, len(columns))`` digital values of the kept signals
    ``columns``: what :func:`iter_edf` gives for them, bit for bit (the same two roundings
    per value, digital × gain + offset)."""
    sig = [lay.keep[c] for c in columns]
    if digits.ndim == 2 and digits.shape[0] >= COMPILED_ROWS:  # one compiled pass
        from emgfeedback.io.edf_kernels import physical_rows

        return physical_rows(digits, lay.gains[sig], lay.offsets[sig])
    out = digits.astype(np.float64)  # exact; then in place: faster than a mixed-type multiply
    out *= lay.gains[sig]
    out += lay.offsets[sig]
    return out


def exact_digital(lay: EdfLayout) -> bool:
    """Whether every digital value of the kept signals has a finite physical value (the
    digital path of :func:`iter_edf` then loses nothing: missing samples are the NaN)."""
    g, o = lay.gains[lay.keep], lay.offsets[lay.keep]
    top = float(2 ** (23 if lay.bdf else 15))
    with np.errstate(all="ignore"):
        return bool(np.all(np.isfinite(g)) and np.all(np.isfinite(o))
                    and np.all(np.isfinite(np.abs(g) * top + np.abs(o))))


def gaps_and_markers(lay: EdfLayout):
    """Gaps ``{"start", "n_samples", "cause"}`` and markers ``{"index", "label"}`` in output
    samples (from the first sample after the leading padding)."""
    gaps = [{"start": a - lay.first, "n_samples": b - a, "cause": cause}
            for a, b, cause in sorted(lay.missing) if a < lay.end and b > lay.first]
    markers = [{"index": a - lay.first, "label": text} for a, text in lay.markers
               if lay.first <= a < max(lay.end, lay.first + 1)]
    return gaps, markers

