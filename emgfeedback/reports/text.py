"""The plain-text report ``emgfeedback analyze`` prints for one recording."""

from __future__ import annotations

import math
import sys


def text_report(result: dict, recording_notes=(), file=None) -> None:
    """Print a readable report of :func:`emgfeedback.analysis.summary.analyse`'s result.

    Parameters
    ----------
    result : dict
        What :func:`~emgfeedback.analysis.summary.analyse` (or the block-wise
        :func:`~emgfeedback.analysis.streaming.analyse_source`) returned.
    recording_notes : sequence of str
        What the reader detected in the file (printed as ``file:`` lines).
    file : file-like
        Where to print (standard output when None).
    """
    file = sys.stdout if file is None else file

    def f(v, fmt="{:.1f}"):
        return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) \
            else fmt.format(v)

    p = result["pipeline"]
    kinds = {ch.get("output", "raw") for ch in result["channels"]}
    band = (f"band {p['band_hz'][0]:g}-{p['band_hz'][1]:g} Hz, notch {p['notch_hz']:g} Hz"
            + ("" if kinds <= {"raw", "uv"} else " (RAW channels only)"))
    if kinds and kinds <= {"rect", "env"}:
        band = "no band-pass or notch (" + "/".join(sorted(k.upper() for k in kinds)) + \
            " outputs)"
    print(f"sample rate {result['fs_hz']:g} Hz, {result['duration_s']:.1f} s; {band}; "
          f"detector {result['detector']}", file=file)
    for note in recording_notes:
        print(f"  file: {note}", file=file)
    if result.get("skipped_channels"):
        print(f"  not EMG, skipped: {', '.join(result['skipped_channels'])}", file=file)
    for ch in result["channels"]:
        q = ch["quality"]
        print(f"\n{ch['name']}", file=file)
        tone = f(ch["resting_tone_uv"], "{:.2f}")
        valid = "" if ch["tone_valid"] else "  (INVALID: " + (ch["tone_note"] or "") + ")"
        print(f"  resting tone {tone} µV RMS, floor {f(ch['noise_floor_uv'], '{:.2f}')} µV, "
              f"static level p10 {f(ch['static_level_p10_uv'], '{:.2f}')} µV{valid}",
              file=file)
        unknown = ch.get("onset_unknown") or [False] * len(ch["onsets_s"])
        spans = list(zip(ch["onsets_s"], ch["offsets_s"], unknown, strict=True))
        # A recording that began mid-contraction has no onset time for its first burst.
        print(f"  {len(spans)} bursts" + (": " if spans else ""),
              ", ".join((f"active from the start (onset unknown) to {b:.3f} s" if u
                         else f"{a:.3f}-{b:.3f} s") for a, b, u in spans[:12])
              + (" ..." if len(spans) > 12 else ""), sep="", file=file)
        mains = ("n/a on " + ch.get("output", "raw").upper()
                 if q["mains_ratio"] is None or not math.isfinite(q["mains_ratio"])
                 else f"{100 * q['mains_ratio']:.1f}% ({q['mains_hz']:g} Hz)")
        print(f"  output {ch.get('output', 'raw').upper()}; quality: mains {mains}, "
              f"clipped {q['clipped_pct']:.2f}%, SNR {f(q['snr_db'], '{:.1f} dB')}, lost "
              f"{q['lost_pct']:.2f}%, flags: {', '.join(q['flags']) or 'none'}", file=file)
        for advice in q["advice"]:
            print(f"  ! {advice}", file=file)
    if "timing" in result:
        t = result["timing"]
        s = t["summary"]
        matched = f(s["order_matched_pct"], "{:.0f}%")
        print(f"\ntiming vs {t['reference']}: {s['n_repetitions']} repetitions, order "
              f"matched {matched}", file=file)
        for name, st in s["lag_ms"].items():
            print(f"  {name}: lag {st['mean']:+.0f} ± {st['sd']:.0f} ms (median "
                  f"{st['median']:+.0f}, n={st['n']})", file=file)
    for sym in result.get("symmetry", []):
        print(f"symmetry {sym['left']} / {sym['right']}: amplitude index "
              f"{f(sym['amplitude_index_pct'], '{:+.1f}%')}, right-left lag "
              f"{f(sym['lag_ms_mean'], '{:+.0f}')} ms over {sym['n_repetitions']} reps",
              file=file)


def print_file_facts(result: dict, file=None) -> None:
    """Print the markers and gaps of the file, one line each (the first 20).

    Parameters
    ----------
    result : dict
        :func:`~emgfeedback.analysis.summary.analyse_recording`'s result (its ``gaps`` and
        ``markers``).
    file : file-like, optional
        Where to print (standard output when None).
    """
    file = sys.stdout if file is None else file
    gaps, markers = result.get("gaps", []), result.get("markers", [])
    if gaps:
        lost = sum(g["n_samples"] for g in gaps)
        print(f"\n{len(gaps)} gap(s), {lost} samples missing (not analysed as rest):",
              file=file)
        for g in gaps[:20]:
            print(f"  {g['start_s']:.3f} s: {g['n_samples']} samples ({g['cause']})", file=file)
    if markers:
        print(f"\n{len(markers)} marker(s):", file=file)
        for m in markers[:20]:
            print(f"  {m['time_s']:.3f} s  {m['label']}", file=file)
        if len(markers) > 20:
            print(f"  ... {len(markers) - 20} more (--json lists all)", file=file)
