"""Electrode placements of ``hardware/WIRING.md`` (section 2) as data, and small diagrams.

Each :class:`Placement` is one row of WIRING.md's placement table: the muscle, where the
two measuring electrodes go (as a point on the line between two landmarks, with the
electrodes' orientation), and where the reference goes. ``emgfeedback check`` prints
:func:`text_diagram` per channel and the window draws the same picture
(:mod:`emgfeedback.gui.check_step`). A test checks that every muscle of WIRING.md's table
is here, so the two cannot drift apart.

Channels are matched to a placement by their name or placement text
(:func:`placement_for`): ``glute_med_l``, ``"gluteus medius"``, ``TFL R``...
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PLACEMENTS", "Placement", "placement_for", "text_diagram"]


@dataclass(frozen=True)
class Placement:
    """Where the electrodes go for one muscle (after SENIAM, as in ``hardware/WIRING.md``).

    Attributes
    ----------
    muscle : str
        Muscle name as in WIRING.md.
    aliases : tuple of str
        Lower-case words a channel name or placement may use for it.
    start, end : str
        The two landmarks of the line the electrodes sit on.
    at : float
        Where on that line the electrode pair's centre is, 0 (``start``) .. 1 (``end``).
    orientation : str
        How the pair lies (along the line, oblique, vertical...).
    where : str
        WIRING.md's full sentence.
    reference : str
        Where the reference electrode goes.
    """

    muscle: str
    aliases: tuple[str, ...]
    start: str
    end: str
    at: float
    orientation: str
    where: str
    reference: str


PLACEMENTS: tuple[Placement, ...] = (
    Placement("gluteus medius", ("glute med", "gluteus medius", "glute medius"),
              "top of the iliac crest", "greater trochanter", 0.5, "along the line",
              "halfway along the line from the top of the iliac crest to the greater "
              "trochanter, electrodes along that line", "iliac crest (posterior part) or "
              "greater trochanter"),
    Placement("tensor fasciae latae", ("tfl", "tensor fasciae latae"),
              "ASIS", "lateral knee", 0.1, "along the line (upper part only)",
              "a few cm below and slightly behind the ASIS, along the line from the ASIS "
              "toward the lateral knee", "ASIS"),
    Placement("upper trapezius", ("upper trap", "upper trapezius", "trapezius"),
              "C7 spinous process", "acromion", 0.5, "along the line",
              "halfway along the line from the C7 spinous process to the acromion",
              "C7 spinous process or acromion"),
    Placement("lower trapezius", ("lower trap", "lower trapezius"),
              "medial end of the scapular spine", "T8 spinous process", 0.67,
              "oblique, along the line",
              "two thirds of the way from the medial end of the scapular spine down toward "
              "the T8 spinous process", "a thoracic spinous process below, or the acromion"),
    Placement("vastus medialis oblique", ("vmo", "vastus medialis"),
              "upper-inner edge of the patella", "4 cm up, 3 cm medial", 1.0,
              "angled about 50° to the thigh axis",
              "about 4 cm above and 3 cm medial to the upper-inner edge of the patella",
              "patella or tibial tuberosity"),
    Placement("vastus lateralis", ("vastus lateralis", "vl"),
              "ASIS", "lateral edge of the patella", 0.67, "along the thigh",
              "two thirds of the way from the ASIS to the lateral edge of the patella",
              "patella or tibial tuberosity"),
    Placement("lumbar multifidus", ("multifidus",),
              "PSIS", "L1-L2 interspace", 0.2, "along the line, 2-3 cm from the midline",
              "at L5, 2-3 cm from the midline, on the line from the PSIS toward the L1-L2 "
              "interspace", "iliac crest"),
    Placement("erector spinae", ("erector", "erector spinae", "longissimus"),
              "L1 spinous process", "two finger-widths lateral", 1.0, "vertical",
              "level with L1, two finger-widths lateral to the spinous process, vertical",
              "iliac crest or a spinous process below"),
    Placement("rectus abdominis", ("rectus abdominis", "abdominals", "abs"),
              "umbilicus", "2-3 cm lateral", 1.0, "vertical",
              "2-3 cm lateral to the umbilicus, vertical", "iliac crest / ASIS of the same side"),
    Placement("external oblique", ("obliques", "external oblique", "oblique"),
              "lowest rib", "pubis", 0.2, "angled down toward the pubis",
              "below the lowest rib, about 15 cm lateral to the umbilicus, angled down "
              "toward the pubis", "iliac crest / ASIS of the same side"),
    Placement("masseter", ("masseter", "jaw"),
              "cheekbone", "angle of the jaw", 0.75, "along the line",
              "on the muscle belly about 2 cm above the angle of the jaw, along the line "
              "from the cheekbone to the jaw angle", "mastoid process behind the ear, or the "
              "collarbone"),
)

_SIDE = re.compile(r"\b(l|r|left|right)\b")


def _words(text: str) -> str:
    """Lower case, ``_``/``-`` as spaces, side markers dropped, spaces collapsed."""
    text = re.sub(r"[_\-/.,()]+", " ", str(text).lower())
    return " ".join(_SIDE.sub(" ", text).split())


def placement_for(*texts: str) -> Placement | None:
    """The placement a channel's name or placement text refers to, or None.

    Parameters
    ----------
    *texts : str
        Channel name, protocol label, placement text... (the first that matches wins).

    Returns
    -------
    Placement or None
    """
    for text in texts:
        words = f" {_words(text or '')} "
        if not words.strip():
            continue
        # Longest alias first: "lower trapezius" before "trapezius".
        best = None
        for p in PLACEMENTS:
            for alias in p.aliases:
                if f" {alias} " in words and (best is None or len(alias) > len(best[1])):
                    best = (p, alias)
        if best is not None:
            return best[0]
    return None


def text_diagram(placement: Placement, width: int = 36) -> list[str]:
    """A small text picture of a placement: the landmark line, the pair, the reference.

    ``o`` marks the landmarks, ``[++]`` the two measuring electrodes at their place on
    the line, ``R`` the reference::

        top of the iliac crest o--------[++]--------o greater trochanter
                                      halfway, along the line
        R: iliac crest (posterior part) or greater trochanter

    Returns
    -------
    list of str
        Lines without trailing newlines.
    """
    inner = max(width - 2, 6)
    pos = min(max(int(round(placement.at * (inner - 4))), 0), inner - 4)
    line = "-" * pos + "[++]" + "-" * (inner - 4 - pos)
    head = f"{placement.start} o{line}o {placement.end}"
    lead = len(placement.start) + 2 + pos
    fraction = {0.5: "halfway", 1.0: "at the end", 0.67: "two thirds along",
                0.75: "three quarters along"}.get(placement.at, f"{placement.at:.0%} along")
    note = " " * max(lead - 2, 0) + f"^ {fraction}, {placement.orientation}"
    return [head, note, f"R: {placement.reference}"]
