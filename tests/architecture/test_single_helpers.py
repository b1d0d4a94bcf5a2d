"""One copy of each shared helper (issue 17): the JSON sanitiser and ``--fast``.

``json_ready`` replaced five copies that disagreed (NumPy arrays left as they were, dict
keys kept as ints, NaN written to the database as a non-standard ``NaN`` token);
``fast_url`` replaced two that disagreed (``run --fast`` kept ``pace=realtime`` and ran in
real time while printing "(fast)"; the GUI's accepted ``lsl://`` typos as a scheme test on
a substring).
"""
from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest

from emgfeedback.acquisition.pace import fast_url
from emgfeedback.errors import ConfigError
from emgfeedback.jsonsafe import json_ready


def test_json_ready_makes_standard_json_from_numpy_and_non_finite_values():
    value = {1: np.float32(2.5), "a": [np.int64(3), np.bool_(True), (math.nan, -math.inf)],
             "arr": np.array([[1.0, np.nan]]), "_arrays": {"x": np.zeros(2)}, "s": "text"}
    out = json_ready(value)
    assert out == {"1": 2.5, "a": [3, True, [None, None]], "arr": [[1.0, None]],
                   "_arrays": {"x": [0.0, 0.0]}, "s": "text"}
    assert type(out["a"][0]) is int and type(out["a"][1]) is bool
    json.dumps(out, allow_nan=False)  # raises if anything non-standard is left
    assert "_arrays" not in json_ready(value, drop_private=True)


def test_every_former_copy_is_the_one_function():
    from emgfeedback.analysis import summary as report
    from emgfeedback.commands import _common

    nested = {"x": [np.float64("nan"), np.array([1, 2])], "_private": 1}
    assert _common.json_ready(nested) == json_ready(nested)
    assert report.json_ready(nested) == json_ready(nested, drop_private=True)


def test_writer_stores_standard_json_for_markers_and_results(tmp_path):
    """A NaN in a result used to reach SQLite as ``NaN``, which ``json_extract`` rejects."""
    from emgfeedback.acquisition.simulator import Simulator
    from emgfeedback.storage import SessionMeta, SessionStore

    sim = Simulator(scenario="rest", n_channels=1, fs_hz=1000.0, seed=1)
    db = tmp_path / "s.sqlite"
    with SessionStore(db) as store:
        sid = store.create_session(SessionMeta(1000.0, ("a",), sim.calibration, subject="s"))
        with store.open_writer(sid) as writer:
            writer.add_marker(3, "mark", "t", {"v": np.float32(math.nan)})
            writer.add_result("baseline", {"baseline_uv": [np.float64(4.0), math.inf]},
                              channel="a")
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT json_extract(data, '$.baseline_uv') FROM results").fetchone() \
            == ("[4.0,null]",)
        assert con.execute("SELECT json_extract(data, '$.v') FROM markers").fetchone() == (None,)
    finally:
        con.close()


@pytest.mark.parametrize(("url", "expected"), [
    ("sim://?channels=2", "sim://?channels=2&pace=fast"),
    ("sim://", "sim://?pace=fast"),
    ("sim://?pace=realtime&seed=1", "sim://?pace=fast&seed=1"),
    ("sim://?seed=1&pace=realtime", "sim://?seed=1&pace=fast"),
    ("sim://?pace=fast", "sim://?pace=fast"),
    ("file:///tmp/a.sqlite?session=2&pace=realtime", "file:///tmp/a.sqlite?session=2&pace=fast"),
    ("sim://?spacer=1", "sim://?spacer=1&pace=fast"),
])
def test_fast_url_sets_pace_fast_and_keeps_the_other_options(url, expected):
    assert fast_url(url) == expected


@pytest.mark.parametrize("url", ["serial:///dev/ttyACM0", "lsl://EMG", "/tmp/no-scheme"])
def test_fast_url_refuses_sources_without_a_pace(url):
    with pytest.raises(ConfigError):
        fast_url(url)



def test_shared_parameter_texts_fill_whole_line_placeholders_only():
    from emgfeedback.analysis._docs import PARAMS, fill

    doc = 'Do it.\n\n    Parameters\n    ----------\n    {fs_hz}\n    keys : set\n' \
          '        ``{"index", "label"}`` stay as written.\n'
    out = fill(doc)
    assert "    fs_hz : float\n        Sample rate in hertz.\n" in out
    assert '``{"index", "label"}``' in out and "{fs_hz}" not in out
    assert out.count("Sample rate in hertz.") == PARAMS["fs_hz"].count("Sample rate in hertz.")
    with pytest.raises(KeyError, match="no_such_parameter"):
        fill("x\n    {no_such_parameter}\n")
    assert fill(None) is None  # python -OO


def test_every_docstring_using_shared_parameters_is_filled():
    """A placeholder left in a docstring would show as ``{fs_hz}`` in help()."""
    import importlib
    import inspect
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "emgfeedback"
    users = [p for p in (root / "analysis").glob("*.py")
             if "shared_params" in p.read_text(encoding="utf-8") and p.name != "_docs.py"]
    assert users, "no module uses the shared parameter texts"
    left = re.compile(r"^\s*\{\w+\}\s*$", re.MULTILINE)
    for path in users:
        module = importlib.import_module(f"emgfeedback.analysis.{path.stem}")
        for name, func in inspect.getmembers(module, inspect.isfunction):
            if func.__module__ == module.__name__ and func.__doc__:
                assert not left.search(func.__doc__), f"{path.name}:{name}"
