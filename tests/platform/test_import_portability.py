"""Import-time portability: the package imports, and every command's ``--help`` runs, on a
Python that has none of the POSIX-only modules (as on Windows).

The check runs in a fresh interpreter where an import hook refuses ``pty``, ``tty``,
``termios``, ``fcntl``, ``resource``, ``grp`` and ``pwd`` to code of this package (a
third-party library picks its own platform backend: pyserial imports ``termios`` here and
``serialwin32`` on Windows), and where the ``os`` functions and ``signal`` numbers Windows
lacks are removed (``os.getuid``, ``os.fchmod``, ``os.openpty``, ``signal.SIGHUP``...).
Only the modules of :data:`POSIX_ONLY_MODULES` may fail to import there, and they do not
fail silently: the test checks that they really need what was taken away.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

#: Modules of the package that are POSIX-only by design: the pty twin, which runs simulated
#: boards on pseudo-terminals (``simulate-device`` imports it lazily). The simavr harness
#: (``emgfeedback.acquisition.avrsim``) imports everywhere: only running simavr needs
#: POSIX, and :func:`test_the_posix_only_list_is_exact` keeps this list from growing stale.
POSIX_ONLY_MODULES = (
    "emgfeedback.acquisition.virtual_device",
)

BLOCKED = ("pty", "tty", "termios", "fcntl", "resource", "grp", "pwd")

#: What Windows' ``os`` and ``signal`` modules do not have (a selection of what code is
#: likely to touch at import time).
MISSING_OS = ("getuid", "geteuid", "getgid", "getegid", "fchmod", "fchown", "openpty",
              "ttyname", "fork", "killpg", "setsid", "getpgid", "O_NOFOLLOW", "sync")
MISSING_SIGNALS = ("SIGHUP", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGALRM",
                   "SIGPIPE", "SIGCHLD")

CHILD = textwrap.dedent('''
    import importlib, importlib.abc, json, os, pkgutil, signal, sys, traceback

    BLOCKED = set(sys.argv[1].split(","))
    for name in sys.argv[2].split(","):
        if hasattr(os, name):
            delattr(os, name)
    for name in sys.argv[3].split(","):
        if hasattr(signal, name):
            delattr(signal, name)
    signal.SIGBREAK = 21  # what Windows has instead

    class Blocker(importlib.abc.MetaPathFinder):
        """Refuse POSIX-only modules to code of this package."""

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] not in BLOCKED:
                return None
            frame = sys._getframe(1)
            while frame is not None:
                module = frame.f_globals.get("__name__", "")
                if not (module.startswith("importlib") or module == __name__):
                    break
                frame = frame.f_back
            importer = frame.f_globals.get("__name__", "") if frame is not None else ""
            if importer == "emgfeedback" or importer.startswith("emgfeedback."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked: POSIX-only, "
                                          f"imported by {importer})", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    for name in BLOCKED:  # a module already imported would bypass the hook
        sys.modules.pop(name, None)

    import emgfeedback
    result = {"imported": [], "failed": {}, "help": {}}
    names = ["emgfeedback"] + [m.name for m in pkgutil.walk_packages(
        emgfeedback.__path__, "emgfeedback.")]
    for name in sorted(names):
        try:
            importlib.import_module(name)
            result["imported"].append(name)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            result["failed"][name] = "".join(traceback.format_exception_only(exc)).strip()

    import contextlib, io
    from emgfeedback import cli
    commands = sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(
        importlib.import_module("emgfeedback.commands").__path__) if not m.name.startswith("_"))
    for command in [None, *commands]:
        out, err = io.StringIO(), io.StringIO()
        args = ["--help"] if command is None else [command, "--help"]
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(args)
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:  # noqa: BLE001
            code = "".join(traceback.format_exception(exc))
        result["help"][command or ""] = {"code": code, "out": out.getvalue(),
                                         "err": err.getvalue()}
    print("RESULT " + json.dumps(result))
''')


@pytest.fixture(scope="module")
def windows_like():
    """Import everything and run every ``--help`` in an interpreter without POSIX modules."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(BLOCKED), ",".join(MISSING_OS),
         ",".join(MISSING_SIGNALS)],
        capture_output=True, text=True, timeout=600, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_every_module_imports_without_posix_only_modules(windows_like):
    failed = windows_like["failed"]
    unexpected = {name: why for name, why in failed.items() if name not in POSIX_ONLY_MODULES}
    assert unexpected == {}
    assert len(windows_like["imported"]) > 50  # the walk found the package
    for name in ("emgfeedback.host", "emgfeedback.cli", "emgfeedback.acquisition.serial_source",
                 "emgfeedback.storage.store", "emgfeedback.gui.main_window",
                 "emgfeedback.commands.simulate_device"):
        assert name in windows_like["imported"]


def test_the_posix_only_list_is_exact(windows_like):
    """Each excepted module really needs POSIX, and says which module it missed: the list
    never hides a module that would import (it must then leave the list)."""
    failed = windows_like["failed"]
    for name in POSIX_ONLY_MODULES:
        assert name in failed, f"{name} imports without POSIX: remove it from the list"
        assert "blocked: POSIX-only" in failed[name] or "has no attribute" in failed[name]


def test_every_command_help_runs_without_posix_only_modules(windows_like):
    helps = windows_like["help"]
    assert len(helps) >= 15  # the top level and every command
    for command, result in helps.items():
        assert result["code"] == 0, (command, result)
        assert "usage: emgfeedback" in result["out"], command
        assert "Traceback" not in result["err"], (command, result["err"])
    assert "simulate-device" in helps and "ports" in helps


def test_the_blocker_really_blocks():
    """The harness itself: code of the package importing ``termios`` is refused, a
    third-party backend outside the package is not, and the Windows-less names are gone."""
    prelude = CHILD.split("import emgfeedback\n")[0]
    code = prelude + textwrap.dedent('''
        import types
        module = types.ModuleType("emgfeedback.fake")
        try:
            exec("import termios", module.__dict__)
        except ModuleNotFoundError as exc:
            print("BLOCKED", exc)
        import termios  # allowed outside the package (pyserial's POSIX backend)
        print("OUTSIDE OK", hasattr(os, "getuid"), hasattr(signal, "SIGHUP"), signal.SIGBREAK)
    ''')
    proc = subprocess.run(
        [sys.executable, "-c", code, ",".join(BLOCKED), ",".join(MISSING_OS),
         ",".join(MISSING_SIGNALS)], capture_output=True, text=True, timeout=120, check=False)
    assert "BLOCKED No module named 'termios' (blocked: POSIX-only" in proc.stdout, proc.stderr
    assert "OUTSIDE OK False False 21" in proc.stdout


def test_platform_checks_live_in_the_host_module_only():
    """No ``sys.platform``, ``os.name`` or ``platform.system()`` outside emgfeedback/host.py:
    what differs between systems is decided (and tested by injection) in one place."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "emgfeedback"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "host.py" and path.parent == package:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
                    (node.value.id, node.attr) in {("sys", "platform"), ("os", "name"),
                                                   ("platform", "system")}):
                found.append(f"{path.relative_to(package.parent)}:{node.lineno} "
                             f"{node.value.id}.{node.attr}")
    assert found == []
