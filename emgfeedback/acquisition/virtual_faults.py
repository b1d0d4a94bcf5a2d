"""Faults a :class:`~emgfeedback.acquisition.virtual_device.VirtualDevice` injects, and
what it logs about them (a test compares these with what the host counted)."""

from __future__ import annotations

from dataclasses import dataclass, field

from emgfeedback.errors import ConfigError


@dataclass(frozen=True)
class Faults:
    """Faults injected into the byte stream.

    Attributes
    ----------
    bit_flip_rate : float
        Probability per byte of a data frame that one of its bits is flipped.
    byte_drop_rate : float
        Probability per byte of a data frame that it is not sent.
    truncate_rate : float
        Probability per data frame that only a random leading part is sent.
    garbage_rate_hz : float
        Mean number of bursts of random bytes per second (sent between frames).
    garbage_size : int
        Bytes per garbage burst.
    pauses : tuple of (float, float)
        ``(at_s, duration_s)``: the device sends nothing for ``duration_s`` starting
        ``at_s`` after the host first opened the port; samples taken meanwhile are dropped (the
        emgf index advances and the status reports them as TX drops).
    noise : tuple of (float, float)
        ``(at_s, duration_s)``: instead of frames the device sends random bytes at
        ``noise_bytes_per_s`` (a wrong baud rate, another device, line noise); samples
        taken meanwhile are dropped (logged as ``noise``).
    noise_bytes_per_s : float
        Byte rate of the noise (default 200,000: a pty carries it, a 230400-baud UART
        could not).
    unplug_after_s : float, optional
        Close the pty this long after the host first opened the port (the host sees a
        disconnect). All fault times count from that first open.
    replug_after_s : float, optional
        Open a new pty this long after the unplug.
    new_path : bool
        Make sure the replugged pty has a different path.
    seed : int
        Seed of the fault draws.
    """

    bit_flip_rate: float = 0.0
    byte_drop_rate: float = 0.0
    truncate_rate: float = 0.0
    garbage_rate_hz: float = 0.0
    garbage_size: int = 32
    pauses: tuple[tuple[float, float], ...] = ()
    noise: tuple[tuple[float, float], ...] = ()
    noise_bytes_per_s: float = 200_000.0
    unplug_after_s: float | None = None
    replug_after_s: float | None = None
    new_path: bool = False
    seed: int = 12345

    def damages_frames(self) -> bool:
        """True if any per-frame fault is enabled."""
        return bool(self.bit_flip_rate or self.byte_drop_rate or self.truncate_rate)


@dataclass(frozen=True)
class FaultRecord:
    """Samples the device destroyed or threw away.

    Attributes
    ----------
    kind : str
        ``bit_flip``, ``byte_drop``, ``truncate`` (a damaged frame), ``pause``, ``noise``
        (random bytes sent instead), ``unplug``, ``tx_full`` (the host did not read) or
        ``not_listening`` (port closed).
    stream : int
        Stream number (increments when the device index restarts).
    first_index : int
        Device index of the first sample affected.
    n_samples : int
        Samples affected.
    time_s : float
        Host monotonic time.
    """

    kind: str
    stream: int
    first_index: int
    n_samples: int
    time_s: float


@dataclass
class DeviceLog:
    """What the device did (read by tests and the command's summary)."""

    samples_sent: int = 0
    frames_sent: int = 0
    garbage_bytes: int = 0
    noise_bytes: int = 0
    host_opens: int = 0
    commands: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def parse_pause(text: str, option: str = "--pause") -> tuple[float, float]:
    """Parse ``S@T`` (S seconds starting at T seconds) into ``(at_s, duration_s)``."""
    try:
        duration, at = text.split("@")
        duration_s, at_s = float(duration), float(at)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected SECONDS@AT_SECONDS, e.g. 1.5@2") \
            from None
    if not (0 < duration_s < float("inf") and 0 <= at_s < float("inf")):
        raise ConfigError(f"{option} {text!r}: duration must be > 0 and start >= 0 "
                          "(finite seconds)")
    return at_s, duration_s
