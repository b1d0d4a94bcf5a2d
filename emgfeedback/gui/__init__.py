"""The live biofeedback GUI (the only package that imports Qt, through ``pyqtgraph.Qt``).

>>> from emgfeedback.gui.app import run_live                      # doctest: +SKIP
>>> run_live("sim://?scenario=drill&channels=2", protocol="demo")  # doctest: +SKIP
"""
