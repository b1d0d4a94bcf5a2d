"""Shared parameter texts for the analysis' numpydoc docstrings (one copy each).

A docstring names a shared parameter with a line holding only ``{name}`` where its entry
goes; :func:`shared_params` replaces it with the text below, indented like the
placeholder, when the module is imported, so ``help()`` and the rendered docs read as
ordinary numpydoc::

    @shared_params
    def detect(filtered_uv, fs_hz):
        '''Detect something.

        Parameters
        ----------
        {filtered_uv}
        {fs_hz}
        '''

Only whole-line placeholders are replaced; other braces (``{"index", "label"}``) are
left alone, and an unknown placeholder fails at import, naming the function.
"""

from __future__ import annotations

import re

#: ``name -> entry`` (the parameter line, then its description indented by four spaces).
PARAMS = {
    "fs_hz": "fs_hz : float\n    Sample rate in hertz.",
    "filtered_uv": "filtered_uv : array_like\n"
                   "    Band-passed signal in µV, ``(n_samples, n_channels)``.",
    "raw_uv": "x_uv : array_like\n    Raw signal in µV, ``(n_samples, n_channels)``.",
    "mains_hz": "mains_hz : float\n    Mains frequency (50 or 60 Hz).",
    "output_kinds": "output_kinds : sequence of str, optional\n"
                    "    Sensor output per channel (``raw``, ``uv``, ``rect``, ``env``; default\n"
                    "    all ``raw``): decides each channel's processing chain\n"
                    "    (:class:`~emgfeedback.dsp.KindPipeline`) and quality checks.",
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)\{(?P<name>\w+)\}[ \t]*$")


def fill(doc: str | None, where: str = "docstring") -> str | None:
    """``doc`` with every whole-line ``{name}`` replaced by :data:`PARAMS` ``[name]``.

    Parameters
    ----------
    doc : str or None
        A docstring (None under ``python -OO``, returned as it is).
    where : str
        What to name in the error.

    Returns
    -------
    str or None

    Raises
    ------
    KeyError
        For a placeholder that names no shared parameter.
    """
    if doc is None:
        return None
    out = []
    for line in doc.splitlines():
        m = _PLACEHOLDER.match(line)
        if m is None:
            out.append(line)
            continue
        name = m.group("name")
        if name not in PARAMS:
            raise KeyError(f"{where}: no shared parameter text {{{name}}} in "
                           "emgfeedback.analysis._docs.PARAMS")
        out += [m.group("indent") + text for text in PARAMS[name].splitlines()]
    return "\n".join(out) + ("\n" if doc.endswith("\n") else "")


def shared_params(func):
    """Decorator: fill ``func.__doc__``'s shared parameter placeholders (:func:`fill`)."""
    func.__doc__ = fill(func.__doc__, getattr(func, "__qualname__", repr(func)))
    return func
