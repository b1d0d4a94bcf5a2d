"""``emgfeedback analyze FILE``: onsets, resting tone, quality, timing and symmetry."""

from __future__ import annotations

import json
import sys

from emgfeedback.errors import ConfigError

LONG_FILE_S = 60.0


def register(subparsers) -> None:
    """Add the ``analyze`` sub-command."""
    p = subparsers.add_parser(
        "analyze",
        help="analyse a recording (CSV/TSV, BioSPPy text, UCI text, EDF/BDF, a stored session)",
        description="Detect onsets and offsets, measure resting tone against the noise "
                    "floor, signal quality, timing between channels and left/right "
                    "symmetry of a recording.",
    )
    p.add_argument("file", help="recording file, or the session database with --session")
    p.add_argument("--session", type=int, default=None, metavar="ID",
                   help="analyse stored session ID of the database FILE")
    p.add_argument("--fs", type=float, default=None, metavar="HZ",
                   help="sample rate in Hz (required when the file does not say)")
    p.add_argument("--channels", nargs="+", default=None, metavar="CH",
                   help="channel names or 0-based numbers to analyse (default: all)")
    p.add_argument("--units", choices=("counts", "uv", "mv"), default=None,
                   help="units of the samples (default: from the file, else µV)")
    p.add_argument("--uv-per-count", type=float, default=1.0, metavar="UV",
                   help="µV per count when --units counts (default 1: results in counts)")
    p.add_argument("--detector", default="streaming",
                   help="onset detector: streaming, hodges_bui, bonato or tkeo")
    p.add_argument("--mains", type=float, default=None, choices=(50.0, 60.0),
                   help="mains frequency for the notch (default: detected)")
    p.add_argument("--highpass", type=float, default=None, metavar="HZ",
                   help="extra high-pass in Hz (30 against ECG)")
    p.add_argument("--reference", default=None, metavar="CH",
                   help="reference channel for timing lags (default: the first)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="draw envelopes, onsets, offsets, rest and tone (needs matplotlib)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run the analysis and print the report."""
    from emgfeedback.analysis.offline import DETECTORS
    from emgfeedback.analysis.recordings import read_recording, read_session, to_uv
    from emgfeedback.analysis.report import analyse, json_ready, text_report

    if args.detector not in DETECTORS:
        raise ConfigError(f"--detector {args.detector}: expected one of {', '.join(DETECTORS)}")
    if args.fs is not None and not args.fs > 0:
        raise ConfigError("--fs must be a positive sample rate in Hz")
    if args.uv_per_count <= 0:
        raise ConfigError("--uv-per-count must be > 0")
    rec = (read_recording(args.file) if args.session is None
           else read_session(args.file, args.session))
    if args.channels:
        rec = rec.select(args.channels)
    fs = args.fs or rec.fs_hz
    if not fs:
        raise ConfigError(f"{args.file}: the file does not give the sample rate: pass --fs HZ")
    if args.fs and rec.fs_hz and abs(args.fs - rec.fs_hz) > 1e-6 * rec.fs_hz:
        rec.notes.append(f"--fs {args.fs:g} Hz overrides the file's {rec.fs_hz:g} Hz")
    x, is_emg = to_uv(rec, args.units, args.uv_per_count)
    if not is_emg.any():
        raise ConfigError(f"{args.file}: no EMG channel (units {', '.join(rec.units)}); "
                          "pass --units uv or mv")
    duration = x.shape[0] / fs
    if duration < 1.0:
        raise ConfigError(f"{args.file}: {duration:.2f} s of data; need at least 1 s")
    emg_names = [n for n, e in zip(rec.channel_names, is_emg, strict=True) if e]
    ref = 0
    if args.reference is not None:
        if args.reference in emg_names:
            ref = emg_names.index(args.reference)
        elif args.reference.isdigit() and int(args.reference) < len(emg_names):
            ref = int(args.reference)
        else:
            raise ConfigError(f"--reference {args.reference}: expected one of "
                              f"{', '.join(emg_names)}")
    long_file = duration > LONG_FILE_S

    def progress(msg):
        if long_file:
            print(f"analyze: {msg} ...", file=sys.stderr, flush=True)

    progress(f"read {duration:.0f} s, {len(emg_names)} EMG channel(s)")
    quant = None
    if args.units == "counts":
        quant = [args.uv_per_count] * len(emg_names)
    result = analyse(x, fs, rec.channel_names, detector=args.detector, is_emg=is_emg,
                     mains_hz=args.mains, highpass_hz=args.highpass, quantisation_uv=quant,
                     reference=ref, progress=progress)
    result["file"] = str(args.file)
    result["format"] = rec.format
    result["file_notes"] = rec.notes
    if args.units == "counts" and args.uv_per_count == 1.0:
        result["file_notes"].append("units are counts: µV values below are counts")
    if args.plot:
        progress("plotting")
        plot_result(result, args.plot)
    if args.json:
        json.dump(json_ready(result), sys.stdout, indent=1, allow_nan=False)
        print()
    else:
        print(f"{args.file} ({rec.format})")
        text_report(result, rec.notes)
        if args.plot:
            print(f"\nplot written to {args.plot}")
    return 0


def plot_result(result: dict, path: str) -> None:
    """Draw each channel's envelope with onsets, offsets, rest windows and tone (PNG)."""
    from emgfeedback.errors import require

    matplotlib = require("matplotlib", "plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    arrays = result["_arrays"]
    env, rest = arrays["envelope"], arrays["rest"]
    fs = result["fs_hz"]
    n_ch = len(result["channels"])
    t = np.arange(env.shape[0]) / fs
    step = max(env.shape[0] // 20000, 1)  # enough points for a screen
    fig, axes = plt.subplots(n_ch, 1, figsize=(12, 2.2 * n_ch + 0.6), sharex=True,
                             squeeze=False)
    for c, ch in enumerate(result["channels"]):
        ax = axes[c, 0]
        ax.plot(t[::step], env[::step, c], lw=0.8, color="0.2", label="envelope")
        r = rest[:, c]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], r.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            ax.axvspan(a / fs, b / fs, color="tab:blue", alpha=0.08, lw=0)
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
    fig.savefig(path, dpi=100)
    plt.close(fig)
