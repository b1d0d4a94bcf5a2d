"""``emgfeedback analyze FILE``: onsets, resting tone, quality, timing and symmetry."""

from __future__ import annotations

import json
import sys

from emgfeedback import bounds
from emgfeedback.errors import ConfigError

#: Inputs larger than this (bytes on disk) get progress lines on stderr.
LONG_FILE_BYTES = 20_000_000


def register(subparsers) -> None:
    """Add the ``analyze`` sub-command."""
    p = subparsers.add_parser(
        "analyze",
        help="analyse a recording (CSV/TSV, BioSPPy text, UCI text, EDF/BDF, a stored session)",
        description="Detect onsets and offsets, measure resting tone against the noise "
                    "floor, signal quality, timing between channels and left/right "
                    "symmetry of a recording.",
    )
    p.add_argument("file", nargs="+",
                   help="recording file, or the session database with --session; several "
                        "files or a directory analyse each recording in it (batch)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="batch: recordings analysed at once (default: every core)")
    p.add_argument("--session", type=int, default=None, metavar="ID",
                   help="analyse stored session ID of the database FILE")
    p.add_argument("--fs", type=bounds.ANALYZE_FS_HZ.arg, default=None, metavar="HZ",
                   help="sample rate in Hz (required when the file does not say; "
                        f"{bounds.ANALYZE_FS_HZ.describe()})")
    p.add_argument("--channels", nargs="+", default=None, metavar="CH",
                   help="channel names or 0-based numbers to analyse (default: all)")
    p.add_argument("--units", choices=("counts", "uv", "mv"), default=None,
                   help="units of the samples (default: from the file, else µV)")
    p.add_argument("--uv-per-count", type=bounds.MICROVOLTS.arg, default=1.0, metavar="UV",
                   help="µV per count when --units counts (default 1: results in counts; "
                        f"{bounds.MICROVOLTS.describe()})")
    p.add_argument("--detector", default="streaming",
                   help="onset detector: streaming, glr (variance change, for low SNR), "
                        "hodges_bui, bonato or tkeo")
    p.add_argument("--mains", type=float, default=None, choices=(50.0, 60.0),
                   help="mains frequency for the notch (default: detected)")
    p.add_argument("--highpass", type=bounds.HIGHPASS_HZ.arg, default=None, metavar="HZ",
                   help=f"extra high-pass in Hz (30 against ECG; {bounds.HIGHPASS_HZ.describe()})")
    p.add_argument("--reference", default=None, metavar="CH",
                   help="reference channel for timing lags (default: the first)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="draw envelopes, onsets, offsets, rest and tone (needs matplotlib); "
                        "written 0600, atomically, an existing file only with --force")
    p.add_argument("--force", action="store_true", help="replace the --plot file if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run the analysis and print the report."""
    if isinstance(args.file, list):  # H10 (#16.4): several files or a directory -> batch
        from emgfeedback.commands._analyze_batch import is_batch, run_batch

        if is_batch(args.file):
            return run_batch(args)
        args.file = args.file[0]
    from emgfeedback.analysis.offline import DETECTORS
    from emgfeedback.analysis.recordings import open_recording, open_session, to_uv
    from emgfeedback.analysis.report import analyse, json_ready, text_report
    from emgfeedback.analysis.streaming import analyse_source

    if args.detector not in DETECTORS:
        raise ConfigError(f"--detector {args.detector}: expected one of {', '.join(DETECTORS)}")
    if args.fs is not None and not args.fs > 0:
        raise ConfigError("--fs must be a positive sample rate in Hz")
    if args.uv_per_count <= 0:
        raise ConfigError("--uv-per-count must be > 0")
    if args.plot:  # refuse a bad --plot before reading anything
        from emgfeedback import outputs

        outputs.check_target(args.plot, force=args.force, protect=_inputs(args),
                             option="--plot")
    src = (open_recording(args.file) if args.session is None
           else open_session(args.file, args.session))
    if args.channels:
        src = src.select(args.channels)
    fs = args.fs or src.fs_hz
    if not fs:
        raise ConfigError(f"{args.file}: the file does not give the sample rate: pass --fs HZ")
    if args.fs and src.fs_hz and abs(args.fs - src.fs_hz) > 1e-6 * src.fs_hz:
        src.notes.append(f"--fs {args.fs:g} Hz overrides the file's {src.fs_hz:g} Hz")
    is_emg = emg_channels(src.units, args.units)
    if not any(is_emg):
        raise ConfigError(f"{args.file}: no EMG channel (units {', '.join(src.units)}); "
                          "pass --units uv or mv")
    emg_names = [n for n, e in zip(src.channel_names, is_emg, strict=True) if e]
    ref = 0
    if args.reference is not None:
        if args.reference in emg_names:
            ref = emg_names.index(args.reference)
        elif args.reference.isdigit() and int(args.reference) < len(emg_names):
            ref = int(args.reference)
        else:
            raise ConfigError(f"--reference {args.reference}: expected one of "
                              f"{', '.join(emg_names)}")
    long_file = _input_bytes(args) > LONG_FILE_BYTES

    def progress(msg):
        if long_file:
            print(f"analyze: {msg} ...", file=sys.stderr, flush=True)

    quant = None
    if args.units == "counts":
        quant = [args.uv_per_count] * len(emg_names)
    kinds_all = [src.meta.get("output_kinds", {}).get(n, "raw") for n in src.channel_names]
    if args.detector == "streaming":
        # Read in blocks: memory does not grow with the recording (analysis.streaming).
        progress(f"{len(emg_names)} EMG channel(s), reading in blocks")
        result = analyse_source(src, fs, units=args.units, uv_per_count=args.uv_per_count,
                                mains_hz=args.mains, highpass_hz=args.highpass,
                                quantisation_uv=quant, reference=ref, progress=progress,
                                output_kinds=kinds_all)
        duration = result["duration_s"]
    else:  # the zero-phase detectors need the whole recording in memory
        rec = src.read()
        x, is_emg_arr = to_uv(rec, args.units, args.uv_per_count)
        duration = x.shape[0] / fs
        progress(f"read {duration:.0f} s, {len(emg_names)} EMG channel(s)")
        if duration >= 1.0:
            result = analyse(x, fs, rec.channel_names, detector=args.detector,
                             is_emg=is_emg_arr, mains_hz=args.mains,
                             highpass_hz=args.highpass, quantisation_uv=quant,
                             reference=ref, progress=progress, output_kinds=kinds_all)
    if duration < 1.0:
        raise ConfigError(f"{args.file}: {duration:.2f} s of data; need at least 1 s")
    rec = src
    result["file"] = str(args.file)
    result["format"] = rec.format
    result["file_notes"] = rec.notes
    add_file_facts(result, rec, is_emg, fs)
    if args.units == "counts" and args.uv_per_count == 1.0:
        result["file_notes"].append("units are counts: µV values below are counts")
    if args.plot:
        progress("plotting")
        plot_result(result, args.plot, force=args.force, protect=_inputs(args))
    if args.json:
        json.dump(json_ready(result), sys.stdout, indent=1, allow_nan=False)
        print()
    else:
        print(f"{args.file} ({rec.format})")
        text_report(result, rec.notes)
        print_file_facts(result)
        if args.plot:
            print(f"\nplot written to {args.plot}")
    return 0


def emg_channels(units, override: str | None) -> list[bool]:
    """Which channels are EMG (µV, mV, V or counts), as
    :func:`~emgfeedback.analysis.recordings.to_uv` decides."""
    from emgfeedback.analysis.recordings import UV_FACTORS

    return [(override or u or "uv").lower() in (*UV_FACTORS, "count", "counts")
            for u in units]


def _input_bytes(args) -> int:
    import os

    try:
        return os.stat(args.file).st_size
    except OSError:
        return 0


def _inputs(args) -> list:
    """Files an output must never replace: the analysed file (and its database side files)."""
    from emgfeedback import outputs

    return outputs.database_files(args.file)


def add_file_facts(result: dict, rec, is_emg, fs_hz: float) -> None:
    """Put what the file said into the result: units, markers and gaps (times in s)."""
    result["units"] = {n: (u or "uV") for n, u, e in
                       zip(rec.channel_names, rec.units, is_emg, strict=True) if e}
    result["markers"] = [{"time_s": m["index"] / fs_hz, "label": m["label"]}
                         for m in rec.markers]
    result["gaps"] = [{"start_s": g["start"] / fs_hz, "n_samples": int(g["n_samples"]),
                       "cause": g["cause"]} for g in rec.gaps]


def print_file_facts(result: dict, file=sys.stdout) -> None:
    """Markers and gaps of the file, one line each (the first 20)."""
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


def plot_result(result: dict, path: str, *, force: bool = False, protect=()) -> None:
    """Draw each channel's envelope with onsets, offsets, rest windows and tone (PNG).

    The figure is rendered in memory and written with :func:`emgfeedback.outputs.write_output`
    (0600, atomic, an existing file only with ``force``, never a file in ``protect``).
    """
    import io

    from emgfeedback import outputs
    from emgfeedback.errors import require

    matplotlib = require("matplotlib", "plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    arrays = result["_arrays"]
    env, rest = arrays["envelope"], arrays["rest"]
    fs = result["fs_hz"]
    n_ch = len(result["channels"])
    # A recording read in blocks keeps every plot_step-th sample only (enough for a screen).
    kept = int(arrays.get("plot_step", 1))
    step = max(env.shape[0] // 20000, 1)
    t = np.arange(env.shape[0]) * kept / fs
    fig, axes = plt.subplots(n_ch, 1, figsize=(12, 2.2 * n_ch + 0.6), sharex=True,
                             squeeze=False)
    for c, ch in enumerate(result["channels"]):
        ax = axes[c, 0]
        ax.plot(t[::step], env[::step, c], lw=0.8, color="0.2", label="envelope")
        r = rest[:, c]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], r.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            ax.axvspan(a * kept / fs, b * kept / fs, color="tab:blue", alpha=0.08, lw=0)
        for on in ch["onsets_s"]:
            ax.axvline(on, color="tab:green", lw=1)
        for off in ch["offsets_s"]:
            ax.axvline(off, color="tab:red", lw=1, ls="--")
        tone = ch["resting_tone_uv"]
        if tone is not None and np.isfinite(tone):
            ax.axhline(tone, color="tab:orange" if ch["tone_valid"] else "tab:gray",
                       lw=1, ls=":", label=f"tone {tone:.2f} µV")
        ax.set_ylabel(f"{ch['name']}\nµV")
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("time (s): green onsets, red offsets, shaded rest")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format="png")
    plt.close(fig)
    outputs.write_output(path, buffer.getvalue(), force=force, protect=protect, option="--plot")
