"""Options of the pipeline benchmark, shared by ``emgfeedback bench`` and
``benchmarks/bench_pipeline.py`` (:func:`emgfeedback.benchmarking.pipeline.main`).

Kept apart from :mod:`~emgfeedback.benchmarking.pipeline` so the CLI can build its parser
without importing the benchmark, and so the benchmark never imports ``commands``.
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    """Add the benchmark's options to ``parser`` (an :class:`argparse.ArgumentParser`)."""
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
