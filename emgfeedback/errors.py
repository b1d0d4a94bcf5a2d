"""Errors a user can fix.

Every error that a user can act on is an :class:`EmgFeedbackError`; its message says what
was wrong and what to do. The command line prints these without a traceback and exits
with status 2.
"""

from __future__ import annotations


class EmgFeedbackError(Exception):
    """Base class for errors whose message tells the user what to do."""


class ConfigError(EmgFeedbackError, ValueError):
    """An invalid parameter, option or configuration value."""


class SourceError(EmgFeedbackError):
    """A source could not be opened or read (bad URL, missing device, ...)."""


class DataFileError(EmgFeedbackError):
    """A recording file could not be read (names the file, line and what was expected)."""


class StorageError(EmgFeedbackError):
    """The session store could not be written or read."""


class ProtocolError(EmgFeedbackError):
    """An exercise protocol file is invalid (names the file, key path and the fix)."""


class OptionalDependencyError(EmgFeedbackError, ImportError):
    """An optional extra is needed for this feature; the message gives the install command."""


def require(module: str, extra: str):
    """Import an optional dependency or explain how to install it.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"pylsl"``.
    extra : str
        Name of the emgfeedback extra that provides it, e.g. ``"lsl"``.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    OptionalDependencyError
        If the module cannot be imported.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise OptionalDependencyError(
            f"this feature needs the optional package '{module}': "
            f"pip install 'emgfeedback[{extra}]'  ({exc})"
        ) from exc
