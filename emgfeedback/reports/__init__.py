"""Reports: what people read about a recording or a session (HTML, SVG charts, text).

>>> from emgfeedback.reports.session_report import write_report, session_quantities
>>> from emgfeedback.reports.text import text_report
>>> from emgfeedback.reports.signal_checks import stored_check, session_grades

- :mod:`~emgfeedback.reports.session_report`: one session as a self-contained HTML file
  (and the numbers ``report --json`` prints, :func:`session_quantities`).
- :mod:`~emgfeedback.reports.svg`: the small SVG chart builder those pages draw with.
- :mod:`~emgfeedback.reports.text`: the text ``analyze`` prints.
- :mod:`~emgfeedback.reports.signal_checks`: stored signal checks read back for the report,
  the session listing and ``history``.

This layer sits above the numbers: it may import ``analysis`` (every number is computed
there, once), ``io`` and ``storage`` (to read what it reports on), ``acquisition.boards``
(calibration) and the bottom modules; nothing below imports it.
"""
