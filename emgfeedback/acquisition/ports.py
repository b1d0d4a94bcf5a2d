"""Serial ports present on this machine, with the board each one probably is.

The guess comes from the USB vendor and product IDs (``VID:PID``) in the board
descriptors (:data:`emgfeedback.acquisition.boards.BOARDS`, ``usb_ids``); a vendor ID alone
names the USB-serial chip or maker. A guess is only a guess: a CH340 clone may carry any
sketch, so the framing still has to be given or detected (``framing=auto``).

Port names are the operating system's: ``COM3`` on Windows, ``/dev/cu.usbmodem1101`` or
``/dev/cu.wchusbserial1410`` on macOS, ``/dev/ttyACM0`` or ``/dev/ttyUSB0`` on Linux; each
port also carries the ``serial://`` URL that opens it (:attr:`PortInfo.url`).
"""

from __future__ import annotations

from dataclasses import dataclass

from emgfeedback.acquisition.boards import BOARDS
from emgfeedback.host import serial_url

#: What a USB vendor ID alone says (from hardware/BOARDS.md).
VENDORS = {
    0x2341: "Arduino",
    0x2A03: "Arduino (arduino.org)",
    0x1A86: "WCH CH340 USB-serial (Arduino clone)",
    0x0403: "FTDI USB-serial",
    0x10C4: "Silicon Labs CP210x USB-serial",
    0x303A: "Espressif (ESP32 native USB)",
    0x2E73: "Backyard Brains",
}


@dataclass(frozen=True)
class PortInfo:
    """One serial port and what it probably is.

    Attributes
    ----------
    device : str
        Path to open (``/dev/ttyACM0``, ``COM3``).
    description : str
        The operating system's description.
    vid, pid : int or None
        USB vendor and product IDs (None for non-USB ports).
    serial_number : str or None
        USB serial number (used to find the same board again after an unplug).
    manufacturer : str or None
        USB manufacturer string.
    vendor : str or None
        What the vendor ID says (:data:`VENDORS`).
    boards : tuple of str
        Board descriptors whose ``usb_ids`` contain this ``VID:PID``.
    """

    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    manufacturer: str | None
    vendor: str | None
    boards: tuple[str, ...]

    @property
    def url(self) -> str:
        """The source URL that opens this port, e.g. ``serial://COM3?framing=auto``."""
        return serial_url(self.device)

    @property
    def usb_id(self) -> str | None:
        """``"VID:PID"`` in upper-case hex, or None."""
        if self.vid is None or self.pid is None:
            return None
        return f"{self.vid:04X}:{self.pid:04X}"

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return {"device": self.device, "url": self.url, "description": self.description,
                "usb_id": self.usb_id,
                "serial_number": self.serial_number, "manufacturer": self.manufacturer,
                "vendor": self.vendor, "boards": list(self.boards)}


def guess_boards(vid: int | None, pid: int | None) -> tuple[str, ...]:
    """Board descriptor names whose ``usb_ids`` list this VID:PID.

    Parameters
    ----------
    vid, pid : int or None
        USB IDs.

    Returns
    -------
    tuple of str
        Possibly empty.
    """
    if vid is None or pid is None:
        return ()
    usb_id = f"{vid:04X}:{pid:04X}"
    return tuple(name for name, board in BOARDS.items()
                 if usb_id in {u.upper() for u in board.usb_ids})


def list_ports(comports=None) -> list[PortInfo]:
    """Serial ports present now, sorted by name (``COM10`` after ``COM9``).

    Parameters
    ----------
    comports : iterable, optional
        What :func:`serial.tools.list_ports.comports` returns (objects with ``device``,
        ``description``, ``vid``, ``pid``, ``serial_number``, ``manufacturer``); asked
        from pyserial when not given.

    Returns
    -------
    list of PortInfo
    """
    if comports is None:
        from serial.tools import list_ports as pyserial_ports

        comports = pyserial_ports.comports()
    ports = []
    for p in comports:
        ports.append(PortInfo(
            device=p.device,
            description=p.description or "",
            vid=p.vid,
            pid=p.pid,
            serial_number=p.serial_number,
            manufacturer=p.manufacturer,
            vendor=VENDORS.get(p.vid) if p.vid is not None else None,
            boards=guess_boards(p.vid, p.pid),
        ))
    return sorted(ports, key=lambda port: _natural_key(port.device))


def _natural_key(name: str) -> tuple:
    """Sort key that puts ``COM9`` before ``COM10`` and ``ttyACM2`` before ``ttyACM10``."""
    import re

    return tuple(int(part) if part.isdigit() else part
                 for part in re.split(r"(\d+)", name))
