"""``--fast``: the source URL with ``pace=fast`` (one definition for ``run`` and the GUI).

Simulated (``sim://``) and stored (``file://``) sources deliver their samples either when
they are due (``pace=realtime``, the default) or as fast as the consumer reads them
(``pace=fast``). ``--fast`` asks for the latter, so it wins over a ``pace=`` already in the
URL; a device (``serial://``, ``lsl://``...) runs in real time and is refused with a
:class:`~emgfeedback.errors.ConfigError`.
"""
from __future__ import annotations

import re

from emgfeedback.acquisition.source import parse_source_url
from emgfeedback.errors import ConfigError

__all__ = ["FAST_SCHEMES", "fast_url"]

#: Sources whose pace can be lifted with --fast (they are not tied to a real device).
FAST_SCHEMES = ("sim", "file")

_PACE = re.compile(r"([?&])pace=[^&#]*")


def fast_url(url: str) -> str:
    """``url`` with ``pace=fast``.

    Parameters
    ----------
    url : str
        A ``sim://`` or ``file://`` source URL, with or without a ``pace=`` option.

    Returns
    -------
    str
        The same URL with its ``pace=`` option set to ``fast`` (added if missing); the
        other options are kept as they were.

    Raises
    ------
    ConfigError
        If the URL is not a URL, or its source has no pace (a device).
    """
    parsed = parse_source_url(url)
    if parsed.scheme not in FAST_SCHEMES:
        raise ConfigError(f"--fast works with {', '.join(s + '://' for s in FAST_SCHEMES)} "
                          f"sources only, not {parsed.scheme}:// (a device runs in real time)")
    if "pace" in parsed.options:
        return _PACE.sub(lambda m: m.group(1) + "pace=fast", url)
    return url + ("&" if "?" in url else "?") + "pace=fast"
