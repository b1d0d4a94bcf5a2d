"""Sub-commands of the ``emgfeedback`` command, one module each (see :mod:`emgfeedback.cli`)."""
