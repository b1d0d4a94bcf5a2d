"""CSV and EDF+/BDF+ exports, checked sample by sample with independent readers."""

from __future__ import annotations

import datetime as dt
import stat

import numpy as np
import pytest

from emgfeedback.acquisition.boards import counts_to_uv
from emgfeedback.errors import StorageError
from emgfeedback.io.export import export_csv, export_edf
from emgfeedback.storage.db import parse_utc


def read_edf_minimal(path, bdf=False):
    """A small EDF/BDF reader written from the EDF+ specification, independent of edfio.

    Returns (start datetime with sub-second offset, {label: physical values}, annotations,
    header per signal).
    """
    raw = path.read_bytes()
    n_sig = int(raw[252:256])
    n_rec = int(raw[236:244])
    start = dt.datetime.strptime(raw[168:184].decode(), "%d.%m.%y%H.%M.%S")

    def field(offset, width):
        base = 256 + offset * n_sig
        return [raw[base + i * width: base + (i + 1) * width].decode().strip()
                for i in range(n_sig)]

    labels = field(0, 16)
    dims = field(16 + 80, 8)
    pmin = [float(v) for v in field(16 + 80 + 8, 8)]
    pmax = [float(v) for v in field(16 + 80 + 16, 8)]
    dmin = [int(v) for v in field(16 + 80 + 24, 8)]
    dmax = [int(v) for v in field(16 + 80 + 32, 8)]
    spr = [int(v) for v in field(16 + 80 + 40 + 80, 8)]
    width = 3 if bdf else 2
    pos = 256 * (n_sig + 1)
    signals = {lab: [] for lab in labels}
    tals = []
    for _ in range(n_rec):
        for i, lab in enumerate(labels):
            chunk = raw[pos:pos + spr[i] * width]
            pos += spr[i] * width
            if lab.endswith("Annotations"):
                tals.append(chunk)
                continue
            if bdf:
                b = np.frombuffer(chunk, np.uint8).reshape(-1, 3).astype(np.int32)
                d = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
                d = np.where(d >= 2**23, d - 2**24, d)
            else:
                d = np.frombuffer(chunk, "<i2").astype(np.int32)
            signals[lab].append(d)
    phys, header = {}, {}
    for i, lab in enumerate(labels):
        if lab.endswith("Annotations"):
            continue
        d = np.concatenate(signals[lab]).astype(np.float64)
        gain = (pmax[i] - pmin[i]) / (dmax[i] - dmin[i])
        phys[lab] = (d - dmin[i]) * gain + pmin[i]
        header[lab] = dict(dim=dims[i], gain=gain)
    annotations, offset = [], None
    for tal_block in tals:
        for tal in tal_block.split(b"\x00"):
            if not tal:
                continue
            parts = tal.split(b"\x14")
            onset_dur = parts[0].split(b"\x15")
            onset = float(onset_dur[0])
            texts = [p.decode() for p in parts[1:] if p]
            if not texts and offset is None:
                offset = onset  # the first time-keeping TAL: sub-second start
            for text in texts:
                dur = float(onset_dur[1]) if len(onset_dur) > 1 else None
                annotations.append((onset, dur, text))
    start = start + dt.timedelta(seconds=offset or 0.0)
    annotations = [(o - (offset or 0.0), d, t) for o, d, t in annotations]
    return start, phys, annotations, header


@pytest.fixture
def session(store, recorder):
    rec = recorder(store, n_channels=3, seconds=2.3, chunk=50, offset=1000,
                   gap_at=[(1500, 250, "unplug"), (3000, 7, "crc")],
                   names=("L trap", "R trap", "µ-test"), note="export test")
    with store.open_writer(rec.sid) as w:
        w.add_marker(1100, "phase", "rest", {"event": "start"})
        w.add_marker(2000, "user", "lifted arm")
        w.add_marker(2100, "cue:phase_start", "lift slowly", {"phase_name": "drill"})
        w.add_marker(2200, "on", "L trap", {"channel": 0})
    return rec


def test_csv_has_every_sample_in_uv(store, session, tmp_path):
    out = tmp_path / "s.csv"
    summary = export_csv(store, session.sid, out)
    assert summary.n_samples == session.counts.shape[0]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text(encoding="utf-8")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert any("gap: start_index=1500 n_samples=250 cause=unplug" in c for c in comments)
    assert any("gap: start_index=3000 n_samples=7 cause=crc" in c for c in comments)
    table = np.loadtxt(out, delimiter=",", comments="#", skiprows=len(comments) + 1)
    header = text.splitlines()[len(comments)]
    assert header == "sample_index,time_s,L_trap_uV,R_trap_uV,test_uV"
    np.testing.assert_array_equal(table[:, 0].astype(np.int64), session.indices)
    np.testing.assert_allclose(table[:, 1], (session.indices - 1000) / 2000.0, atol=1e-6)
    expected = counts_to_uv(session.counts, session.meta.calibration)
    np.testing.assert_allclose(table[:, 2:], expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("bdf", [False, True])
def test_edf_gives_back_every_sample(store, session, tmp_path, bdf):
    out = tmp_path / ("s.bdf" if bdf else "s.edf")
    summary = export_edf(store, session.sid, out, bdf=bdf)
    assert summary.exact
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    start, phys, annotations, header = read_edf_minimal(out, bdf=bdf)
    meta = store.session(session.sid)
    expected = counts_to_uv(session.counts, meta.calibration)
    # The file starts on the whole second before the first sample, padded up to it.
    first = parse_utc(meta.first_sample_utc).replace(tzinfo=None)
    assert start.microsecond == 0 and 0 <= (first - start).total_seconds() < 1.0
    pad = int(round((first - start).total_seconds() * 2000))
    pos = session.indices - 1000 + pad
    q = meta.calibration[0].uv_per_count
    for ch, label in enumerate(["L trap", "R trap", "u-test"]):
        assert header[label]["dim"] == "uV"
        # The file's gain is the calibration's step up to the 8-character header rounding.
        assert header[label]["gain"] == pytest.approx(q, rel=1e-5)
        np.testing.assert_allclose(phys[label][pos], expected[:, ch], atol=q / 2)
        # Gap samples are filled with 0 µV (within a step), not with made-up signal.
        assert np.all(np.abs(phys[label][pad + 500:pad + 750]) <= 0.01)
    texts = {t: (o - pad / 2000, d) for o, d, t in annotations}
    assert texts["gap (unplug): 250 samples missing"] == pytest.approx((0.25, 0.125))
    assert texts["gap (crc): 7 samples missing"] == pytest.approx((1.0, 0.0035))
    assert texts["phase: rest"][0] == pytest.approx(0.05)
    assert texts["user: lifted arm"][0] == pytest.approx(0.5)
    assert texts["phase start: drill"][0] == pytest.approx(0.55)
    assert texts["onset on: L trap"][0] == pytest.approx(0.6)
    if pad:
        assert texts["padding: not recorded (before the first sample)"] == pytest.approx(
            (-pad / 2000, pad / 2000))


def test_edf_read_by_edfio_and_pyedflib(store, session, tmp_path):
    edfio = pytest.importorskip("edfio")  # part of the [edf] extra used by the export
    out = tmp_path / "s.edf"
    export_edf(store, session.sid, out)
    expected = counts_to_uv(session.counts, session.meta.calibration)
    q = session.meta.calibration[0].uv_per_count
    edf = edfio.read_edf(out)
    first = parse_utc(store.session(session.sid).first_sample_utc).replace(tzinfo=None)
    pad = int(round((first - edf.startdatetime).total_seconds() * 2000))
    assert abs((edf.startdatetime - first).total_seconds() + pad / 2000) <= 0.5 / 2000 + 1e-6
    pos = session.indices - 1000 + pad
    for ch in range(3):
        np.testing.assert_allclose(edf.signals[ch].data[pos], expected[:, ch], atol=q / 2)
    pyedflib = pytest.importorskip("pyedflib", reason="pip install 'emgfeedback[test]'")
    with pyedflib.EdfReader(str(out)) as reader:
        assert reader.getStartdatetime() == edf.startdatetime
        for ch in range(3):
            np.testing.assert_allclose(reader.readSignal(ch)[pos], expected[:, ch], atol=q / 2)
        onsets, _, texts = reader.readAnnotations()
        assert "gap (unplug): 250 samples missing" in list(texts)


def test_failed_export_leaves_target_untouched(store, tmp_path):
    from emgfeedback.storage import SessionMeta

    empty = store.create_session(SessionMeta(100.0, ("a",)))
    out = tmp_path / "keep.edf"
    out.write_bytes(b"previous")
    with pytest.raises(StorageError, match="no samples"):
        export_edf(store, empty, out)
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_atomic_output_keeps_old_file_on_failure(tmp_path):
    from emgfeedback.io.export import atomic_output

    out = tmp_path / "report.html"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(out) as fh:
        fh.write(b"half a file")
        raise RuntimeError("disk went away")
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    with atomic_output(out) as fh:
        fh.write(b"new")
    assert out.read_bytes() == b"new" and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_csv_keeps_markers_and_names_onsets_by_the_stored_names(store, session, tmp_path):
    with store.open_writer(session.sid) as w:
        w.add_marker(2300, "on", "src1", {"channel": 1})  # written with the source's name
    out = tmp_path / "m.csv"
    export_csv(store, session.sid, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    marks = [ln for ln in lines if ln.startswith("# marker:")]
    assert "# marker: index=2000 kind=user text=user: lifted arm" in marks
    assert "# marker: index=2300 kind=on text=onset on: R trap" in marks
    assert len(marks) == 5
    assert any(ln.startswith("# channel 1: R trap;") and "units: uV" in ln for ln in lines)
    _, _, annotations, _ = read_edf_minimal(_edf(store, session.sid, tmp_path))
    texts = [t for _, _, t in annotations]
    assert "onset on: R trap" in texts and "onset on: src1" not in texts


def _edf(store, sid, tmp_path):
    out = tmp_path / "m.edf"
    export_edf(store, sid, out)
    return out
