"""The ``emgfeedback`` command: parse, call, print.

Each sub-command lives in its own module in :mod:`emgfeedback.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returns an exit status). Modules are discovered, so adding a command needs no
edit here.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import pkgutil
import sys

from emgfeedback import __version__
from emgfeedback.errors import EmgFeedbackError


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser with every discovered sub-command.

    Parameters
    ----------
    command : str, optional
        The command about to run: when a module of that name registers it, only that
        module is imported (the others cost ``analyze`` about 0.15 s of start-up); its
        parser and help are the same as in the full parser.

    Returns
    -------
    argparse.ArgumentParser
        The top-level parser.
    """
    import emgfeedback.commands as commands

    names = sorted(info.name for info in pkgutil.iter_modules(commands.__path__)
                   if not info.name.startswith("_"))
    if command in names:
        parser, sub = _top_parser()
        importlib.import_module(f"emgfeedback.commands.{command}").register(sub)
        if command in sub.choices:
            return parser
    parser, sub = _top_parser()
    for name in names:
        importlib.import_module(f"emgfeedback.commands.{name}").register(sub)
    return parser


def _top_parser() -> tuple:
    parser = argparse.ArgumentParser(
        prog="emgfeedback",
        description="Surface-EMG biofeedback on open hardware. Not a medical device.",
    )
    parser.add_argument("--version", action="version", version=f"emgfeedback {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND")


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for errors the user can fix, 130 on Ctrl-C.
    """
    words = sys.argv[1:] if argv is None else argv
    command = words[0] if words and not words[0].startswith("-") else None
    if argv is None and command == "analyze":
        _single_threaded_blas()
    parser = build_parser(command)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return _run_command(args)
    finally:
        if argv is None:
            # The process ends right after: without this the interpreter's exit runs two
            # full collections over the ~10^6 objects of Numba's start-up (~0.2 s CPU,
            # measured with perf on `analyze`). Not for in-process callers (tests).
            gc.freeze()


def _single_threaded_blas() -> None:
    # Before NumPy loads: OpenBLAS (NumPy's, and SciPy's that Numba loads) then starts no
    # thread pool. `analyze` runs its own threads and makes no BLAS call big enough to
    # share; the pools' threads only spin (0.3-0.7 s CPU per run of an hour's file,
    # measured with perf stat). A value the user set is kept.
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _run_command(args) -> int:
    try:
        return int(args.func(args) or 0)
    except EmgFeedbackError as exc:
        print(f"emgfeedback {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
