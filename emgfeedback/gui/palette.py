"""Colours and fonts: one calm, light, colour-blind-safe theme (Okabe-Ito hues).

State is never told by colour alone: every "goal met" also shows a check mark and a word.
"""

from __future__ import annotations

#: Okabe & Ito (2008) palette, safe for the common colour-vision deficiencies.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}

BACKGROUND = "#F7F7F4"  # warm off-white: less glare than pure white
PANEL = "#FFFFFF"
TEXT = "#1E1E1E"
MUTED = "#6B6B6B"
GRID = "#D9D9D4"

#: Bar below its goal / working towards it.
WORKING = OKABE_ITO["blue"]
#: Goal met (paired with a check mark and the word "goal").
MET = OKABE_ITO["orange"]
#: Warnings (device lost, recorder error): vermillion, never flashing.
WARN = OKABE_ITO["vermillion"]
OK = OKABE_ITO["green"]
GOAL_LINE = "#333333"

#: Trace colours per channel (filtered signal is drawn lighter, envelope darker).
TRACE = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "purple", "orange", "sky",
                                 "black", "yellow")]


def trace_colour(channel: int) -> str:
    """Colour of a channel's traces."""
    return TRACE[channel % len(TRACE)]


STYLE_SHEET = f"""
QWidget {{ background: {BACKGROUND}; color: {TEXT}; font-size: 13px; }}
QFrame#panel {{ background: {PANEL}; border: 1px solid {GRID}; border-radius: 6px; }}
QFrame#panel QLabel {{ background: transparent; }}
QLabel#title {{ font-size: 15px; font-weight: 600; }}
QLabel#big {{ font-size: 28px; font-weight: 600; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#banner {{ background: {WARN}; color: white; font-size: 18px; font-weight: 600;
                 padding: 8px; border-radius: 4px; }}
QLabel#chip {{ border: 1px solid {GRID}; border-radius: 10px; padding: 2px 8px;
               background: {PANEL}; }}
QToolBar {{ spacing: 6px; border: none; }}
QPushButton, QToolButton {{ padding: 4px 10px; border: 1px solid {GRID}; border-radius: 4px;
                            background: {PANEL}; }}
QToolButton#qt_toolbar_ext_button {{ padding: 0px; border: 1px solid {GRID}; }}
QPushButton:checked, QToolButton:checked {{ background: #E8F1F8; border-color: {WORKING}; }}
QProgressBar {{ border: 1px solid {GRID}; border-radius: 4px; background: {PANEL};
                text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {WORKING}; border-radius: 3px; }}
QTableWidget {{ background: {PANEL}; gridline-color: {GRID}; }}
QHeaderView::section {{ background: {BACKGROUND}; border: none; padding: 3px;
                        font-weight: 600; }}
"""
