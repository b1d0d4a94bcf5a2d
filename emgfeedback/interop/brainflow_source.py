"""``brainflow://``: the EMG channels of any BrainFlow board as a source.

``brainflow://BOARD?serial_port=/dev/ttyUSB0&channels=4`` where ``BOARD`` is a BrainFlow board
name (``synthetic``, ``cyton``, ``cyton_daisy``, ``ganglion``, ... — the ``BoardIds`` member
without ``_BOARD``, any case, ``-`` or ``_``) or its numeric id (``-1`` is the synthetic
board). The connection options are BrainFlow's own ``BrainFlowInputParams`` fields:
``serial_port``, ``mac_address``, ``ip_address``, ``ip_port``, ``ip_protocol``,
``other_info``, ``serial_number``, ``file``, ``master_board`` (for the playback and streaming
boards) and ``timeout``.

What is taken from BrainFlow: the board's EMG rows (``BoardShim.get_emg_channels``), already
scaled to µV by BrainFlow; the rate (``get_sampling_rate``); and, where the board has one, the
package counter (``get_package_num_channel``) to find lost samples — the counter counts
samples modulo 256, so a jump of ``d`` records ``d − 1`` missing samples as a
``Gap(cause="counter")``. The µV values are quantised to ``step_uv`` (0.01 µV by default,
finer than any OpenBCI board's resolution) so that recordings stay integer and exact.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from emgfeedback.acquisition.boards import uv_calibration
from emgfeedback.acquisition.source import (
    Chunk,
    Gap,
    LossCounts,
    Source,
    SourceInfo,
    SourceUrl,
    positive,
    take_options,
)
from emgfeedback.errors import ConfigError, SourceError, require
from emgfeedback.types import BrainFlowStats, SourceStats

log = logging.getLogger(__name__)

#: Default quantisation step, µV per count.
DEFAULT_STEP_UV = 0.01

#: Modulus of BrainFlow package counters.
COUNTER_MODULUS = 256

#: BrainFlowInputParams fields accepted as URL options (all strings but these).
_INT_PARAMS = ("ip_port", "ip_protocol", "timeout", "master_board")
PARAM_OPTIONS = ("serial_port", "mac_address", "ip_address", "ip_port", "ip_protocol",
                 "other_info", "serial_number", "file", "master_board", "timeout")


def _board_shim():
    require("brainflow", "brainflow")
    from brainflow import board_shim

    return board_shim


def board_id_from_name(name: str) -> int:
    """The BrainFlow board id for ``synthetic``, ``cyton``, ``CYTON_BOARD``, ``-1``, ...

    Raises
    ------
    ConfigError
        Naming some known boards.
    """
    board_ids = _board_shim().BoardIds
    text = name.strip()
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is not None:
        try:
            return int(board_ids(number).value)
        except ValueError:
            raise ConfigError(f"BrainFlow has no board with id {number}") from None
    key = text.upper().replace("-", "_")
    for candidate in (key, f"{key}_BOARD"):
        if candidate in board_ids.__members__:
            return int(board_ids[candidate].value)
    known = sorted(m.lower().removesuffix("_board") for m in board_ids.__members__)
    raise ConfigError(f"unknown BrainFlow board {name!r}; known: {', '.join(known)}")


class BrainFlowSource(Source):
    """Samples from a BrainFlow board.

    Not a :class:`~emgfeedback.acquisition.threaded.ThreadedSource`: BrainFlow runs its own
    acquisition thread and ring buffer (60 s) inside the library, and ``read()`` drains it.

    Parameters
    ----------
    board : str or int
        Board name or id (see :func:`board_id_from_name`).
    params : dict, optional
        ``BrainFlowInputParams`` fields (``serial_port``, ``mac_address``, ...).
    channels : int, optional
        Use only the first ``channels`` EMG rows (default: all).
    step_uv : float
        Quantisation step, µV per count.
    no_data_s : float
        Silence after which the state becomes ``no_data``.
    url : str, optional
        The URL (for ``info.url``).
    """

    def __init__(self, board: str | int = "synthetic", params: dict | None = None, *,
                 channels: int | None = None, step_uv: float = DEFAULT_STEP_UV,
                 no_data_s: float = 1.0, url: str | None = None) -> None:
        super().__init__()
        shim = _board_shim()
        self.board_id = board_id_from_name(str(board))
        self.params = dict(params or {})
        unknown = sorted(set(self.params) - set(PARAM_OPTIONS))
        if unknown:
            raise ConfigError(f"unknown BrainFlow parameter(s) {', '.join(unknown)}")
        # Playback and streaming boards describe themselves through their master board.
        self._descr_id = self.board_id
        if self.board_id in (int(shim.BoardIds.PLAYBACK_FILE_BOARD.value),
                             int(shim.BoardIds.STREAMING_BOARD.value)):
            if "master_board" not in self.params:
                raise ConfigError("the BrainFlow playback/streaming boards need master_board=ID")
            self._descr_id = int(self.params["master_board"])
        try:
            descr = shim.BoardShim.get_board_descr(self._descr_id)
            self._rows = list(shim.BoardShim.get_emg_channels(self._descr_id))
        except Exception as exc:  # BrainFlowError: the board has no EMG channels
            raise ConfigError(f"BrainFlow board {board!r} has no EMG channels ({exc})") \
                from None
        if channels is not None:
            if channels > len(self._rows):
                raise ConfigError(f"BrainFlow board {board!r} has {len(self._rows)} EMG "
                                  f"channels, not {channels}")
            self._rows = self._rows[:channels]
        self._counter_row = descr.get("package_num_channel")
        self.fs_hz = float(shim.BoardShim.get_sampling_rate(self._descr_id))
        self.board_name = str(descr.get("name", board))
        self.step_uv = float(step_uv)
        self.no_data_s = float(no_data_s)
        self._url = url or f"brainflow://{board}"
        self._shim = None
        self._info: SourceInfo | None = None
        self._next_index = 0
        self._last_counter: int | None = None
        self._last_data_s = 0.0
        self._no_data_events = 0
        self._loss_counts = LossCounts()
        self._counter_repeats = 0
        self._clipped = 0

    # ------------------------------------------------------------------ Source API

    @property
    def info(self) -> SourceInfo:
        if self._info is None:
            self._info = SourceInfo(
                url=self._url, fs_hz=self.fs_hz,
                channel_names=tuple(f"emg{i + 1}" for i in range(len(self._rows))),
                calibration=uv_calibration(len(self._rows), self.step_uv), board="uv",
                framing="brainflow",
                extra={"brainflow_board_id": self.board_id, "brainflow_board": self.board_name,
                       "brainflow_rows": list(self._rows), "counter_row": self._counter_row,
                       "step_uv": self.step_uv},
            )
        return self._info

    def open(self) -> None:
        """Prepare the BrainFlow session (connects to the board).

        Raises
        ------
        SourceError
            With BrainFlow's reason (port missing, board not ready, ...).
        """
        if self._shim is not None:
            return
        shim = _board_shim()
        shim.BoardShim.disable_board_logger()
        params = shim.BrainFlowInputParams()
        for key, value in self.params.items():
            setattr(params, key, int(value) if key in _INT_PARAMS else str(value))
        board = shim.BoardShim(self.board_id, params)
        try:
            board.prepare_session()
        except Exception as exc:  # BrainFlowError
            raise SourceError(f"{self._url}: BrainFlow cannot open {self.board_name}: {exc}") \
                from exc
        self._shim = board
        self._set_state("open")

    def start(self) -> None:
        if self._shim is None:
            self.open()
        if self.state == "streaming":
            return
        try:
            # A ring of 60 s inside BrainFlow: read() drains it every few ms.
            self._shim.start_stream(max(45000, int(60 * self.fs_hz)))
        except Exception as exc:  # BrainFlowError
            raise SourceError(f"{self._url}: BrainFlow cannot start streaming: {exc}") from exc
        self._last_data_s = time.monotonic()
        self._set_state("streaming")

    def read(self, timeout_s: float = 0.1) -> list[Chunk]:
        if self._shim is None or self.state not in ("streaming", "no_data"):
            time.sleep(min(max(timeout_s, 0.0), 0.01))
            return []
        deadline = time.monotonic() + timeout_s
        # Wait for about 10 ms of samples (fewer at the deadline): chunks of one or two
        # samples would cost every consumer more than they save in latency.
        enough = max(1, int(self.fs_hz / 100))
        while True:
            now = time.monotonic()
            count = self._shim.get_board_data_count()
            data = self._shim.get_board_data() if count >= enough or (
                count and now >= deadline) else np.zeros((0, 0))
            if data.size:
                self._last_data_s = now
                if self.state == "no_data":
                    self._set_state("streaming")
                return self._chunks(data, now)
            if now - self._last_data_s > self.no_data_s and self.state != "no_data":
                self._no_data_events += 1
                self._set_state("no_data")
            if now >= deadline:
                return []
            time.sleep(min(0.005, max(0.0, deadline - now)))

    def stop(self) -> None:
        if self._shim is not None and self.state in ("streaming", "no_data"):
            try:
                self._shim.stop_stream()
            except Exception as exc:  # noqa: BLE001 - stopping a vanished board
                log.warning("%s: stop_stream failed: %s", self._url, exc)
            self._set_state("stopped")

    def close(self) -> None:
        if self._shim is not None:
            self.stop()
            try:
                self._shim.release_session()
            except Exception as exc:  # noqa: BLE001
                log.warning("%s: release_session failed: %s", self._url, exc)
            self._shim = None
        self._set_state("closed")

    def stats(self) -> SourceStats:
        """Samples, counter gaps, clipped values and counter repeats."""
        return self._loss_counts.snapshot(
            state=self._state, no_data_s=self._no_data_s(),
            no_data_events=self._no_data_events, clipped_values=self._clipped,
            framing="brainflow", brainflow=BrainFlowStats(counter_repeats=self._counter_repeats))

    # ------------------------------------------------------------------ conversion

    def _chunks(self, data: np.ndarray, now: float) -> list[Chunk]:
        uv = data[self._rows].T.astype(np.float64)
        counts = np.rint(np.nan_to_num(uv) / self.step_uv)
        limit = 2**31 - 1
        self._clipped += int(np.count_nonzero(np.abs(counts) > limit))
        counts = np.clip(counts, -limit, limit).astype(np.int32)
        missing = self._missing_before(data)
        out = []
        starts = [0, *np.flatnonzero(missing).tolist(), len(counts)]
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            if a == b:
                continue
            gaps: tuple[Gap, ...] = ()
            if missing[a]:
                gaps = (Gap(self._next_index, int(missing[a]), "counter"),)
                self._next_index += int(missing[a])
            chunk = Chunk(samples=counts[a:b], first_index=self._next_index, arrival_s=now,
                          gaps=gaps)
            out.append(self._loss_counts.count(chunk))
            self._next_index += b - a
        return out

    def _missing_before(self, data: np.ndarray) -> np.ndarray:
        """Samples lost before each row, from the package counter (0 without one)."""
        n = data.shape[1]
        if self._counter_row is None:
            return np.zeros(n, dtype=np.int64)
        counter = np.rint(data[self._counter_row]).astype(np.int64)
        previous = np.concatenate([[counter[0] - 1 if self._last_counter is None
                                    else self._last_counter], counter[:-1]])
        self._last_counter = int(counter[-1])
        step = (counter - previous) % COUNTER_MODULUS
        # A repeated value says nothing about losses (boards that count packets repeat it).
        self._counter_repeats += int(np.count_nonzero(step == 0))
        return np.where(step > 1, step - 1, 0)


def _params_from(opts: dict) -> dict:
    return {k: opts[k] for k in PARAM_OPTIONS if opts.get(k) is not None}


def _int(value: str) -> int:
    return int(value)


#: Options of ``brainflow://``: name -> (converter, default).
BRAINFLOW_OPTIONS = {
    **{name: ((_int if name in _INT_PARAMS else str), None) for name in PARAM_OPTIONS},
    "channels": (positive(int), None),
    "step_uv": (positive(float), DEFAULT_STEP_UV),
    "no_data": (positive(float), 1.0),
}


def source_from_url(parsed: SourceUrl) -> BrainFlowSource:
    """Create a :class:`BrainFlowSource` from ``brainflow://BOARD?serial_port=...``.

    Raises
    ------
    ConfigError
        For a missing or unknown board, an unknown option or a bad value.
    """
    board = parsed.path.strip("/")
    if not board:
        raise ConfigError(f"source {parsed.url!r}: name the board, e.g. brainflow://synthetic "
                          "or brainflow://cyton?serial_port=/dev/ttyUSB0")
    opts = take_options(parsed, BRAINFLOW_OPTIONS)
    try:
        return BrainFlowSource(board, _params_from(opts), channels=opts["channels"],
                               step_uv=opts["step_uv"], no_data_s=opts["no_data"],
                               url=parsed.url)
    except ConfigError as exc:
        raise ConfigError(f"source {parsed.url!r}: {exc}") from None
