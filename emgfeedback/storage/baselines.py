"""A subject's stored baselines, read back for goals in baseline units.

Used by ``emgfeedback run`` and the window (``gui/app.py``) alike, so both scale a
protocol's goals on the same number; it reads the session store only.
"""

from __future__ import annotations


def stored_baseline(store, subject: str, names) -> list[float] | None:
    """The subject's latest baseline per channel, if every channel has one.

    The baseline is ``baseline_mean_uv`` (mean feedback envelope at rest, H2: the kind a
    protocol's own baseline phase measures), never the floor-corrected resting tone, so
    goals in baseline units mean the same whichever measured it. Baselines stored before
    it existed are not used.

    Parameters
    ----------
    store : SessionStore
        The open session store.
    subject : str
        The subject ("" gives None).
    names : sequence of str
        Channel names, in the order of the returned values.

    Returns
    -------
    list of float or None
        One value per name (µV), or None when a channel has no stored baseline.
    """
    if not subject:
        return None
    values = []
    for name in names:
        points = [p for p in store.history(subject, name, "baseline_mean_uv", kind="baseline")
                  if p.value > 0]
        if not points:
            return None
        values.append(points[-1].value)
    return values
