"""Platform semantics of :mod:`emgfeedback.host`, checked on Linux by passing the platform.

Signals, private files, the data and settings folders and serial port names, for Windows
(``win32``), macOS (``darwin``) and Linux, through the functions the rest of the package
calls (and, for serial names, through ``parse_source_url``, ``ports`` and the reconnect
lookup that use them).
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import types
from pathlib import PurePosixPath, PureWindowsPath

import pytest

from emgfeedback import host
from emgfeedback.acquisition.ports import PortInfo, list_ports
from emgfeedback.acquisition.source import parse_source_url

# ---------------------------------------------------------------------------- signals


def test_windows_stops_on_ctrl_c_sigterm_and_ctrl_break_never_sighup():
    win = types.SimpleNamespace(SIGINT=2, SIGTERM=15, SIGBREAK=21)
    assert host.stop_signals("win32", win) == (2, 15, 21)
    # a signal module that had SIGHUP too: still not used on Windows
    both = types.SimpleNamespace(SIGINT=2, SIGTERM=15, SIGBREAK=21, SIGHUP=1)
    assert host.stop_signals("win32", both) == (2, 15, 21)
    # a Python without SIGBREAK: Ctrl-C and SIGTERM only
    assert host.stop_signals("win32", types.SimpleNamespace(SIGINT=2, SIGTERM=15)) == (2, 15)


@pytest.mark.parametrize("platform", ["linux", "darwin", "freebsd14"])
def test_posix_stops_on_sigint_sigterm_and_sighup(platform):
    posix = types.SimpleNamespace(SIGINT=2, SIGTERM=15, SIGHUP=1, SIGBREAK=21)
    assert host.stop_signals(platform, posix) == (2, 15, 1)


def test_this_hosts_stop_signals_exist_and_can_be_handled():
    numbers = host.stop_signals()
    assert numbers[:2] == (signal.SIGINT, signal.SIGTERM)
    if sys.platform.startswith("linux"):
        assert numbers == (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for number in numbers:  # each is a real signal this Python can install a handler for
        old = signal.signal(number, signal.SIG_IGN)
        signal.signal(number, old)


# ---------------------------------------------------------------------------- private files


def test_private_file_is_0600_whatever_the_umask_and_refuses_a_symlink(tmp_path):
    old = os.umask(0)
    try:
        fd = host.create_private_file(tmp_path / "a.csv")
        os.write(fd, b"x\n")
        os.close(fd)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.csv").st_mode) == 0o600
    with pytest.raises(FileExistsError):
        host.create_private_file(tmp_path / "a.csv")
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OSError):
        host.create_private_file(tmp_path / "link", exclusive=False)
    assert target.read_bytes() == b"keep"


def test_make_private_is_chmod_on_posix_and_nothing_on_windows(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"")
    path.chmod(0o644)
    host.make_private(path, platform="win32")  # file modes mean nothing there: untouched
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    host.make_private(path, platform="linux")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert host.private_modes_apply("linux") and host.private_modes_apply("darwin")
    assert not host.private_modes_apply("win32")


# ---------------------------------------------------------------------------- folders


def test_data_folder_per_platform():
    win_env = {"LOCALAPPDATA": r"C:\Users\ana\AppData\Local", "USERPROFILE": r"C:\Users\ana"}
    assert host.user_data_dir("win32", win_env) == \
        PureWindowsPath(r"C:\Users\ana\AppData\Local\emgfeedback")
    assert host.user_data_dir("win32", {"USERPROFILE": r"C:\Users\ana"}) == \
        PureWindowsPath(r"C:\Users\ana\AppData\Local\emgfeedback")
    assert host.user_data_dir("darwin", {"HOME": "/Users/ana"}) == \
        PurePosixPath("/Users/ana/Library/Application Support/emgfeedback")
    assert host.user_data_dir("linux", {"HOME": "/home/ana"}) == \
        PurePosixPath("/home/ana/.local/share/emgfeedback")
    assert host.user_data_dir("linux", {"HOME": "/home/ana", "XDG_DATA_HOME": "/data"}) == \
        PurePosixPath("/data/emgfeedback")
    # XDG is a Linux convention: macOS ignores it
    assert host.user_data_dir("darwin", {"HOME": "/Users/ana", "XDG_DATA_HOME": "/x"}) == \
        PurePosixPath("/Users/ana/Library/Application Support/emgfeedback")


def test_settings_folder_per_platform():
    assert host.user_config_dir("win32", {"APPDATA": r"C:\Users\ana\AppData\Roaming"}) == \
        PureWindowsPath(r"C:\Users\ana\AppData\Roaming\emgfeedback")
    assert host.user_config_dir("win32", {"USERPROFILE": r"C:\Users\ana"}) == \
        PureWindowsPath(r"C:\Users\ana\AppData\Roaming\emgfeedback")
    assert host.user_config_dir("darwin", {"HOME": "/Users/ana"}) == \
        PurePosixPath("/Users/ana/Library/Application Support/emgfeedback")
    assert host.user_config_dir("linux", {"HOME": "/home/ana"}) == \
        PurePosixPath("/home/ana/.config/emgfeedback")
    assert host.user_config_dir("linux", {"HOME": "/h", "XDG_CONFIG_HOME": "/cfg"}) == \
        PurePosixPath("/cfg/emgfeedback")


def test_the_store_and_the_settings_use_the_host_folders(monkeypatch, tmp_path):
    from emgfeedback.gui.settings import config_dir
    from emgfeedback.storage.store import default_db_path

    monkeypatch.delenv("EMGFEEDBACK_DB", raising=False)
    monkeypatch.delenv("EMGFEEDBACK_CONFIG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_db_path() == host.user_data_dir() / "sessions.sqlite"
    assert config_dir() == host.user_config_dir()
    if sys.platform.startswith("linux"):
        assert default_db_path() == tmp_path / "data" / "emgfeedback" / "sessions.sqlite"
        assert config_dir() == tmp_path / "cfg" / "emgfeedback"
    monkeypatch.setenv("EMGFEEDBACK_DB", str(tmp_path / "mine.sqlite"))
    assert default_db_path() == tmp_path / "mine.sqlite"  # the override wins everywhere


def test_the_store_folder_as_windows_and_macos_would_choose_it(monkeypatch):
    from emgfeedback.gui.settings import config_dir
    from emgfeedback.storage.store import default_db_path

    monkeypatch.delenv("EMGFEEDBACK_DB", raising=False)
    monkeypatch.delenv("EMGFEEDBACK_CONFIG", raising=False)
    monkeypatch.setattr(host, "PLATFORM", "win32")
    monkeypatch.setenv("LOCALAPPDATA", r"C:\Users\ana\AppData\Local")
    monkeypatch.setenv("APPDATA", r"C:\Users\ana\AppData\Roaming")
    assert default_db_path() == \
        PureWindowsPath(r"C:\Users\ana\AppData\Local\emgfeedback\sessions.sqlite")
    assert config_dir() == PureWindowsPath(r"C:\Users\ana\AppData\Roaming\emgfeedback")
    monkeypatch.setattr(host, "PLATFORM", "darwin")
    monkeypatch.setenv("HOME", "/Users/ana")
    assert str(default_db_path()) == \
        "/Users/ana/Library/Application Support/emgfeedback/sessions.sqlite"


# ---------------------------------------------------------------------------- serial names


@pytest.mark.parametrize("url, platform, port", [
    ("serial://COM3?framing=emgf", "win32", "COM3"),
    ("serial://com3", "win32", "COM3"),
    ("serial:///COM3", "win32", "COM3"),
    ("serial://COM10?framing=auto", "win32", "COM10"),
    ("serial://\\\\.\\COM10?framing=auto", "win32", "\\\\.\\COM10"),
    ("serial://%5C%5C.%5CCOM12", "win32", "\\\\.\\COM12"),
    ("serial:///dev/ttyACM0", "linux", "/dev/ttyACM0"),
    ("serial:///dev/ttyUSB0?framing=text", "linux", "/dev/ttyUSB0"),
    ("serial:///dev/serial/by-id/usb-Arduino%20LLC-if00", "linux",
     "/dev/serial/by-id/usb-Arduino LLC-if00"),
    ("serial:///dev/cu.usbmodem1101?framing=auto", "darwin", "/dev/cu.usbmodem1101"),
    ("serial:///dev/cu.wchusbserial1410", "darwin", "/dev/cu.wchusbserial1410"),
])
def test_serial_urls_give_the_port_name_to_open(monkeypatch, url, platform, port):
    monkeypatch.setattr(host, "PLATFORM", platform)  # as if this host were ``platform``
    parsed = parse_source_url(url)
    assert parsed.scheme == "serial" and parsed.path == port
    assert host.serial_port_name(parsed.path, platform) == port  # idempotent


def test_serial_port_names_outside_windows_are_kept_as_given():
    for name in ("COM3", "/COM3", "/dev/ttyACM0", "/dev/tty.usbmodem1101"):
        assert host.serial_port_name(name, "linux") == name
        assert host.serial_port_name(name, "darwin") == name


@pytest.mark.parametrize("device, url", [
    ("COM3", "serial://COM3?framing=auto"),
    ("\\\\.\\COM10", "serial://\\\\.\\COM10?framing=auto"),
    ("/dev/ttyACM0", "serial:///dev/ttyACM0?framing=auto"),
    ("/dev/cu.usbmodem1101", "serial:///dev/cu.usbmodem1101?framing=auto"),
    ("/dev/serial/by-id/usb-Arduino LLC-if00",
     "serial:///dev/serial/by-id/usb-Arduino%20LLC-if00?framing=auto"),
])
def test_port_urls_round_trip_through_the_url_parser(device, url):
    assert host.serial_url(device) == url
    platform = "win32" if "COM" in device else "linux"
    parsed = parse_source_url(url)
    assert host.serial_port_name(parsed.path, platform) == device
    assert parsed.options == {"framing": "auto"}


def _comport(device, vid=None, pid=None, serial_number=None, description="n/a"):
    return types.SimpleNamespace(device=device, description=description, vid=vid, pid=pid,
                                 serial_number=serial_number, manufacturer=None)


def test_ports_lists_windows_names_in_natural_order_with_their_urls():
    listed = list_ports([
        _comport("COM10", 0x1A86, 0x7523, description="USB-SERIAL CH340 (COM10)"),
        _comport("COM3", 0x2341, 0x0043, "8573531", "Arduino Uno (COM3)"),
        _comport("COM9"),
    ])
    assert [p.device for p in listed] == ["COM3", "COM9", "COM10"]
    uno = listed[0]
    assert uno.url == "serial://COM3?framing=auto" and uno.usb_id == "2341:0043"
    assert uno.as_dict()["url"] == uno.url
    assert listed[2].vendor.startswith("WCH CH340")
    assert isinstance(uno, PortInfo)


def test_ports_lists_macos_call_up_devices():
    listed = list_ports([_comport("/dev/cu.usbmodem1101", 0x2341, 0x0043),
                         _comport("/dev/cu.Bluetooth-Incoming-Port")])
    assert [p.url for p in listed] == ["serial:///dev/cu.Bluetooth-Incoming-Port?framing=auto",
                                       "serial:///dev/cu.usbmodem1101?framing=auto"]


def test_the_ports_command_prints_the_url_to_use(monkeypatch, capsys):
    from emgfeedback.acquisition import ports
    from emgfeedback.cli import main

    real = ports.list_ports
    monkeypatch.setattr(ports, "list_ports", lambda: real([_comport("COM4", 0x0403, 0x6001)]))
    assert main(["ports"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("COM4  [0403:6001 FTDI USB-serial]")
    assert '--source "serial://COM4?framing=auto"' in out
    monkeypatch.setattr(ports, "list_ports", lambda: [])
    assert main(["ports"]) == 0
    assert capsys.readouterr().out.strip() == host.no_ports_hint()


def test_no_port_hints_name_what_each_platform_needs():
    assert "CH340" in host.no_ports_hint("win32") and "Device Manager" in \
        host.no_ports_hint("win32")
    assert "/dev/cu.usbmodem" in host.no_ports_hint("darwin")
    assert "dialout" in host.no_ports_hint("linux")


def test_a_replugged_com_port_is_found_by_listing_not_by_file():
    # COM3 is not a file: "there again" means listed again
    never = lambda path: False  # noqa: E731 - os.path.exists on Windows for COM3
    assert host.serial_port_present("COM3", ["COM1", "COM3"], "win32", exists=never)
    assert host.serial_port_present("\\\\.\\COM10", ["COM10"], "win32", exists=never)
    assert host.serial_port_present("com10", ["\\\\.\\COM10"], "win32", exists=never)
    assert not host.serial_port_present("COM3", ["COM4"], "win32", exists=never)
    assert host.serial_port_present("/dev/ttyACM0", [], "linux", exists=lambda p: True)
    assert not host.serial_port_present("/dev/ttyACM0", ["/dev/ttyACM0"], "linux",
                                        exists=never)


def test_port_advice_for_names_of_the_wrong_kind():
    assert "/dev/cu.usbmodem1101" in host.serial_port_advice("/dev/tty.usbmodem1101", "darwin")
    assert host.serial_port_advice("/dev/cu.usbmodem1101", "darwin") is None
    assert "COM3" in host.serial_port_advice("/dev/ttyACM0", "win32")
    assert "Windows port name" in host.serial_port_advice("COM3", "linux")
    assert host.serial_port_advice("COM3", "win32") is None
    assert host.serial_port_advice("/dev/ttyACM0", "linux") is None


def test_opening_a_windows_name_here_says_so(tmp_path):
    from emgfeedback.acquisition import open_source
    from emgfeedback.errors import SourceError

    if sys.platform.startswith("win"):
        pytest.skip("on Windows COM99 is a real name")  # pragma: no cover
    source = open_source("serial://COM99?framing=emgf")
    with pytest.raises(SourceError, match="COM99 is a Windows port name"):
        source.open()


def test_reconnect_finds_a_com_port_again_once_windows_lists_it(monkeypatch):
    """The reconnect lookup, as on Windows: "COM7" is no file, so before host.py it was
    never found again after an unplug; now it is, as soon as the system lists it."""
    from serial.tools import list_ports as pyserial_ports

    from emgfeedback.acquisition.serial_port import find_device

    monkeypatch.setattr(host, "PLATFORM", "win32")
    listed = []
    monkeypatch.setattr(pyserial_ports, "comports", lambda: list(listed))
    assert find_device(None, "COM7") is None  # unplugged
    listed.append(_comport("COM7"))
    assert find_device(None, "COM7") == "COM7"  # replugged, same name
    # a USB board is found by its identity under whatever name it got
    listed[:] = [_comport("COM9", 0x2341, 0x0043, "8573531")]
    assert find_device((0x2341, 0x0043, "8573531"), "COM7") == "COM9"


def test_allocator_tuning_is_glibc_only_and_never_fails():
    from emgfeedback.host import keep_freed_memory

    assert keep_freed_memory("win32") is False
    assert keep_freed_memory("darwin") is False
    # This host: tuned where the C library is glibc, a plain False elsewhere, never an error.
    import platform

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is expected
