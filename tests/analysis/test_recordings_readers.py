"""Readers on the real excerpts in tests/data and on small files built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emgfeedback.analysis.units import to_uv
from emgfeedback.errors import DataFileError
from emgfeedback.io.recordings import read_recording

DATA = Path(__file__).resolve().parents[1] / "data"


def test_biosppy_excerpt():
    rec = read_recording(DATA / "biosppy_emg_1_excerpt.txt")
    assert rec.format == "biosppy"
    assert rec.fs_hz == 1000.0
    assert rec.channel_names == ["EMG"]
    assert rec.samples.shape == (4000, 1)
    assert 1500 < np.mean(rec.samples) < 2600  # 12-bit counts around mid-scale
    assert rec.units == ["counts"]


def test_uci_excerpt_marks_the_goniometer_as_not_emg():
    rec = read_recording(DATA / "uci_3Amar_excerpt.txt")
    assert rec.format == "uci"
    assert rec.samples.shape == (4000, 5)
    assert rec.channel_names[0] == "Recto Femoral"
    assert rec.units == ["mV"] * 4 + ["deg"]
    x, emg = to_uv(rec)
    assert emg.tolist() == [True] * 4 + [False]
    assert np.allclose(x[:, 0], rec.samples[:, 0] * 1000.0)
    assert any("43665" in note for note in rec.notes)  # header count vs rows, reported


def test_csv_with_header_and_time_column(tmp_path):
    t = np.arange(500) / 500.0
    rows = "\n".join(f"{a:.4f},{np.sin(a * 50):.3f},{np.cos(a * 50):.3f}" for a in t)
    p = tmp_path / "rec.csv"
    p.write_text("# recorded by hand\ntime_s,biceps_l,biceps_r\n" + rows + "\n")
    rec = read_recording(p)
    assert rec.channel_names == ["biceps_l", "biceps_r"]
    assert rec.fs_hz == pytest.approx(500.0)
    assert any("time" in n for n in rec.notes)
    assert rec.samples.shape == (500, 2)


def test_tsv_with_index_column_and_no_header(tmp_path):
    p = tmp_path / "rec.tsv"
    p.write_text("".join(f"{i}\t{i % 7 - 3}\t{i % 5}\n" for i in range(300)))
    rec = read_recording(p)
    assert rec.fs_hz is None
    assert rec.samples.shape == (300, 2)
    assert any("index" in n for n in rec.notes)


def test_bad_number_names_file_and_line(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("a,b\n1,2\n3,4\n5,x7\n")
    with pytest.raises(DataFileError, match=r"bad\.csv: line 4: expected a number, found 'x7'"):
        read_recording(p)


def test_ragged_row_names_file_and_line(tmp_path):
    p = tmp_path / "ragged.txt"
    p.write_text("# Sampling Rate (Hz):= 1000.00\n1 2\n3 4\n5\n")
    with pytest.raises(DataFileError, match=r"ragged\.txt: line 4: expected 2 values, found 1"):
        read_recording(p)


def test_broken_uci_header_names_line(tmp_path):
    src = (DATA / "uci_3Amar_excerpt.txt").read_text().splitlines()
    src[2] = "Channel five is missing"
    p = tmp_path / "uci.txt"
    p.write_text("\n".join(src[:50]) + "\n")
    with pytest.raises(DataFileError, match=r"uci\.txt: line 3: expected a UCI header"):
        read_recording(p)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_recording(tmp_path / "nope.csv")
    p = tmp_path / "bin.csv"
    p.write_bytes(b"1,2\n3,4\n\xff\xfe\n")
    with pytest.raises(DataFileError, match=r"bin\.csv: line 3: expected UTF-8"):
        read_recording(p)


def test_edf_round_trip(tmp_path):
    import edfio

    fs = 500.0
    x = np.sin(np.arange(2000) / 10.0) * 100.0
    edf = edfio.Edf([edfio.EdfSignal(x, fs, label="trap_l", physical_dimension="uV"),
                     edfio.EdfSignal(-x, fs, label="trap_r", physical_dimension="uV")])
    p = tmp_path / "rec.edf"
    edf.write(p)
    rec = read_recording(p)
    assert rec.format == "edf"
    assert rec.fs_hz == fs
    assert rec.channel_names == ["trap_l", "trap_r"]
    assert np.allclose(rec.samples[:, 0], x, atol=0.01)
    bad = tmp_path / "bad.edf"
    bad.write_bytes(b"0       garbage")
    with pytest.raises(DataFileError, match=r"bad\.edf: line 1"):
        read_recording(bad)


def test_csv_header_lines_give_rate_names_units_gaps_and_markers(tmp_path):
    """The project's '#' lines: rate, the user's names (with spaces), units, output kinds,
    gaps (index jumps, with their causes) and markers; index/time columns are dropped."""
    rows = [f"{i},{(i - 100) / 1000:.6f},{i % 7 - 3}.5,{i % 5}.25"
            for i in list(range(100, 600)) + list(range(650, 1200))]
    p = tmp_path / "export.csv"
    p.write_text("\n".join([
        "# emgfeedback 0.1 export of session 3",
        "# fs_hz: 1000",
        "# channel 0: glute med L; placement: gluteus medius; side: left; units: uV; "
        "uv_per_count: 24.4; offset_counts: 512.0; output: env",
        "# channel 1: glute med R; placement: gluteus medius; side: right; units: uV; "
        "uv_per_count: 24.4; offset_counts: 512.0; output: env",
        "# gap: start_index=600 n_samples=50 cause=crc (missing, no rows)",
        "# marker: index=700 kind=user text=user: lifted arm",
        "sample_index,time_s,glute_med_L_uV,glute_med_R_uV",
        *rows]) + "\n")
    rec = read_recording(p)
    assert rec.fs_hz == 1000.0
    assert rec.channel_names == ["glute med L", "glute med R"]
    assert rec.units == ["uV", "uV"]
    assert rec.meta["output_kinds"] == {"glute med L": "env", "glute med R": "env"}
    assert rec.meta["sides"] == ["left", "right"]
    assert rec.samples.shape == (1100, 2)
    assert np.isnan(rec.samples[500:550]).all() and not np.isnan(rec.samples[:500]).any()
    assert rec.gaps == [{"start": 500, "n_samples": 50, "cause": "crc"}]
    assert rec.markers == [{"index": 600, "label": "user: lifted arm"}]


@pytest.mark.parametrize("name,unit,base", [
    ("glute_R_uV", "uV", "glute_R"), ("glute R (mV)", "mV", "glute R"),
    ("trap [µV]", "µV", "trap"), ("emg counts", "counts", "emg"), ("biceps", "", "biceps")])
def test_units_from_column_names(name, unit, base):
    from emgfeedback.io.csv_reader import unit_from_name

    assert unit_from_name(name) == (base, unit)


def test_rows_out_of_order_and_bad_rate_are_clear_errors(tmp_path):
    p = tmp_path / "order.csv"
    p.write_text("index,a\n" + "".join(f"{i},{i % 3}\n" for i in (0, 1, 2, 2, 3)))
    with pytest.raises(DataFileError, match="does not come after"):
        read_recording(p)
    p = tmp_path / "rate.csv"
    p.write_text("# fs_hz: -5\na,b\n1,2\n")
    with pytest.raises(DataFileError, match="positive"):
        read_recording(p)


def test_edf_gap_and_padding_annotations_are_missing_samples(tmp_path):
    """Padding is cut off, a gap annotation becomes NaN, other annotations markers."""
    import edfio

    fs = 200.0
    x = np.sin(np.arange(2000) / 7.0) * 50.0
    ann = [edfio.EdfAnnotation(0.0, 1.0, "padding: not recorded (before the first sample)"),
           edfio.EdfAnnotation(4.0, 0.5, "gap (unplug): 100 samples missing"),
           edfio.EdfAnnotation(6.0, None, "user: lifted arm"),
           edfio.EdfAnnotation(9.0, 1.0, "padding: not recorded (end of recording)")]
    edf = edfio.Edf([edfio.EdfSignal(x, fs, label="trap_l", physical_dimension="uV",
                                     transducer_type="uno-myoware2 raw")],
                    annotations=ann)
    p = tmp_path / "pad.edf"
    edf.write(p)
    rec = read_recording(p)
    assert rec.samples.shape == (1600, 1)  # 10 s minus 1 s before and 1 s after
    assert np.isnan(rec.samples[600:700, 0]).all()
    assert np.count_nonzero(np.isnan(rec.samples)) == 100
    assert np.allclose(rec.samples[:600, 0], x[200:800], atol=0.01)
    assert rec.gaps == [{"start": 600, "n_samples": 100, "cause": "unplug"}]
    assert rec.markers == [{"index": 1000, "label": "user: lifted arm"}]
    assert rec.meta["output_kinds"] == {"trap_l": "raw"}


def _edf_record_by_record(lay, cols):
    """The EDF reader's rules one record at a time (the oracle for the runs it decodes
    together): jumps between EDF+D records and gaps are NaN, padding is cut off."""
    width, spr = 2, lay.spr[lay.keep[0]]
    starts = np.cumsum([0] + lay.spr[:-1]) * width
    raw = Path(lay.path).read_bytes()[lay.header_bytes:]
    recs = np.frombuffer(raw, np.uint8)[: lay.n_records * lay.record_bytes].reshape(
        lay.n_records, lay.record_bytes)
    parts, pos = [], lay.first
    for r, onset in enumerate(lay.record_onsets):
        a, b = max(onset, lay.first), min(onset + spr, lay.end)
        if b <= a:
            continue
        if a > pos:
            parts.append(np.full((a - pos, len(cols)), np.nan))
        out = np.empty((spr, len(cols)))
        for j, c in enumerate(cols):
            sig = lay.keep[c]
            d = recs[r, starts[sig]: starts[sig] + spr * width].copy().view("<i2")
            out[:, j] = d * lay.gains[sig] + lay.offsets[sig]
        out = out[a - onset: b - onset]
        for ma, mb, _ in lay.missing:
            lo, hi = max(ma, a), min(mb, b)
            if hi > lo:
                out[lo - a: hi - a] = np.nan
        parts.append(out)
        pos = b
    return np.concatenate(parts) if parts else np.empty((0, len(cols)))


def test_edf_records_decoded_together_are_those_decoded_one_by_one(tmp_path):
    """Runs of records are decoded at once; with EDF+D jumps, padding cut inside records
    and gaps the samples are bit for bit those of a record-by-record decoding."""
    import dataclasses

    import edfio

    from emgfeedback.io import edf_reader

    fs = 100.0
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 1200)) * 80.0
    edf = edfio.Edf([edfio.EdfSignal(x[i], fs, label=f"ch{i}", physical_dimension="uV")
                     for i in range(3)])
    p = tmp_path / "runs.edf"
    edf.write(p)
    base = edf_reader.scan_edf(p)
    spr = base.spr[base.keep[0]]
    n = base.n_records
    plain = [r * spr for r in range(n)]
    jumps = [r * spr + (0 if r < 4 else 37) + (0 if r < 9 else 250) for r in range(n)]
    cases = [(plain, 0, n * spr, []), (plain, 31, n * spr - 55, [(240, 410, "gap")]),
             (jumps, 0, jumps[-1] + spr, [(0, 5, "gap"), (500, 530, "gap")]),
             (jumps, spr + 3, jumps[-1] + spr - 1, [])]
    for onsets, first, end, missing in cases:
        lay = dataclasses.replace(base, record_onsets=onsets, first=first, end=end,
                                  missing=missing)
        for cols in ([0, 1, 2], [2, 0]):
            want = _edf_record_by_record(lay, cols)
            for block_records in (1, 4, 32):
                got = np.concatenate(list(edf_reader.iter_edf(lay, cols, block_records)))
                assert got.shape == want.shape
                assert np.array_equal(got, want, equal_nan=True), (first, end, cols)
