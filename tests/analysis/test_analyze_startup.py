"""``analyze``'s start-up (issue 16.4): the CLI imports only the module of the command it
runs, with the same parser, help and errors as the full one."""

from __future__ import annotations

import contextlib
import io
import pkgutil

import pytest

import emgfeedback.commands as commands
from emgfeedback import cli

NAMES = sorted(m.name for m in pkgutil.iter_modules(commands.__path__)
               if not m.name.startswith("_"))


def _outcome(parser, argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser.parse_args(argv)
            code = None
        except SystemExit as exc:
            args, code = None, exc.code
    return out.getvalue(), err.getvalue(), code, (None if args is None else
                                                  sorted(vars(args).items(), key=str))


@pytest.mark.parametrize("argv", [[name, "--help"] for name in NAMES]
                         + [["analyze", "--bogus", "x.edf"], ["analyze"],
                            ["analyze", "x.edf", "--json", "--fs", "2000"]])
def test_one_commands_parser_is_the_full_parsers(argv):
    full = cli.build_parser()
    one = cli.build_parser(argv[0])
    assert _outcome(one, argv) == _outcome(full, argv)


def _choices(parser) -> set:
    return set(parser._subparsers._group_actions[0].choices)


def test_analyze_registers_its_command_only():
    assert _choices(cli.build_parser("analyze")) == {"analyze"}


def test_unknown_command_builds_the_full_parser():
    every = _choices(cli.build_parser())
    assert len(every) >= len(NAMES)
    assert _choices(cli.build_parser("no-such-command")) == every
    assert _choices(cli.build_parser("simulate_device")) == every  # registers another name
