"""Run the emgfeedback firmware in a simulated ATmega328P (simavr), for tests and demos.

The firmware (``hardware/firmware/``) and the simavr harness (``hardware/sim/``) are built
with ``make``; the harness feeds each ADC input a voltage in mV and connects the UART to
a pipe (as fast as it simulates) or to a pseudo-terminal paced to real time, which the
serial source opens like a real board.

Examples
--------
>>> from emgfeedback.acquisition import avrsim
>>> elf = avrsim.build_firmware(board="uno")              # doctest: +SKIP
>>> data = avrsim.run_pipe(elf, mv, rate_hz=2000.0, seconds=1.0,
...                        sends=[(0.01, "b\\n")])          # doctest: +SKIP
>>> with avrsim.start_pty(elf, mv, rate_hz=2000.0) as dev:  # doctest: +SKIP
...     src = open_source(f"serial://{dev.path}?framing=emgf&baud=1000000")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from emgfeedback.errors import EmgFeedbackError

#: Debian/Ubuntu packages the firmware build, the .ino build and the harness need.
APT_PACKAGES = ("gcc-avr", "avr-libc", "binutils-avr", "simavr", "libsimavr-dev",
                "libsimavrparts1", "libelf-dev", "arduino-core-avr")
INSTALL_HINT = "sudo apt-get install " + " ".join(APT_PACKAGES) + " make pkg-config gcc"

#: Where Debian's arduino-core-avr puts the Arduino AVR core.
ARDUINO_AVR_DIR = Path("/usr/share/arduino/hardware/arduino/avr")

_REPO_HARDWARE = Path(__file__).resolve().parents[2] / "hardware"
#: The Arduino sketch folder (and .ino name) inside the firmware folder.
SKETCH = "emgfeedback_fw"
_MAX_CHANNELS = 8


class ToolchainMissing(EmgFeedbackError):
    """The AVR toolchain, simavr or the Arduino core is not installed."""


def firmware_dir() -> Path:
    """Folder with the firmware ``Makefile``, README and the ``emgfeedback_fw/`` sketch.

    Returns
    -------
    pathlib.Path
        The installed package data (``emgfeedback._firmware``) or, when running from a
        checkout without it, ``hardware/firmware`` of the repository.
    """
    try:
        path = Path(str(resources.files("emgfeedback._firmware")))
        if (path / "Makefile").is_file() and (path / SKETCH / f"{SKETCH}.ino").is_file():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return _REPO_HARDWARE / "firmware"


def sim_dir() -> Path:
    """Folder of the simavr harness sources (``hardware/sim`` of the repository)."""
    path = _REPO_HARDWARE / "sim"
    if not (path / "emgf_sim.c").is_file():
        raise ToolchainMissing(
            f"the simavr harness sources are not at {path}; they ship with the repository "
            "(git clone), not with the wheel"
        )
    return path


def missing_tools(arduino: bool = False) -> list[str]:
    """Name what is missing to build and simulate the firmware.

    Parameters
    ----------
    arduino : bool
        Also require Debian's Arduino AVR core (for the ``.ino`` build).

    Returns
    -------
    list of str
        Human-readable items (tool or file names); empty when everything is there.
    """
    missing = [tool for tool in ("make", "cc", "avr-gcc", "avr-g++", "avr-objcopy", "avr-ar")
               if shutil.which(tool) is None]
    files = {
        "avr-libc (avr/io.h)": Path("/usr/lib/avr/include/avr/io.h"),
        "libsimavr-dev (simavr/sim_avr.h)": Path("/usr/include/simavr/sim_avr.h"),
        "libelf-dev (libelf.h)": Path("/usr/include/libelf.h"),
    }
    if arduino:
        files["arduino-core-avr (Arduino.h)"] = ARDUINO_AVR_DIR / "cores/arduino/Arduino.h"
    missing += [name for name, path in files.items() if not path.exists()]
    return missing


def require_toolchain(arduino: bool = False) -> None:
    """Raise :class:`ToolchainMissing` naming the packages to install, if any is missing."""
    missing = missing_tools(arduino)
    if missing:
        raise ToolchainMissing(
            f"missing {', '.join(missing)}; install the AVR toolchain and simavr: {INSTALL_HINT}"
        )


def default_build_dir() -> Path:
    """A writable folder for build outputs (per user, reused between runs)."""
    return Path(tempfile.gettempdir()) / f"emgfeedback-avr-{os.getuid()}"


def _make(directory: Path, *args: str) -> str:
    proc = subprocess.run(["make", "-C", str(directory), *args], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise EmgFeedbackError(
            f"make in {directory} failed ({' '.join(args)}):\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout + proc.stderr


def build_firmware(board: str = "uno", baud: int = 1_000_000,
                   build_dir: str | os.PathLike | None = None,
                   extra_cflags: str = "-Werror") -> Path:
    """Build the firmware ELF with the firmware's Makefile.

    Parameters
    ----------
    board : {"uno", "nano"}
        ``nano`` enables A6 and A7 (8 channels).
    baud : {1000000, 500000, 250000}
        UART line rate compiled in.
    build_dir : path, optional
        Output folder; defaults to a per-user folder in the temp directory.
    extra_cflags : str
        Extra compiler flags (warnings are errors by default).

    Returns
    -------
    pathlib.Path
        The ELF file (the ``.hex`` is next to it).
    """
    require_toolchain()
    if build_dir:
        out = Path(build_dir)
    else:
        flavour = "".join(ch if ch.isalnum() else "_" for ch in extra_cflags)
        out = default_build_dir() / f"fw-{board}-{baud}-{flavour}"
    _make(firmware_dir(), f"BOARD={board}", f"BAUD={baud}", f"BUILD={out.resolve()}",
          f"EXTRA_CFLAGS={extra_cflags}")
    return out.resolve() / "emgfeedback_fw.elf"


def build_harness(build_dir: str | os.PathLike | None = None) -> Path:
    """Build the simavr harness ``emgf_sim`` and return its path."""
    require_toolchain()
    out = Path(build_dir) if build_dir else default_build_dir() / "sim"
    _make(sim_dir(), f"BUILD={out.resolve()}")
    return out.resolve() / "emgf_sim"


_ARDUINO_BOARDS = {  # board -> (board macro, variant folder)
    "uno": ("ARDUINO_AVR_UNO", "standard"),
    "nano": ("ARDUINO_AVR_NANO", "eightanaloginputs"),
}


def _run_tool(args: list[str], what: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EmgFeedbackError(f"{what} failed: {' '.join(args)}\n{proc.stdout}{proc.stderr}")


def _gcc_ar() -> str:
    """``avr-gcc-ar`` (LTO-aware archiver, as the IDE uses), else plain ``avr-ar``."""
    return "avr-gcc-ar" if shutil.which("avr-gcc-ar") else "avr-ar"


def build_sketch(board: str = "uno", build_dir: str | os.PathLike | None = None) -> Path:
    """Build the Arduino sketch ``emgfeedback_fw.ino`` the way the Arduino IDE does.

    Compiles Debian's Arduino AVR core (``arduino-core-avr``) into ``core.a``, turns the
    ``.ino`` into C++ (``#include <Arduino.h>`` first), compiles the sketch's ``.c`` files
    with ``-DARDUINO`` and links with ``--gc-sections``, so the core's ``main()``,
    ``init()`` and only the core objects the sketch uses end up in the ELF.

    Parameters
    ----------
    board : {"uno", "nano"}
        Selects the board macro and pin variant, as the IDE's board menu does.
    build_dir : path, optional
        Output folder; defaults to a per-user folder in the temp directory.

    Returns
    -------
    pathlib.Path
        The linked ELF.
    """
    require_toolchain(arduino=True)
    macro, variant = _ARDUINO_BOARDS[board]
    out = (Path(build_dir) if build_dir else default_build_dir() / f"ino-{board}").resolve()
    (out / "core").mkdir(parents=True, exist_ok=True)
    core = ARDUINO_AVR_DIR / "cores" / "arduino"
    sketch = firmware_dir() / SKETCH
    # The flags of the Arduino AVR platform.txt recipes (LTO included); -DDECIMAL_DIG for
    # Debian's avr-gcc 5.4, whose float.h lacks it where the core's Print.cpp needs it.
    common = ["-g", "-Os", "-ffunction-sections", "-fdata-sections", "-flto", "-mmcu=atmega328p",
              "-DF_CPU=16000000L", "-DARDUINO=10819", f"-D{macro}", "-DARDUINO_ARCH_AVR",
              "-DDECIMAL_DIG=17", f"-I{core}", f"-I{ARDUINO_AVR_DIR / 'variants' / variant}"]
    cxx = ["avr-g++", *common, "-w", "-std=gnu++11", "-fpermissive", "-fno-exceptions",
           "-fno-threadsafe-statics", "-Wno-error=narrowing"]
    cc = ["avr-gcc", *common, "-std=gnu11", "-fno-fat-lto-objects"]
    core_objects = []
    for source in sorted(core.iterdir()):
        if source.suffix not in (".c", ".cpp", ".S"):
            continue
        obj = out / "core" / (source.name + ".o")
        if source.suffix == ".cpp":
            compiler = cxx
        elif source.suffix == ".S":
            compiler = ["avr-gcc", *common, "-x", "assembler-with-cpp"]
        else:
            compiler = [*cc, "-w"]
        _run_tool([*compiler, "-c", str(source), "-o", str(obj)], "Arduino core build")
        core_objects.append(str(obj))
    archive = out / "core.a"
    archive.unlink(missing_ok=True)
    _run_tool([_gcc_ar(), "rcs", str(archive), *core_objects], "avr-gcc-ar")
    ino = sketch / f"{SKETCH}.ino"
    sketch_cpp = out / f"{SKETCH}.ino.cpp"
    sketch_cpp.write_text(f'#include <Arduino.h>\n#line 1 "{ino}"\n' + ino.read_text())
    objects = [str(out / f"{SKETCH}.ino.o")]
    _run_tool([*cxx, f"-I{sketch}", "-c", str(sketch_cpp), "-o", objects[0]], "sketch build")
    for source in sorted(sketch.glob("*.c")):
        obj = out / (source.name + ".o")
        # the firmware's own C must stay warning-free under the IDE's "all warnings"
        _run_tool([*cc, "-Wall", "-Wextra", "-Werror", f"-I{sketch}", "-c", str(source),
                   "-o", str(obj)], "sketch build")
        objects.append(str(obj))
    elf = out / f"{SKETCH}.elf"
    _run_tool(["avr-gcc", "-w", "-Os", "-g", "-flto", "-fuse-linker-plugin", "-Wl,--gc-sections",
               "-mmcu=atmega328p", "-o", str(elf), *objects, str(archive), f"-L{out}", "-lm"],
              "sketch link")
    return elf


def _write_inputs(adc_mv: np.ndarray | None, directory: Path) -> list[str]:
    if adc_mv is None:
        return []
    mv = np.asarray(adc_mv, dtype="<f4")
    if mv.ndim == 1:
        mv = mv[:, None]
    if mv.ndim != 2 or not 1 <= mv.shape[1] <= _MAX_CHANNELS or mv.shape[0] == 0:
        raise ValueError(f"adc_mv must be (n_samples, 1..8 channels), got shape {mv.shape}")
    path = directory / "adc_mv.f32"
    path.write_bytes(np.ascontiguousarray(mv).tobytes())
    return ["--adc", str(path), "--columns", str(mv.shape[1])]


def _send_args(sends: Sequence[tuple[float, str]]) -> list[str]:
    args = []
    for at_s, text in sends:
        escaped = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        args += ["--send", f"{at_s:.6f}:{escaped}"]
    return args


def run_pipe(elf: str | os.PathLike, adc_mv: np.ndarray | None = None, rate_hz: float = 2000.0,
             seconds: float = 2.0, sends: Sequence[tuple[float, str]] = (),
             loop: bool = False, harness: str | os.PathLike | None = None,
             timeout_s: float = 120.0) -> bytes:
    """Simulate the firmware for ``seconds`` and return every byte it sent on the UART.

    Parameters
    ----------
    elf : path
        Firmware ELF (:func:`build_firmware`).
    adc_mv : numpy.ndarray, optional
        ``(n_rows, n_inputs)`` voltages in mV at A0.. ; row ``r`` is presented from
        ``r / rate_hz`` to ``(r + 1) / rate_hz`` simulated seconds after reset. Without it
        every input sits at 2500 mV.
    rate_hz : float
        Rows per second of ``adc_mv``.
    seconds : float
        Simulated time to run.
    sends : sequence of (float, str)
        Host bytes to write into the UART at the given simulated second, e.g.
        ``[(0.01, "c4\\nf2000\\nb\\n")]``.
    loop : bool
        Restart ``adc_mv`` at its end (else the last row is held).
    harness : path, optional
        ``emgf_sim`` executable (built with :func:`build_harness` when omitted).
    timeout_s : float
        Wall-clock limit.

    Returns
    -------
    bytes
        Raw UART output (emgf frames).
    """
    harness = Path(harness) if harness else build_harness()
    with tempfile.TemporaryDirectory(prefix="emgf-sim-") as tmp:
        args = [str(harness), *_write_inputs(adc_mv, Path(tmp)), "--rate", str(rate_hz),
                "--seconds", str(seconds), *_send_args(sends)]
        if loop:
            args.append("--loop")
        proc = subprocess.run([*args, str(elf)], capture_output=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise EmgFeedbackError(
            f"emgf_sim exited with {proc.returncode}: {proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout


class PtyDevice:
    """A simulated board behind a pseudo-terminal (context manager).

    Attributes
    ----------
    path : str
        The pty to open with pyserial (``serial://<path>?framing=emgf``).
    process : subprocess.Popen
        The running harness.
    """

    def __init__(self, process: subprocess.Popen, path: str, tmp: tempfile.TemporaryDirectory):
        self.process = process
        self.path = path
        self._tmp = tmp

    def close(self) -> None:
        """Stop the harness (the pty disappears, like an unplugged board)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self._tmp.cleanup()

    def __enter__(self) -> PtyDevice:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_pty(elf: str | os.PathLike, adc_mv: np.ndarray | None = None, rate_hz: float = 2000.0,
              loop: bool = True, sends: Sequence[tuple[float, str]] = (),
              harness: str | os.PathLike | None = None) -> PtyDevice:
    """Start the firmware on a pty paced to real time.

    Parameters are as for :func:`run_pipe`; the harness runs until :meth:`PtyDevice.close`.
    ``loop`` defaults to True so a short ``adc_mv`` table repeats.

    Returns
    -------
    PtyDevice
        With the pty path; use as a context manager.
    """
    harness = Path(harness) if harness else build_harness()
    tmp = tempfile.TemporaryDirectory(prefix="emgf-pty-")
    args = [str(harness), *_write_inputs(adc_mv, Path(tmp.name)), "--rate", str(rate_hz),
            "--pty", *_send_args(sends)]
    if loop:
        args.append("--loop")
    with open(Path(tmp.name) / "emgf_sim.log", "wb") as log:
        process = subprocess.Popen([*args, str(elf)], stdout=subprocess.PIPE, stderr=log)
    line = process.stdout.readline().decode(errors="replace").strip()
    if not line.startswith("/"):
        process.kill()
        process.wait()
        tmp.cleanup()
        raise EmgFeedbackError(f"emgf_sim did not report a pty path (got {line!r})")
    return PtyDevice(process, line, tmp)


def simulator_mv(n_channels: int, fs_hz: float, seconds: float, scenario: str = "drill",
                 seed: int = 1) -> np.ndarray:
    """Voltages at the ADC pins from the project's simulator, ready for the harness.

    Parameters
    ----------
    n_channels : int
        Inputs A0.. to drive (1..8).
    fs_hz : float
        Row rate (use the firmware's sample rate, and pass it as ``rate_hz``).
    seconds : float
        Length of the table.
    scenario, seed
        As for :class:`~emgfeedback.acquisition.simulator.Simulator`.

    Returns
    -------
    numpy.ndarray
        ``(round(seconds * fs_hz), n_channels)`` float64 millivolts.
    """
    from emgfeedback.acquisition.simulator import Simulator

    sim = Simulator(scenario=scenario, n_channels=n_channels, fs_hz=float(fs_hz), seed=seed)
    return sim.next_adc_mv(int(round(seconds * fs_hz)))


def adc_counts(mv: np.ndarray, vref_mv: float = 5000.0) -> np.ndarray:
    """ATmega328P ideal 10-bit conversion of voltages: ``round(mv * 1024 / vref)`` in 0..1023."""
    return np.clip(np.floor(np.asarray(mv, dtype=float) * 1024.0 / vref_mv + 0.5), 0, 1023
                   ).astype(np.int32)
