"""The signal check before a session: a plain verdict, the one thing to do, and a grade.

Pure logic on top of :mod:`emgfeedback.analysis.quality` (mains ratio, clipping, rails and
flat lines, ECG, SNR, lost samples) and :mod:`emgfeedback.analysis.quantities` (the one
definition of the noise floor and the resting tone). ``emgfeedback check`` and the
window's check step (:mod:`emgfeedback.gui.check_step`) record a rest period and,
optionally, a short test contraction, and hand the samples to :func:`check_signal`.

Verdicts (``code``), in the order they are looked for:

* contact: ``off`` (a lifted electrode: the floating input swings between both ADC rails),
  ``rail`` (stuck at 0 or full scale), ``flat`` (constant counts), ``drift`` (the baseline
  walks by more than :data:`DRIFT_FLAG_UV` over the rest);
* noise at rest: ``mains`` (:data:`~emgfeedback.analysis.quality.MAINS_FLAG_RATIO`),
  ``floor`` (the resting tone is below twice the noise floor: this board cannot resolve
  it), ``ecg``, ``clipping`` (at rest), ``lost``;
* contraction (when asked for): ``weak`` (SNR of contraction over rest below
  :data:`SNR_GOOD_DB`), ``no_contraction`` (below :data:`SNR_USABLE_DB`),
  ``clipping_contraction``; ``contraction_skipped`` otherwise;
* set-up: ``output`` (the output kind and gain in use; for ENV, the potentiometer position
  the gain assumes).

Each reason has a severity: ``fail`` makes the channel ``not usable``, ``warn`` makes it
``usable``, ``info`` does not change the grade. The overall grade is the worst channel's.
"""

from __future__ import annotations

import math

import numpy as np

from emgfeedback.analysis import quality as q
from emgfeedback.analysis._docs import shared_params

#: Grades, best first.
GRADES = ("good", "usable", "not usable")
#: Result kind a check's grade is stored under with a session (one result per channel).
RESULT_KIND = "signal_check"
_SEVERITY_GRADE = {"info": "good", "warn": "usable", "fail": "not usable"}
#: Baseline walk over the rest (peak-to-peak of 1 s means), µV at the electrode, above
#: which the channel is drifting. Natural wander is tens of µV; settling electrodes, mV.
DRIFT_FLAG_UV = 500.0
#: Mains ratio above which the hum is called heavy (it dominates the resting signal).
MAINS_HEAVY_RATIO = 0.5
#: Resting RMS (µV) of a RAW/µV channel above which the input is taken to be floating.
FLOATING_RMS_UV = 5000.0
#: Fraction of rest samples at *each* rail for a floating input (swinging rail to rail).
FLOATING_RAIL_FRACTION = 0.05
#: Test contraction: SNR (dB, :func:`~emgfeedback.analysis.quality.snr_db`) for good and
#: usable feedback.
SNR_GOOD_DB = 15.0
SNR_USABLE_DB = 6.0
#: Percentage of contraction samples at a rail that makes the channel not usable.
CLIP_FAIL_PCT = 1.0
#: Percentage of lost samples that makes the channel not usable.
LOST_FAIL_PCT = 5.0
#: Default rest and contraction lengths of a check, seconds (the simulator's ``check``
#: scenario is timed to them).
REST_S = 6.0
CONTRACTION_S = 4.0


def grade_of(reasons) -> str:
    """The grade a list of reasons gives: the worst severity's (``good`` when none)."""
    worst = 0
    for r in reasons:
        worst = max(worst, GRADES.index(_SEVERITY_GRADE[r["severity"]]))
    return GRADES[worst]


def worst_grade(grades) -> str:
    """The worst of several grades (``good`` for none)."""
    return GRADES[max((GRADES.index(g) for g in grades), default=0)]


def meets(grade: str, minimum: str) -> bool:
    """Whether ``grade`` is at least as good as ``minimum``."""
    return GRADES.index(grade) <= GRADES.index(minimum)


def _reason(code: str, severity: str, verdict: str, action: str) -> dict:
    return {"code": code, "severity": severity, "verdict": verdict, "action": action}


@shared_params
def check_signal(counts, calibration, fs_hz: float, *, rest_samples: int | None = None,
                 contraction: tuple[int, int] | None = None, mains_hz: float = 50.0,
                 lost_samples=None, board=None, names=None, placements=None,
                 pipeline_config) -> dict:
    """Grade each channel of a check recording.

    Parameters
    ----------
    counts : array_like
        ADC counts, ``(n_samples, n_channels)``, float with NaN where samples were lost.
    calibration : sequence of ChannelCalibration
        Per channel (output kind, step, rails).
    {fs_hz}
    rest_samples : int, optional
        Samples ``[0, rest_samples)`` are the rest (default: all, or up to the
        contraction).
    contraction : tuple of int, optional
        ``(start, stop)`` sample indices of the test contraction; None when it was skipped.
    {mains_hz}
    lost_samples : int or sequence of int, optional
        Samples lost per channel that are not in ``counts`` as NaN.
    board : Board, optional
        The board (for the gain in use); unknown when None.
    names, placements : sequence of str, optional
        Channel names and placement texts (to find each channel's placement).
    pipeline_config : PipelineConfig
        The processing to grade with: the live path's
        (:func:`emgfeedback.runtime.default_pipeline_config` for the source's rate, passed by
        the caller so that the analysis does not import the runtime).

    Returns
    -------
    dict
        ``grade`` (worst channel), ``contraction`` (bool) and ``channels``: per channel
        ``channel``, ``grade``, ``reasons`` (``code``, ``severity``, ``verdict``,
        ``action``), ``output``, ``placement`` (muscle or None) and ``measures`` (numbers,
        units in the names).
    """
    from emgfeedback.acquisition.boards import counts_to_uv, output_kinds
    from emgfeedback.analysis.placements import placement_for
    from emgfeedback.analysis.quantities import channel_floors_uv, rest_quantities
    from emgfeedback.dsp import process_offline

    c = np.asarray(counts, dtype=np.float64)
    if c.ndim == 1:
        c = c[:, None]
    n, n_ch = c.shape
    if n < int(2 * fs_hz):
        from emgfeedback.errors import ConfigError

        raise ConfigError(f"a signal check needs at least 2 s of samples, got {n / fs_hz:.1f} s:"
                          " record longer (--rest-seconds)")
    kinds = list(output_kinds(calibration))
    names = list(names or [f"ch{i + 1}" for i in range(n_ch)])
    placements = list(placements or [""] * n_ch)
    stop = contraction[0] if contraction else n
    rest_n = min(int(rest_samples) if rest_samples else stop, stop, n)
    uv = counts_to_uv(c, calibration)
    cfg = pipeline_config
    filtered, _ = process_offline(np.where(np.isfinite(uv), uv, 0.0), cfg, kinds=kinds)
    band = tuple(cfg.band_hz)
    quality = q.assess_quality(uv[:rest_n], fs_hz, filtered_uv=filtered[:rest_n],
                               counts=c[:rest_n], calibration=calibration, mains_hz=mains_hz,
                               lost_samples=lost_samples, band_hz=band, output_kinds=kinds)
    floors = channel_floors_uv(fs_hz, band, kinds, calibration=calibration)
    rest, _ = rest_quantities(uv[:rest_n], filtered[:rest_n], fs_hz, cfg, floors,
                              output_kinds=kinds)
    settle = int(round(0.5 * fs_hz))
    channels = []
    for ch in range(n_ch):
        cal = calibration[ch]
        kind = kinds[ch]
        place = placement_for(names[ch], placements[ch])
        measures, reasons = _channel(c[:rest_n, ch], uv[:rest_n, ch], fs_hz, cal, kind,
                                     quality[ch], rest[ch])
        contact_ok = not any(r["severity"] == "fail" and r["code"] in ("off", "rail", "flat")
                             for r in reasons)
        if contraction is not None and contact_ok:
            a, z = int(contraction[0]), min(int(contraction[1]), n)
            measures.update(_contraction(filtered[settle:z, ch], c[a:z, ch], fs_hz, cal, kind,
                                         reasons))
        elif contraction is None:
            reasons.append(_reason(
                "contraction_skipped", "info", "test contraction skipped: SNR not measured",
                "run the check with a test contraction (--contraction) before feedback on "
                "contractions"))
        reasons.append(_output_reason(cal, kind, board))
        channels.append({
            "channel": names[ch], "grade": grade_of(reasons), "reasons": reasons,
            "output": kind, "placement": place.muscle if place else None,
            "measures": measures,
        })
    return {"grade": worst_grade(ch["grade"] for ch in channels),
            "contraction": contraction is not None, "fs_hz": float(fs_hz),
            "rest_s": rest_n / fs_hz, "channels": channels}


def _finite(v):
    return None if v is None or not math.isfinite(float(v)) else float(v)


def _channel(counts, uv, fs_hz, cal, kind, qual, rest) -> tuple[dict, list[dict]]:
    """Contact and noise-at-rest verdicts of one channel."""
    reasons: list[dict] = []
    finite = counts[np.isfinite(counts)]
    one_sided = kind in ("rect", "env")
    low_pct = 0.0 if one_sided or finite.size == 0 else \
        100.0 * float(np.mean(finite <= cal.adc_min))
    high_pct = 100.0 * float(np.mean(finite >= cal.adc_max)) if finite.size else 0.0
    ok_uv = uv[np.isfinite(uv)]
    rms_uv = float(np.sqrt(np.mean((ok_uv - ok_uv.mean()) ** 2))) if ok_uv.size else math.nan
    drift = _drift_uv(uv, fs_hz) if kind in ("raw", "uv") else math.nan
    measures = {
        "rest_rms_uv": _finite(rms_uv), "rail_low_pct": low_pct, "rail_high_pct": high_pct,
        "mains_ratio": _finite(qual["mains_ratio"]), "mains_hz": _finite(qual["mains_hz"]),
        "ecg": qual["ecg"], "ecg_rate_bpm": _finite(qual["ecg_rate_bpm"]),
        "clipped_rest_pct": qual["clipped_pct"], "lost_pct": qual["lost_pct"],
        "drift_uv": _finite(drift), "resting_tone_uv": _finite(rest["resting_tone_uv"]),
        "noise_floor_uv": _finite(rest["noise_floor_uv"]), "tone_valid": rest["tone_valid"],
        "quantisation_uv": float(cal.uv_per_count),
    }
    floating = (low_pct >= 100 * FLOATING_RAIL_FRACTION
                and high_pct >= 100 * FLOATING_RAIL_FRACTION) or \
        (kind in ("raw", "uv") and rms_uv > FLOATING_RMS_UV)
    off_reason = qual["electrode_off_reason"]
    if floating:
        reasons.append(_reason(
            "off", "fail", "electrode off: the input floats and swings between the rails "
            "(mains pick-up, no EMG)",
            "press the electrodes on (replace dried ones), check each snap and the reference "
            "lead"))
    elif qual["electrode_off"] and "rail" in off_reason:
        top = high_pct >= low_pct
        where = f"full scale ({cal.adc_max})" if top else f"0 ({cal.adc_min})"
        action = ("lower the ENV gain (turn the potentiometer down); if it stays there, an "
                  "electrode is off" if kind == "env" and top else
                  "check the sensor's supply (5 V to +, GND to −) and that its output goes "
                  "to this pin; then the electrodes")
        reasons.append(_reason("rail", "fail", f"stuck at {where} ({off_reason})", action))
    elif qual["electrode_off"]:
        reasons.append(_reason(
            "flat", "fail", f"flat line: constant counts ({off_reason})",
            "check that the sensor is powered (its LED is on) and that its output is wired "
            "to this channel's pin"))
    if reasons:
        return measures, reasons
    if drift > DRIFT_FLAG_UV:
        reasons.append(_reason(
            "drift", "warn", f"the baseline drifts by {drift:.0f} µV over the rest",
            "wait 2 minutes for the electrodes to settle, press them on and keep the leads "
            "still (tape them to the skin)"))
    ratio = qual["mains_ratio"]
    if ratio > q.MAINS_FLAG_RATIO:
        heavy = ratio > MAINS_HEAVY_RATIO
        reasons.append(_reason(
            "mains", "warn", f"{'heavy ' if heavy else ''}mains hum at {qual['mains_hz']:g} Hz: "
            f"{100 * ratio:.0f}% of the resting signal's band power",
            "unplug the laptop's charger (run on battery), put the reference electrode on bone"
            " and keep the leads short and together"))
    if rest["tone_valid"] is False:
        # No usable rest at all, contact being fine, means the rest read as constant counts
        # (runs of identical values are never rest): the step is coarser than the tone.
        tone, floor = rest["resting_tone_uv"], rest["noise_floor_uv"]
        if tone is not None and math.isfinite(tone):
            why = f"{tone:.1f} µV is below 2× the floor of {floor:.1f} µV"
        else:
            why = (f"the rest reads as constant counts: one count is {cal.uv_per_count:.3g} µV,"
                   f" the floor {floor:.1f} µV")
        if kind == "env":
            action = "raise the ENV gain (potentiometer up, note its position)"
        elif kind == "uv":
            action = "use a front end with a finer resolution or lower input noise"
        else:
            action = "use RAW with a 12-bit ADC, or ENV"
        reasons.append(_reason(
            "floor", "warn", f"this board cannot resolve this muscle's resting tone ({why})",
            action))
    if qual["ecg"]:
        reasons.append(_reason(
            "ecg", "warn", f"the heartbeat (ECG, {qual['ecg_rate_bpm']:.0f}/min) shows on this "
            "channel", "move the reference low (iliac crest), away from the chest; the "
            "analysis can high-pass at 30 Hz"))
    if qual["clipped_pct"] > q.CLIP_FLAG_PCT:
        reasons.append(_reason(
            "clipping", "warn", f"{qual['clipped_pct']:.1f}% of resting samples at an ADC rail",
            "lower the gain, or check for a loose lead"))
    lost = qual["lost_pct"]
    if lost > 0.1:
        reasons.append(_reason(
            "lost", "fail" if lost > LOST_FAIL_PCT else "warn",
            f"{lost:.1f}% of samples lost", "check the USB cable and the baud rate; close "
            "other programs using the port"))
    return measures, reasons


def _drift_uv(uv, fs_hz) -> float:
    """Peak-to-peak of the 1 s means over the rest after the first 0.5 s, µV."""
    x = uv[int(0.5 * fs_hz):]
    w = max(int(fs_hz), 1)
    k = x.size // w
    if k < 2:
        return math.nan
    means = np.nanmean(x[: k * w].reshape(k, w), axis=1)
    means = means[np.isfinite(means)]
    return float(np.ptp(means)) if means.size >= 2 else math.nan


def _contraction(filtered_span, counts, fs_hz, cal, kind, reasons) -> dict:
    """SNR of the contraction over rest and clipping during it; appends reasons."""
    snr = q.snr_db(filtered_span, fs_hz)
    low = cal.adc_min - 1 if kind in ("rect", "env") else cal.adc_min
    finite = counts[np.isfinite(counts)]
    clipped = q.clipped_percent(finite, low, cal.adc_max)
    if not snr >= SNR_USABLE_DB:
        reasons.append(_reason(
            "no_contraction", "fail", f"no clear contraction (SNR {snr:.1f} dB)",
            "check that the electrodes sit on the muscle belly along the fibres, and contract "
            "the muscle this channel measures"))
    elif snr < SNR_GOOD_DB:
        reasons.append(_reason(
            "weak", "warn", f"weak contraction over rest (SNR {snr:.1f} dB)",
            "move the electrodes onto the muscle belly, or contract harder; lower the noise "
            "at rest"))
    if clipped > q.CLIP_FLAG_PCT:
        reasons.append(_reason(
            "clipping_contraction", "fail" if clipped > CLIP_FAIL_PCT else "warn",
            f"{clipped:.1f}% of samples at an ADC rail during the contraction",
            "lower the gain (ENV: potentiometer down), or contract less hard"))
    return {"snr_db": _finite(snr), "clipped_contraction_pct": clipped}


def _output_reason(cal, kind, board) -> dict:
    """What output and gain are in use (information, no grade effect)."""
    from emgfeedback.acquisition.boards import OUTPUT_TITLES

    title = OUTPUT_TITLES.get(kind, kind)
    gain = board.sensor.gains.get(kind) if board is not None else None
    step = f"{cal.uv_per_count:.3g} µV per count"
    if kind == "uv":
        return _reason("output", "info", f"output {title}, {step}",
                       "nothing: the stream carries µV")
    if gain is None:
        return _reason("output", "info", f"output {title}, gain unknown ({step} assumed)",
                       "name the board (board=...) so amplitudes are in true µV")
    if kind == "env":
        return _reason(
            "output", "info", f"output {title}, gain {gain:,.0f} assumes the gain "
            f"potentiometer at 50 kΩ ({step}); the host cannot see the potentiometer",
            "leave the potentiometer where it is and note its position; µV are only true at "
            "50 kΩ (feedback relative to a baseline works at any setting)")
    return _reason("output", "info", f"output {title}, gain {gain:,.0f} ({step})",
                   "nothing")


def summary_line(channel: dict) -> str:
    """One line per channel for tables: ``grade`` and the problems' codes."""
    codes = [r["code"] for r in channel["reasons"] if r["severity"] != "info"]
    return channel["grade"] + (f" ({', '.join(codes)})" if codes else "")
