"""One self-contained HTML report of a twin (figures embedded as base64 PNG, no external files).

Sections: warnings (where the twin is not to be trusted), trial and subject, tracking quality at a
glance (traffic lights), figures (joint angles, joint moments, ground reactions, residuals, foot
contacts), gait events, spatiotemporal parameters, per-joint tracking errors and definitions.

Traffic lights (``THRESHOLDS``; good <= first limit < check <= second limit < poor):

* completed fraction: good = 100 %, check >= 95 %, poor below (early termination = fall).
* mean joint angle error (MAE): good <= 2 deg, check <= 5 deg, poor above.
* mean pelvis position error: good <= 2 cm, check <= 5 cm.
* mean residual force: good <= 5 % BW, check <= 10 % BW.
* mean residual moment: good <= 1 % BW x height, check <= 2 %.
* gait event timing error: good <= 20 ms, check <= 50 ms.
* vertical GRF RMSE vs force plates (when given): good <= 10 % BW, check <= 20 % BW.

The limits follow the spirit of the residual-reduction guidance of Hicks et al. 2015 (J Biomech
Eng 137:020905: residual forces within 5 % of the peak external force, kinematic errors within
2 deg and 2 cm) and are deliberately simple; they say where to look, not what is true.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from pathlib import Path

import numpy as np

from . import figures as F
from ..sim.floor import CLEARANCE_MEDIAN_TOLERANCE_MM, CLEARANCE_P95_TOLERANCE_MM, MAX_LEVELLED_TILT_DEG

#: key -> (label, unit, good limit, check limit, higher_is_better, explanation)
THRESHOLDS = {
    "completed_fraction": ("Trial completed", "%", 100.0, 95.0, True,
                           "share of the trial the twin simulated before it stopped (fell or lost "
                           "track)"),
    "joint_angle_mae_deg": ("Joint angle error (mean)", "deg", 2.0, 5.0, False,
                            "mean absolute difference between the twin's and the recorded joint "
                            "angles"),
    "pelvis_position_error_cm": ("Pelvis position error (mean)", "cm", 2.0, 5.0, False,
                                 "mean distance between the twin's and the recorded pelvis"),
    "residual_force_mean_pct_bw": ("Residual force (mean)", "% BW", 5.0, 10.0, False,
                                   "outside help the twin needed to move like the recording, as "
                                   "a share of body weight"),
    "residual_moment_mean_pct_bw_height": ("Residual moment (mean)", "% BW·h", 1.0, 2.0, False,
                                           "outside twisting help at the pelvis, as a share of "
                                           "body weight x height"),
    "gait_event_error_ms": ("Gait event timing error", "ms", 20.0, 50.0, False,
                            "mean difference between the twin's foot strikes/offs and the "
                            "reference's"),
    "grf_vertical_rmse_pct_bw": ("Vertical GRF error vs force plates", "% BW", 10.0, 20.0, False,
                                 "root-mean-square difference of the vertical ground reaction "
                                 "per foot"),
    "grf_vertical_r": ("Vertical GRF correlation with force plates", "", 0.95, 0.9, True,
                       "Pearson's r of the vertical ground reaction per foot"),
    "moment_sagittal_rmse_nm_per_kg": ("Joint moment error vs reference", "N·m/kg", 0.2, 0.4, False,
                                       "root-mean-square difference of the hip, knee and ankle "
                                       "flexion moments from the reference inverse dynamics"),
    "com_vertical_hf_pct_bw": ("Centre-of-mass jitter", "% BW", 5.0, 10.0, False,
                               "vertical force implied by the twin's centre-of-mass motion above "
                               "6 Hz alone (the recording has its own, in metrics.json)"),
    "reserve_pct_hip_knee_ankle_max": ("Muscle reserves (worst joint)", "%", 5.0, 20.0, False,
                                       "share of the hip, knee or ankle flexion moment the muscles "
                                       "did not produce (reserve torques), worst of the six"),
}
#: figures only shown when computed (force plates, a reference ID, a muscle-driven twin)
KINETIC_KEYS = ("grf_vertical_rmse_pct_bw", "grf_vertical_r", "moment_sagittal_rmse_nm_per_kg",
                "reserve_pct_hip_knee_ankle_max")
STATUS_TEXT = {"good": "Good", "check": "Check", "poor": "Poor", "na": "n/a"}
STATUS_COLOR = {"good": "#2e8b57", "check": "#e6a700", "poor": "#c0392b", "na": "#999999"}


def _num(x):
    if x is None or isinstance(x, (bool, str, dict, list)):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def metric_value(metrics: dict, key: str):
    """The number shown for ``key`` (completed fraction in %), or None."""
    v = _num(metrics.get(key))
    if key == "completed_fraction" and v is not None:
        v *= 100.0
    return v


def status(key: str, value) -> str:
    """"good" / "check" / "poor" / "na" for a metric value (``THRESHOLDS``)."""
    v = _num(value)
    if v is None or key not in THRESHOLDS:
        return "na"
    _, _, good, check, higher, _ = THRESHOLDS[key]
    if higher:
        return "good" if v >= good - 1e-9 else ("check" if v >= check else "poor")
    return "good" if v <= good else ("check" if v <= check else "poor")


def warnings_for(metrics: dict, n_cycles: int | None = None, has_force_plates: bool = False,
                 overlap_s: tuple[float, float] | None = None,
                 floor_tilt: dict | None = None,
                 stance_clearance: dict | None = None) -> list[tuple[str, str]]:
    """(level, text) warnings, level "poor" (do not trust) or "check" (read with care) or "info";
    ``floor_tilt``: the slope of the trial's stances (``sim.floor.FloorTilt.to_dict``);
    ``stance_clearance``: per foot, the reference's stance clearance on the simulated floor after
    the sole calibration (``sim.floor.stance_clearance``)."""
    w = []
    tilt = floor_tilt or {}
    if tilt.get("levelled"):
        w.append(("info", f"The feet stood on a slope of {tilt['tilt_deg']:.1f} deg in the capture "
                          "frame: taken as a tilted camera or lab frame, the trial was levelled "
                          "before the analysis (its outputs are in the levelled frame)."))
    elif tilt.get("tilt_deg", 0.0) > MAX_LEVELLED_TILT_DEG:
        w.append(("check", f"The feet stood on support rising {tilt['tilt_deg']:.0f} deg along the "
                           "movement (stairs or a ramp), too steep to be a tilted capture frame, so "
                           "it was left as it is. The simulated support is a level floor with level "
                           "boxes where the feet stand higher: exact for stairs, approximate on a "
                           "ramp."))
    for side, c in (stance_clearance or {}).items():
        if c and (c["clearance_median_mm"] > CLEARANCE_MEDIAN_TOLERANCE_MM
                  or c["clearance_p95_mm"] > CLEARANCE_P95_TOLERANCE_MM):
            foot = {"r": "right", "l": "left"}.get(side, side)
            w.append(("check", f"The recording's {foot} foot does not stay on the floor while it "
                               f"stands: after the sole calibration its lowest point is "
                               f"{c['clearance_median_mm']:.1f} mm from the floor (median; 95th "
                               f"percentile {c['clearance_p95_mm']:.1f} mm) against a tolerance of "
                               f"{CLEARANCE_MEDIAN_TOLERANCE_MM:.0f} / {CLEARANCE_P95_TOLERANCE_MM:.0f}"
                               " mm (the IK's foot rises or sinks during stance: soft tissue, a "
                               "shoe, marker placement). Expect that foot to land late and leave "
                               "early in the twin, and its ground reactions to peak higher than "
                               "measured."))
    if metrics.get("completed") is False:
        frac = metric_value(metrics, "completed_fraction")
        t = _num(metrics.get("terminated_at_s"))
        t = _num(metrics.get("tracking_end_s")) if t is None else t
        at = f" at t = {t:.2f} s" if t is not None else ""
        w.append(("poor", f"The twin stopped early{at}, after {frac:.0f} % of the trial (it fell "
                          "or lost track). Nothing is simulated after that, and the last moments "
                          "before the stop are not reliable."))
    v = metric_value(metrics, "residual_force_mean_pct_bw")
    s = status("residual_force_mean_pct_bw", v)
    if s != "good" and v is not None:
        lvl = "poor" if s == "poor" else "check"
        w.append((lvl, f"Large residual force: on average {v:.1f} % of body weight came from "
                       "outside help at the pelvis rather than from the feet and joints. Joint "
                       "moments and ground reactions are "
                       f"{'not to be trusted' if lvl == 'poor' else 'less reliable'} where the "
                       "residual is large (see the residual figure)."))
    v = metric_value(metrics, "residual_moment_mean_pct_bw_height")
    if status("residual_moment_mean_pct_bw_height", v) == "poor":
        w.append(("check", f"Large residual moment at the pelvis ({v:.1f} % BW·height on "
                           "average): the twin is held upright by outside help."))
    v = metric_value(metrics, "joint_angle_mae_deg")
    s = status("joint_angle_mae_deg", v)
    if s != "good" and v is not None:
        lvl = "poor" if s == "poor" else "check"
        w.append((lvl, f"{'Poor' if lvl == 'poor' else 'Imperfect'} tracking: the twin's joint "
                       f"angles differ from the recording by {v:.1f} deg on average. Its forces "
                       f"belong to a {'different' if lvl == 'poor' else 'somewhat different'} "
                       "movement (see the joint-angle figure and the per-joint table)."))
    v = metric_value(metrics, "pelvis_position_error_cm")
    if status("pelvis_position_error_cm", v) == "poor":
        w.append(("check", f"The twin's pelvis drifts from the recorded path ({v:.1f} cm on "
                           "average)."))
    v = metric_value(metrics, "gait_event_error_ms")
    if status("gait_event_error_ms", v) == "poor":
        w.append(("check", f"Foot strikes and foot offs of the twin differ from the reference's "
                           f"by {v:.0f} ms on average."))
    match = metrics.get("gait_event_matching") or {}
    if match.get("n_missed"):
        w.append(("check", f"{match['n_missed']} reference gait event(s) have no matching event "
                           "of the twin (missed or extra steps)."))
    v = metric_value(metrics, "grf_vertical_rmse_pct_bw")
    if status("grf_vertical_rmse_pct_bw", v) == "poor":
        w.append(("poor", f"The twin's vertical ground reactions differ from the force plates by "
                          f"{v:.0f} % BW (RMS): its kinetics are not to be trusted."))
    v = metric_value(metrics, "moment_sagittal_rmse_nm_per_kg")
    if status("moment_sagittal_rmse_nm_per_kg", v) == "poor":
        w.append(("poor", f"The twin's hip, knee and ankle moments differ from the reference "
                          f"inverse dynamics by {v:.2f} N·m/kg (RMS)."))
    v = metric_value(metrics, "reserve_pct_hip_knee_ankle_max")
    s = status("reserve_pct_hip_knee_ankle_max", v)
    if s != "good" and v is not None:
        w.append(("poor" if s == "poor" else "check",
                  f"The muscles did not produce all of the joint moments: reserve torques carry up "
                  f"to {v:.0f} % of a hip, knee or ankle moment (reserves.sto, metrics.json "
                  "\"muscles\"). Activations of the muscles crossing that joint are less reliable."))
    v = metric_value(metrics, "com_vertical_hf_pct_bw")
    if status("com_vertical_hf_pct_bw", v) == "poor":
        w.append(("check", f"The twin's centre of mass jitters: its motion above 6 Hz alone implies "
                           f"{v:.0f} % BW of vertical ground force (RMS). Expect noisy ground "
                           "reactions; compare the low-passed figures in metrics.json."))
    if n_cycles is not None and n_cycles == 0:
        where = (f" between {overlap_s[0]:.2f} and {overlap_s[1]:.2f} s (the part the twin "
                 "simulated)" if overlap_s else "")
        w.append(("info", f"No complete gait cycle{where}: the curves are shown over time, "
                          "not over the gait cycle."))
    if not has_force_plates:
        w.append(("info", "No force plates were given: ground reactions and joint moments are "
                          "the twin's estimates and were not checked against measurements."))
    return w


# --- HTML pieces -------------------------------------------------------------------------------
CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;
  background:#f4f5f7;color:#222;font-size:15px;line-height:1.45}
main{max-width:1150px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:32px 0 10px;border-bottom:2px solid #e3e5e8;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}
.sub{color:#666;font-size:13px;margin-bottom:16px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:14px}
th,td{padding:5px 10px;border-bottom:1px solid #e3e5e8;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
td.both{text-align:center!important}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.light{display:inline-block;width:13px;height:13px;border-radius:50%;margin-right:6px;
  vertical-align:-2px}
.st{font-weight:600;white-space:nowrap}
.warn{border-radius:6px;padding:10px 14px;margin:8px 0;border-left:6px solid}
.warn.poor{background:#fdecea;border-color:#c0392b}
.warn.check{background:#fff6db;border-color:#e6a700}
.warn.info{background:#eef4fb;border-color:#6b9bd1}
.warn.ok{background:#e9f6ee;border-color:#2e8b57}
.warn b{margin-right:4px}
.overall{font-size:17px;padding:12px 16px}
figure{margin:8px 0 18px} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:13px;color:#555;margin-top:4px}
.muted{color:#777;font-size:13px}
.legend-r{color:#d62728;font-weight:600}.legend-l{color:#1f77b4;font-weight:600}
details{margin:8px 0} summary{cursor:pointer;font-weight:600}
dl.defs dt{font-weight:600;margin-top:6px} dl.defs dd{margin:0 0 0 16px;color:#444;font-size:14px}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _img(png: bytes, alt: str) -> str:
    return (f'<img alt="{_e(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode("ascii")}">')


def _light(st: str) -> str:
    return (f'<span class="st" style="color:{STATUS_COLOR[st]}"><span class="light" '
            f'style="background:{STATUS_COLOR[st]}"></span>{STATUS_TEXT[st]}</span>')


def _fmt(v, dec: int = 1, unit: str = "") -> str:
    if v is None:
        return "–"
    return f"{v:.{dec}f}{(' ' + unit) if unit else ''}"


def _table(header: list[str] | None, rows: list[list[str]], num_cols=()) -> str:
    h = "".join(f"<th>{_e(c)}</th>" for c in header or [])
    body = []
    for r in rows:
        cells = []
        for j, c in enumerate(r):
            cls = ' class="num"' if j in num_cols else ""
            cells.append(f"<td{cls}>{c}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    head = f"<thead><tr>{h}</tr></thead>" if header else ""
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


def quality_rows(metrics: dict) -> list[list[str]]:
    rows = []
    n_joints = len(metrics.get("joint_angle_mae_deg_by_joint") or {})
    for key, (label, unit, good, check, higher, expl) in THRESHOLDS.items():
        v = metric_value(metrics, key)
        if v is None and key in KINETIC_KEYS:
            continue
        st = status(key, v)
        dec = 0 if unit in ("ms", "%") else (2 if unit in ("", "N·m/kg") else 1)
        lim = (f"good ≥ {good:g}, check ≥ {check:g}" if higher
               else f"good ≤ {good:g}, check ≤ {check:g}")
        if key == "joint_angle_mae_deg" and n_joints:
            expl = f"{expl} (over the {n_joints} joint coordinates the file gives)"
        if key == "gait_event_error_ms":
            ref = (metrics.get("gait_event_matching") or {}).get("reference")
            if ref:
                expl = f"{expl} (reference: {ref})"
        rows.append([_e(label), _e(_fmt(v, dec, unit)), _light(st),
                     f'{_e(expl)}<br><span class="muted">{_e(lim)} {_e(unit)}</span>'])
    return rows


def overall_status(metrics: dict) -> str:
    """The worst light of the quality table ("na" lights ignored)."""
    order = {"good": 0, "check": 1, "poor": 2}
    lights = [status(k, metric_value(metrics, k)) for k in THRESHOLDS]
    lights = [s for s in lights if s != "na"]
    if metrics.get("completed") is False:
        lights.append("poor")
    return max(lights, key=order.get) if lights else "na"


def _events_table(metrics: dict) -> str:
    ev = metrics.get("gait_events") or {}
    rows = []
    names = {"reference": "Reference", "reference_kinematics": "Reference kinematics (Zeni)",
             "twin": "Twin"}
    for side, sname in (("l", "Left"), ("r", "Right")):
        for key, label in names.items():
            d = ev.get(key)
            if not d or side not in d:
                continue
            times = [", ".join(f"{t:.3f}" for t in d[side].get(k, [])) or "–"
                     for k in ("foot_strike", "foot_off")]
            rows.append([f'<span class="legend-{side}">{sname}</span>', _e(label),
                         _e(times[0]), _e(times[1])])
    if not rows:
        return '<p class="muted">No gait events.</p>'
    src = ev.get("reference", {}).get("source", "")
    out = _table(["Foot", "Source", "Foot strikes (s)", "Foot offs (s)"], rows)
    if src:
        out = f'<p class="muted">Reference events from {_e(src)}.</p>' + out
    m = metrics.get("gait_event_matching") or {}
    if m:
        out += (f'<p class="muted">Twin vs {_e(m.get("reference", "reference"))}: '
                f'{m.get("n_matched", 0)} of {m.get("n_reference", 0)} reference events matched '
                f'(within 150 ms), mean timing error '
                f'{_e(_fmt(_num(metrics.get("gait_event_error_ms")), 0, "ms"))}, '
                f'bias {_e(_fmt(_num(m.get("gait_event_bias_ms")), 0, "ms"))} '
                f'(negative = twin early); {m.get("n_extra", 0)} extra twin event(s). '
                f'Twin contact = vertical force above {m.get("twin_threshold_n", "")} N.</p>')
    k = _num(metrics.get("kinematic_event_error_ms"))
    if k is not None:
        out += (f'<p class="muted">Kinematic events (Zeni 2008) vs force plates: mean error '
                f'{k:.0f} ms.</p>')
    return out


def _spatiotemporal_table(metrics: dict) -> str:
    from ..analysis.spatiotemporal import TABLE_ROWS

    stt = metrics.get("spatiotemporal") or {}
    cols = [(k, lab) for k, lab in (("reference", "Reference"), ("twin", "Twin")) if k in stt]
    if not cols:
        return '<p class="muted">No spatiotemporal parameters.</p>'
    header = ["Parameter", "Unit"]
    for _, lab in cols:
        header += [f"{lab} left", f"{lab} right"]
    rows = []
    for key, label, unit, dec in TABLE_ROWS:
        r = [_e(label), _e(unit)]
        for k, _ in cols:
            v = stt[k].get(key)
            if isinstance(v, dict):
                r += [_e(_fmt(_num(v.get("l")), dec)), _e(_fmt(_num(v.get("r")), dec))]
            else:  # one value for both sides: one cell across the two columns
                r += [f"<td class='num both' colspan='2'>{_e(_fmt(_num(v), dec))}</td>"]
        rows.append(r)
    h = "".join(f"<th>{_e(c)}</th>" for c in header)
    body = []
    for r in rows:
        cells = [f"<td>{c}</td>" if j < 2 else (c if c.startswith("<td") else
                                                 f"<td class='num'>{c}</td>")
                 for j, c in enumerate(r)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    notes = []
    for k, lab in cols:
        s = stt[k]
        n = s.get("n_strides", {})
        dist = s.get("distances")
        notes.append(f"{lab}: events from {_e(s.get('events_source', '?'))}; "
                     f"{n.get('l', 0)} left / {n.get('r', 0)} right complete strides"
                     + (f"; distances: {_e(dist)}" if dist else ""))
    out += '<p class="muted">' + "<br>".join(notes) + "</p>"
    return out


def _joint_table(metrics: dict) -> str:
    mae = metrics.get("joint_angle_mae_deg_by_joint") or {}
    rmse = metrics.get("joint_angle_rmse_deg_by_joint") or {}
    if not mae:
        return ""
    rows = []
    for n, v in sorted(mae.items(), key=lambda kv: -kv[1]):
        st = status("joint_angle_mae_deg", v)
        rows.append([_e(n), _e(_fmt(_num(v), 1)), _e(_fmt(_num(rmse.get(n)), 1)), _light(st)])
    return ("<details><summary>Tracking error per joint (largest first)</summary>"
            + _table(["Coordinate", "MAE (deg)", "RMSE (deg)", ""], rows, num_cols=(1, 2))
            + "</details>")


DEFINITIONS = (
    ("Twin", "a physics simulation of a body model of the subject, driven by a learned controller "
             "so that it reproduces the recorded movement; its joint moments and ground reactions "
             "are what the physics needs for that movement."),
    ("Residual force / moment", "extra force and twisting moment applied at the pelvis from "
                                "outside the body. Real people have none; a large residual means "
                                "the movement could not be reproduced with feet and joints alone."),
    ("Joint angle error (MAE)", "mean over the joints the file gives and the frames of "
                                "|twin angle - recorded angle|."),
    ("Gait cycle", "from one foot strike to the next strike of the same foot (0-100 %); the "
                   "dotted vertical line is the mean foot off of that side."),
    ("Joint moments", "net moment about each joint axis, divided by body mass (N·m/kg); sign as "
                      "the angle: a positive knee moment acts to flex the knee."),
    ("Gait events", "from the reference: force plates (vertical force above 20 N) when given, "
                    "else the recorded foot positions relative to the pelvis (Zeni et al. 2008, "
                    "about 1-3 frames of error). Twin: its vertical contact force."),
)


def write_report(out_dir, results, metrics: dict, reference_motion, reference_grf=None,
                 reference_moments=None, events=None, title: str | None = None,
                 trial_name: str | None = None, subject: dict | None = None,
                 video=None, filename: str = "report.html") -> Path:
    """Write the self-contained HTML report ``out_dir/filename`` and return its path.

    ``results``: the twin's ``analysis.results.Results``; ``metrics``: the figures from
    ``analysis.tracking_metrics.compute_all`` (what is in ``metrics.json``); ``reference_motion``
    the recorded ``Motion``; ``reference_grf``: force plates (``GroundReactions``) if any;
    ``reference_moments``: ``(time_s, {coordinate: N*m})`` reference joint moments if any.
    ``events``: the reference's ``GaitEvents`` for the cycle plots (default: from
    ``metrics["gait_events"]["reference"]``). ``subject``: extra lines for the subject table
    (e.g. ``{"ID": "P07", "Side affected": "left"}``). ``video``: an animated GIF (path) of the
    twin beside the reference, embedded.
    """
    from ..analysis.gait_events import GaitEvents

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if events is None and (metrics.get("gait_events") or {}).get("reference"):
        events = GaitEvents.from_dict(metrics["gait_events"]["reference"])
    twin_events = None
    if (metrics.get("gait_events") or {}).get("twin"):
        twin_events = GaitEvents.from_dict(metrics["gait_events"]["twin"])
    sim = results.kinematics
    trial = trial_name or Path(reference_motion.source_file or "trial").stem
    title = title or f"KinTwin report: {trial}"

    t0 = max(reference_motion.time_s[0], results.time_s[0])
    t1 = min(reference_motion.time_s[-1], results.time_s[-1])
    n_cycles = None
    if events is not None:
        n_cycles = sum(len(F.cycles(events.get(s, "foot_strike"), t0, t1)) for s in ("r", "l"))
    warns = warnings_for(metrics, n_cycles=n_cycles, has_force_plates=reference_grf is not None,
                         overlap_s=(float(t0), float(t1)),
                         floor_tilt=(results.info or {}).get("floor_tilt"),
                         stance_clearance=(results.info or {}).get("stance_clearance"))

    if n_cycles:
        ncyc = {s: len(F.cycles(events.get(s, "foot_strike"), t0, t1)) for s in ("r", "l")}
        over = (f"Over the gait cycle: {ncyc['r']} right and {ncyc['l']} left cycle(s) between "
                "foot strikes of the reference; the dotted line is the mean foot off.")
    else:
        over = ("Over time (no complete gait cycle): solid vertical lines are foot strikes, "
                "dotted lines foot offs of the reference.")
    figs = []
    figs.append(("Joint angles", F.fig_joint_angles(reference_motion, sim, events),
                 "Recorded (dashed) and twin (solid, band = ±1 SD over cycles when there are "
                 "2 or more) joint angles. <span class='legend-r'>Right</span> red, "
                 f"<span class='legend-l'>left</span> blue. {_e(over)}"))
    figs.append(("Joint moments", F.fig_torques(results, events, reference_moments),
                 "Net joint moments of the twin per kg body mass"
                 + (" (dashed: reference inverse dynamics)" if reference_moments else "") + "."))
    figs.append(("Ground reaction forces", F.fig_grf(results, reference_grf, events),
                 "Force of the ground on each foot, % body weight"
                 + (" (dashed: force plates, over the cycles they cover)" if reference_grf is not None else
                    " (the twin's estimate; no force plates given)") + "; over the gait cycle when each foot "
                 f"has {F.MIN_GRF_CYCLES} or more, else over time."))
    figs.append(("Residuals (outside help)", F.fig_residuals(results),
                 "Help from outside the body at the pelvis. Dashed lines: 5 % BW (check) and "
                 "10 % BW (poor). Real people need none."))
    if results.muscles is not None:
        res = metrics.get("muscles", {}).get("reserve_pct_of_joint_torque", {})
        worst = max(res.items(), key=lambda kv: kv[1], default=None)
        figs.append(("Muscle activations", F.fig_activations(results, events),
                     "Activations (0-1) the muscle-driven twin used, right red, left blue. Bands at "
                     f"the top: when the muscle is on (above {F.ON_FRACTION_OF_PEAK:.0%} of its peak"
                     " in this trial; upper band right, lower band left)."
                     + (f" Reserve torques (what the muscles did not produce) are at most "
                        f"{worst[1]:.1f} % of the joint moment ({worst[0]}); see reserves.sto."
                        if worst else "")))
    rows = [("twin", twin_events), ("reference", events)]
    figs.append(("Foot contacts", F.fig_gait_events(rows, float(results.time_s[0]),
                                                     float(results.time_s[-1])),
                 "When each foot is on the ground: darker bars the twin, lighter bars the "
                 "reference."))

    subj_rows = [["Trial", _e(trial)],
                 ["Reference file", _e(reference_motion.source_file or "–")],
                 ["Method", _e(results.method or metrics.get("method", "") or "twin")],
                 ["Analysed", _e(f"{results.time_s[0]:.2f}–{results.time_s[-1]:.2f} s "
                                 f"({len(results.time_s)} frames, "
                                 f"{_rate(results.time_s):.0f} Hz)")],
                 ["Reference", _e(f"{reference_motion.time_s[0]:.2f}–"
                                  f"{reference_motion.time_s[-1]:.2f} s")],
                 ["Body mass", _e(_fmt(_num(results.mass_kg), 1, "kg"))],
                 ["Height", _e(_fmt(_num(results.height_m), 2, "m"))],
                 ["Force plates", "yes" if reference_grf is not None else "no"]]
    boxes = (results.info or {}).get("terrain_boxes") or []
    if boxes:  # sim/terrain.py
        tops = ", ".join(f"{b['top_m'] * 100:.1f}" for b in sorted(boxes, key=lambda b: b["top_m"]))
        subj_rows.append(["Support", _e(f"the floor and {len(boxes)} box(es) on it, {tops} cm high, "
                                        "built under the feet where they stand above the floor "
                                        "(metrics.json: info.terrain_boxes)")])
    shown = ("height", "mass", "body mass")  # already in the table
    for k, v in (subject or {}).items():
        if str(k).lower().split(" (")[0].strip() not in shown:
            subj_rows.append([_e(k), _e(v)])

    ov = overall_status(metrics)
    ov_text = {"good": "The twin reproduces this trial well.",
               "check": "The twin reproduces this trial with some errors: read the warnings.",
               "poor": "Do not trust the twin's forces for this trial without reading the "
                       "warnings.",
               "na": "Quality could not be assessed."}[ov]
    ov_cls = {"good": "ok", "check": "check", "poor": "poor", "na": "info"}[ov]

    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>",
             f"<h1>{_e(title)}</h1>",
             f"<div class='sub'>Generated {_e(_dt.datetime.now().strftime('%Y-%m-%d %H:%M'))} "
             f"by kintwin {_e(_version())}.</div>",
             f"<div class='warn overall {ov_cls}'>{_light(ov)} {_e(ov_text)}</div>"]
    if warns:
        parts.append("<h2>Warnings</h2>")
        for lvl, text in warns:
            head = {"poor": "Do not trust:", "check": "Check:", "info": "Note:"}[lvl]
            parts.append(f"<div class='warn {lvl}'><b>{head}</b>{_e(text)}</div>")
    parts.append("<h2>Tracking quality at a glance</h2>")
    parts.append(_table(["Measure", "Value", "Status", "What it means"], quality_rows(metrics),
                        num_cols=(1,)))
    parts.append(_joint_table(metrics))
    parts.append("<h2>Trial and subject</h2>")
    parts.append(_table(None, [[f"<b>{r[0]}</b>", r[1]] for r in subj_rows]))
    parts.append("<h2>Spatiotemporal parameters</h2>")
    parts.append(_spatiotemporal_table(metrics))
    for name, fig, caption in figs:
        parts.append(f"<h2>{_e(name)}</h2><figure>{_img(F.to_png_bytes(fig), name)}"
                     f"<figcaption>{caption}</figcaption></figure>")
    if video is not None:
        gif = base64.b64encode(Path(video).read_bytes()).decode("ascii")
        parts.append("<h2>The twin beside the reference</h2><figure>"
                     f"<img alt='video of the twin' src='data:image/gif;base64,{gif}'>"
                     "<figcaption>Left: the recorded kinematics; right: the twin, seen from the "
                     "subject's right side (loops).</figcaption></figure>")
    parts.append("<h2>Gait events</h2>")
    parts.append(_events_table(metrics))
    parts.append("<h2>How to read this report</h2><dl class='defs'>")
    for term, text in DEFINITIONS:
        parts.append(f"<dt>{_e(term)}</dt><dd>{_e(text)}</dd>")
    parts.append("</dl><p class='muted'>Files next to this report: kinematics.mot (twin "
                 "kinematics), torques.sto (joint moments, N·m), grf.mot + grf_loads.xml (ground "
                 "reactions for OpenSim), residuals.sto, metrics.json (all numbers above)"
                 + (f", {_e(Path(video).name)} (the video)" if video is not None else "") + ".</p>")
    parts.append("</main></body></html>")
    path = out / filename
    path.write_text("\n".join(p for p in parts if p), encoding="utf-8")
    return path


def _rate(t) -> float:
    t = np.asarray(t, float)
    return float((len(t) - 1) / (t[-1] - t[0])) if len(t) > 1 and t[-1] > t[0] else float("nan")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("kintwin")
    except Exception:  # noqa: BLE001 - not installed
        return "(dev)"
