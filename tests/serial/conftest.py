"""Fixtures for the serial tests: virtual devices on real ptys, read back through pyserial."""

from __future__ import annotations

import pytest

from emgfeedback.acquisition.virtual_device import VirtualDevice


@pytest.fixture
def make_device():
    """Start VirtualDevice instances and stop them after the test."""
    devices: list[VirtualDevice] = []

    def make(**kwargs) -> VirtualDevice:
        device = VirtualDevice(**kwargs).start()
        devices.append(device)
        return device

    yield make
    for device in devices:
        device.stop()


@pytest.fixture
def sources():
    """Close every source a test opened."""
    opened = []
    yield opened
    for source in opened:
        source.close()
