"""The serial source's port (:class:`SerialPortLink`): open, read, write held commands,
close, and find the same device again after an unplug.

Only the reader thread reads and writes the port; ``open()`` and ``close()`` run on the
caller's thread before the reader starts and after it stopped. Host commands wait in a
:class:`~emgfeedback.acquisition.serial_commands.CommandQueue` while the board may be
resetting (an Uno reboots when the port opens). ptys (the virtual device, socat) raise
``OSError`` (ENOTTY) on DTR/RTS; :mod:`.serial_port` tolerates that.
"""

from __future__ import annotations

import threading
import time

from emgfeedback.acquisition.serial_commands import EMGF_INFO, CommandQueue
from emgfeedback.acquisition.serial_port import (
    UsbIdentity,
    close_port,
    find_device,
    open_error_message,
    open_port,
    read_available,
    usb_identity,
    write,
)
from emgfeedback.errors import SourceError

__all__ = ["RECONNECT_POLL_S", "SerialPortLink"]

#: How often the reader thread looks for an unplugged device (s).
RECONNECT_POLL_S = 0.1


class SerialPortLink:
    """One serial port and the commands waiting to be written to it.

    Parameters
    ----------
    path : str
        Device path (``/dev/ttyACM0``, ``COM3``, a pty).
    baud : int
        Line rate.
    lock : threading.Lock
        The source's lock (guards the command queue).

    Attributes
    ----------
    commands : CommandQueue
        Host commands, held while the board resets.
    usb_identity : UsbIdentity or None
        (VID, PID, serial number) of a USB device, to find it again after an unplug.
    unplugs, reconnects : int
        Times the port was lost and reopened.
    """

    def __init__(self, path: str, baud: int, lock: threading.Lock) -> None:
        self.path = path
        self.baud = baud
        self.commands = CommandQueue(lock)
        self.usb_identity: UsbIdentity | None = None
        self.unplugs = 0
        self.reconnects = 0
        self._ser = None

    @property
    def is_open(self) -> bool:
        """True while a port is open (False after an unplug, until it is found again)."""
        return self._ser is not None

    @property
    def baudrate(self) -> int | None:
        """The open port's line rate (None when closed)."""
        return self._ser.baudrate if self._ser is not None else None

    def open(self) -> None:
        """Open the port.

        Raises
        ------
        SourceError
            Saying why and which ports exist.
        """
        try:
            self._ser = open_port(self.path, self.baud)
        except OSError as exc:
            raise SourceError(open_error_message(self.path, str(exc))) from exc
        self.usb_identity = usb_identity(self.path)

    def close(self) -> None:
        """Close the port (idempotent)."""
        ser, self._ser = self._ser, None
        close_port(ser)

    def lost(self) -> None:
        """The port went away: close what is left of it and count the unplug."""
        self.close()
        self.unplugs += 1

    def read(self) -> bytes:
        """The bytes waiting (at least one, or none after the read timeout).

        Raises
        ------
        PortLost
            When the device went away.
        """
        return read_available(self._ser)

    def write_commands(self, may_ask_info: bool) -> bool:
        """Write the queued commands once the reset hold is over.

        Parameters
        ----------
        may_ask_info : bool
            Whether to ask the device ``?`` when the hold ended without it speaking (an emgf
            board that did not reset on open has sent its hello long ago).

        Returns
        -------
        bool
            True when ``?`` was sent now.

        Raises
        ------
        PortLost
            When the device went away.
        """
        asked = False
        if self.commands.timed_out(time.monotonic()) and may_ask_info:
            write(self._ser, EMGF_INFO)
            asked = True
        if self.commands.released.is_set():
            while (data := self.commands.pop()) is not None:
                write(self._ser, data)
        return asked

    def reopen(self) -> str | None:
        """Find the same device (USB identity, else path) and open it again.

        Returns
        -------
        str or None
            The path reopened, or None when the device is not back yet.
        """
        path = find_device(self.usb_identity, self.path)
        if path is None:
            return None
        try:
            self._ser = open_port(path, self.baud)
        except OSError:
            return None
        self.reconnects += 1
        return path
