"""The ``emgfeedback`` command: parse, call, print.

Each sub-command lives in its own module in :mod:`emgfeedback.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returns an exit status). Modules are discovered, so adding a command needs no
edit here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from emgfeedback import __version__
from emgfeedback.errors import EmgFeedbackError


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every discovered sub-command.

    Returns
    -------
    argparse.ArgumentParser
        The top-level parser.
    """
    import emgfeedback.commands as commands

    parser = argparse.ArgumentParser(
        prog="emgfeedback",
        description="Surface-EMG biofeedback on open hardware. Not a medical device.",
    )
    parser.add_argument("--version", action="version", version=f"emgfeedback {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"emgfeedback.commands.{info.name}")
        module.register(sub)
    return parser


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
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
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
