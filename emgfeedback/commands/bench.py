"""``emgfeedback bench``: the Numba pipeline against SciPy, and the engine's cost per chunk."""

from __future__ import annotations

from emgfeedback.benchmarking.options import add_arguments


def register(subparsers) -> None:
    """Add the ``bench`` sub-command."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark the signal pipeline against SciPy",
        description="Offline throughput (Msamples/s) and per-block cost (µs) of the fused "
        "Numba pipeline against the same chain of SciPy calls, on synthetic EMG, in wall and "
        "CPU time, with the max difference. Offline: the recording delivered chunk by chunk "
        "(ours through reused buffers; SciPy's fastest of sosfilt per stage or stacked, whole "
        "or chunked), and as full-length new arrays on both sides; blocks: ours into reused "
        "buffers and into new arrays, SciPy sosfilt per stage with carried zi. Then the "
        "engine's cost per chunk with every stage running. Progress goes to stderr.",
    )
    add_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from emgfeedback.benchmarking.pipeline import run_from_args

    return run_from_args(args)
