"""Wire-format decoders and encoders: bytes from boards to sample blocks.

One stateful, incremental decoder per framing (``emgf``, ``text``, ``p2``, ``byb``), plus
``auto`` detection. Normative spec of the project's own frame: ``hardware/WIRE_FORMAT.md``.

Examples
--------
>>> from emgfeedback.acquisition.framing import get_decoder, encode_emgf_data
>>> dec = get_decoder("emgf")
>>> [blk.first_index for blk in dec.feed(encode_emgf_data(0, [[512, 513]]))]
[0]
"""

from __future__ import annotations

from emgfeedback.acquisition.framing.base import (
    COUNTER_KEYS,
    DecodedBlock,
    Decoder,
    DeviceMessage,
)
from emgfeedback.acquisition.framing.byb import BybDecoder, encode_byb, encode_byb_message
from emgfeedback.acquisition.framing.detect import AutoDecoder, DetectedFraming, detect_framing
from emgfeedback.acquisition.framing.emgf import (
    EmgfDecoder,
    encode_emgf_data,
    encode_emgf_data_frames,
    encode_emgf_event,
    encode_emgf_info,
    encode_emgf_status,
)
from emgfeedback.acquisition.framing.p2 import P2Decoder, encode_p2
from emgfeedback.acquisition.framing.text import (
    RateEstimator,
    TextDecoder,
    encode_text,
    estimate_fs_hz,
)
from emgfeedback.errors import ConfigError

FRAMINGS = ("emgf", "text", "p2", "byb")
_DECODERS = {"emgf": EmgfDecoder, "text": TextDecoder, "p2": P2Decoder, "byb": BybDecoder,
             "auto": AutoDecoder}


def get_decoder(framing: str, n_channels: int | None = None,
                fs_hz: float | None = None) -> Decoder:
    """Create a fresh decoder.

    Parameters
    ----------
    framing : str
        One of :data:`FRAMINGS`, or ``"auto"`` (detects, then delegates).
    n_channels : int, optional
        Channel count when the format does not carry it (byb default 1; p2 keeps the
        first ``n_channels`` of 6).
    fs_hz : float, optional
        Sample rate when the format does not carry it.

    Returns
    -------
    Decoder
        Has ``feed(bytes, arrival_s=None, fs_hz=None) -> list``, ``flush()``,
        ``counters``, ``n_channels``, ``channel_names``, ``fs_hz``. Live sources pass the
        host arrival time of each read (see :mod:`.timing`).

    Raises
    ------
    ConfigError
        Unknown framing or invalid channel count.
    """
    try:
        cls = _DECODERS[framing]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown framing {framing!r}; accepted: "
                          f"{', '.join(FRAMINGS)}, auto") from None
    try:
        return cls(n_channels=n_channels, fs_hz=fs_hz)
    except ValueError as exc:
        raise ConfigError(f"framing {framing}: {exc}") from None


__all__ = [
    "COUNTER_KEYS", "FRAMINGS", "AutoDecoder", "BybDecoder", "DecodedBlock", "Decoder",
    "DetectedFraming", "DeviceMessage", "EmgfDecoder", "P2Decoder", "RateEstimator",
    "TextDecoder", "detect_framing", "encode_byb", "encode_byb_message", "encode_emgf_data",
    "encode_emgf_data_frames", "encode_emgf_event", "encode_emgf_info", "encode_emgf_status",
    "encode_p2", "encode_text", "estimate_fs_hz", "get_decoder",
]
