"""What differs between the host operating systems, in one place.

Everything that depends on Windows, macOS or Linux (private file creation, the signals that
mean "stop", serial port names, the per-user data and settings folders, whether a process
still runs) is decided here, so that the rest of the package never tests ``sys.platform``
itself and each behaviour can be tested on Linux by passing another platform name (and,
where the answer depends on the environment, the environment too).

This module imports nothing POSIX-only at import time: it must import on Windows.

Platform names are :data:`sys.platform` values: ``"win32"``, ``"darwin"``, ``"linux"``
(anything else is treated like Linux: another Unix).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import quote

#: The platform this process runs on, as :data:`sys.platform` spells it.
PLATFORM = sys.platform

#: The folder name under the per-user data and settings folders.
APP_NAME = "emgfeedback"


def is_windows(platform: str | None = None) -> bool:
    """True on Windows (``platform``: a :data:`sys.platform` value, default this host's)."""
    return (platform or PLATFORM).startswith("win")


def is_macos(platform: str | None = None) -> bool:
    """True on macOS (``platform``: a :data:`sys.platform` value, default this host's)."""
    return (platform or PLATFORM) == "darwin"


def is_linux(platform: str | None = None) -> bool:
    """True on Linux (``platform``: a :data:`sys.platform` value, default this host's)."""
    return (platform or PLATFORM).startswith("linux")


# ============================================================================ signals


def keep_freed_memory(platform: str | None = None) -> bool:
    """Let glibc keep freed blocks of up to 32 MiB for the next allocation; whether it did.

    A program that allocates blocks of a few MiB again and again (``analyze``) otherwise has
    glibc map each afresh and return it when freed, and touching new pages costs about 2 µs
    per 4 KiB on the development VM: 245,000 page faults and 1.4 s of system time for one
    hour of 8 channels, against 56,000 and 1.0 s with this (peak RSS unchanged). Other C
    libraries and systems: nothing to do, ``False``.
    """
    if not is_linux(platform):
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt  # glibc only (musl has none)
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold,
                                                                      256 << 20))


def stop_signals(platform: str | None = None, available=signal) -> tuple[int, ...]:
    """Signals that ask the process to stop cleanly, like Ctrl-C.

    SIGINT (Ctrl-C) and SIGTERM everywhere; on Windows also SIGBREAK (Ctrl-Break, and what
    closing the console window sends) where Python has it; elsewhere also SIGHUP (the
    terminal was closed). SIGHUP is never used on Windows, even if a signal module had it.

    Parameters
    ----------
    platform : str, optional
        A :data:`sys.platform` value; defaults to this host's (:data:`PLATFORM`).
    available : module or object
        Where the signal numbers are looked up (attributes ``SIGINT``...); the
        :mod:`signal` module by default. A name it lacks is left out.

    Returns
    -------
    tuple of int
        The signal numbers, in the order SIGINT, SIGTERM, SIGBREAK or SIGHUP.
    """
    names = ["SIGINT", "SIGTERM"]
    names += ["SIGBREAK"] if is_windows(platform) else ["SIGHUP"]
    return tuple(int(getattr(available, n)) for n in names if hasattr(available, n))


@contextlib.contextmanager
def stop_signal_handlers(handler):
    """Call ``handler(signum, frame)`` for the host's :func:`stop_signals` inside the block.

    A signal ignored when the process started (``nohup``, SIGINT of a background job) stays
    ignored; one that cannot be set here is left alone; the previous handlers come back on
    exit. Call it from the main thread (Python only sets handlers there).
    """
    previous = {}
    for signum in stop_signals():
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # ignored when we started (nohup, a background job): keep it so
        try:
            previous[signum] = signal.signal(signum, handler)
        except (OSError, ValueError):  # not settable here
            continue
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def stop_signal_label(signum: int) -> str:
    """How a stop signal is named to the user: ``Ctrl-C (SIGINT)``, ``SIGTERM``, ...

    Used by every command that ends on a stop signal (the session's end reason and the
    messages say the same).
    """
    name = signal.Signals(signum).name
    return "Ctrl-C (SIGINT)" if name == "SIGINT" else name


# ============================================================================ private files


def create_private_file(path: str | os.PathLike, *, exclusive: bool = True) -> int:
    """Create a file only its owner can read, and open it for writing.

    On POSIX the file is 0600 whatever the umask, and a symbolic link at ``path`` is
    refused (``O_NOFOLLOW``), so a planted link cannot redirect what we write. On Windows
    the file gets the default ACLs of its folder (in the user's profile, only that user and
    the administrators can read it); file modes mean nothing there.

    Parameters
    ----------
    path : path-like
        Where to create the file.
    exclusive : bool
        Fail with :class:`FileExistsError` when something already exists at ``path``
        (the safe choice for temporary files renamed into place afterwards).

    Returns
    -------
    int
        An OS file descriptor open for writing (binary).
    """
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    fd = os.open(os.fspath(path), flags, 0o600)
    if hasattr(os, "fchmod"):
        try:
            os.fchmod(fd, 0o600)  # the umask may have removed bits, never added them: be sure
        except OSError:
            os.close(fd)
            raise
    return fd


def make_private(path: str | os.PathLike, platform: str | None = None) -> None:
    """Restrict an existing file to its owner (0600 on POSIX; nothing on Windows, where the
    folder's default ACLs already do)."""
    if not is_windows(platform):
        os.chmod(os.fspath(path), 0o600)


def private_modes_apply(platform: str | None = None) -> bool:
    """True where file modes (0600/0700) are what keeps a file private (POSIX)."""
    return not is_windows(platform)


# ============================================================================ folders


def _home(environ: Mapping[str, str], home: str | os.PathLike | None,
          platform: str | None) -> str:
    if home is not None:
        return os.fspath(home)
    if environ is os.environ or environ is None:
        return str(Path.home())
    key = "USERPROFILE" if is_windows(platform) else "HOME"
    return environ.get(key) or str(Path.home())


def _join(platform: str | None, base: str, *parts: str) -> Path:
    """A path for ``platform`` (a Windows path keeps its backslashes even on Linux)."""
    if is_windows(platform) == sys.platform.startswith("win"):  # this Python's path flavour
        return Path(base, *parts)
    pure = PureWindowsPath if is_windows(platform) else PurePosixPath
    return pure(base, *parts)  # type: ignore[return-value]


def user_data_dir(platform: str | None = None, environ: Mapping[str, str] | None = None,
                  home: str | os.PathLike | None = None) -> Path:
    """The per-user folder for the session store.

    ``%LOCALAPPDATA%\\emgfeedback`` on Windows (``~\\AppData\\Local\\emgfeedback`` if
    unset), ``~/Library/Application Support/emgfeedback`` on macOS,
    ``$XDG_DATA_HOME/emgfeedback`` (``~/.local/share/emgfeedback``) on Linux and other Unix.

    Parameters
    ----------
    platform : str, optional
        A :data:`sys.platform` value; defaults to this host's (:data:`PLATFORM`).
    environ : mapping, optional
        Environment variables (default :data:`os.environ`).
    home : path-like, optional
        The user's home folder (default: from the environment).

    Returns
    -------
    pathlib.Path
        A pure Windows path when ``platform`` is Windows and this host is not.
    """
    env = os.environ if environ is None else environ
    base_home = _home(env, home, platform)
    if is_windows(platform):
        base = env.get("LOCALAPPDATA") or str(PureWindowsPath(base_home, "AppData", "Local"))
        return _join(platform, base, APP_NAME)
    if is_macos(platform):
        return _join(platform, base_home, "Library", "Application Support", APP_NAME)
    base = env.get("XDG_DATA_HOME") or str(PurePosixPath(base_home, ".local", "share"))
    return _join(platform, base, APP_NAME)


def user_config_dir(platform: str | None = None, environ: Mapping[str, str] | None = None,
                    home: str | os.PathLike | None = None) -> Path:
    """The per-user folder for settings and subject set-ups.

    ``%APPDATA%\\emgfeedback`` (roaming) on Windows, ``~/Library/Application
    Support/emgfeedback`` on macOS, ``$XDG_CONFIG_HOME/emgfeedback``
    (``~/.config/emgfeedback``) on Linux and other Unix. Parameters as
    :func:`user_data_dir`.
    """
    env = os.environ if environ is None else environ
    base_home = _home(env, home, platform)
    if is_windows(platform):
        base = env.get("APPDATA") or str(PureWindowsPath(base_home, "AppData", "Roaming"))
        return _join(platform, base, APP_NAME)
    if is_macos(platform):
        return _join(platform, base_home, "Library", "Application Support", APP_NAME)
    base = env.get("XDG_CONFIG_HOME") or str(PurePosixPath(base_home, ".config"))
    return _join(platform, base, APP_NAME)


# ============================================================================ processes


def process_alive_windows(pid: int) -> bool:  # pragma: no cover - needs Windows
    """True if process ``pid`` runs (Windows: ``OpenProcess`` + ``GetExitCodeProcess``)."""
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


# ============================================================================ serial ports

_COM = re.compile(r"^(?:\\\\[.?]\\)?(com)(\d+)$", re.IGNORECASE)


def serial_port_name(path: str, platform: str | None = None) -> str:
    """The port name to open, from what followed ``serial://`` in a source URL.

    Windows: ``COM3``, ``com3`` and ``/COM3`` (from ``serial:///COM3``) are ``COM3``;
    ``\\\\.\\COM10`` is kept as written (both forms open COM10 and above; pyserial adds the
    prefix itself). Elsewhere the path is used as given (``/dev/ttyACM0``,
    ``/dev/cu.usbmodem1101``, a ``/dev/serial/by-id/...`` link).

    Parameters
    ----------
    path : str
        The URL's path part, already unquoted.
    platform : str, optional
        A :data:`sys.platform` value; defaults to this host's (:data:`PLATFORM`).

    Returns
    -------
    str
    """
    if not is_windows(platform):
        return path
    bare = path[1:] if path.startswith("/") and _COM.match(path[1:]) else path
    match = _COM.match(bare)
    if match is None:
        return path
    if bare.startswith("\\\\"):
        return bare[:4] + "COM" + match.group(2)
    return "COM" + match.group(2)


def serial_url(device: str, framing: str | None = "auto") -> str:
    """The source URL that opens ``device``: ``serial://COM3?framing=auto``,
    ``serial:///dev/ttyACM0?framing=auto``.

    Parameters
    ----------
    device : str
        A port name as :func:`emgfeedback.acquisition.ports.list_ports` gives it.
    framing : str or None
        The ``framing`` option to add (None: none).

    Returns
    -------
    str
    """
    url = "serial://" + quote(device, safe="/\\:.-_~")
    return url if framing is None else f"{url}?framing={framing}"


def serial_port_present(path: str, listed: Iterable[str] = (), platform: str | None = None,
                        exists=os.path.exists) -> bool:
    """Whether the port ``path`` is there now (to find a replugged board again).

    On Windows a COM port is not a file: it is present when the system lists it
    (``listed``, from :func:`serial.tools.list_ports.comports`). Elsewhere the device node
    (or the ``/dev/serial/by-id`` link) exists.

    Parameters
    ----------
    path : str
        The port name the source was opened with.
    listed : iterable of str
        Port names the system lists now.
    platform : str, optional
        A :data:`sys.platform` value; defaults to this host's (:data:`PLATFORM`).
    exists : callable
        ``exists(path) -> bool`` for file-system paths (default :func:`os.path.exists`).

    Returns
    -------
    bool
    """
    if is_windows(platform) and _COM.match(path):
        wanted = serial_port_name(path, platform).upper().removeprefix("\\\\.\\")
        return any(serial_port_name(p, platform).upper().removeprefix("\\\\.\\") == wanted
                   for p in listed)
    return bool(exists(path))


def serial_port_advice(path: str, platform: str | None = None) -> str | None:
    """A hint about a port name that will probably not work as intended, or None.

    On macOS each USB serial device appears twice: ``/dev/cu.*`` (call-up, what a program
    opens) and ``/dev/tty.*`` (dial-in, which may wait for a carrier signal a board never
    sends): the hint names the ``cu`` twin. On Windows a ``/dev/...`` path is a Linux name.
    """
    if is_macos(platform) and path.startswith("/dev/tty."):
        return f"on macOS open the call-up device {'/dev/cu.' + path[len('/dev/tty.'):]} " \
               f"rather than {path}"
    if is_windows(platform) and path.startswith("/dev/"):
        return f"{path} is a Linux/macOS port name; on Windows ports are COM3, COM4... " \
               "(see `emgfeedback ports` or the Device Manager)"
    if not is_windows(platform) and _COM.match(path):
        return f"{path} is a Windows port name; here ports are /dev/tty... " \
               "(see `emgfeedback ports`)"
    return None


def no_ports_hint(platform: str | None = None) -> str:
    """What to check when no serial port is listed, for this platform."""
    if is_windows(platform):
        return ("no serial ports found. Is the board plugged in (with a data cable, not a "
                "charging-only one)? Many Arduino Nano clones use a CH340 chip that needs "
                "the WCH CH340 driver; FTDI boards need the FTDI VCP driver. The Device "
                "Manager shows the board under 'Ports (COM & LPT)' once the driver works.")
    if is_macos(platform):
        return ("no serial ports found. Is the board plugged in (with a data cable)? "
                "Boards appear as /dev/cu.usbmodem* (Arduino, native USB) or "
                "/dev/cu.usbserial* / /dev/cu.wchusbserial* (FTDI, CH340); a CH340 clone "
                "may need the WCH driver on macOS before 10.14 / 11.")
    return ("no serial ports found. Is the board plugged in (with a data cable)? On Linux "
            "your user must be in the 'dialout' group (Debian/Ubuntu; 'uucp' on Arch): "
            "sudo usermod -aG dialout $USER, then log in again.")
