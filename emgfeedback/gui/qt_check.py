"""Can Qt open a window here? Asked in a child process, before the window is created.

When Qt cannot load its platform plugin (on a fresh Debian/Ubuntu desktop, usually because
the ``xcb`` plugin's libraries are missing) it aborts the whole process with a core dump;
nothing in Python can catch that. So the live window is preceded by a one-second probe in a
child process; if the child fails, :func:`qt_problem` explains it in one line with the
exact command to fix it, and the command exits non-zero instead of aborting.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from emgfeedback.host import is_linux

#: Shared library (as ldd names it) -> Debian/Ubuntu package that provides it.
DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}

_PROBE = ("import sys\n"
          "from PyQt5 import QtWidgets\n"
          "app = QtWidgets.QApplication(sys.argv[:1])\n"
          "print('qt-ok', app.platformName())\n")


def missing_libraries(ldd_output: str) -> list[str]:
    """Library names that ``ldd`` reports as ``not found``, in order, without repeats."""
    seen: list[str] = []
    for name in re.findall(r"^\s*(\S+)\s+=>\s+not found", ldd_output, flags=re.M):
        if name not in seen:
            seen.append(name)
    return seen


def install_line(libraries: list[str]) -> str:
    """The ``apt-get install`` command for these libraries (unknown ones named as they are)."""
    pkgs = [DEBIAN_PACKAGES.get(lib, lib) for lib in libraries]
    return "sudo apt-get install " + " ".join(dict.fromkeys(pkgs))


def _plugin_libraries(platform_name: str) -> list[str]:
    """Libraries the Qt platform plugin needs that this system lacks (via ``ldd``)."""
    try:
        import PyQt5
    except ImportError:
        return []
    qt = os.path.join(os.path.dirname(PyQt5.__file__), "Qt5")
    files = [os.path.join(qt, "plugins", "platforms", f"libq{platform_name}.so")]
    if platform_name == "xcb":
        files.append(os.path.join(qt, "lib", "libQt5XcbQpa.so.5"))
    out = ""
    for f in files:
        if os.path.exists(f):
            try:
                out += subprocess.run(["ldd", f], capture_output=True, text=True,
                                      timeout=20).stdout
            except (OSError, subprocess.SubprocessError):
                pass
    return missing_libraries(out)


def qt_problem(env: dict | None = None, timeout_s: float = 60.0) -> str | None:
    """Why the Qt window cannot open here, as one line with the fix; None when it can.

    Parameters
    ----------
    env : dict, optional
        Environment for the probe (default: this process's).
    timeout_s : float
        How long the probe may take (generous: a loaded machine starts Python slowly).

    Returns
    -------
    str or None
    """
    env = dict(os.environ if env is None else env)
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                              env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return "the window cannot open: Qt did not start within a minute"
    if proc.returncode == 0 and "qt-ok" in proc.stdout:
        return None
    err = proc.stderr
    if "No module named" in err:
        return ("the window cannot open: PyQt5 is not installed: "
                "pip install 'emgfeedback[gui]'")
    platform_name = env.get("QT_QPA_PLATFORM", "") or "xcb"
    platform_name = platform_name.split(":")[0]
    if is_linux():
        missing = _plugin_libraries(platform_name)
        if missing:
            return (f"the window cannot open: Qt's {platform_name} platform plugin needs "
                    f"{', '.join(missing)}: {install_line(missing)}")
        if platform_name == "xcb" and not env.get("DISPLAY"):
            return ("the window cannot open: no display (DISPLAY is not set); run it on a "
                    "desktop, or headless with QT_QPA_PLATFORM=offscreen")
    last = next((ln.strip() for ln in reversed(err.splitlines()) if ln.strip()), "")
    return f"the window cannot open: Qt failed to start ({last or f'exit {proc.returncode}'})"
