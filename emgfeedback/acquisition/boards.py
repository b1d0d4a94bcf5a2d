"""Boards and sensors as data, and calibration from ADC counts to µV at the electrode.

A *board* is the ADC side (bits, reference voltage, sample rate, wire format, USB IDs);
a *sensor* is the analogue front end (gain per output, where zero volts sits). Together
they give each channel a :class:`ChannelCalibration`:

    µV at the electrode = (counts − offset_counts) · uv_per_count

with ``uv_per_count = vref_mV · 1000 / 2**adc_bits / gain``. A 10-bit Uno at 5 V behind
MyoWare RAW (gain 200) gives 24.4 µV per count: coarser than many resting tones, which is
why every channel reports its quantisation step and its theoretical floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from emgfeedback.errors import ConfigError

#: Output kinds: RAW (bipolar EMG around an offset), RECT (rectified, gain as RAW),
#: ENV (envelope, higher gain), UV (already µV, e.g. LSL or BrainFlow).
OUTPUT_KINDS = ("raw", "rect", "env", "uv")


@dataclass(frozen=True)
class ChannelCalibration:
    """Conversion of one channel's counts to µV at the electrode.

    Attributes
    ----------
    uv_per_count : float
        µV at the electrode per ADC count (the quantisation step).
    offset_counts : float
        Counts that correspond to 0 V at the electrode (mid-rail or REF for RAW, 0 for
        RECT/ENV).
    output : str
        One of :data:`OUTPUT_KINDS`.
    sensor_noise_uv : float
        Input-referred RMS noise of the front end in µV, where the data sheet gives it
        (0 if unknown).
    adc_min : int
        Lowest count the ADC can produce (for clipping detection).
    adc_max : int
        Highest count the ADC can produce.
    """

    uv_per_count: float
    offset_counts: float = 0.0
    output: str = "raw"
    sensor_noise_uv: float = 0.0
    adc_min: int = 0
    adc_max: int = 1023

    @property
    def quantisation_uv(self) -> float:
        """The quantisation step in µV at the electrode."""
        return self.uv_per_count

    @property
    def floor_uv(self) -> float:
        """Theoretical RMS floor in µV: quantisation noise (q/√12) and sensor noise combined."""
        q_rms = self.uv_per_count / math.sqrt(12.0)
        return math.hypot(q_rms, self.sensor_noise_uv)

    def to_uv(self, counts: np.ndarray) -> np.ndarray:
        """Convert counts to µV at the electrode (float64)."""
        return (np.asarray(counts, dtype=np.float64) - self.offset_counts) * self.uv_per_count

    def to_counts(self, uv: np.ndarray) -> np.ndarray:
        """Convert µV at the electrode to counts, rounded and clipped to the ADC range."""
        counts = np.rint(np.asarray(uv, dtype=np.float64) / self.uv_per_count + self.offset_counts)
        return np.clip(counts, self.adc_min, self.adc_max).astype(np.int32)


def counts_to_uv(samples: np.ndarray, calibration) -> np.ndarray:
    """Convert a ``(n_samples, n_channels)`` block of counts to µV, channel by channel.

    Parameters
    ----------
    samples : numpy.ndarray
        Integer counts, shape ``(n_samples, n_channels)``.
    calibration : sequence of ChannelCalibration
        One per channel.

    Returns
    -------
    numpy.ndarray
        float64 µV at the electrode, same shape.
    """
    offsets = np.array([c.offset_counts for c in calibration], dtype=np.float64)
    scales = np.array([c.uv_per_count for c in calibration], dtype=np.float64)
    return (np.asarray(samples, dtype=np.float64) - offsets) * scales


@dataclass(frozen=True)
class Sensor:
    """An analogue EMG front end.

    Attributes
    ----------
    name : str
        Identifier, e.g. ``"myoware2"``.
    title : str
        Human-readable name.
    gains : dict
        Voltage gain from electrode to output, per output kind.
    centred : dict
        Per output kind, True when 0 V at the electrode sits at mid-rail (RAW).
    noise_uv : float
        Input-referred RMS noise in µV if the data sheet gives it, else 0.
    """

    name: str
    title: str
    gains: dict = field(default_factory=dict)
    centred: dict = field(default_factory=dict)
    noise_uv: float = 0.0


@dataclass(frozen=True)
class Board:
    """A board: its ADC, default rate and channels, wire format and USB identifiers.

    Attributes
    ----------
    name : str
        Identifier used in URLs (``board=uno-myoware2``).
    title : str
        Human-readable name.
    sensor : Sensor
        The front end on each channel.
    adc_bits : int
        ADC resolution in bits.
    vref_mv : float
        ADC reference in millivolts.
    fs_hz : float
        Default sample rate in hertz.
    channels : int
        Default number of channels.
    max_channels : int
        Most channels the board can sample.
    framing : str
        Default wire format.
    baud : int
        Default line rate in baud.
    output : str
        Default output kind of each channel.
    usb_ids : tuple of str
        ``"VID:PID"`` pairs (upper-case hex) that suggest this board.
    """

    name: str
    title: str
    sensor: Sensor
    adc_bits: int = 10
    vref_mv: float = 5000.0
    fs_hz: float = 2000.0
    channels: int = 1
    max_channels: int = 8
    framing: str = "emgf"
    baud: int = 1_000_000
    output: str = "raw"
    usb_ids: tuple[str, ...] = ()

    def calibration(self, n_channels: int, outputs: tuple[str, ...] | None = None):
        """Per-channel calibration for ``n_channels`` channels.

        Parameters
        ----------
        n_channels : int
            Number of channels.
        outputs : tuple of str, optional
            Output kind per channel; defaults to the board's ``output``.

        Returns
        -------
        tuple of ChannelCalibration
        """
        outputs = outputs or (self.output,) * n_channels
        if len(outputs) != n_channels:
            raise ConfigError(f"board {self.name}: {len(outputs)} outputs for {n_channels} channels")
        full_scale = 2**self.adc_bits
        cals = []
        for kind in outputs:
            if kind not in OUTPUT_KINDS:
                raise ConfigError(f"output kind {kind!r}: expected one of {', '.join(OUTPUT_KINDS)}")
            gain = self.sensor.gains.get(kind)
            if gain is None:
                raise ConfigError(
                    f"board {self.name}: sensor {self.sensor.name} has no {kind.upper()} output; "
                    f"it has {', '.join(k.upper() for k in self.sensor.gains)}"
                )
            offset = full_scale / 2.0 if self.sensor.centred.get(kind, False) else 0.0
            cals.append(
                ChannelCalibration(
                    uv_per_count=self.vref_mv * 1000.0 / full_scale / gain,
                    offset_counts=offset,
                    output=kind,
                    sensor_noise_uv=self.sensor.noise_uv,
                    adc_min=0,
                    adc_max=full_scale - 1,
                )
            )
        return tuple(cals)

    def with_rate(self, fs_hz: float) -> Board:
        """A copy of this board with another default rate."""
        return replace(self, fs_hz=float(fs_hz))


# MyoWare 2.0: RAW and RECT have a fixed gain of 200; ENV is 200·(1 + R_pot/1 kΩ) and the
# vendor library assumes R_pot = 50 kΩ, i.e. 10,200. RAW is centred on REF (≈ Vs/2).
MYOWARE2 = Sensor(
    name="myoware2",
    title="MyoWare 2.0 muscle sensor",
    gains={"raw": 200.0, "rect": 200.0, "env": 200.0 * (1.0 + 50.0)},
    centred={"raw": True},
)

# MyoWare 1.0: RAW centred at Vs/2; SIG is the envelope with a potentiometer-set gain
# (201 · R_gain / 1 kΩ, R_gain nominally 50 kΩ at mid-travel).
MYOWARE1 = Sensor(
    name="myoware1",
    title="MyoWare 1.0 (AT-04-001) muscle sensor",
    gains={"raw": 200.0, "env": 201.0 * 50.0},
    centred={"raw": True},
)

GENERIC_SENSOR = Sensor(
    name="generic",
    title="generic front end, gain 1000",
    gains={"raw": 1000.0, "rect": 1000.0, "env": 1000.0},
    centred={"raw": True},
)

UV_SENSOR = Sensor(name="uv", title="stream already in µV", gains={"uv": 1.0})

ARDUINO_USB_IDS = ("2341:0043", "2341:0001", "2341:0243", "2A03:0043", "1A86:7523", "0403:6001",
                   "0403:6015")

BOARDS: dict[str, Board] = {}


def register_board(board: Board) -> Board:
    """Add a board descriptor to :data:`BOARDS` (name must be new)."""
    if board.name in BOARDS:
        raise ValueError(f"board {board.name!r} is already registered")
    BOARDS[board.name] = board
    return board


register_board(Board("uno-myoware2", "Arduino Uno/Nano (5 V, 10-bit) + MyoWare 2.0 RAW", MYOWARE2,
                    adc_bits=10, vref_mv=5000.0, fs_hz=2000.0, channels=4, max_channels=8,
                    usb_ids=ARDUINO_USB_IDS))
register_board(Board("uno-myoware2-env", "Arduino Uno/Nano (5 V) + MyoWare 2.0 ENV", MYOWARE2,
                    adc_bits=10, vref_mv=5000.0, fs_hz=500.0, channels=4, max_channels=8,
                    output="env", usb_ids=ARDUINO_USB_IDS))
register_board(Board("uno-myoware1", "Arduino Uno/Nano (5 V, 10-bit) + MyoWare 1.0 RAW", MYOWARE1,
                    adc_bits=10, vref_mv=5000.0, fs_hz=2000.0, channels=4, max_channels=8,
                    usb_ids=ARDUINO_USB_IDS))
register_board(Board("esp32-myoware2", "MyoWare 2.0 Wireless Shield (ESP32, 3.3 V, 12-bit)",
                    MYOWARE2, adc_bits=12, vref_mv=3300.0, fs_hz=1000.0, channels=4,
                    max_channels=6, framing="text", baud=115200, usb_ids=("303A:1001",)))
register_board(Board("generic", "generic 10-bit 5 V board, gain 1000", GENERIC_SENSOR,
                    adc_bits=10, vref_mv=5000.0, fs_hz=1000.0, channels=1, max_channels=16,
                    framing="text", baud=115200))
register_board(Board("uv", "stream in µV (LSL, BrainFlow)", UV_SENSOR, adc_bits=32,
                    vref_mv=0.0, fs_hz=250.0, channels=1, max_channels=256, framing="",
                    output="uv"))


def get_board(name: str) -> Board:
    """Look up a board by name.

    Raises
    ------
    ConfigError
        Listing the known boards.
    """
    try:
        return BOARDS[name]
    except KeyError:
        raise ConfigError(f"unknown board {name!r}; known boards: {', '.join(sorted(BOARDS))}") \
            from None


def uv_calibration(n_channels: int, uv_per_count: float = 0.01):
    """Calibration for sources that deliver µV and are quantised to ``uv_per_count``."""
    bound = 2**31 - 1
    return tuple(
        ChannelCalibration(uv_per_count=uv_per_count, offset_counts=0.0, output="uv",
                           adc_min=-bound, adc_max=bound)
        for _ in range(n_channels)
    )
