"""Files in and out: recordings read for analysis, exports written from the session store.

>>> from emgfeedback.io.recordings import open_recording, read_recording, open_session
>>> from emgfeedback.io.recordings import recording_files
>>> from emgfeedback.io.export import export_session, export_csv, export_edf

- :mod:`~emgfeedback.io.recordings`: detects a file's format and reads it in blocks
  (:class:`~emgfeedback.io.recordings.RecordingSource`), or a stored session's samples in
  µV (:func:`~emgfeedback.io.recordings.open_session`), and which files of a folder are
  recordings (:func:`~emgfeedback.io.recordings.recording_files`).
- :mod:`~emgfeedback.io.csv_reader`, :mod:`~emgfeedback.io.edf_reader`: the CSV/TSV and
  EDF/BDF readers behind it.
- :mod:`~emgfeedback.io.export`: CSV and EDF+/BDF+ exports, written atomically.

The analysis (:mod:`emgfeedback.analysis`) stays pure: it takes arrays or a source's
blocks and never opens a file; this package does the reading and writing. It may import
``storage`` (the session store), ``acquisition.boards`` (calibration), ``analysis.units``,
``types``, ``errors``, ``host`` and ``outputs``.
"""
