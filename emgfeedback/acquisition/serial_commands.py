"""Host commands for serial boards: what each framing understands, and the reset hold.

emgf devices take ASCII lines (``?`` info, ``b`` start, ``s`` stop, ``f<Hz>``, ``c<n>``,
``k<n>``; each answered by a status frame); BackyardBrains SpikerShields take ``c:<n>;``;
text and P2 streams take nothing. An Uno reboots when its port opens, and bytes sent to its
bootloader are lost (or worse), so :class:`CommandQueue` holds commands until the device
speaks or the reset wait has passed.
"""

from __future__ import annotations

import threading
import time
from collections import deque

#: emgf commands.
EMGF_INFO = b"?\n"
EMGF_START = b"b\n"
EMGF_STOP = b"s\n"

#: emgf status codes that answer a command: accepted, refused, unknown command.
EMGF_REPLY_CODES = (3, 4, 5)
EMGF_ACCEPTED = 3

#: Framings whose devices take no commands (nothing to hold for).
SILENT_FRAMINGS = ("text", "p2")


def encode_command(framing: str | None, command: str | bytes) -> bytes:
    """The bytes of a host command: emgf lines get their ``\\n``; bytes are sent as given."""
    if isinstance(command, bytes):
        return command
    data = command.encode("ascii")
    if framing == "emgf" and not data.endswith(b"\n"):
        data += b"\n"
    return data


def byb_channels_command(n_channels: int) -> bytes:
    """The SpikerShield command selecting ``n_channels``."""
    return f"c:{n_channels};".encode()


def emgf_config_commands(device_info: dict, fs_hz: float | None, channels: int | None,
                         samples_per_frame: int | None) -> list[str]:
    """The emgf commands that make a device described by ``device_info`` match the options.

    Parameters
    ----------
    device_info : dict
        The device's info payload (``fs``, ``ch``, ``k``).
    fs_hz, channels, samples_per_frame : optional
        Wanted settings; None keeps the device's.

    Returns
    -------
    list of str
        ``f<Hz>``, ``c<n>``, ``k<n>`` for the settings that differ, in that order.
    """
    wanted = []
    if fs_hz and float(device_info.get("fs", 0)) != fs_hz:
        wanted.append(f"f{round(fs_hz)}")
    if channels and int(device_info.get("ch", 0)) != channels:
        wanted.append(f"c{channels}")
    if samples_per_frame and int(device_info.get("k", 0)) != samples_per_frame:
        wanted.append(f"k{samples_per_frame}")
    return wanted


def resume_commands(framing: str | None, started: bool, channels: int | None) -> list[bytes]:
    """What a reopened device must be told again: a rebooted emgf board waits for ``b``,
    a SpikerShield forgets its channel count."""
    if framing == "emgf" and started:
        return [EMGF_START]
    if framing == "byb" and channels:
        return [byb_channels_command(channels)]
    return []


class CommandQueue:
    """Host commands waiting for the reader thread, held while a board resets.

    The hold starts with :meth:`hold` (on open and on every reopen) and ends when the device
    speaks (:meth:`release`, on its info or start-up message) or when the reset wait has
    passed (:meth:`timed_out`).

    Parameters
    ----------
    lock : threading.Lock
        The owner's lock, guarding the queue.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._pending: deque[bytes] = deque()
        self.released = threading.Event()
        self._hold_until = 0.0

    def hold(self, reset_wait_s: float, framing: str | None) -> None:
        """Hold commands for up to ``reset_wait_s`` (not for devices that take none)."""
        self.released.clear()
        self._hold_until = time.monotonic() + reset_wait_s
        if framing in SILENT_FRAMINGS:
            self.released.set()

    def release(self) -> None:
        """The device is listening: send what is queued."""
        self.released.set()

    def timed_out(self, now: float) -> bool:
        """Release the hold if the reset wait has passed; True only for that call (the
        device never spoke: an emgf source then asks ``?``)."""
        if self.released.is_set() or now < self._hold_until:
            return False
        self.released.set()
        return True

    def put(self, data: bytes, once: bool = False) -> None:
        """Queue ``data``; with ``once``, not if the same command is already waiting."""
        with self._lock:
            if not (once and data in self._pending):
                self._pending.append(data)

    def pop(self) -> bytes | None:
        """The next command to write, or None."""
        with self._lock:
            return self._pending.popleft() if self._pending else None
