"""``emgfeedback firmware``: where the Arduino firmware is and how to put it on a board."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from emgfeedback.acquisition.avrsim import SKETCH, firmware_dir
from emgfeedback.errors import ConfigError

_REPO_HARDWARE = Path(__file__).resolve().parents[2] / "hardware"

SAFETY = """\
SAFETY: while electrodes are on a person, run the laptop on battery (charger unplugged)
or connect the board through an isolated USB link. Never connect a person to equipment
that is plugged into the mains. emgfeedback is not a medical device."""


def copy_firmware(destination: Path) -> Path:
    """Copy the firmware folder to ``destination/emgfeedback-firmware`` and return it.

    Raises
    ------
    ConfigError
        If the target exists already.
    """
    target = Path(destination) / "emgfeedback-firmware"
    if target.exists():
        raise ConfigError(f"{target} exists already; remove it or choose another folder")
    shutil.copytree(firmware_dir(), target,
                    ignore=shutil.ignore_patterns("__init__.py", "__pycache__", "build"))
    return target


def instructions(directory: Path) -> str:
    """The text ``emgfeedback firmware`` prints for a firmware folder."""
    ino = directory / SKETCH / f"{SKETCH}.ino"
    wiring = _REPO_HARDWARE / "WIRING.md"
    wiring_text = str(wiring) if wiring.is_file() else "hardware/WIRING.md in the source repository"
    return f"""\
emgfeedback firmware for Arduino Uno and Nano (ATmega328P, 16 MHz)
streams emgf v1 frames at 1,000,000 baud; host commands ? b s f<Hz> c<n> k<n>

  sketch (Arduino IDE):  {ino}
  Makefile (avr-gcc):    {directory / 'Makefile'}
  read me:               {directory / 'README.md'}
  wiring, electrodes:    {wiring_text}

Upload with the Arduino IDE:
  1. File > Open... and pick {ino}
     (use `emgfeedback firmware --copy DIR` first if that folder is read-only)
  2. Tools > Board: "Arduino Uno", or "Arduino Nano" (Nano: Tools > Processor >
     "ATmega328P" or "ATmega328P (Old Bootloader)" if the upload times out)
  3. Tools > Port: your board, then Sketch > Upload. Close the Serial Monitor first.

Upload from a terminal (apt install gcc-avr avr-libc avrdude make):
  make -C {directory} flash PORT=/dev/ttyACM0                     # Uno
  make -C {directory} flash BOARD=nano PORT=/dev/ttyUSB0 UPLOAD_BAUD=57600
                                                   # Nano with the old bootloader
  (add BAUD=500000 or BAUD=250000 for a slower line; the default is 1000000)

Then open it as a source:
  serial:///dev/ttyACM0?framing=emgf&baud=1000000

{SAFETY}
"""


def register(subparsers) -> None:
    """Add the ``firmware`` sub-command."""
    p = subparsers.add_parser(
        "firmware", help="where the Arduino firmware is and how to flash it",
        description="Print where the Arduino sketch and Makefile are and how to upload "
                    "them to an Uno or Nano.")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--path", action="store_true",
                       help="print only the firmware folder (for scripts)")
    group.add_argument("--copy", type=Path, metavar="DIR",
                       help="copy the firmware to DIR/emgfeedback-firmware and explain there")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the location and the flashing steps; returns the exit status."""
    directory = firmware_dir()
    if not (directory / SKETCH / f"{SKETCH}.ino").is_file():
        raise ConfigError(f"the firmware files are missing from {directory}; reinstall "
                          "emgfeedback or use a source checkout (hardware/firmware)")
    if args.path:
        print(directory)
        return 0
    if args.copy is not None:
        directory = copy_firmware(args.copy)
        print(f"copied to {directory}\n")
    print(instructions(directory), end="")
    return 0
