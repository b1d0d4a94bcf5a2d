"""emgfeedback: surface-EMG biofeedback for neuromuscular re-education.

The public surface is small:

- :func:`emgfeedback.acquisition.open_source` opens any source from a URL;
- :class:`emgfeedback.dsp.Pipeline` filters and envelopes a stream in µV;
- :mod:`emgfeedback.analysis` holds the detectors (onsets, resting tone, quality);
- :mod:`emgfeedback.runtime` joins them in the running engine.
"""

from emgfeedback.errors import EmgFeedbackError

__version__ = "0.1.0"

__all__ = ["EmgFeedbackError", "__version__"]
