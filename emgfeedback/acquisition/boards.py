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

from dataclasses import dataclass, field

import numpy as np

from emgfeedback.errors import ConfigError

# Shared with storage (emgfeedback.types), importable from here as before.
from emgfeedback.types import RMS_PER_ARV as RMS_PER_ARV
from emgfeedback.types import ChannelCalibration as ChannelCalibration

#: Output kinds: RAW (bipolar EMG around an offset), RECT (rectified, gain as RAW),
#: ENV (envelope, higher gain), UV (already µV, e.g. LSL or BrainFlow).
OUTPUT_KINDS = ("raw", "rect", "env", "uv")
#: How each output kind is named to the user (status bar, reports).
OUTPUT_TITLES = {
    "raw": "RAW (bipolar EMG)",
    "rect": "RECT (rectified EMG)",
    "env": "ENV (sensor envelope, ARV; shown as RMS-equivalent µV)",
    "uv": "µV stream (bipolar EMG)",
}


def output_kinds(calibration) -> tuple[str, ...]:
    """Output kind of each channel of a calibration (``raw`` where none is known).

    Parameters
    ----------
    calibration : sequence of ChannelCalibration

    Returns
    -------
    tuple of str
        One of :data:`OUTPUT_KINDS` per channel.
    """
    return tuple(str(getattr(c, "output", "raw") or "raw") for c in calibration)


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
    effective_baud : int
        Real line rate when it differs from ``baud`` (0: same).
    uv_step : float
        Quantisation step in µV for boards whose output is already µV (``output="uv"``).
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
    effective_baud: int = 0
    uv_step: float = 0.01

    @property
    def line_baud(self) -> int:
        """Bits per second really on the wire (``effective_baud`` when the UART divisor is
        inexact, e.g. 230400 nominal is 222222 on a 16 MHz AVR), else ``baud``."""
        return self.effective_baud or self.baud

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
            raise ConfigError(
                f"board {self.name}: {len(outputs)} outputs for {n_channels} channels")
        full_scale = 2**self.adc_bits
        cals = []
        for kind in outputs:
            if kind == "uv" and "uv" in self.sensor.gains:
                # Streams already in µV have no ADC: quantise to a declared step instead.
                cals.append(uv_calibration(1, self.uv_step)[0])
                continue
            if kind not in OUTPUT_KINDS:
                raise ConfigError(
                    f"output kind {kind!r}: expected one of {', '.join(OUTPUT_KINDS)}")
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



# Sources for the gains below (checked November 2026):
# - MyoWare 2.0: RAW and RECT have a fixed gain of 200, ENV is 200·(1 + R_pot/1 kΩ) (Advancer
#   Technologies, "MyoWare 2.0 Advanced Guide", last page; restated by the vendor on
#   reddit r/MyoWare "How to convert EMG signal to millivolts", 2023, and in the vendor's
#   ReadMyoWareVoltage example). The vendor library assumes R_pot = 50 kΩ: ENV gain 10,200.
#   RAW is centred on REF (≈ Vs/2): subtract REF, or mid-rail when REF is not wired.
# - MyoWare 1.0 (AT-04-001): SIG (envelope) gain = 201 · R_gain / 1 kΩ with the on-board
#   potentiometer (0-100 kΩ; 50 kΩ at mid-travel → 10,050). RAW is centred at Vs/2. NOT
#   VERIFIED: the data sheet (github.com/AdvancerTechnologies/MyoWare_MuscleSensor,
#   Documents/AT-04-001.pdf, gain equation on its last page) could not be read here; the
#   RAW gain of 200 is the 2.0 value and users report a much smaller RAW swing on 1.0
#   boards (PJRC forum thread 41176). Measure a known signal before trusting µV from 1.0.
# - Olimex SHIELD-EKG-EMG: total gain = 10 (instrumentation amplifier) × G2 (trimmer,
#   6..101, factory ≈ 80) × 3.56 (3rd-order "Besselworth" low-pass, fc = 40 Hz) ≈ 2848
#   (Olimex SHIELD-EKG-EMG user manual, restated on reseller pages). Output centred at
#   mid-rail (unused P2 channels read 0x0200). The 40 Hz low-pass removes most of the
#   sEMG band: it is an ECG front end that also shows EMG bursts.
# - Backyard Brains Muscle SpikerShield: gain 600, band 50-2500 Hz (docs.backyardbrains.com,
#   Human/MuscleSS "Technical Specifications"). Output centred at mid-rail (assumed: the
#   raw EMG is AC-coupled around Vcc/2).
MYOWARE2 = Sensor(
    name="myoware2",
    title="MyoWare 2.0 muscle sensor",
    gains={"raw": 200.0, "rect": 200.0, "env": 200.0 * (1.0 + 50.0)},
    centred={"raw": True},
)

MYOWARE1 = Sensor(
    name="myoware1",
    title="MyoWare 1.0 (AT-04-001) muscle sensor",
    gains={"raw": 200.0, "env": 201.0 * 50.0},
    centred={"raw": True},
)

OLIMEX_EKG_EMG = Sensor(
    name="olimex-ekg-emg",
    title="Olimex SHIELD-EKG-EMG (gain ≈ 2848, 0.16-40 Hz)",
    gains={"raw": 10.0 * 80.0 * 3.56},
    centred={"raw": True},
)

BYB_MUSCLE = Sensor(
    name="byb-muscle",
    title="Backyard Brains Muscle SpikerShield (gain 600, 50-2500 Hz)",
    gains={"raw": 600.0},
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
ESP32_USB_IDS = ("303A:1001", "10C4:EA60", "1A86:7523")

BOARDS: dict[str, Board] = {}


def register_board(board: Board) -> Board:
    """Add a board descriptor to :data:`BOARDS` (name must be new)."""
    if board.name in BOARDS:
        raise ValueError(f"board {board.name!r} is already registered")
    BOARDS[board.name] = board
    return board


# Arduino Uno (A0-A5) and Nano (A0-A7) share the ATmega328P: 10-bit ADC, 5 V reference.
_UNO = dict(adc_bits=10, vref_mv=5000.0, channels=4, max_channels=8, usb_ids=ARDUINO_USB_IDS)
# ESP32 (MyoWare 2.0 Wireless Shield): 12-bit ADC, ~3.3 V full scale (non-linear near the
# ends; firmware should use analogReadMilliVolts), text output over native USB.
_ESP32 = dict(adc_bits=12, vref_mv=3300.0, channels=4, max_channels=6, framing="text",
              baud=115200, usb_ids=ESP32_USB_IDS)

register_board(Board("uno-myoware2", "Arduino Uno/Nano (5 V, 10-bit) + MyoWare 2.0 RAW", MYOWARE2,
                    fs_hz=2000.0, **_UNO))
register_board(Board("uno-myoware2-rect", "Arduino Uno/Nano (5 V) + MyoWare 2.0 RECT",
                    MYOWARE2, fs_hz=2000.0, output="rect", **_UNO))
register_board(Board("uno-myoware2-env", "Arduino Uno/Nano (5 V) + MyoWare 2.0 ENV", MYOWARE2,
                    fs_hz=500.0, output="env", **_UNO))
register_board(Board("uno-myoware1", "Arduino Uno/Nano (5 V, 10-bit) + MyoWare 1.0 RAW", MYOWARE1,
                    fs_hz=2000.0, **_UNO))
register_board(Board("uno-myoware1-env", "Arduino Uno/Nano (5 V) + MyoWare 1.0 SIG (envelope)",
                    MYOWARE1, fs_hz=500.0, output="env", **_UNO))
register_board(Board("esp32-myoware2", "MyoWare 2.0 Wireless Shield (ESP32, 3.3 V, 12-bit)",
                    MYOWARE2, fs_hz=1000.0, **_ESP32))
register_board(Board("esp32-myoware2-env", "MyoWare 2.0 Wireless Shield (ESP32) ENV", MYOWARE2,
                    fs_hz=250.0, output="env", **_ESP32))
register_board(Board("esp32-myoware1", "ESP32 (3.3 V, 12-bit) + MyoWare 1.0 RAW", MYOWARE1,
                    fs_hz=1000.0, **_ESP32))
register_board(Board("esp32-myoware1-env", "ESP32 (3.3 V, 12-bit) + MyoWare 1.0 SIG", MYOWARE1,
                    fs_hz=250.0, output="env", **_ESP32))
# P2 packets always carry 6 channels; the Olimex demo sketch really ticks at 250 Hz.
register_board(Board("olimex-ekg-emg", "Olimex SHIELD-EKG-EMG on a 5 V Arduino (P2, 256 Hz)",
                    OLIMEX_EKG_EMG, adc_bits=10, vref_mv=5000.0, fs_hz=256.0, channels=6,
                    max_channels=6, framing="p2", baud=57600, usb_ids=ARDUINO_USB_IDS))
register_board(Board("olimex-ekg-emg-3v3",
                    "Olimex SHIELD-EKG-EMG on a 3.3 V board (OLIMEXINO, P2, 256 Hz)",
                    OLIMEX_EKG_EMG, adc_bits=10, vref_mv=3300.0, fs_hz=256.0, channels=6,
                    max_channels=6, framing="p2", baud=57600))
# The SpikerShield shares 10 kHz among its channels; 230400 baud is really 222222 on a
# 16 MHz AVR. It enumerates as an Uno, so its USB IDs would not tell it from one.
register_board(Board("byb-muscle", "Backyard Brains Muscle SpikerShield (10 kHz / channels)",
                    BYB_MUSCLE, adc_bits=10, vref_mv=5000.0, fs_hz=10000.0, channels=1,
                    max_channels=6, framing="byb", baud=230400, effective_baud=222222))
register_board(Board("generic", "generic 10-bit 5 V board, gain 1000", GENERIC_SENSOR,
                    adc_bits=10, vref_mv=5000.0, fs_hz=1000.0, channels=1, max_channels=16,
                    framing="text", baud=115200))
register_board(Board("uv", "stream in µV (LSL, BrainFlow)", UV_SENSOR, adc_bits=32,
                    vref_mv=0.0, fs_hz=250.0, channels=1, max_channels=256, framing="",
                    output="uv"))

#: Boards whose sample rate is an aggregate shared by the channels (rate per channel =
#: aggregate / channels).
SHARED_RATE_HZ = {"byb-muscle": 10000.0}


def rate_for_channels(board: Board, n_channels: int) -> float:
    """Per-channel sample rate of ``board`` with ``n_channels`` channels, in hertz."""
    total = SHARED_RATE_HZ.get(board.name)
    return total / n_channels if total else board.fs_hz


def calibration_table(n_channels: int = 1) -> list[dict]:
    """One row per board: output, gain, quantisation step and floor in µV at the electrode.

    Returns
    -------
    list of dict
        Keys ``board``, ``title``, ``output``, ``gain``, ``adc_bits``, ``vref_mv``,
        ``uv_per_count``, ``floor_uv`` (RMS, quantisation and sensor noise),
        ``full_scale_uv`` (peak µV at the electrode before clipping).
    """
    rows = []
    for board in BOARDS.values():
        cal = board.calibration(n_channels)[0]
        gain = board.sensor.gains.get(board.output, 1.0)
        rows.append({
            "board": board.name,
            "title": board.title,
            "output": board.output,
            "gain": gain,
            "adc_bits": board.adc_bits,
            "vref_mv": board.vref_mv,
            "uv_per_count": cal.uv_per_count,
            "floor_uv": cal.wideband_floor_uv,
            "full_scale_uv": (cal.adc_max - cal.offset_counts) * cal.uv_per_count,
        })
    return rows


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
