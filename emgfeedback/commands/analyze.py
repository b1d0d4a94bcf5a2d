"""``emgfeedback analyze FILE``: onsets, resting tone, quality, timing and symmetry."""

from __future__ import annotations

import gc
import json
import sys

from emgfeedback import bounds
from emgfeedback.errors import ConfigError
from emgfeedback.host import keep_freed_memory

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
    p.add_argument("file", nargs="*",
                   help="recording file, or the session database with --session (default "
                        "there: --db, $EMGFEEDBACK_DB or the usual store); several files or "
                        "a directory analyse each recording in it (batch)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="batch: recordings analysed at once (default: every core)")
    p.add_argument("--session", type=int, default=None, metavar="ID",
                   help="analyse stored session ID of the database FILE (or --db)")
    p.add_argument("--db", default=None, metavar="PATH",
                   help="with --session and no FILE: the session store (default: "
                        "$EMGFEEDBACK_DB or the usual store, as record and sessions use)")
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
    # No cyclic garbage collection while Numba and the analysis modules load and the
    # recording is analysed: they make few cycles, and each collection walks the ~10^6
    # objects of Numba's start-up (~0.2 s CPU per run, measured with perf). The previous
    # setting comes back afterwards, for callers that run the command in-process.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(args)
    finally:
        if was_enabled:
            gc.enable()


def _run(args) -> int:
    if args.db is not None and args.session is None:
        raise ConfigError("--db names the session store of --session ID; give --session, "
                          "or analyse a file by its name")
    if args.file and args.db is not None:
        raise ConfigError(f"give the session store once: as FILE ({args.file[0]}) or as --db "
                          f"({args.db}), not both")
    if not args.file:
        if args.session is None:
            raise ConfigError("give a recording FILE (CSV/TSV, EDF/BDF, text), a folder of "
                              "them, or --session ID for a stored session")
        from emgfeedback.storage.store import default_db_path

        # Where record, sessions and export look: --db, else $EMGFEEDBACK_DB, else the usual.
        args.file = [str(args.db) if args.db is not None else str(default_db_path())]
    if isinstance(args.file, list):  # H10 (#16.4): several files or a directory -> batch
        from emgfeedback.commands._analyze_batch import is_batch, run_batch

        if is_batch(args.file):
            return run_batch(args)
        args.file = args.file[0]
    keep_freed_memory()  # blocks of a few MiB, allocated again and again
    from emgfeedback.analysis.units import emg_channels
    from emgfeedback.io.recordings import open_recording, open_session

    if args.detector != "streaming":
        from emgfeedback.analysis.offline import DETECTORS

        if args.detector not in DETECTORS:
            raise ConfigError(f"--detector {args.detector}: expected one of "
                              f"{', '.join(DETECTORS)}")
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

    from emgfeedback.analysis.summary import analyse_recording, json_ready
    from emgfeedback.reports.text import print_file_facts, text_report

    if args.detector == "streaming":
        # Only here, where `analyze` is the process's command and no other thread runs yet:
        # the registries load with scipy.linalg and cffi hidden for a moment, which another
        # thread importing either at that moment would see fail (library callers of
        # analyse_source, e.g. a GUI, keep Numba's ordinary start).
        from emgfeedback.analysis.streaming_read import numba_without_blas_check

        numba_without_blas_check()
    result = analyse_recording(src, fs, is_emg=is_emg, units=args.units,
                               uv_per_count=args.uv_per_count, detector=args.detector,
                               mains_hz=args.mains, highpass_hz=args.highpass, reference=ref,
                               progress=progress, name=args.file)
    result["file_notes"].extend(unit_notes(result, src, args.units))
    if args.plot:
        from emgfeedback.reports.plot import plot_result

        progress("plotting")
        plot_result(result, args.plot, force=args.force, protect=_inputs(args))
    if args.json:
        # One string, one write: json.dump writes each token (~150,000 writes for an hour
        # of onsets when stdout is unbuffered, e.g. PYTHONUNBUFFERED).
        sys.stdout.write(json.dumps(json_ready(result), indent=1, allow_nan=False) + "\n")
    else:
        print(f"{args.file} ({src.format})")
        text_report(result, result["file_notes"])
        print_file_facts(result)
        if args.plot:
            print(f"\nplot written to {args.plot}")
    return 0


#: A resting RMS below this, in µV, is below any sEMG amplifier's own noise (electrode and
#: amplifier noise are ~0.3-1 µV RMS in 20-450 Hz): values read as µV are then almost surely
#: in mV or V (a factor 1000 or 10^6 off).
IMPLAUSIBLE_REST_UV = 0.05


def unit_notes(result: dict, src, units: str | None) -> list[str]:
    """Notes for channels read as µV by default whose resting RMS no sEMG signal has.

    Parameters
    ----------
    result : dict
        :func:`~emgfeedback.analysis.summary.analyse_recording`'s result.
    src : RecordingSource
        The recording (its ``units``: what the file said, ``""`` when nothing).
    units : str or None
        ``analyze --units`` (when given, the user said: no note).

    Returns
    -------
    list of str
    """
    if units:
        return []
    stated = dict(zip(src.channel_names, src.units, strict=True))
    notes = []
    for ch in result["channels"]:
        rms = ch.get("raw_rest_rms_uv")
        if stated.get(ch["name"]) or rms is None or not 0 < rms < IMPLAUSIBLE_REST_UV:
            continue
        notes.append(f"{ch['name']}: the file gives no unit, so the values were read as µV, "
                     f"but its resting RMS of {rms:.2g} µV is below any sEMG amplifier's "
                     "noise: if they are mV (or V), pass --units mv (every µV figure for "
                     "this channel is then 1000 times too small)")
    return notes


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
