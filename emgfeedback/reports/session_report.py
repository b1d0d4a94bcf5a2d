"""A self-contained HTML report of one session, for the user and their clinician.

Everything is in one file (inline CSS and SVG charts, no scripts, no network): session
facts and data loss; per-channel envelopes with onsets, protocol phases and gaps; resting
tone against the measurement floor; onset timing per repetition; left/right symmetry;
signal quality; stored results (baselines, MVCs, phase metrics); and, when the subject has
earlier sessions, the resting-baseline trend.

The envelopes drawn here are a display envelope computed offline from the raw counts
(zero-phase 20-450 Hz band-pass, 100 ms moving RMS). Tone, timing, symmetry and quality are
those of ``analyze --session`` (one analysis, :func:`session_quantities`); numbers measured
live (baselines, live onsets, phase metrics) come from what the session stored.
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path

import numpy as np

from emgfeedback.acquisition.boards import counts_to_uv
from emgfeedback.io.export import atomic_output, marker_label
from emgfeedback.reports.signal_checks import signal_check_html
from emgfeedback.reports.svg import PALETTE, Frame, minmax_decimate
from emgfeedback.types import RMS_PER_ARV, ChannelCalibration

#: Onsets of different channels closer than this belong to one repetition.
REPETITION_SPREAD_S = 1.0

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:960px;color:#222;line-height:1.4;padding:0 1em}
pre{white-space:pre-wrap;font-size:.8em;max-height:30em;overflow:auto}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ccc;
margin-top:1.8em}h3{font-size:1.05em;margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;font-size:.92em;vertical-align:top}th{background:#f4f4f4}
.num{text-align:right;font-variant-numeric:tabular-nums}.warn{color:#b45309;font-weight:600}
.bad{color:#b91c1c;font-weight:600}.ok{color:#15803d}.note{color:#555;font-size:.9em}
.box{background:#fff7ed;border:1px solid #fdba74;padding:.5em 1em;margin:1em 0}
svg{display:block;margin:.3em 0}
"""


def write_report(store, session_id: int, out: str | os.PathLike) -> Path:
    """Write the report for a session (atomically, mode 0600).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    html = build_report(store, session_id)
    with atomic_output(out) as fh:
        fh.write(html.encode("utf-8"))
    return Path(out)


def build_report(store, session_id: int) -> str:
    """The report of a session as one HTML document (see the module docstring)."""
    meta = store.session(session_id)
    cals = meta.calibration or tuple(ChannelCalibration(1.0) for _ in meta.channel_names)
    indices, counts = store.read_samples(session_id)
    gaps = store.gaps(session_id)
    markers = store.markers(session_id)
    results = store.results(session_id)
    fs = float(meta.fs_hz)
    origin = int(min([*indices[:1].tolist(), *(g.start_index for g in gaps)] or [0]))
    t = (indices - origin) / fs
    uv = counts_to_uv(counts, cals) if counts.size else np.zeros((0, meta.n_channels))
    env = display_envelope(uv, indices, fs, cals)
    phases = _phases(markers, origin, fs, indices)
    onsets = _onsets(markers, meta.channel_names)

    body = [f"<h1>EMG session {meta.id}</h1>", _facts(meta, indices, gaps, fs)]
    body.append("<h2>Envelopes</h2>")
    body.append(_envelope_section(meta, t, env, gaps, phases, onsets, origin, fs))
    numbers = session_quantities(store, session_id, meta, indices, counts)
    body.append("<h2>Resting tone and measurement floor</h2>")
    body.append(_tone_section(numbers, results))
    body.append("<h2>Onset timing per repetition</h2>")
    body.append(_timing_section(meta, numbers.get("_analysis"), onsets, fs, origin, results))
    body.append("<h2>Left/right symmetry</h2>")
    body.append(_symmetry_section(meta, numbers, results))
    body.append("<h2>Signal quality</h2>")
    body.append(_quality_section(meta, cals, uv, indices, gaps, fs, results,
                                 numbers.get("_analysis")))
    body.append(signal_check_html(store, session_id))  # "" when no check was stored
    other = [r for r in results if r.kind not in ("baseline", "quality", "repetition",
                                                  "symmetry", "signal_check")]
    if other:
        body.append("<h2>Stored results</h2>")
        body.append(_results_tables(other))
    if meta.subject:
        body.append("<h2>Resting baseline across sessions</h2>")
        body.append(_trend_section(store, meta))
    user_marks = [m for m in markers if m.kind not in ("onset", "phase", "on", "off")
                  and not m.kind.startswith("cue:")]
    if user_marks:
        body.append("<h2>Markers and events</h2>")
        body.append(_table(["time (s)", "kind", "text"],
                           [[f"{(m.index - origin) / fs:.2f}", m.kind, marker_label(m)]
                            for m in user_marks]))
    body.append('<p class="note">Made by emgfeedback ' + escape(meta.app_version) +
                ". Not a medical device: these figures support, and do not replace, a "
                "clinician's judgement.</p>")
    title = f"EMG session {meta.id}" + (f" – {meta.subject}" if meta.subject else "")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


# ---------------------------------------------------------------------- computations


def display_envelope(uv: np.ndarray, indices: np.ndarray, fs_hz: float, cals) -> np.ndarray:
    """Zero-phase band-pass (20-450 Hz) and 100 ms moving RMS, per contiguous segment.

    Channels whose output is already an envelope (``env``, shown in RMS-equivalent µV) or
    rectified (``rect``) are not band-passed, only smoothed. Segments are cut at gaps so no
    filter runs across missing samples.
    """
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import butter, sosfiltfilt

    out = np.zeros_like(uv, dtype=np.float64)
    if uv.size == 0:
        return out
    from emgfeedback.analysis.summary import analysis_band_hz

    hi = analysis_band_hz(fs_hz)[1]
    sos = butter(4, [20.0, hi], btype="bandpass", fs=fs_hz, output="sos") if hi > 25 else None
    width = max(1, int(round(0.1 * fs_hz)))
    cuts = np.flatnonzero(np.diff(indices) != 1) + 1
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, indices.size], strict=True):
        seg = uv[a:b]
        for ch, cal in enumerate(cals):
            x = seg[:, ch]
            if cal.output == "env":
                # ARV envelope -> RMS-equivalent µV, as the live processing (docs/dsp.md).
                out[a:b, ch] = uniform_filter1d(x, width, mode="nearest") * RMS_PER_ARV
                continue
            if cal.output == "rect":  # rectified: its moving RMS is the bipolar RMS
                out[a:b, ch] = np.sqrt(uniform_filter1d(x * x, width, mode="nearest"))
                continue
            if sos is not None and x.size > 3 * 27:
                x = sosfiltfilt(sos, x)
            else:
                x = x - x.mean()
            out[a:b, ch] = np.sqrt(uniform_filter1d(x * x, width, mode="nearest"))
    return out


def _phases(markers, origin, fs, indices):
    """Protocol phases as ``(start_s, end_s, name)``.

    From ``cue:phase_start`` / ``cue:phase_end`` markers (as the engine stores protocol
    cues) or ``phase`` markers (a phase lasts until the next one).
    """
    end_index = int(indices[-1]) + 1 if indices.size else origin
    marks = [m for m in markers if m.kind in ("phase", "cue:phase_start", "cue:phase_end")]
    out = []
    for i, m in enumerate(marks):
        data = m.data or {}
        if m.kind == "cue:phase_end" or (m.kind == "phase" and data.get("event") == "end"):
            continue
        name = data.get("phase_name") or m.text or data.get("name", "phase")
        stop = marks[i + 1].index if i + 1 < len(marks) else end_index
        out.append(((m.index - origin) / fs, (stop - origin) / fs, name))
    return out


def _onsets(markers, names):
    """``(channel, kind, index)`` of onset markers.

    Accepts ``on``/``off`` markers (as the engine stores them, channel number in
    ``data["channel"]``) and ``onset`` markers with ``data = {"channel", "kind"}``; the
    channel may be given by number or by name.
    """
    out = []
    for m in markers:
        data = m.data or {}
        if m.kind in ("on", "off"):
            edge = m.kind
        elif m.kind == "onset":
            edge = "off" if data.get("kind", data.get("edge", "on")) == "off" else "on"
        else:
            continue
        ch = data.get("channel", m.text)
        if isinstance(ch, str):
            if ch not in names:
                continue
            ch = names.index(ch)
        if not isinstance(ch, int) or not 0 <= ch < len(names):
            continue
        out.append((ch, edge, m.index))
    return out


def symmetry_pairs(meta) -> list[tuple[int, int, str]]:
    """``(left, right, site)`` pairs of the same placement on both sides
    (:func:`emgfeedback.analysis.symmetry.symmetry_pairs` on the stored set-up)."""
    from emgfeedback.analysis.symmetry import symmetry_pairs as pairs

    return pairs(meta.channel_names, meta.placements, meta.sides)


# ---------------------------------------------------------------------- sections


def _facts(meta, indices, gaps, fs):
    n = int(indices.size)
    lost = sum(g.n_samples for g in gaps)
    rows = [
        ("Subject", meta.subject or "–"), ("Started (UTC)", _when(meta.started_utc)),
        ("Status", meta.status), ("Recorded", f"{n / fs:.1f} s ({n} samples at {fs:g} Hz)"),
        ("Lost", f"{lost} samples ({100.0 * lost / max(1, n + lost):.2f} %) in {len(gaps)} "
                 "gap(s)" if gaps else "none"),
        ("Board / sensor", f"{meta.board or '–'} / {meta.sensor or '–'}"),
        ("Source", meta.source_url or "–"), ("Protocol", meta.protocol or "–"),
        ("Note", meta.note or "–"),
    ]
    html = _table(["", ""], [[escape(a), escape(str(b))] for a, b in rows], raw=True,
                  header=False)
    if meta.status == "interrupted":
        html = ('<div class="box"><span class="warn">This session was interrupted</span> '
                "(the recording process stopped unexpectedly); everything up to its last "
                "commit is shown.</div>") + html
    from emgfeedback.analysis.quantities import channel_floors_uv
    from emgfeedback.analysis.summary import analysis_band_hz

    ch_rows = []
    band = analysis_band_hz(fs)
    floors = channel_floors_uv(fs, band, [c.output for c in meta.calibration],
                               calibration=meta.calibration) if meta.calibration else None
    for i, name in enumerate(meta.channel_names):
        cal = meta.calibration[i] if meta.calibration else None
        ch_rows.append([name, meta.placements[i] if meta.placements else "",
                        meta.sides[i] if meta.sides else "",
                        cal.output if cal else "?",
                        f"{cal.quantisation_uv:.3g}" if cal else "?",
                        f"{floors[i]:.3g}" if floors else "?"])
    return html + "<h3>Channels</h3>" + _table(
        ["channel", "placement", "side", "output", "step (µV)",
         f"floor in {band[0]:g}-{band[1]:g} Hz (µV RMS)"], ch_rows)


def _envelope_section(meta, t, env, gaps, phases, onsets, origin, fs):
    if t.size == 0:
        return "<p>No samples were stored in this session.</p>"
    parts = ['<p class="note">Display envelope (20-450 Hz band-pass, 100 ms moving RMS; '
             "ENV and RECT outputs are only smoothed, never band-passed) in µV. Shaded: "
             "protocol phases (coloured) and missing data (grey). Lines: onsets (solid) and "
             "offsets (dashed) detected live.</p>"]
    t_end = float(max(t[-1], *((g.end_index - origin) / fs for g in gaps))) if gaps else float(
        t[-1])
    for ch, name in enumerate(meta.channel_names):
        y = env[:, ch]
        top = float(np.percentile(y, 99.9)) * 1.1 if y.size else 1.0
        frame = Frame(900, 150, (0.0, max(t_end, 1e-3)), (0.0, max(top, 1e-6)))
        for k, (a, b, label) in enumerate(phases):
            frame.band(a, b, PALETTE[(k + 3) % len(PALETTE)], 0.10, label)
            if ch == 0:
                frame.text((a + b) / 2, frame.y1 * 0.93, label, "#555")
        for g in gaps:
            frame.band((g.start_index - origin) / fs, (g.end_index - origin) / fs, "#777", 0.35,
                       f"gap ({g.cause}): {g.n_samples} samples")
        frame.axes("time (s)" if ch == meta.n_channels - 1 else "", "µV")
        xs, ys = minmax_decimate(t, y, 800)
        # Break the line at gaps so missing data is not drawn as a ramp.
        cut = np.flatnonzero(np.diff(xs) > 2.0 / fs * max(1, t.size / 1600)) + 1
        for a, b in zip(np.r_[0, cut], np.r_[cut, xs.size], strict=True):
            frame.line(xs[a:b], ys[a:b], PALETTE[ch % len(PALETTE)], 1.0)
        for c, kind, idx in onsets:
            if c == ch:
                frame.vline((idx - origin) / fs, "#15803d" if kind == "on" else "#6b7280",
                            "" if kind == "on" else "4 3", f"{kind} at {(idx - origin) / fs:.3f} s")
        parts.append(f"<h3>{escape(name)}</h3>" + frame.svg(f"envelope of {name}"))
    return "".join(parts)


#: The per-channel numbers of :func:`session_quantities` (as ``analyze`` names them).
REST_KEYS = ("output", "resting_tone_uv", "noise_floor_uv", "tone_valid", "tone_note",
             "raw_rest_rms_uv", "rest_s", "static_level_p10_uv", "apdf_p50_uv", "apdf_p90_uv")


def session_quantities(store, session_id: int, meta=None, indices=None, counts=None) -> dict:
    """Resting tone, floor and static level of a stored session, as ``analyze --session``.

    The session is analysed exactly as ``emgfeedback analyze --session`` does
    (:func:`emgfeedback.analysis.summary.analyse` over the stored µV with lost samples as
    NaN, from the first stored sample), so the report, ``report --json`` and ``analyze``
    give one number per quantity. Baselines the session stored (``emgfeedback baseline``)
    are added per channel under ``stored_baseline``.

    Returns
    -------
    dict
        ``session``, ``fs_hz``, ``duration_s``, ``channels``: one dict per channel with
        ``name`` and :data:`REST_KEYS` (see ``docs/analysis.md``, "What each number means"),
        and ``symmetry``: one entry per left/right pair of the session's set-up
        (:func:`session_symmetry`).
    """
    from emgfeedback.analysis.summary import analyse

    meta = meta or store.session(session_id)
    if indices is None or counts is None:
        indices, counts = store.read_samples(session_id)
    fs = float(meta.fs_hz)
    cals = meta.calibration or tuple(ChannelCalibration(1.0) for _ in meta.channel_names)
    stored = {}
    for r in store.results(session_id, kind="baseline"):
        if r.channel in meta.channel_names:
            stored[r.channel] = {k: r.data.get(k) for k in (
                "resting_tone_uv", "noise_floor_uv", "baseline_mean_uv", "static_level_p10_uv")
                if k in r.data}
    out = {"session": int(meta.id), "fs_hz": fs, "duration_s": 0.0, "channels": [],
           "symmetry": []}
    if indices.size < fs:  # analyze needs 1 s
        out["channels"] = [{"name": n, "output": c.output,
                            **({"stored_baseline": stored[n]} if n in stored else {})}
                           for n, c in zip(meta.channel_names, cals, strict=True)]
        return out
    first = int(indices[0])
    x = np.full((int(indices[-1]) - first + 1, meta.n_channels), np.nan)
    x[indices - first] = counts_to_uv(counts, cals)
    result = analyse(x, fs, list(meta.channel_names), output_kinds=[c.output for c in cals],
                     calibration=meta.calibration or None)  # as analyze --session
    out["duration_s"] = result["duration_s"]
    for ch in result["channels"]:
        d = {"name": ch["name"], **{k: ch.get(k) for k in REST_KEYS}}
        if ch["name"] in stored:
            d["stored_baseline"] = stored[ch["name"]]
        out["channels"].append(d)
    out["symmetry"] = session_symmetry(meta, result)
    out["_analysis"] = result  # for the report's other sections; not in report --json
    return out


def session_symmetry(meta, result: dict) -> list[dict]:
    """Left/right symmetry of each pair of the session's set-up, as ``analyze`` defines it.

    One definition (``docs/analysis.md``, "What each number means"):
    :func:`emgfeedback.analysis.symmetry.pair_symmetry` over the bursts and filtered signal
    of :func:`~emgfeedback.analysis.summary.analyse` (the RMS of each side's burst, per
    repetition and over the repetitions), so the report and ``analyze --session`` give the
    same figure. Pairs come from the stored channel names, placements and sides
    (:func:`symmetry_pairs`).

    Returns
    -------
    list of dict
        :func:`~emgfeedback.analysis.summary.symmetry_entry` per pair, with ``site`` and the
        mean burst RMS of each side (``left_uv``, ``right_uv``; None without repetitions).
    """
    from emgfeedback.analysis.summary import symmetry_entry
    from emgfeedback.analysis.symmetry import pair_symmetry

    arrays = result["_arrays"]
    out = []
    for left, right, site in symmetry_pairs(meta):
        pair = pair_symmetry(arrays["filtered"], float(meta.fs_hz), arrays["bursts"], left,
                             right)
        reps = pair["repetitions"]
        entry = symmetry_entry(meta.channel_names[left], meta.channel_names[right], pair)
        entry["site"] = site
        entry["left_uv"] = float(np.mean([r["left_uv"] for r in reps])) if reps else None
        entry["right_uv"] = float(np.mean([r["right_uv"] for r in reps])) if reps else None
        out.append(entry)
    return out


def _tone_section(numbers, results):
    rows, bars = [], []
    for ch in numbers["channels"]:
        name = ch["name"]
        tone, floor = _flt(ch.get("resting_tone_uv")), _flt(ch.get("noise_floor_uv"))
        valid = bool(ch.get("tone_valid"))
        bars.append((name, tone, floor, valid))
        verdict = ('<span class="ok">measurable</span>' if valid else
                   '<span class="bad">below 2× floor: not a measurement</span>')
        base = (ch.get("stored_baseline") or {}).get("baseline_mean_uv")
        rows.append([escape(name), _num_cell(tone), _num_cell(floor),
                     _num_cell(_flt(ch.get("static_level_p10_uv"))),
                     _num_cell(_flt(ch.get("rest_s")), ".0f"), verdict,
                     _num_cell(_flt(base))])
    html = ('<p class="note">Measured over this session\'s rest (padding, gaps and filter '
            "settling excluded), exactly as <code>emgfeedback analyze --session</code> does; "
            "see “What each number means” in docs/analysis.md. A resting tone below twice "
            "the measurement floor (quantisation and sensor noise) cannot be told apart "
            "from noise; it is shown but flagged. The baseline is the mean feedback envelope "
            "a <code>baseline</code> measurement stored (what goals in baseline units are "
            "scaled on).</p>")
    html += _table(["channel", "resting tone (µV RMS)", "floor (µV RMS)",
                    "static level p10 (µV)", "rest (s)", "verdict", "baseline (µV)"],
                   rows, raw=True)
    finite = [v for _, a, b, _ in bars for v in (a, b) if np.isfinite(v)]
    if finite:
        top = max(finite) * 1.15 or 1.0
        frame = Frame(900, 40 + 30 * len(bars), (0.0, top), (0.0, float(len(bars))),
                      margin=(140, 15, 8, 28))
        frame.axes("µV RMS", "", yticks=[])
        for k, (name, tone, floor, valid) in enumerate(bars):
            y = len(bars) - k - 0.5
            if np.isfinite(tone):
                frame.rect(0, tone, y - 0.3, y + 0.3, "#16a34a" if valid else "#f59e0b",
                           f"{name}: {tone:.2f} µV")
            if np.isfinite(floor):
                fx = float(frame.px(min(floor, top)))
                frame.parts.append(
                    f'<line x1="{fx:.1f}" x2="{fx:.1f}" y1="{float(frame.py(y + 0.4)):.1f}" '
                    f'y2="{float(frame.py(y - 0.4)):.1f}" stroke="#111" stroke-width="2" '
                    'stroke-dasharray="3 2"><title>floor</title></line>')
            frame.parts.append(f'<text x="{frame.left - 6}" y="{float(frame.py(y)) + 3:.1f}" '
                               f'text-anchor="end">{escape(name)}</text>')
        html += frame.svg("resting tone against floor") + (
            '<p class="note">Bars: resting tone (green: measurable, amber: below 2× floor). '
            "Dashed: floor.</p>")
    return html


def _flt(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else float("nan")


def _num_cell(value: float, fmt: str = ".2f") -> str:
    return f'<span class="num">{format(value, fmt)}</span>' if np.isfinite(value) else "–"


def _timing_section(meta, analysis, onsets, fs, origin, results):
    """Onset timing per repetition: ``analyze --session``'s ``timing`` (the same numbers),
    then the onsets the live detector stored, when there are any."""
    stored = [r for r in results if r.kind == "repetition"]
    html = ""
    if stored:
        html += "<h3>Stored by the protocol</h3>" + _results_tables(stored)
    timing = (analysis or {}).get("timing")
    if timing and timing["repetitions"]:
        names = list(timing["expected_order"])
        reps = [({names.index(n): t for n, t in rep["onsets_s"].items()},
                 {names.index(n): v for n, v in rep["lags_ms"].items()})
                for rep in timing["repetitions"]]
        html += (f'<p class="note">Onset lag of each channel relative to '
                 f'{escape(timing["reference"])} in ms (negative: earlier), from the onsets '
                 "<code>emgfeedback analyze --session</code> detects (the same table as its "
                 "<code>timing</code>). Onsets within "
                 f"{REPETITION_SPREAD_S:g} s of each other form one repetition.</p>")
        html += _lag_table(names, reps, chart=True)
    elif analysis is None:
        html += "<p>Less than a second of signal: onsets not detected.</p>"
    elif timing is None:
        html += "<p>One channel: no timing between channels.</p>"
    else:
        html += "<p>No onsets were detected in this session.</p>"
    from emgfeedback.analysis.timing import group_repetitions

    live = group_repetitions([[idx for c, kind, idx in onsets if c == ch and kind == "on"]
                              for ch in range(meta.n_channels)], fs, REPETITION_SPREAD_S)
    if live:
        names = list(meta.channel_names)
        ref = min(live[0])
        reps = [({ch: (idx - origin) / fs for ch, idx in rep.items()},
                 {ch: (idx - rep[ref]) / fs * 1e3 for ch, idx in rep.items()} if ref in rep
                 else {}) for rep in live]
        html += ("<h3>Onsets detected live</h3><p class=\"note\">The onsets the live detector "
                 "stored with the session (the lines on the envelopes above), relative to "
                 f"{escape(names[ref])}; the live detector learns its rest from the first "
                 "seconds, so its onsets can differ from those above.</p>")
        html += _lag_table(names, reps, chart=not (timing and timing["repetitions"]))
    return html


def _lag_table(names, reps, chart: bool) -> str:
    """Rows ``rep, time, first on, lag per channel`` and, with ``chart``, the lag chart.

    ``reps`` holds ``(onset_s, lag_ms)`` per repetition, both ``{channel: value}``."""
    rows, lags = [], {ch: [] for ch in range(len(names))}
    for k, (times, rep_lags) in enumerate(reps, start=1):
        first = min(times, key=times.get)
        row = [str(k), f"{times[first]:.2f}", escape(names[first])]
        for ch in range(len(names)):
            if ch in rep_lags:
                lags[ch].append((k, rep_lags[ch]))
                row.append(f'<span class="num">{rep_lags[ch]:+.0f}</span>')
            else:
                row.append("–")
        rows.append(row)
    html = _table(["rep", "time (s)", "first on", *[f"{escape(n)} (ms)" for n in names]],
                  rows, raw=True)
    all_lags = [v for series in lags.values() for _, v in series]
    if chart and len(reps) >= 2 and all_lags:
        span = max(10.0, max(abs(v) for v in all_lags) * 1.2)
        frame = Frame(900, 220, (0.5, len(reps) + 0.5), (-span, span))
        frame.axes("repetition", "lag (ms)",
                   xticks=[(k, str(k)) for k in range(1, len(reps) + 1)])
        frame.hline(0.0, "#888", "2 2")
        for ch, series in lags.items():
            if series and any(v != 0.0 for _, v in series):
                frame.line([k for k, _ in series], [v for _, v in series],
                           PALETTE[ch % len(PALETTE)], 1.0, points=True)
                frame.text(series[-1][0] + 0.1, series[-1][1], names[ch],
                           PALETTE[ch % len(PALETTE)], "start")
        html += frame.svg("onset lag per repetition")
    return html


def _symmetry_section(meta, numbers, results):
    stored = [r for r in results if r.kind == "symmetry"]
    html = _results_tables(stored) if stored else ""
    if not symmetry_pairs(meta):
        return html or ("<p>No left/right channel pairs (set the channel sides, or name "
                        "channels “L …”/“R …”).</p>")
    rows = []
    for entry in numbers["symmetry"]:
        si = _flt(entry["amplitude_index_pct"])
        cls = "ok" if abs(si) < 15 else "warn"
        per_rep = [_flt(r["amplitude_index_pct"]) for r in entry["repetitions"]]
        rep_text = ", ".join(f"{v:+.0f}" for v in per_rep) if per_rep else "–"
        rows.append([escape(entry["site"]), _num_cell(_flt(entry["left_uv"]), ".1f"),
                     _num_cell(_flt(entry["right_uv"]), ".1f"),
                     f'<span class="{cls}">{si:+.0f} %</span>' if np.isfinite(si) else "–",
                     rep_text, _num_cell(_flt(entry["lag_ms_mean"]), "+.0f")])
    if not rows:  # shorter than the 1 s analyze needs
        return html + "<p>Less than a second of signal: symmetry not measured.</p>"
    html += ('<p class="note">Symmetry index 100·(R−L)/mean(R,L) of the RMS of each '
             "side's bursts (the bursts <code>emgfeedback analyze --session</code> detects, "
             "paired into repetitions when both sides fire within 1 s), exactly as "
             "<code>analyze</code> reports it; 0 % is symmetric, positive means the right "
             "side is larger. Lag: right onset minus left onset.</p>")
    return html + _table(["site", "left (µV RMS)", "right (µV RMS)", "index",
                          "per repetition (%)", "lag R−L (ms)"], rows, raw=True)


def _quality_section(meta, cals, uv, indices, gaps, fs, results, analysis):
    from emgfeedback.analysis.quality import assess_quality

    lost = sum(g.n_samples for g in gaps)
    html = (f"<p>Samples lost in transfer: {lost} "
            f"({100.0 * lost / max(1, indices.size + lost):.2f} %).</p>")
    if indices.size < fs or analysis is None:
        return html + "<p>Less than a second of signal: quality not assessed.</p>"
    # Missing samples are NaN, so windows do not run across gaps.
    first = int(indices[0])
    x = np.full((int(indices[-1]) - first + 1, meta.n_channels), np.nan)
    x[indices - first] = uv
    # The filtered signal and mains frequency analyze --session uses (one SNR and one mains
    # ratio per session), with the ADC rails of the calibration for clipping and rails.
    quality = assess_quality(x, fs, filtered_uv=analysis["_arrays"]["filtered"],
                             mains_hz=analysis["pipeline"]["notch_hz"], calibration=cals,
                             output_kinds=[c.output for c in cals])
    rows = []
    for name, q in zip(meta.channel_names, quality, strict=True):
        flags = ", ".join(q["flags"])
        rows.append([escape(name), f"{q['clipped_pct']:.2f}", _num(q["mains_ratio"], ".2f"),
                     "yes" if q["electrode_off"] else "no", "yes" if q["ecg"] else "no",
                     _num(q["snr_db"], ".1f"),
                     f'<span class="warn">{escape(flags)}</span>' if flags else
                     '<span class="ok">ok</span>'])
    html += _table(["channel", "clipped (%)", "mains power ratio", "electrode off", "ECG",
                    "SNR activity/rest (dB)", "flags"], rows, raw=True)
    advice = sorted({a for q in quality for a in q["advice"]})
    if advice:
        html += "<ul>" + "".join(f"<li>{escape(a)}</li>" for a in advice) + "</ul>"
    html += ('<p class="note">Over the whole session (emgfeedback.analysis.quality on the '
             "signal <code>analyze --session</code> filters, clipping and rails from the ADC "
             "counts): mains power ratio is hum at 50/60 Hz and harmonics over the EMG band "
             "power; SNR is the activity over the rest of that filtered signal.</p>")
    stored = [r for r in results if r.kind == "quality"]
    if stored:
        html += "<h3>Quality measured live</h3>" + _results_tables(stored)
    return html


def _num(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) and np.isfinite(value) else "–"


def _trend_section(store, meta):
    html, any_points = "", False
    for ch, name in enumerate(meta.channel_names):
        points = store.history(meta.subject, name)
        if not points:
            continue
        any_points = True
        rows = [[str(p.session_id) + (" (this)" if p.session_id == meta.id else ""),
                 _when(p.started_utc), _history_value(p),
                 "–" if p.floor_uv is None else f"{p.floor_uv:.2f}",
                 {True: "yes", False: "no", None: "?"}[p.valid]] for p in points]
        html += f"<h3>{escape(name)}</h3>" + _table(
            ["session", "date", "resting tone (µV)", "floor (µV)", "valid"], rows)
        if len(points) >= 2:
            xs = np.arange(len(points), dtype=float)
            vals = np.array([p.value for p in points])
            floors = [p.floor_uv for p in points if p.floor_uv is not None]
            top = max([*vals.tolist(), *(2.0 * f for f in floors)]) * 1.15 or 1.0
            frame = Frame(900, 200, (-0.5, len(points) - 0.5), (0.0, top))
            frame.axes("session", "µV", xticks=[(k, f"{p.session_id}\u00a0"
                                                     f"{p.started_utc[5:10]}")
                                               for k, p in enumerate(points)])
            if floors:
                frame.hline(max(floors) * 2.0, "#b45309", "4 3", "2× floor")
            frame.line(xs, vals, PALETTE[ch % len(PALETTE)], 1.5, points=True)
            html += frame.svg(f"resting tone trend of {name}")
    if not any_points:
        return "<p>No baseline measurements stored for this subject yet.</p>"
    return html


def _history_value(point) -> str:
    """A history point's tone, or "below the floor (< X µV)" when it is not a measurement."""
    from emgfeedback.reports.history import below_floor_uv

    limit = below_floor_uv(point)
    return f"below the floor (< {limit:.2f})" if limit is not None else f"{point.value:.2f}"


def _results_tables(results) -> str:
    by_kind: dict[str, list] = {}
    html = ""
    for r in results:
        if r.kind == "protocol" and isinstance(r.data.get("phases"), list):
            html += _protocol_table(r.data)
            continue
        by_kind.setdefault(r.kind, []).append(r)
    for kind, items in by_kind.items():
        keys: list[str] = []
        for r in items:
            keys += [k for k in r.data if k not in keys]
        rows = [[r.channel or "–", *[_cell(r.data.get(k)) for k in keys]] for r in items]
        html += f"<h3>{escape(kind)}</h3>" + _table(["channel", *keys], rows)
    return html


def _protocol_table(data: dict) -> str:
    """A protocol run, readable: one row per phase with its verdict, goals and measures.

    The full result (every repetition and measure) follows as JSON in a closed
    ``<details>`` block for those who need it.
    """
    phases = [p for p in data["phases"] if isinstance(p, dict)]
    title = data.get("title") or data.get("protocol") or "protocol"
    passed = data.get("passed")
    verdict = "" if passed is None else (" – passed" if passed else " – not passed")
    rows = []
    for p in phases:
        result = {True: '<span class="ok">passed</span>',
                  False: '<span class="warn">not passed</span>'}.get(p.get("passed"), "–")
        if "reps" in p and isinstance(p.get("reps_passed"), int):
            result += f" ({p['reps_passed']}/{len(p['reps'])} reps)"
        goals = "<br>".join(escape(_goal_text(g)) for g in p.get("goals", [])
                            if isinstance(g, dict))
        measures = "<br>".join(
            f"{escape(str(ch))}: " + ", ".join(f"{escape(k.removesuffix('_uv'))} {_cell(v)}"
                                               + (" µV" if k.endswith("_uv") else "")
                                               for k, v in m.items()
                                               if isinstance(v, (int, float)))
            for ch, m in (p.get("channels") or {}).items() if isinstance(m, dict))
        rows.append([escape(str(p.get("name", ""))), escape(str(p.get("kind", ""))),
                     _cell(p.get("duration_s")), result, goals, measures])
    raw = escape(json.dumps(data, indent=1, default=str))
    return (f"<h3>{escape(str(title))}{verdict}</h3>"
            + _table(["phase", "kind", "s", "result", "goals", "measures per channel"], rows,
                     raw=True)
            + f"<details><summary>all measures (JSON)</summary><pre>{raw}</pre></details>")


def _goal_text(goal: dict) -> str:
    text = str(goal.get("description", goal.get("type", "goal")))
    if isinstance(goal.get("reps"), int):
        text += f": {goal.get('reps_passed', 0)}/{goal['reps']} reps"
    if isinstance(goal.get("in_zone_pct"), (int, float)):
        text += f", {goal['in_zone_pct']:.0f} % of the time in zone"
    return text


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)[:200]
    return str(value)


def _table(headers, rows, raw=False, header=True) -> str:
    def cell(v):
        return str(v) if raw else escape(str(v))

    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _when(text: str | None) -> str:
    return (text or "")[:19].replace("T", " ")
