"""Opening, reading and finding a serial port, tolerant of ptys and vanishing devices.

The serial source keeps its port handling here: :func:`open_port` opens a pyserial port
(ignoring the ENOTTY a pty raises for DTR/RTS), :func:`read_available` reads what has
arrived and turns every way pyserial reports a lost device into :class:`PortLost`, and
:func:`usb_identity` / :func:`find_device` find the same board again after an unplug, by
USB identity (it may come back under another name) or else by path.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

#: Line rate used when neither the URL nor the board gives one.
DEFAULT_BAUD = {"emgf": 1_000_000, "text": 115_200, "p2": 57_600, "byb": 230_400}

#: Longest wait of one read (s): the reader thread also writes commands and checks silence.
READ_TIMEOUT_S = 0.05

#: Longest wait of one write (s).
WRITE_TIMEOUT_S = 0.5

#: (vid, pid, serial_number) of a USB serial device.
UsbIdentity = tuple


class PortLost(Exception):
    """The port failed under a read or write (unplugged board, closed pty)."""


def open_port(path: str, baud: int):
    """Open ``path`` at ``baud`` with DTR/RTS asserted where the port allows it.

    Parameters
    ----------
    path : str
        Device path (``/dev/ttyACM0``, ``COM3``, a pty or a symlink to one).
    baud : int
        Line rate.

    Returns
    -------
    serial.Serial
        The open port.

    Raises
    ------
    OSError
        If the port cannot be opened; the message is pyserial's.
    """
    import serial

    try:
        ser = serial.Serial(path, baudrate=baud, timeout=READ_TIMEOUT_S,
                            write_timeout=WRITE_TIMEOUT_S)
    except (serial.SerialException, OSError, ValueError) as exc:
        log.debug("open %s failed: %s", path, exc)
        raise OSError(str(exc)) from exc
    for attr in ("dtr", "rts"):
        try:  # ptys raise ENOTTY; real Unos reset on the DTR edge anyway
            setattr(ser, attr, True)
        except (OSError, serial.SerialException):
            pass
    return ser


def close_port(ser) -> None:
    """Close ``ser`` (None is ignored); a vanished device may fail to close, which is fine."""
    if ser is None:
        return
    try:
        ser.close()
    except Exception:  # nothing left to release
        pass


def read_available(ser) -> bytes:
    """Bytes that arrived: at least one within the read timeout, then all that are waiting.

    Raises
    ------
    PortLost
        When pyserial reports the device gone.
    """
    import serial

    try:
        data = ser.read(max(1, ser.in_waiting))
        if data:
            more = ser.in_waiting
            if more:
                data += ser.read(more)
    except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
        # TypeError/AttributeError: pyserial after the fd vanished under it
        raise PortLost(str(exc)) from exc
    return bytes(data)


def write(ser, data: bytes) -> None:
    """Write ``data``; a failing device raises :class:`PortLost`."""
    import serial

    try:
        ser.write(data)
    except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
        raise PortLost(str(exc)) from exc


def usb_identity(path: str) -> UsbIdentity | None:
    """(vid, pid, serial_number) of the USB device behind ``path``, or None (pty, ...)."""
    try:
        from serial.tools import list_ports

        real = os.path.realpath(path)
        for p in list_ports.comports():
            if p.vid is not None and (p.device == path or os.path.realpath(p.device) == real):
                return (p.vid, p.pid, p.serial_number)
    except Exception:  # listing is best effort; path polling still works
        return None
    return None


def find_device(identity: UsbIdentity | None, path: str) -> str | None:
    """Where the device is now: the port with the same USB identity, else ``path`` if it
    exists again, else None."""
    from serial.tools import list_ports

    from emgfeedback.host import is_windows, serial_port_present

    listed = list_ports.comports() if identity is not None or is_windows() else []
    if identity is not None:
        for p in listed:
            if (p.vid, p.pid, p.serial_number) == identity:
                return p.device
    # (a COM port is not a file: on Windows "there again" means listed again)
    return path if serial_port_present(path, [p.device for p in listed]) else None


def ports_hint() -> str:
    """The serial ports present, for error messages."""
    try:
        from serial.tools import list_ports

        names = sorted(p.device for p in list_ports.comports())
    except Exception:  # pragma: no cover - listing is only a hint
        names = []
    return ", ".join(names) if names else "none found (is the board plugged in?)"


def open_error_message(path: str, error: str) -> str:
    """A user-facing explanation of why ``path`` did not open, with what to try."""
    from emgfeedback.host import is_windows, serial_port_advice

    hint = ""
    if "ermission" in error or "denied" in error:
        hint = (" (is another program, e.g. the Arduino IDE's serial monitor, using it?)"
                if is_windows() else
                " (on Linux add your user to the 'dialout' group and log in again)")
    advice = serial_port_advice(path)
    if advice:
        hint += f" ({advice})"
    return f"cannot open serial port {path!r}: {error}{hint}; ports present: {ports_hint()}"
