"""Exercise and assessment protocols: the TOML schema and a deterministic runner.

>>> from emgfeedback.protocol import load_protocol, ProtocolRunner, Features
>>> proto = load_protocol("uptraining")
>>> runner = ProtocolRunner(proto, fs_hz=2000.0, channel_names=["A0"])
>>> cues = runner.step(Features(first_index, envelope_uv, onsets))   # doctest: +SKIP

The runner is driven only by sample indices, so the same recording gives the same cues and
results live, replayed, or at any speed and block size. See ``protocols/README.md``.
"""

from emgfeedback.protocol.offline import features_from_arrays, split_features
from emgfeedback.protocol.runner import CUE_KINDS, Cue, Features, ProtocolRunner
from emgfeedback.protocol.schema import (
    Channel,
    Goal,
    Phase,
    Protocol,
    list_protocols,
    load_protocol,
    loads_protocol,
    shipped_names,
)

__all__ = [
    "CUE_KINDS", "Channel", "Cue", "Features", "Goal", "Phase", "Protocol", "ProtocolRunner",
    "features_from_arrays", "list_protocols", "load_protocol", "loads_protocol",
    "shipped_names", "split_features",
]
