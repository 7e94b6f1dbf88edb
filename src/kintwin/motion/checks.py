"""Checks of a trial against the model and the other inputs, run before any work by every command
(nothing is computed or written when one fails)."""

from __future__ import annotations

import warnings

import mujoco
import numpy as np

from ..errors import InputError
from ..models.build import GRAVITY
from .grf import check_feet
from .motion import Motion

RANGE_TOLERANCE_DEG = 5.0


def check_trial_span(motion: Motion, min_span_s: float, why: str) -> None:
    span = motion.time_s[-1] - motion.time_s[0]
    if span < min_span_s:
        raise InputError(f"trial is {span:.3f} s long; it needs at least {min_span_s:.3f} s "
                         f"({why})")


def time_window(motion: Motion, start_s: float | None, end_s: float | None,
                min_frames: int = 10) -> Motion:
    """The motion between ``start_s`` and ``end_s`` (None: its own ends), checked."""
    if start_s is None and end_s is None:
        return motion
    t0 = motion.time_s[0] if start_s is None else start_s
    t1 = motion.time_s[-1] if end_s is None else end_s
    if t1 <= t0:
        raise InputError(f"--start {t0:g} s is not before --end {t1:g} s")
    if t1 < motion.time_s[0] or t0 > motion.time_s[-1]:
        raise InputError(f"--start/--end {t0:g}-{t1:g} s lie outside the trial "
                         f"({motion.time_s[0]:.3f}-{motion.time_s[-1]:.3f} s)")
    out = motion.slice_time(t0, t1)
    if out.n_frames < min_frames:
        raise InputError(f"only {out.n_frames} frames between {t0:g} and {t1:g} s "
                         f"(at least {min_frames} needed)")
    return out


def out_of_range(motion: Motion, model, tolerance_deg: float = RANGE_TOLERANCE_DEG) -> list[str]:
    """Descriptions of the model's limited hinges that the motion leaves by more than the
    tolerance (empty when none)."""
    qpos = motion.to_qpos(model, warn=False)
    out = []
    tol = np.deg2rad(tolerance_deg)
    for j in range(model.njnt):
        if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE or not model.jnt_limited[j]:
            continue
        lo, hi = model.jnt_range[j]
        q = qpos[:, model.jnt_qposadr[j]]
        if q.min() < lo - tol or q.max() > hi + tol:
            out.append(f"{model.joint(j).name} [{np.rad2deg(q.min()):.0f}, "
                       f"{np.rad2deg(q.max()):.0f}] deg outside [{np.rad2deg(lo):.0f}, "
                       f"{np.rad2deg(hi):.0f}]")
    return out


#: the body lies down where its pelvis-to-head direction is this far from the vertical in most frames
MAX_BODY_LEAN_DEG = 60.0


def body_lean_deg(motion: Motion, model, max_frames: int = 50) -> float | None:
    """Median over frames of the angle (deg) between the pelvis-to-head direction and the
    vertical (None for a model without a ``head`` site)."""
    try:
        head, pelvis = model.site("head").id, model.site("pelvis_origin").id
    except KeyError:
        return None
    data = mujoco.MjData(model)
    qpos = motion.to_qpos(model, warn=False)
    angles = []
    for q in qpos[np.unique(np.linspace(0, len(qpos) - 1, min(len(qpos), max_frames)).astype(int))]:
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        v = data.site_xpos[head] - data.site_xpos[pelvis]
        angles.append(np.degrees(np.arccos(np.clip(v[2] / np.linalg.norm(v), -1.0, 1.0))))
    return float(np.median(angles))


#: a human's pelvis moves slower than this (sprinters reach ~12 m/s) ...
MAX_PELVIS_SPEED_MPS = 15.0
#: ... and stands within this of a lab's origin, vertically (OpenSim IK: ~1 m)
MAX_PELVIS_HEIGHT_M = 20.0


def check_translation_units(motion: Motion) -> None:
    """Pelvis translations in metres: an ``InputError`` when the pelvis moves faster than
    ``MAX_PELVIS_SPEED_MPS`` (95th percentile over 0.1 s) or stands higher than
    ``MAX_PELVIS_HEIGHT_M`` above the origin (median): millimetres or centimetres read as metres
    (kintwin id returned 20,000 %BW of residual with exit 0 on a walk in millimetres)."""
    names = [n for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz") if n in motion.names]
    if not names or motion.n_frames < 2:
        return
    p = np.stack([motion[n] for n in names], axis=1)
    lag = max(1, int(round(0.1 * motion.rate_hz)))
    speed = (np.linalg.norm(p[lag:] - p[:-lag], axis=1) / (motion.time_s[lag:] - motion.time_s[:-lag])
             if motion.n_frames > lag else np.zeros(1))
    v95 = float(np.percentile(speed, 95))
    height = float(np.median(np.abs(motion["pelvis_ty"]))) if "pelvis_ty" in motion.names else 0.0
    if v95 <= MAX_PELVIS_SPEED_MPS and height <= MAX_PELVIS_HEIGHT_M:
        return
    factor = 10.0 ** max(1, round(np.log10(max(height, v95 / 1.5, 1e-9))))
    unit = {10.0: "decimetres", 100.0: "centimetres", 1000.0: "millimetres"}.get(factor, f"{factor:g}x metres")
    raise InputError(f"the pelvis translations are not in metres: the pelvis moves at {v95:.0f} m/s "
                     f"and stands {height:.0f} m above the origin (a person: < {MAX_PELVIS_SPEED_MPS:g} "
                     f"m/s, ~1 m); they look like {unit}",
                     advice="write pelvis_tx, pelvis_ty and pelvis_tz in metres (OpenSim's unit)")


#: coordinates whose absence from a trial (held at 0) changes the kinetics, by prefix (arms, neck,
#: wrists and toes held still matter little)
HELD_STILL_MATTERS = ("pelvis_", "hip_", "knee_", "ankle_", "subtalar_", "lumbar_")
#: a time step longer than this many median steps and than MAX_BRIDGED_S is a gap (frames
#: missing); shorter ones (a video's dropped frames) the spline bridges well below 6 Hz
MAX_STEP_RATIO = 3.5
MAX_BRIDGED_S = 0.1


def check_frames(motion: Motion) -> None:
    """An ``InputError`` where frames are missing: a time step longer than ``MAX_STEP_RATIO``
    median steps and than ``MAX_BRIDGED_S`` (a 0.3 s gap in a walk was bridged by the spline
    without a word)."""
    if motion.n_frames < 3:
        return
    step = np.diff(motion.time_s)
    median = float(np.median(step))
    gaps = np.flatnonzero(step > max(MAX_STEP_RATIO * median, MAX_BRIDGED_S))
    if len(gaps):
        k = int(gaps[0])
        raise InputError(f"frames are missing: {len(gaps)} gap(s) in the time column, the first "
                         f"{step[k]:.3f} s long after t = {motion.time_s[k]:.3f} s (frames every "
                         f"{1000 * median:.1f} ms otherwise)",
                         advice="fill the gap (e.g. interpolate the markers before IK) or analyse "
                                "the part before or after it (--start/--end)")


def check_kinematics(motion: Motion, model, allow: bool = False) -> None:
    """The trial is sampled without gaps (``check_frames``) and is one the model can take: a
    vertical pelvis translation, in metres
    (``check_translation_units``), the body upright (its pelvis-to-head direction
    within ``MAX_BODY_LEAN_DEG`` of the vertical in most frames: kinematics solved from markers of
    a file whose vertical is not Y, which ``kintwin ik`` now turns upright, lie on their side) and
    every limited hinge within its range (+-5 deg; catches wrong units, sign conventions and
    coordinate maps). ``allow`` turns the range error into a warning (the command line's
    ``--allow-out-of-range``): the model's joint limits then act on the motion."""
    check_frames(motion)
    if "pelvis_ty" not in motion.names:
        raise InputError("the trial has no vertical pelvis translation (pelvis_ty): the body's "
                         "vertical path, and with it the ground reactions, cannot be known (held "
                         "still, a walk's total vertical force comes out flat at ~100 %BW)",
                         advice="kinematics without translations (e.g. from IMUs) are not enough; "
                                "add pelvis_tx, pelvis_ty and pelvis_tz from motion capture")
    check_translation_units(motion)
    missing = [n for n in motion.missing_coordinates(model) if n.startswith(HELD_STILL_MATTERS)]
    if missing:
        warnings.warn(f"the trial lacks {len(missing)} coordinate(s) of the model that move the body's "
                      f"mass, held at 0 throughout: {', '.join(missing)} (a planar or partial model's "
                      "kinematics: the frontal and transverse kinetics are then the model's guess)",
                      stacklevel=2)
    lean = body_lean_deg(motion, model)
    if lean is not None and lean > MAX_BODY_LEAN_DEG:
        raise InputError(f"the body is not upright: its pelvis-to-head direction is {lean:.0f} deg "
                         "from the vertical (Y up in OpenSim files) in most frames",
                         advice="kinematics solved from markers whose file is not Y-up lie on "
                                "their side: solve them again with kintwin ik, which turns such "
                                "files upright, or rotate them")
    out = out_of_range(motion, model)
    if not out:
        return
    text = "coordinates out of the model's range: " + "; ".join(out)
    if allow:
        warnings.warn(text + " (allowed: the joint limits will push back)", stacklevel=2)
        return
    raise InputError(text, advice="check units, sign convention and coordinate names; "
                                  "--allow-out-of-range if the movement is real")


def check_time_overlap(motion: Motion, time_s: np.ndarray, what: str, source,
                       min_fraction: float = 0.5) -> None:
    """``time_s`` (another input's time column) must cover at least ``min_fraction`` of the trial."""
    t0, t1 = float(motion.time_s[0]), float(motion.time_s[-1])
    lo, hi = max(t0, float(time_s[0])), min(t1, float(time_s[-1]))
    if hi - lo < min_fraction * (t1 - t0):
        raise InputError(f"{source}: the {what} cover {time_s[0]:.3f}-{time_s[-1]:.3f} s but the "
                         f"trial is {t0:.3f}-{t1:.3f} s ({max(hi - lo, 0):.3f} s in common)",
                         advice="check that the files belong to the same trial, or use "
                                "--start/--end")


#: the ground reactions' highest total vertical force over a trial, in body weights, lies in this
#: range (walking ~1.2, running ~2.5, landings up to ~6): outside, their units are not newtons
GRF_PEAK_RANGE_BW = (0.2, 10.0)


def check_reactions(motion: Motion, grf, source, mass_kg: float | None = None, feet=None) -> None:
    """Ground reactions (``motion.grf.GroundReactions``) that fit the trial: ``check_time_overlap``
    (reactions cut to the stretch the force plates measure, ``cut_to_plates``, cover part of the
    trial on purpose and are not checked); with ``feet`` (the trial's lowest foot points, as
    ``read_grf`` takes them) each foot's reaction under that foot (``grf.check_feet``); with
    ``mass_kg`` their size: the 99th percentile of the total vertical force within the trial
    within ``GRF_PEAK_RANGE_BW`` body weights (kilonewtons or body-weight-normalised forces read
    as newtons gave classical ID ~100 %BW of residual)."""
    if not grf.cut_to_plates:
        check_time_overlap(motion, grf.time_s, "ground reactions", source)
    if feet is not None:
        check_feet(grf, feet, source)
    if mass_kg is None or not grf.sides:
        return
    inside = (grf.time_s >= motion.time_s[0]) & (grf.time_s <= motion.time_s[-1])
    if not inside.any():
        return
    total = sum(grf.vertical_n(s) for s in grf.sides)[inside]
    peak_bw = float(np.percentile(total, 99)) / (mass_kg * GRAVITY)
    lo, hi = GRF_PEAK_RANGE_BW
    if not lo <= peak_bw <= hi:
        raise InputError(f"{source}: the ground reactions peak at {100 * peak_bw:.3g} %BW of a "
                         f"{mass_kg:g} kg subject within the trial (a person: {100 * lo:.0f}-"
                         f"{100 * hi:.0f} %BW): not newtons (kilonewtons, forces per body weight?), "
                         "the wrong subject mass, or plates nobody stands on in this window",
                         advice="give the forces in N (OpenSim's unit) and check --mass")
