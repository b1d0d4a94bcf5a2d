"""The window at common screen sizes and scalings, with real widgets on real sources.

Every check is geometric (emgfeedback.gui.layout_check): toolbar actions visible or in the
overflow menu, no two visible labels overlapping, no cut label or results cell, y-tick
labels of stacked plots apart, the cue canvas's texts, bars, goal pills and badge apart.
Moments are chosen by the window's own model (run_until), never by a timer.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from emgfeedback.gui.layout_check import (
    axis_label_problems,
    canvas_problems,
    label_problems,
    run_until,
    table_problems,
    toolbar_problems,
    window_problems,
)

ROOT = Path(__file__).resolve().parents[2]
#: Screen sizes at 100 % (logical pixels = screen pixels).
SIZES_100 = [(1366, 768), (1920, 1080), (2560, 1440)]
DEMO = "sim://?client=compliant&protocol=demo&seed=1"


def _met_with_reward(win) -> bool:
    m = win.model
    return m.rep >= 2 and m.met and m.held_s >= 0.2 and m.reward_visible > 0.3


def _repaint(win) -> None:
    """Lay out and paint everything now (fills the canvases' ``drawn`` records)."""
    app = QtWidgets.QApplication.instance()
    for _ in range(3):
        app.processEvents()
    win.feedback.canvas.grab()
    if win.client.isVisible():
        win.client.canvas.grab()


@pytest.fixture
def busy_demo_window(make_window):
    """The demo at its most crowded: repetition 2+, goal met, reward badge, a result row,
    the client view open; frozen at that frame."""
    win = make_window(DEMO, protocol="demo", window_s=10.0)
    win.resize(1600, 900)
    win.show()
    win.toggle_client()
    win.start()
    assert run_until(win, _met_with_reward, within_s=60.0), "the demo never met its goal"
    return win


def test_window_layout_at_common_sizes(busy_demo_window):
    # One crowded window (12 s of demo to reach it), laid out at every size in turn.
    win = busy_demo_window
    for size in SIZES_100:
        win.resize(*size)
        _repaint(win)
        assert (win.width(), win.height()) == size
        assert win.protocol_panel.table.rowCount() >= 1  # the baseline's result is listed
        drawn = win.feedback.canvas.drawn
        assert "reward" in drawn and "goal:0" in drawn, size
        assert window_problems(win) == [], size
    _toolbar_actions_are_reachable_through_the_overflow_button(win)


def _toolbar_actions_are_reachable_through_the_overflow_button(win):
    win.resize(1366, 768)
    _repaint(win)
    bar = win.findChildren(QtWidgets.QToolBar)[0]
    hidden = [a.text() for a in bar.actions() if not a.isSeparator()
              and not bar.widgetForAction(a).isVisible()]
    assert "Save set-up" in hidden  # it does not fit at 1366 px ...
    ext = bar.findChild(QtWidgets.QToolButton, "qt_toolbar_ext_button")
    assert ext.isVisible() and ext.width() >= 24  # ... and the "»" button is there,
    right = ext.mapTo(win, QtCore.QPoint(ext.width(), 0)).x()
    assert right <= win.width() + 1  # whole, inside the window
    assert toolbar_problems(win) == []


def test_client_view_shows_the_cue_and_a_countdown_that_follows_the_samples(make_window):
    win = make_window(DEMO, protocol="demo", window_s=10.0)
    win.show()
    win.toggle_client()
    win.client.resize(1024, 700)
    win.start()

    def working(w):
        return w.model.segment == "work" and w.model.rep >= 1 and \
            w.model.countdown_s > 2.0

    assert run_until(win, working, within_s=60.0)
    _repaint(win)
    m, canvas = win.model, win.client.canvas
    first_index, first_left = m.end_index, m.countdown_s
    rep = m.rep
    assert canvas.drawn["title"][1] == m.instruction == "Lift: glute med first, TFL quiet"
    first_text = canvas.drawn["countdown"][1]
    assert first_text == f"work · {math.ceil(first_left - 1e-9)} s left"
    # The panel's countdown and the client's come from the same sample indices.
    assert win.protocol_panel.countdown.text() == m.countdown_text()
    step = int(1.2 * win.session.fs_hz)
    assert run_until(win, lambda w: w.model.end_index >= first_index + step, within_s=60.0)
    _repaint(win)
    assert m.rep == rep and m.segment == "work"
    elapsed_s = (m.end_index - first_index) / win.session.fs_hz
    assert m.countdown_s == pytest.approx(first_left - elapsed_s, abs=1e-9)
    second_text = canvas.drawn["countdown"][1]
    assert int(second_text.split()[2]) < int(first_text.split()[2])
    assert canvas_problems(canvas) == []


def test_eight_channel_traces_have_readable_y_ticks_at_1366x768(make_window, qtbot):
    win = make_window("sim://?scenario=drill&channels=8&seed=2", window_s=5.0)
    win.resize(1366, 768)
    win.show()
    win.start()
    fs = win.session.fs_hz
    assert run_until(win, lambda w: w.model.end_index >= 2 * fs, within_s=30.0)
    win.traces._last_range_check = -1e9  # take the y ranges of what is shown now
    win.traces.draw()
    _repaint(win)
    assert all(math.isfinite(r) for r in win.traces._y_range)
    assert axis_label_problems(win.traces.plots) == []
    assert label_problems(win) == []


def test_quality_chips_do_not_flicker_on_a_signal_at_the_threshold(qtbot):
    from emgfeedback.analysis.quality import MAINS_FLAG_RATIO
    from emgfeedback.gui.status import StatusBar

    bar = StatusBar(["glute_med"], 2000.0)
    qtbot.addWidget(bar)

    def assess(ratio):
        flags = ["mains"] if ratio > MAINS_FLAG_RATIO else []
        return [{"mains_ratio": ratio, "flags": flags}]

    def show(quality):
        bar.update_status(state="streaming", silent_s=0.0, health={}, quality=quality,
                          recording=False, session_id=None, recorder_error=None,
                          envelope_delay_ms=50.0, screen_p95_ms=15.0, fps=60.0)
        return bar.quality[0].text()

    # One assessment per 2 s quality window; the ratio hovers at the threshold.
    hovering = [MAINS_FLAG_RATIO * (1.1 if k % 2 else 0.9) for k in range(12)]
    shown = [show(assess(r)) for r in hovering]
    assert len(set(shown)) == 1, shown
    assert shown[0] == "glute_med: ok"
    # The same assessment shown again (the 10 Hz refresh) is not a new one.
    clean = assess(0.2 * MAINS_FLAG_RATIO)
    before = bar.quality_filter.assessments
    assert show(clean) == show(clean) == show(clean) == "glute_med: ok"
    assert bar.quality_filter.assessments == before + 1
    # Real hum: two assessments in a row turn the chip on; two clean ones turn it off.
    assert show(assess(3 * MAINS_FLAG_RATIO)) == "glute_med: ok"
    assert show(assess(3 * MAINS_FLAG_RATIO)) == "glute_med: hum"
    assert show(assess(0.2 * MAINS_FLAG_RATIO)) == "glute_med: hum"  # one is not enough
    assert show(assess(0.2 * MAINS_FLAG_RATIO)) == "glute_med: ok"
    # An alarm (electrode off) shows at once.
    assert "electrode off" in show([{"mains_ratio": 0.0, "flags": ["electrode_off"]}])


def test_setup_dialog_fits_and_shows_the_remembered_source(qtbot):
    from emgfeedback.gui import palette
    from emgfeedback.gui.settings import Settings
    from emgfeedback.gui.setup_dialog import SetupDialog

    pty = "serial:///dev/pts/7?framing=emgf"
    dlg = SetupDialog(Settings(last_source=pty), ports=[])
    dlg.setStyleSheet(palette.STYLE_SHEET)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    assert dlg.source.currentText() == "Serial port (URL below)"
    assert dlg.url.text() == pty and dlg.result_setup()[0] == pty
    # Choosing the simulator fills in its URL; typing a URL shows the entry that fits.
    dlg.source.setCurrentIndex(0)
    assert dlg.url.text().startswith("sim://") and "Simulator" in dlg.source.currentText()
    dlg.url.setText(pty)
    dlg.url.textEdited.emit(pty)
    assert dlg.source.currentText() == "Serial port (URL below)"
    for n in (2, 4, 8):
        dlg.n_channels.setValue(n)
        QtWidgets.QApplication.processEvents()
        t = dlg.table
        assert dlg.width() >= dlg.sizeHint().width() - 1
        assert not t.horizontalScrollBar().isVisible()
        assert not t.verticalScrollBar().isVisible()  # every row shown (up to 8)
        assert label_problems(dlg) == []


def test_results_cells_wrap_instead_of_eliding(qtbot):
    from emgfeedback.gui.protocol_panel import ProtocolPanel, summarise_phase

    panel = ProtocolPanel(2000.0)
    qtbot.addWidget(panel)
    panel.resize(420, 400)
    panel.show()
    result = {"reps_passed": 7, "reps": [{}] * 8,
              "order": {"right": 7, "wrong": 1, "mean_lag_ms": -142.0},
              "channels": {"glute_med": {"mean_uv": {"mean": 41.27}},
                           "tfl": {"mean_uv": {"mean": 12.5}}}}
    panel._add_row("dissociation", True, summarise_phase(result))
    QtWidgets.QApplication.processEvents()
    assert "mean lag" in panel.table.item(0, 2).text()
    assert table_problems(panel.table) == []
    panel.resize(900, 400)  # wider: rows shrink back, still nothing cut
    QtWidgets.QApplication.processEvents()
    assert table_problems(panel.table) == []


def test_fading_reward_badge_keeps_its_text_readable():
    from emgfeedback.gui.cue_canvas import BADGE_MIN_CONTRAST, badge_colours, contrast_ratio
    from emgfeedback.gui.palette import BACKGROUND, PANEL

    for panel in (PANEL, BACKGROUND):
        for k in range(1, 101):
            bg, fg = badge_colours(k / 100, panel)
            assert bg.alpha() == 255  # opaque: the fade never makes it see-through
            assert contrast_ratio(bg, fg) >= BADGE_MIN_CONTRAST, (panel, k)


def test_reward_badge_fades_in_stream_time():
    from emgfeedback.gui.feedback import REWARD_SHOW_S, REWARD_SOLID_S, FeedbackModel
    from emgfeedback.protocol.runner import Cue

    m = FeedbackModel(["a"], 1000.0)
    m.apply_cues([Cue(5000, "reward", 0, "drill")])
    m.end_index = 5000
    assert m.reward_visible == 1.0
    m.end_index = 5000 + int(REWARD_SOLID_S * 1000)
    assert m.reward_visible == pytest.approx(1.0)
    m.end_index = 5000 + int((REWARD_SOLID_S + REWARD_SHOW_S) / 2 * 1000)
    assert m.reward_visible == pytest.approx(0.5)
    m.end_index = 5000 + int(REWARD_SHOW_S * 1000) + 1
    assert m.reward_visible == 0.0


def test_goal_pill_sits_beside_its_bar_not_on_its_base(qtbot):
    from emgfeedback.gui.cue_canvas import CueCanvas
    from emgfeedback.gui.feedback import FeedbackModel
    from emgfeedback.runtime.live_session import Goals

    # A goal near the bottom of the scale (a strong contraction against a low goal): the
    # pill used to sit on the bar's fill just above its base.
    for large, size in ((False, (520, 380)), (True, (1024, 700)), (False, (300, 220))):
        m = FeedbackModel(["glute_med", "tfl"], 1000.0)
        m.set_mode("dissociation")
        goals = Goals(baseline_uv=[5.0, 5.0], mvc_uv=[math.nan, math.nan])
        m.update_levels([90.0, 4.0], 1000, goals)
        canvas = CueCanvas(m, large=large)
        qtbot.addWidget(canvas)
        canvas.resize(*size)
        canvas.grab()
        drawn = canvas.drawn
        for b in m.bars:
            pill, _ = drawn[f"goal:{b.channel}"]
            for key, (rect, _t) in drawn.items():
                if key.startswith("bar:"):
                    assert not pill.intersects(rect.adjusted(1, 1, -1, -1)), (size, key)
        assert canvas_problems(canvas) == []


SCALED_PROBE = textwrap.dedent("""
    import json, sys
    from emgfeedback.gui.app import build_window, application
    from emgfeedback.gui.layout_check import run_until, window_problems
    app = application()
    win = build_window(sys.argv[1], protocol="demo", window_s=10.0)
    win.show(); win.toggle_client(); win.start()
    ok = run_until(win, lambda w: w.model.rep >= 2 and w.model.met
                   and w.model.reward_visible > 0.3, within_s=60.0)
    out = {"ok": ok, "dpr": app.devicePixelRatio(), "sizes": {}}
    for w, h in json.loads(sys.argv[2]):
        win.resize(w, h)
        for _ in range(3):
            app.processEvents()
        win.feedback.canvas.grab(); win.client.canvas.grab()
        image = win.grab()
        out["sizes"][f"{w}x{h}"] = {"window": [win.width(), win.height()],
                                    "image": [image.width(), image.height()],
                                    "problems": window_problems(win)}
    win.shutdown()
    print(json.dumps(out))
""")


def test_window_layout_at_200_percent_scaling(tmp_path):
    """1920x1080 and 2560x1440 screens at 200 %: 960x540 and 1280x720 logical pixels."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR="2",
               QT_FONT_DPI="96", EMGFEEDBACK_CONFIG=str(tmp_path / "config"))
    sizes = [(960, 540), (1280, 720)]
    proc = subprocess.run([sys.executable, "-c", SCALED_PROBE, DEMO, json.dumps(sizes)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"] and out["dpr"] == 2.0
    for (w, h) in sizes:
        got = out["sizes"][f"{w}x{h}"]
        assert got["window"] == [w, h]
        assert got["image"] == [2 * w, 2 * h]  # drawn with twice the pixels
        assert got["problems"] == []


def test_screenshot_script_takes_a_valid_picture(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               EMGFEEDBACK_CONFIG=str(tmp_path / "config"))
    out = tmp_path / "shots"
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "make_screenshots.py"),
                           "--only", "main", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=400, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["main.png"]
    image = QtGui.QImage(str(out / "main.png"))
    assert not image.isNull()
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import make_screenshots
    finally:
        sys.path.remove(str(ROOT / "docs"))
    assert (image.width(), image.height()) == make_screenshots.MAIN_SIZE
    # Every image the docs show is one the script makes (itself or through the generator
    # of another part of the project).
    import fnmatch
    import re

    referenced = set()
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        referenced |= set(re.findall(r"\]\((?:docs/)?screenshots/([^)\s]+)\)",
                                     doc.read_text(encoding="utf-8")))
    ours = {f"{s.name}.png" for s in make_screenshots.SHOTS}
    others = [pattern for pattern, _w, _f in make_screenshots.OTHER_PICTURES.values()]
    assert {"main.png", "client.png", "downtraining.png"} <= referenced
    for name in referenced:
        assert name in ours or any(fnmatch.fnmatch(name, p) for p in others), name


def test_a_rest_goal_does_not_keep_the_work_goal_from_being_met():
    """Uptraining has an "above" goal during work and a "below" goal during rest: while
    working, only the work goal decides "goal met" and only its line is drawn."""
    from emgfeedback.gui.feedback import FeedbackModel
    from emgfeedback.protocol.runner import Cue

    m = FeedbackModel(["stabiliser"], 1000.0)
    m.set_protocol_channels({"stabiliser": 0})
    goals = [{"type": "above", "channels": ["stabiliser"], "level_uv": 30.0,
              "during": "work"},
             {"type": "below", "channels": ["stabiliser"], "level_uv": 15.0,
              "during": "rest"}]
    m.apply_cues([Cue(0, "phase_start", 1, "work_rest", "Contract",
                      {"goals": goals, "reps": 10, "duration_s": 200.0}),
                  Cue(0, "segment_start", 1, "work_rest", "Contract",
                      {"segment": "work", "rep": 1, "reps": 10, "duration_s": 10.0}),
                  Cue(3500, "goal_met", 1, "work_rest", "", {"goal": 0})])
    m.update_levels([60.0], 4000)
    assert m.mode == "uptraining"
    assert m.met and [(b.direction, b.goal_uv) for b in m.bars] == [("above", 30.0)]
    assert m.countdown_text() == "6 s"
    m.apply_cues([Cue(10000, "segment_start", 1, "work_rest", "Let go",
                      {"segment": "rest", "rep": 1, "reps": 10, "duration_s": 10.0})])
    m.update_levels([5.0], 10500)
    assert not m.met and [(b.direction, b.goal_uv) for b in m.bars] == [("below", 15.0)]
