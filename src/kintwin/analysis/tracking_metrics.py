"""How well the twin reproduces the reference movement, and every figure of ``kintwin analyze``.

Tracking figures (:func:`tracking_metrics`), comparing the simulated ``Motion`` with the reference
``Motion``. The simulated frames are compared with the reference at the same times (the reference
is interpolated linearly when the times differ); only simulated frames inside the reference's time
span count. Angles are compared in degrees, differences wrapped to [-180, 180).

* ``completed`` (bool): the simulation reached the end of the reference (its last frame is within
  half a reference frame of the reference's last frame) and was not terminated early
  (``terminated_at_s`` is None). False means the twin fell or lost track.
* ``completed_fraction`` = (t_end - t_ref,0) / (t_ref,end - t_ref,0), in [0, 1], with t_end the
  time of the last simulated frame (or ``terminated_at_s`` when given, whichever is earlier).
* ``joint_angle_mae_deg`` = mean over the J compared joint coordinates and the N compared frames of
  |theta_sim - theta_ref| (deg). The joint coordinates are the rotational coordinates present in
  both motions except the six pelvis coordinates (``coordinates=`` to choose); ``kintwin analyze``'s
  reference holds only the coordinates the trial gave (``twin.analyze.measured_only``).
* ``joint_angle_mae_deg_by_joint[c]`` = mean over frames of |theta_sim,c - theta_ref,c| (deg).
* ``joint_angle_mae_deg_sagittal``: ``joint_angle_mae_deg`` over hip_flexion, knee_angle and
  ankle_angle of both sides (those compared).
* ``joint_angle_rmse_deg`` = sqrt(mean over joints and frames of (theta_sim - theta_ref)^2) (deg),
  pooled; ``joint_angle_rmse_deg_by_joint[c]`` per joint.
* ``joint_angle_max_error_deg`` = the largest |theta_sim - theta_ref| over joints and frames.
* ``pelvis_position_error_cm`` = 100 * mean over frames of the Euclidean distance between the
  simulated and reference pelvis origin (pelvis_tx, pelvis_ty, pelvis_tz), in cm.
* ``pelvis_orientation_mae_deg`` = mean over frames of |error| of pelvis_tilt, pelvis_list and
  pelvis_rotation, pooled (deg).
* ``tracking_end_s`` = t_end (s); ``tracking_frames``: N, the number of frames compared.

:func:`compute_all` adds the dynamics figures of ``analysis.metrics`` (residuals; GRF and moment
errors when references are given, raw and with the twin's torques and both ground reactions
low-passed at ``KINETICS_LOWPASS_HZ``: keys ``*_lowpass``), the gait events of the reference and of
the twin, ``gait_event_error_ms`` (twin contact events against the reference's; see
``gait_events.gait_event_error_ms``) with ``gait_events_matched`` / ``gait_events_missed`` (reference
events with / without a twin event), the spatiotemporal parameters of both, and two checks of the
physics:

* ``com_vertical_hf_pct_bw`` = 100 RMS(m z''_hf) / BW = 100 RMS(z''_hf) / g, z_hf the whole-body
  centre of mass height minus its low-pass at ``COM_HF_CUTOFF_HZ`` (6 Hz): the vertical ground
  force that the COM's high-frequency jitter alone implies (the total vertical ground force is
  m (g + z''_COM)). ``com_vertical_hf_reference_pct_bw``: the same for the reference kinematics.
* ``stance_clearance``: per foot, how far the reference's lowest contact sphere is from the
  floor the model has during the reference's stance (``sim/floor.stance_clearance``: median and
  95th percentile of |height| in mm, from the depth a loaded contact sinks to in the controller
  twin, median sliding speed in m/s) on the twin's model.
:func:`recompute_from_output` recomputes all of it from the files of an output folder, so that
``metrics.json`` can be checked independently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models.build import GRAVITY
from ..models.coordinates import PELVIS_COORDINATES, PELVIS_ROTATIONS, PELVIS_TRANSLATIONS
from ..motion.motion import Motion, is_translation
from . import gait_events as ge
from . import spatiotemporal as st

SAGITTAL = ("hip_flexion_r", "knee_angle_r", "ankle_angle_r",
            "hip_flexion_l", "knee_angle_l", "ankle_angle_l")
KINETICS_LOWPASS_HZ = 6.0
COM_HF_CUTOFF_HZ = 6.0


def com_vertical_hf_pct_bw(motion: Motion, model, cutoff_hz: float = COM_HF_CUTOFF_HZ) -> float:
    """100 RMS(z''_hf) / g of the whole-body COM height of ``motion`` (module doc)."""
    from ..motion.filtering import lowpass
    from ..sim.reference import centre_of_mass

    z = centre_of_mass(model, motion.to_qpos(model, warn=False))[:, 2]
    rate = (len(z) - 1) / (motion.time_s[-1] - motion.time_s[0])
    if len(z) < 16 or rate <= 2 * cutoff_hz:
        return float("nan")
    hf = z - lowpass(z, rate, cutoff_hz)
    acc = np.gradient(np.gradient(hf, 1.0 / rate), 1.0 / rate)
    return float(100 * np.sqrt(np.mean(acc ** 2)) / GRAVITY)


def _wrap_deg(d: np.ndarray) -> np.ndarray:
    return (d + 180.0) % 360.0 - 180.0


def _at_times(motion: Motion, names: list[str], t: np.ndarray) -> np.ndarray:
    """(len(t), len(names)) values of ``motion`` at times t (exact frames when they match)."""
    cols = [motion.names.index(n) for n in names]
    if len(t) <= motion.n_frames and np.allclose(motion.time_s[:len(t)], t, atol=1e-9, rtol=0):
        return motion.values[:len(t)][:, cols]
    return np.column_stack([np.interp(t, motion.time_s, motion.values[:, c]) for c in cols])


def joint_coordinates(reference: Motion, simulated: Motion) -> list[str]:
    """Rotational, non-pelvis coordinates present in both motions (reference order)."""
    return [n for n in reference.names if n in simulated.names and not is_translation(n)
            and n not in PELVIS_COORDINATES]


def tracking_metrics(reference: Motion, simulated: Motion, coordinates=None,
                     terminated_at_s: float | None = None) -> dict:
    """Tracking figures of the twin's motion against the reference (module docstring)."""
    t_ref = reference.time_s
    dt_ref = float(np.median(np.diff(t_ref))) if len(t_ref) > 1 else 0.0
    span = float(t_ref[-1] - t_ref[0])
    t_end = float(simulated.time_s[-1])
    if terminated_at_s is not None:
        t_end = min(t_end, float(terminated_at_s))
    completed = bool(terminated_at_s is None and t_end >= t_ref[-1] - 0.5 * dt_ref)
    frac = 1.0 if span <= 0 else float(np.clip((t_end - t_ref[0]) / span, 0.0, 1.0))
    if completed:
        frac = 1.0

    keep = (simulated.time_s >= t_ref[0] - 1e-9) & (simulated.time_s <= t_ref[-1] + 1e-9)
    if terminated_at_s is not None:
        keep &= simulated.time_s <= terminated_at_s + 1e-9
    out: dict = {"completed": completed, "completed_fraction": frac,
                 "tracking_end_s": t_end, "tracking_frames": int(keep.sum())}
    if not keep.any():
        raise ValueError(f"the simulated motion ({simulated.time_s[0]:.3f}-{t_end:.3f} s) does "
                         f"not overlap the reference ({t_ref[0]:.3f}-{t_ref[-1]:.3f} s)")
    t = simulated.time_s[keep]
    names = (list(coordinates) if coordinates is not None
             else joint_coordinates(reference, simulated))
    missing = [n for n in names if n not in reference.names or n not in simulated.names]
    if missing:
        raise KeyError(f"coordinates missing from the reference or the simulated motion: {missing}")
    if names:
        sim = np.rad2deg(_at_times(simulated, names, simulated.time_s)[keep])
        ref = np.rad2deg(_at_times(reference, names, t))
        err = _wrap_deg(sim - ref)
        mae = np.mean(np.abs(err), axis=0)
        rmse = np.sqrt(np.mean(err ** 2, axis=0))
        sag = [j for j, n in enumerate(names) if n in SAGITTAL]
        out.update({
            "joint_angle_mae_deg": float(np.mean(np.abs(err))),
            "joint_angle_rmse_deg": float(np.sqrt(np.mean(err ** 2))),
            "joint_angle_max_error_deg": float(np.max(np.abs(err))),
            "joint_angle_mae_deg_sagittal": float(np.mean(np.abs(err[:, sag]))) if sag else None,
            "joint_angle_mae_deg_by_joint": {n: float(v) for n, v in zip(names, mae)},
            "joint_angle_rmse_deg_by_joint": {n: float(v) for n, v in zip(names, rmse)},
        })
    if all(n in reference.names and n in simulated.names for n in PELVIS_TRANSLATIONS):
        names_t = list(PELVIS_TRANSLATIONS)
        d = (_at_times(simulated, names_t, simulated.time_s)[keep]
             - _at_times(reference, names_t, t))
        out["pelvis_position_error_cm"] = float(100.0 * np.mean(np.linalg.norm(d, axis=1)))
    rots = [n for n in PELVIS_ROTATIONS if n in reference.names and n in simulated.names]
    if rots:
        e = _wrap_deg(np.rad2deg(_at_times(simulated, rots, simulated.time_s)[keep]
                                 - _at_times(reference, rots, t)))
        out["pelvis_orientation_mae_deg"] = float(np.mean(np.abs(e)))
    return out


def contact_threshold_n(mass_kg: float | None) -> float:
    """Vertical force threshold for contact events: max(20 N, 3 % of body weight)."""
    return max(ge.DEFAULT_THRESHOLD_N, 0.03 * (mass_kg or 0.0) * GRAVITY)


def compute_all(results, reference: Motion, reference_grf=None, reference_moments=None,
                model=None, terminated_at_s: float | None = None, coordinates=None) -> dict:
    """Every figure of the twin's analysis, JSON-ready (None where not computable).

    ``results``: the twin's ``analysis.results.Results`` (``results.kinematics`` is the simulated
    motion). ``reference``: the reference ``Motion``. ``reference_grf``: measured ground reactions
    (force plates), if any: reference events then come from them, else from the reference
    kinematics (Zeni 2008). ``reference_moments``: ``(time_s, {coord: N*m})`` from
    ``metrics.read_reference_moments``. ``model``: the subject's MuJoCo model for foot positions
    (default: the built-in skeleton scaled to the subject).
    """
    from .metrics import compute_metrics

    m = compute_metrics(results, reference_grf=reference_grf, reference_moments=reference_moments,
                        lowpass_hz=KINETICS_LOWPASS_HZ)
    m.update(tracking_metrics(reference, results.kinematics, coordinates=coordinates,
                              terminated_at_s=terminated_at_s))
    if terminated_at_s is not None:
        m["terminated_at_s"] = float(terminated_at_s)

    thr = contact_threshold_n(results.mass_kg)
    ref_points = ge.foot_points(reference, model)
    kin_events = ge.detect_from_foot_positions(ref_points.time_s, ref_points.heel, ref_points.toe,
                                               ref_points.pelvis,
                                               pelvis_forward=ref_points.pelvis_forward)
    if reference_grf is not None:
        ref_events = ge.events_from_grf(reference_grf, ge.DEFAULT_THRESHOLD_N,
                                        source="force plates")
        ref_label = "force plates (20 N)"
    else:
        ref_events, ref_label = kin_events, "recorded kinematics (Zeni 2008)"
    twin_events = ge.events_from_grf(results.grf, thr, source="twin contact forces")
    err = ge.gait_event_error_ms(twin_events, ref_events)
    m["gait_event_error_ms"] = err.pop("gait_event_error_ms")
    m["gait_events_matched"] = err.get("n_matched")
    m["gait_events_missed"] = err.get("n_missed")
    m["gait_event_matching"] = {**err, "reference": ref_label,
                                "twin_threshold_n": round(thr, 3)}
    m["gait_events"] = {"reference": ref_events.to_dict(), "twin": twin_events.to_dict()}
    if reference_grf is not None:
        m["gait_events"]["reference_kinematics"] = kin_events.to_dict()
        kin_err = ge.gait_event_error_ms(kin_events, ref_events)
        m["kinematic_event_error_ms"] = kin_err["gait_event_error_ms"]

    model = model if model is not None else _model_for_results(results, reference)
    twin_points = ge.foot_points(results.kinematics, model)
    m["com_vertical_hf_pct_bw"] = com_vertical_hf_pct_bw(results.kinematics, model)
    m["com_vertical_hf_reference_pct_bw"] = com_vertical_hf_pct_bw(reference, model)
    m["com_hf_cutoff_hz"] = COM_HF_CUTOFF_HZ
    from ..sim.floor import stance_clearance

    m["stance_clearance"] = stance_clearance(model, reference.to_qpos(model, warn=False),
                                             reference.rate_hz,
                                             depth_m=results.info.get("contact_depth_m", 0.0))
    m["spatiotemporal"] = {"reference": st.compute(ref_events, ref_points),
                           "twin": st.compute(twin_events, twin_points)}
    return m


def _model_for_results(results, reference: Motion):
    from ..models.anthropometry import default_skeleton
    from ..models.build import build_model

    h = results.height_m or reference.subject.height_m or 1.75
    return build_model(default_skeleton(h, results.mass_kg or reference.subject.mass_kg or 75.0))


def recompute_from_output(out_dir: str | Path, reference: Motion | str | Path | None = None,
                          reference_grf=None, reference_moments=None, model=None) -> dict:
    """All figures recomputed from an output folder's files (``analysis.results`` layout).

    ``reference``: the reference ``Motion`` or a kinematics file; default the file named in
    ``metrics.json`` ``info["reference_kinematics"]`` (relative to the folder), else
    ``reference_kinematics.mot`` in the folder. ``terminated_at_s`` is taken from
    ``metrics.json`` (``metrics`` or ``info``) when present.
    """
    from ..motion.kinematics_io import read_motion
    from .results import read_results

    out = Path(out_dir)
    res = read_results(out)
    if reference is None:
        name = res.info.get("reference_kinematics") or "reference_kinematics.mot"
        reference = out / name
        if not reference.exists():
            raise FileNotFoundError(f"{out}: no reference kinematics ({name}); pass reference=")
    if not isinstance(reference, Motion):
        # canonical in folders written before the convention was recorded
        convention = res.info.get("reference_kinematics_convention", "canonical")
        reference = read_motion(reference, convention=convention, height_m=res.height_m,
                                mass_kg=res.mass_kg)
    term = res.metrics.get("terminated_at_s", res.info.get("terminated_at_s"))
    return compute_all(res, reference, reference_grf=reference_grf,
                       reference_moments=reference_moments, model=model, terminated_at_s=term)


def compare_metrics(a, b, rtol: float = 1e-6, atol: float = 1e-6, path: str = "") -> list[str]:
    """Differences between two metric trees (numbers within tolerance are equal)."""
    diffs = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                diffs.append(f"{path}{k}: only in {'first' if k in a else 'second'}")
            else:
                diffs += compare_metrics(a[k], b[k], rtol, atol, f"{path}{k}.")
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            diffs.append(f"{path[:-1]}: length {len(a)} != {len(b)}")
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                diffs += compare_metrics(x, y, rtol, atol, f"{path}{i}.")
    elif isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str):
        if a != b and not (_nan(a) and _nan(b)):
            diffs.append(f"{path[:-1]}: {a!r} != {b!r}")
    else:
        try:
            fa, fb = float(a), float(b)
        except (TypeError, ValueError):
            if a != b:
                diffs.append(f"{path[:-1]}: {a!r} != {b!r}")
            return diffs
        if not (np.isclose(fa, fb, rtol=rtol, atol=atol) or (np.isnan(fa) and np.isnan(fb))):
            diffs.append(f"{path[:-1]}: {fa} != {fb}")
    return diffs


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))
