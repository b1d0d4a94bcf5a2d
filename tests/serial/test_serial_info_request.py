"""A board that did not reset on open: the source asks ``?`` and waits for the late reply."""

from __future__ import annotations

import os
import select
import threading
import time

from emgfeedback.acquisition.framing import encode_emgf_info, encode_emgf_status
from emgfeedback.acquisition.serial_source import SerialSource

INFO = {"fw": "1.0.0", "board": "uno", "mcu": "atmega328p", "ch": 2, "fs": 2000,
        "adc_bits": 10, "vref_mv": 5000, "k": 8, "baud": 1000000,
        "in": ["A0:raw", "A1:raw"], "run": 0}


class SlowBoard(threading.Thread):
    """The far end of a pty: an emgf board, booted long ago, slow to answer its first ``?``."""

    def __init__(self, master: int, first_reply_delay_s: float) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.first_reply_delay_s = first_reply_delay_s
        self.info = dict(INFO)
        self.commands: list[str] = []
        self.quit = threading.Event()

    def run(self) -> None:
        pending = b""
        while not self.quit.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            try:
                pending += os.read(self.master, 256)
            except OSError:
                return
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.answer(line.decode("ascii").strip())

    def answer(self, command: str) -> None:
        self.commands.append(command)
        if command == "?":
            if self.commands.count("?") == 1:
                time.sleep(self.first_reply_delay_s)
            os.write(self.master, encode_emgf_info(self.info))
        elif command.startswith("f"):
            self.info["fs"] = int(command[1:])
            os.write(self.master, encode_emgf_status(3, 0, 0, 0))


def test_open_waits_for_the_reply_to_its_late_info_request_and_configures(sources,
                                                                        monkeypatch):
    from emgfeedback.acquisition import serial_source

    # How long open() waits for the reply to '?' (1 s by default) made long enough that a
    # loaded machine, where the board's thread wakes late, cannot turn this into a race;
    # returning well before it shows that open() returned on the reply.
    monkeypatch.setattr(serial_source, "INFO_REPLY_S", 30.0)
    master, slave = os.openpty()
    board = SlowBoard(master, first_reply_delay_s=0.7)
    board.start()
    try:
        source = SerialSource(os.ttyname(slave), framing="emgf", fs_hz=1000.0,
                              reset_wait_s=0.2)
        sources.append(source)
        t0 = time.monotonic()
        source.open()
        opened_s = time.monotonic() - t0
        # the reply came 0.7 s after the '?' sent when the 0.2 s hold ended; open() saw it
        # and then told the device the wanted rate
        assert board.commands == ["?", "f1000", "?"]
        assert source.device_info is not None and source.device_info["fs"] == 1000
        assert source.info.fs_hz == 1000.0 and source.info.n_channels == 2
        assert source.info.channel_names == ("A0", "A1")
        assert 0.9 <= opened_s < 30.0
    finally:
        board.quit.set()
        board.join(timeout=1.0)
        os.close(master)
        os.close(slave)
