"""The firmware builds with its Makefile and as an Arduino sketch against the Arduino core."""

from __future__ import annotations

import re
import subprocess

import pytest

from emgfeedback.acquisition import avrsim

# ATmega328P vectors the firmware must own (avr/iom328p.h): TIMER1_COMPA, USART_RX,
# USART_UDRE, ADC.
FIRMWARE_VECTORS = {"__vector_11", "__vector_18", "__vector_19", "__vector_21"}
RAM_BYTES = 2048
MIN_STACK_BYTES = 250  # left for the stack after .data and .bss


def _symbols(elf) -> dict[str, str]:
    out = subprocess.run(["avr-nm", str(elf)], capture_output=True, text=True, check=True)
    symbols = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            symbols[parts[2]] = parts[1]
    return symbols


def _ram_used(elf) -> int:
    out = subprocess.run(["avr-size", "-A", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    sizes = dict(re.findall(r"^\.(data|bss)\s+(\d+)", out, flags=re.M))
    return int(sizes.get("data", 0)) + int(sizes.get("bss", 0))


@pytest.mark.parametrize("board", ["uno", "nano"])
def test_makefile_builds_without_warnings(board, avr_build_dir):
    # extra_cflags=-Werror (the default) turns any warning into a failed build
    elf = avrsim.build_firmware(board, build_dir=avr_build_dir / f"mk-{board}")
    assert elf.is_file()
    assert elf.with_suffix(".hex").read_text().startswith(":")
    symbols = _symbols(elf)
    assert FIRMWARE_VECTORS <= {name for name, kind in symbols.items() if kind == "T"}
    assert RAM_BYTES - _ram_used(elf) >= MIN_STACK_BYTES


@pytest.mark.parametrize("baud", [500_000, 250_000])
def test_other_baud_rates_build(baud, avr_build_dir):
    elf = avrsim.build_firmware("uno", baud=baud, build_dir=avr_build_dir / f"baud-{baud}")
    assert elf.is_file()


def test_unsupported_baud_rate_is_a_build_error(avr_build_dir):
    with pytest.raises(Exception, match="EMGF_BAUD must be"):
        avrsim.build_firmware("uno", baud=115200, build_dir=avr_build_dir / "baud-bad")


@pytest.fixture(scope="module")
def sketch_elf(avr_build_dir):
    if avrsim.missing_tools(arduino=True):
        pytest.skip(f"missing {', '.join(avrsim.missing_tools(arduino=True))}: "
                    f"{avrsim.INSTALL_HINT}")
    return avrsim.build_sketch("uno", build_dir=avr_build_dir / "ino-uno")


def test_ino_links_against_the_arduino_core(sketch_elf):
    # Built with the IDE's recipe (LTO, so setup() and emgf_run() are inlined into the
    # core's main()); the firmware owns its vectors and the core's timer0 one is there too
    symbols = _symbols(sketch_elf)
    assert "main" in symbols
    defined = {name for name, kind in symbols.items() if kind == "T"}
    assert FIRMWARE_VECTORS | {"__vector_16"} <= defined  # 16: TIMER0_OVF (millis)
    # HardwareSerial (which would own the USART vectors) must not be linked in
    assert not [name for name in symbols
                if "HardwareSerial" in name or "Serial0" in name or name == "Serial"]
    assert RAM_BYTES - _ram_used(sketch_elf) >= MIN_STACK_BYTES


def test_ino_for_nano_links(avr_build_dir, harness, decode):
    elf = avrsim.build_sketch("nano", build_dir=avr_build_dir / "ino-nano")
    run = decode(avrsim.run_pipe(elf, None, seconds=0.02, harness=harness))
    # the IDE's "Arduino Nano" board macro selects the 8-input build
    assert run.infos()[0]["board"] == "nano" and run.infos()[0]["max_ch"] == 8


def test_ino_build_streams_in_the_simulator(sketch_elf, harness, decode):
    # the Arduino core's init() sets up timers 0/1 and the ADC its own way first; the
    # firmware must take them over and stream exactly as the Makefile build does
    run = decode(avrsim.run_pipe(sketch_elf, None, seconds=0.6, harness=harness,
                                 sends=[(0.01, "b\n"), (0.51, "s\n")]))
    assert run.infos()[0]["board"] == "uno"
    stopped = run.statuses(2)[-1]
    assert len(run.samples) == stopped["next_index"]
    assert abs(stopped["next_index"] - 1000) <= 1  # 0.5 s at the default 2 kHz
    assert run.lost == 0 and run.counters["crc_errors"] == 0
    # all inputs sit at the harness default of 2500 mV -> round(2500 * 1024 / 5000) = 512
    assert (run.samples == 512).all()
