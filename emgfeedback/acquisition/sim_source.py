"""``sim://``: the simulator as a :class:`~emgfeedback.acquisition.source.Source`.

``sim://?channels=4&fs=2000&scenario=drill&seed=1&board=uno-myoware2&mains=50&pace=realtime``

``sim://?client=compliant&protocol=uptraining&seed=1``: instead of a scripted scenario, a
virtual client follows the protocol's cues (:mod:`emgfeedback.acquisition.sim_client`).

Samples are the board's ADC counts from :class:`~emgfeedback.acquisition.simulator.Simulator`,
cut into chunks of a fixed size. Paced (``pace=realtime``) the chunk ending at sample ``k``
becomes available ``k / fs`` seconds after ``start()``; the index is derived from the elapsed
monotonic time, so pacing never drifts. ``pace=fast`` hands out chunks as fast as they are
read. ``speed=S`` paces at ``S`` times real time (the chunk ending at sample ``k`` is due
``k / (S·fs)`` seconds after ``start()``): benchmarks use it to cover an hour of signal in
minutes at a steady, known rate. All give identical samples. ``info.extra["truth"]`` is
the ground truth.
"""

from __future__ import annotations

import math
import time

from emgfeedback.acquisition.boards import BOARDS, OUTPUT_KINDS, get_board
from emgfeedback.acquisition.sim_client import CLIENT_KINDS, client_scenario
from emgfeedback.acquisition.simulator import (
    SCENARIOS,
    GroundTruth,
    Simulator,
    parse_artefacts,
    parse_faults,
)
from emgfeedback.acquisition.source import (
    Chunk,
    LossCounts,
    Source,
    SourceInfo,
    SourceStats,
    SourceUrl,
    choice,
    monotonic_s,
    positive,
    take_options,
)
from emgfeedback.errors import ConfigError

#: In fast mode, the most chunks one ``read()`` returns (keeps consumers responsive).
FAST_CHUNKS_PER_READ = 16


def _integer(value: str) -> int:
    return int(value)


def _mains(value: str) -> float:
    if value not in ("50", "60", "0"):
        raise ValueError("expected 50, 60 or 0 (no hum)")
    return float(value)


def _board(value: str) -> str:
    if value not in BOARDS:
        raise ValueError(f"expected one of {', '.join(sorted(BOARDS))}")
    return value


def _number(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _non_negative(value: str) -> float:
    number = _number(value)
    if number < 0:
        raise ValueError("expected 0 or more")
    return number


def _artefacts(value: str) -> tuple[str, ...]:
    try:
        return parse_artefacts(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _faults(value: str) -> tuple[str, ...]:
    try:
        return parse_faults(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


#: Options of ``sim://``: name -> (converter, default).
SIM_OPTIONS = {
    "channels": (positive(int), 2),
    "fs": (positive(float), None),  # None: the board's nominal rate (H1, #12.1)
    "scenario": (choice(*SCENARIOS), "drill"),
    "seed": (_integer, 0),
    "board": (_board, "uno-myoware2"),
    "mains": (_mains, 50.0),
    "pace": (choice("realtime", "fast"), "realtime"),
    "speed": (positive(float), 1.0),  # pace=realtime only: S times real time
    "seconds": (positive(float), None),
    "chunk": (positive(int), None),
    "snr": (_number, None),
    "artefacts": (_artefacts, ()),
    "ramp": (positive(float), 40.0),
    "variation": (_non_negative, 1.0),
    "hum": (_non_negative, 8.0),
    "output": (choice(*OUTPUT_KINDS), None),  # None: the board's output kind (H1, #12.1)
    "client": (choice(*CLIENT_KINDS), None),
    "protocol": (str, None),
    "fault": (_faults, ()),  # H9, #20: signal faults on the last channel
}


class SimSource(Source):
    """A simulated board.

    Parameters
    ----------
    url : str
        The URL it was opened from (for ``info``).
    channels, fs, scenario, seed, board, mains, snr, artefacts, ramp, variation, hum
        Passed to :class:`~emgfeedback.acquisition.simulator.Simulator` (``fs`` in hertz,
        default the board's nominal rate; ``snr`` in dB, ``ramp`` in ms, ``hum`` in µV).
    pace : str
        ``realtime`` or ``fast``.
    speed : float
        With ``pace=realtime``, deliver at this many times real time (default 1).
    output : str, optional
        Sensor output wired to every channel (``raw``, ``rect``, ``env``, ``uv``); default
        the board's. The board's sensor must have it (MyoWare 2.0: RAW, RECT, ENV).
    seconds : float, optional
        Stream length; the state becomes ``finished`` after the last sample.
    chunk : int, optional
        Samples per chunk (default: fs/100, at least 1).
    client : str, optional
        A simulated client kind (``compliant``, ``compensating``, ``held``, ``late``) who
        follows ``protocol`` instead of ``scenario``.
    fault : tuple of str
        Signal faults on the last channel (``SIGNAL_FAULTS`` of the simulator).
    protocol : Protocol, optional
        The loaded protocol the client follows (required with ``client``).
    """

    def __init__(self, url: str = "sim://", *, channels: int = 2, fs: float | None = None,
                 scenario: str = "drill", seed: int = 0, board: str = "uno-myoware2",
                 mains: float = 50.0, pace: str = "realtime", seconds: float | None = None,
                 chunk: int | None = None, snr: float | None = None, artefacts=(),
                 ramp: float = 40.0, variation: float = 1.0, hum: float = 8.0,
                 client: str | None = None, protocol=None, output: str | None = None,
                 fault=(), speed: float = 1.0) -> None:
        super().__init__()
        if pace not in ("realtime", "fast"):
            raise ConfigError(f"pace={pace!r}: expected realtime or fast")
        if not (math.isfinite(speed) and speed > 0):
            raise ConfigError(f"speed={speed}: expected a number > 0 (times real time)")
        if pace == "fast" and speed != 1.0:
            raise ConfigError("speed= paces a realtime source; pace=fast has no pace to scale "
                              "(remove one of them)")
        self._client = client
        self._protocol = protocol
        if client is not None:
            if protocol is None:
                raise ConfigError("client= needs the protocol the client follows: add "
                                  "protocol=NAME (run and demo add it for you)")
            if channels < len(protocol.channels):
                raise ConfigError(f"channels={channels}: protocol {protocol.name} needs "
                                  f"{len(protocol.channels)} channels")
            board_obj = get_board(board)
            outputs = (output,) * channels if output else None
            floors = [c.wideband_floor_uv for c in board_obj.calibration(channels, outputs)]
            scenario = client_scenario(protocol, client, floor_uv=floors,
                                       noise_uv=board_obj.sensor.noise_uv or 1.5)
        self._url = url
        self._pace = pace
        # Samples due per second of monotonic time (the rate times the speed-up).
        self._pace_hz = 0.0  # set below, once the simulator knows the rate
        self._speed = float(speed)
        self._sim_args = dict(scenario=scenario, n_channels=channels, fs_hz=fs, seed=seed,
                              board=board, mains_hz=mains, snr_db=snr, artefacts=artefacts,
                              ramp_ms=ramp, variation=variation, hum_uv=hum,
                              outputs=(output,) * channels if output else None,
                              faults=fault)
        # Validate everything now so a bad URL fails at open_source(), not at open().
        self._sim: Simulator = Simulator(**self._sim_args)
        self._fs = float(self._sim.fs_hz)  # fs=None: the board's nominal rate
        self._pace_hz = self._fs * self._speed
        self._chunk = int(chunk) if chunk else max(1, int(round(self._fs / 100.0)))
        self._total = None if seconds is None else max(1, int(round(seconds * self._fs)))
        self._info: SourceInfo | None = None
        self._emitted = 0
        self._t0 = 0.0
        self._loss_counts = LossCounts()  # a simulator loses nothing; counts what it gives

    # ------------------------------------------------------------------ Source API

    @property
    def info(self) -> SourceInfo:
        if self._info is None:
            self._info = self._make_info()
        return self._info

    @property
    def truth(self) -> GroundTruth:
        """The simulator's ground truth."""
        return self._sim.truth

    @property
    def simulator(self) -> Simulator:
        """The underlying simulator."""
        return self._sim

    def open(self) -> None:
        if self.state != "closed":
            return
        self._sim.reset()
        self._emitted = 0
        self._loss_counts = LossCounts()
        self._set_state("open")

    def start(self) -> None:
        if self.state == "closed":
            self.open()
        if self.state in ("streaming", "finished"):
            return
        # Resume where we stopped without a burst of "late" chunks.
        self._t0 = monotonic_s() - self._emitted / self._pace_hz
        self._set_state("streaming")

    def read(self, timeout_s: float = 0.1) -> list[Chunk]:
        if self.state != "streaming":
            if self.state != "finished" and timeout_s > 0:
                time.sleep(min(timeout_s, 0.01))
            return []
        if self._pace == "fast":
            return self._take(FAST_CHUNKS_PER_READ)
        deadline = monotonic_s() + max(timeout_s, 0.0)
        while True:
            now = monotonic_s()
            due = self._due_samples(now)
            ready = self._ready_chunks(due)
            if ready or now >= deadline:
                return self._take(ready) if ready else []
            wait = self._t0 + self._next_chunk_end() / self._pace_hz - now
            time.sleep(max(0.0, min(wait, deadline - now)) + 1e-4)

    def stop(self) -> None:
        if self.state == "streaming":
            self._set_state("stopped")

    def close(self) -> None:
        self._set_state("closed")

    def stats(self) -> SourceStats:
        """Samples and chunks delivered (rate, pace and length are in ``info``)."""
        return self._loss_counts.snapshot(state=self._state, no_data_s=self._no_data_s(),
                                          framing="sim")

    # ------------------------------------------------------------------ helpers

    def _make_info(self) -> SourceInfo:
        sim = self._sim
        return SourceInfo(
            url=self._url, fs_hz=self._fs, channel_names=sim.channel_names,
            calibration=sim.calibration, board=sim.board.name, framing="sim",
            extra={"truth": sim.truth, "scenario": sim.truth.scenario, "seed": sim.seed,
                   "pace": self._pace, "speed": self._speed, "chunk": self._chunk,
                   "snr_db": sim.truth.snr_db, "mains_hz": sim.truth.mains_hz,
                   "total_samples": self._total, "client": self._client,
                   "protocol": self._protocol.name if self._protocol is not None else None},
        )

    def _due_samples(self, now: float) -> int:
        due = int(math.floor((now - self._t0) * self._pace_hz))
        return due if self._total is None else min(due, self._total)

    def _next_chunk_end(self) -> int:
        end = self._emitted + self._chunk
        return end if self._total is None else min(end, self._total)

    def _ready_chunks(self, due: int) -> int:
        """Whole chunks whose last sample is due (the final short chunk counts as whole)."""
        count, end = 0, self._emitted
        while True:
            nxt = end + self._chunk
            if self._total is not None:
                nxt = min(nxt, self._total)
            if nxt <= end or nxt > due:
                return count
            count, end = count + 1, nxt

    def _take(self, n_chunks: int) -> list[Chunk]:
        out = []
        n = n_chunks * self._chunk
        if self._total is not None:
            n = min(n, self._total - self._emitted)
        if n <= 0:
            return out
        # One simulator call for all due chunks: cheaper, and the samples do not depend on
        # how they are grouped.
        block = self._sim.next_counts(n)
        arrival = monotonic_s()
        for start in range(0, n, self._chunk):
            samples = block[start:start + self._chunk]
            out.append(self._loss_counts.count(
                Chunk(samples=samples, first_index=self._emitted, arrival_s=arrival)))
            self._emitted += samples.shape[0]
        if self._total is not None and self._emitted >= self._total:
            self._set_state("finished")
        return out


def _client_protocol(parsed: SourceUrl, opts: dict):
    """Load the protocol a ``client=`` URL names and check the options that go with it."""
    from emgfeedback.protocol import load_protocol

    for option in ("scenario", "snr"):
        if option in parsed.options:
            raise ConfigError(f"source {parsed.url!r}: {option}= does not apply to a simulated "
                              "client (the protocol decides what it does); remove it")
    if not opts["protocol"]:
        raise ConfigError(f"source {parsed.url!r}: client= needs the protocol the client "
                          "follows: add protocol=NAME (run and demo add it for you)")
    protocol = load_protocol(opts["protocol"])
    if "channels" not in parsed.options:
        opts["channels"] = len(protocol.channels)
    return protocol


def source_from_url(parsed: SourceUrl) -> SimSource:
    """Create a :class:`SimSource` from a parsed ``sim://`` URL.

    Raises
    ------
    ConfigError
        For unknown options or bad values (the message lists what is accepted).
    """
    if parsed.path not in ("", "/"):
        raise ConfigError(f"source {parsed.url!r}: sim:// takes no path, only options, e.g. "
                          "sim://?channels=4&fs=2000&scenario=drill&seed=1")
    opts = take_options(parsed, SIM_OPTIONS)
    get_board(opts["board"])
    if opts["client"] is None:
        if opts["protocol"] is not None:
            raise ConfigError(f"source {parsed.url!r}: protocol= is for a simulated client; "
                              f"add client=one of {', '.join(CLIENT_KINDS)}")
    else:
        opts["protocol"] = _client_protocol(parsed, opts)
    try:
        return SimSource(parsed.url, **opts)
    except ConfigError as exc:
        raise ConfigError(f"source {parsed.url!r}: {exc}") from None
