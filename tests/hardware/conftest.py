"""Shared fixtures for the firmware tests: build the firmware and the simavr harness once.

The tests need Debian's AVR toolchain, simavr and the Arduino core; without them they skip
with the exact install command (CI installs them, so there they run).
"""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.acquisition import avrsim
from emgfeedback.acquisition.framing import get_decoder
from emgfeedback.acquisition.framing.base import DecodedBlock, DeviceMessage


def _require(arduino: bool = False) -> None:
    missing = avrsim.missing_tools(arduino)
    if missing:
        pytest.skip(f"missing {', '.join(missing)}: {avrsim.INSTALL_HINT}")


@pytest.fixture(scope="session")
def avr_build_dir(tmp_path_factory):
    _require()
    return tmp_path_factory.mktemp("avr")


@pytest.fixture(scope="session")
def harness(avr_build_dir):
    return avrsim.build_harness(avr_build_dir / "sim")


@pytest.fixture(scope="session")
def uno_elf(avr_build_dir):
    return avrsim.build_firmware("uno", build_dir=avr_build_dir / "uno")


@pytest.fixture(scope="session")
def nano_elf(avr_build_dir):
    return avrsim.build_firmware("nano", build_dir=avr_build_dir / "nano")


class Decoded:
    """Everything the project's emgf decoder made of one simulated run.

    Fed as a host does: when the device describes a new channel count (info after an
    accepted ``c<n>``), the decoder starts a new stream with it (WIRE_FORMAT.md 1.7). The
    bytes go in 16-byte slices, shorter than any frame that can follow an info frame, so
    the switch happens before the next frame is decoded.
    """

    def __init__(self, data: bytes):
        self.data = data
        self.decoder = get_decoder("emgf")
        items = []
        for start in range(0, len(data), 16):
            new = self.decoder.feed(data[start:start + 16])
            items += new
            for item in new:
                if (isinstance(item, DeviceMessage) and item.kind == "info"
                        and item.payload.get("ch") != self.decoder.n_channels):
                    self.decoder.reset_stream(item.payload["ch"])
        self.blocks = [it for it in items if isinstance(it, DecodedBlock)]
        self.messages = [it for it in items if isinstance(it, DeviceMessage)]
        self.counters = self.decoder.counters

    @property
    def samples(self) -> np.ndarray:
        return np.concatenate([b.samples for b in self.blocks])

    @property
    def lost(self) -> int:
        return sum(b.lost_before for b in self.blocks)

    def statuses(self, code: int | None = None) -> list[dict]:
        return [m.payload for m in self.messages if m.kind == "status"
                and (code is None or m.payload["code"] == code)]

    def infos(self) -> list[dict]:
        return [m.payload for m in self.messages if m.kind == "info"]


@pytest.fixture(scope="session")
def decode():
    return Decoded
