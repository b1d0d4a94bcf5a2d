"""Interoperability with the wider biosignal ecosystem.

- :mod:`emgfeedback.interop.lsl`: Lab Streaming Layer outlet (``--lsl``: raw µV, envelopes,
  markers) and the ``lsl://`` source. Needs the ``lsl`` extra (pylsl).
- :mod:`emgfeedback.interop.brainflow_source`: any BrainFlow board's EMG channels as the
  ``brainflow://`` source. Needs the ``brainflow`` extra.

The optional libraries are imported only when one of these is used, so importing this package
costs nothing and works without them.
"""
