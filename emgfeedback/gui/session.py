"""The live session behind the window, re-exported for the GUI's modules.

:class:`LiveSession` and its helpers hold no Qt: they live in
:mod:`emgfeedback.runtime.live_session` (issue 17); the GUI's modules import them from here
as before.
"""

from emgfeedback.runtime.live_session import ChannelSetup, Events, Goals, LiveSession
from emgfeedback.runtime.recording import Recorder

__all__ = ["ChannelSetup", "Events", "Goals", "LiveSession", "Recorder"]
