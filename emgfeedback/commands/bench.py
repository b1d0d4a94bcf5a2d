"""``emgfeedback bench``: the Numba pipeline against SciPy, and the engine's cost per chunk."""

from __future__ import annotations


def add_arguments(parser) -> None:
    """Options shared by this command and ``benchmarks/bench_pipeline.py``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="offline signal length, minutes (default 10)"
    )
    parser.add_argument("--channels", type=int, default=8, help="channels (default 8)")
    parser.add_argument("--block", type=int, default=16, help="samples per block (default 16)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="offline runs and block-stream passes per side, the best counts (default 3)",
    )
    parser.add_argument(
        "--engine-minutes",
        type=float,
        default=10.0,
        help="stream length for the engine's per-chunk cost (8 channels at 2 kHz in chunks "
        "of --block samples, with the onset detector, a protocol, quality and a recorder), "
        "minutes (default 10; 0 skips it)",
    )
    parser.add_argument(
        "--notch-max-hz",
        type=float,
        default=None,
        help="highest mains harmonic to notch, Hz (default: the band's upper corner, 450 Hz; "
        "'inf' notches every harmonic below Nyquist, 23 sections at 50 Hz)",
    )


def register(subparsers) -> None:
    """Add the ``bench`` sub-command."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark the signal pipeline against SciPy",
        description="Offline throughput (Msamples/s) and per-block cost (µs) of the fused "
        "Numba pipeline against the same chain of SciPy calls (offline: sosfilt per stage or "
        "over the stacked sections, whichever is faster; blocks: sosfilt per stage with "
        "carried zi), on synthetic EMG, in wall and CPU time, with the max difference; then "
        "the engine's cost per chunk with every stage running. Progress goes to stderr.",
    )
    add_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from emgfeedback.benchmarking.pipeline import run_from_args

    return run_from_args(args)
