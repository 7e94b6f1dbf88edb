"""Figures of merit for dynamics results (``Results``).

The definitions (units, frames, references, resampling) are in README.md, section "Metrics
(metrics.json)"; each function below computes the keys named there. In short: BW = m g
(g = 9.81 m/s^2), h the subject height, RMSE and Pearson's r over the result's frames that lie
inside the reference's time span, the reference interpolated linearly at those times; moments in
canonical signs (knee flexion positive).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models.build import GRAVITY
from ..models.coordinates import ALL_COORDINATES
from ..motion.grf import GroundReactions
from ..motion.kinematics_io import convert_convention
from ..motion.storage import read_table
from .results import Results

SAGITTAL = ("hip_flexion_r", "knee_angle_r", "ankle_angle_r",
            "hip_flexion_l", "knee_angle_l", "ankle_angle_l")
REFERENCE_CONVENTIONS = ("legacy", "canonical")


def _rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def _r(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _overlap(t: np.ndarray, t_ref: np.ndarray) -> np.ndarray:
    tol = 1e-6
    keep = (t >= t_ref[0] - tol) & (t <= t_ref[-1] + tol)
    if not keep.any():
        raise ValueError(f"no overlap between the result ({t[0]:.3f}-{t[-1]:.3f} s) and the "
                         f"reference ({t_ref[0]:.3f}-{t_ref[-1]:.3f} s)")
    return keep


def _no_common_time(results: Results, ref_time: np.ndarray) -> str | None:
    """Why the result cannot be scored against a reference of ``ref_time``, or None."""
    t = results.time_s
    if t[-1] >= ref_time[0] and t[0] <= ref_time[-1]:
        return None
    return (f"the result covers {t[0]:.3f}-{t[-1]:.3f} s and the reference "
            f"{ref_time[0]:.3f}-{ref_time[-1]:.3f} s: no time in common")


def residual_force_mean_pct_bw(results: Results) -> float:
    """100 * mean |F_res| / BW."""
    bw = results.mass_kg * GRAVITY
    return float(100 * np.linalg.norm(results.residual_force_n, axis=1).mean() / bw)


def residual_moment_mean_pct_bw_height(results: Results) -> float:
    """100 * mean |M_res| / (BW * height)."""
    if not results.height_m:
        return float("nan")
    bw = results.mass_kg * GRAVITY
    return float(100 * np.linalg.norm(results.residual_moment_nm, axis=1).mean()
                 / (bw * results.height_m))


def grf_metrics(results: Results, reference: GroundReactions) -> dict[str, float]:
    """``grf_*`` keys: per-foot vertical and AP GRF against measured ground reactions, both feet
    pooled (the split between the feet counts), and the total vertical force."""
    t = results.time_s
    keep = _overlap(t, reference.time_s)
    ref = reference.resample(np.clip(t[keep], reference.time_s[0], reference.time_s[-1]))
    bw = results.mass_kg * GRAVITY
    sides = [s for s in results.grf.sides if s in ref.sides]
    if not sides:
        raise ValueError("no foot in common between the result's and the reference's GRF")
    est = {s: results.grf.force_n[s][keep] for s in sides}
    fy_e = np.concatenate([est[s][:, 1] for s in sides])
    fy_r = np.concatenate([ref.force_n[s][:, 1] for s in sides])
    fx_e = np.concatenate([est[s][:, 0] for s in sides])
    fx_r = np.concatenate([ref.force_n[s][:, 0] for s in sides])
    tot_e = sum(est[s][:, 1] for s in sides)
    tot_r = sum(ref.force_n[s][:, 1] for s in sides)
    return {"grf_vertical_rmse_pct_bw": 100 * _rmse(fy_e, fy_r) / bw,
            "grf_vertical_r": _r(fy_e, fy_r),
            "grf_ap_rmse_pct_bw": 100 * _rmse(fx_e, fx_r) / bw,
            "grf_total_vertical_rmse_pct_bw": 100 * _rmse(tot_e, tot_r) / bw,
            "grf_frames": int(keep.sum())}


def read_reference_moments(path: str | Path, convention: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Joint moments from an OpenSim ID ``.sto`` (``<coordinate>_moment`` columns) or an RRA/CMC
    actuation file (columns named like coordinates), in kintwin's CANONICAL signs.

    ``convention`` is the coordinate convention of the model that produced the file and must be
    given explicitly: ``"legacy"`` for gait2354/gait2392/Hamner 2010 (knee flexion negative: the
    knee_angle moments are negated here), ``"canonical"`` for Rajagopal/LaiUhlrich-type models.
    The moments cannot tell it themselves; the CLI takes it from the trial's kinematics file.
    Pelvis generalized forces (``pelvis_*``) and residual columns (FX ... MZ) are skipped.
    """
    if convention not in REFERENCE_CONVENTIONS:
        raise ValueError(f"reference convention must be one of {REFERENCE_CONVENTIONS}, "
                         f"not {convention!r}")
    table = read_table(path)
    names, cols = [], []
    for j, lab in enumerate(table.labels):
        name = lab[:-len("_moment")] if lab.endswith("_moment") else lab
        if name in ALL_COORDINATES and not name.startswith("pelvis_"):
            names.append(name)
            cols.append(j)
    if not names:
        raise ValueError(f"{path}: no joint moment columns (expected e.g. hip_flexion_r_moment)")
    values = convert_convention(names, table.data[:, cols].astype(float), convention)
    return table.time_s, {n: values[:, j] for j, n in enumerate(names)}


def detect_reference_convention(path, ref_time: np.ndarray, ref_moments_as_read: dict,
                                estimate: Results, min_abs_r: float = 0.5) -> tuple[str, float]:
    """The knee sign convention of a reference ID file, from the file's own knee moments: they are
    correlated (as read, unflipped) with ``estimate``'s canonical knee torques of the same trial
    (our inverse dynamics, plates or kinematics-only); positive r means canonical, negative legacy.
    ``InputError`` when |r| < ``min_abs_r`` (the files may not match: give the convention)."""
    from ..errors import InputError

    keep = _overlap(estimate.time_s, ref_time)
    rs = [_r(estimate.torque(k)[keep], np.interp(estimate.time_s[keep], ref_time, ref_moments_as_read[k]))
          for k in ("knee_angle_r", "knee_angle_l")
          if k in ref_moments_as_read and k in estimate.coordinate_names and keep.sum() > 10]
    rs = [r for r in rs if np.isfinite(r)]
    r = float(np.mean(rs)) if rs else float("nan")
    if not abs(r) >= min_abs_r:
        raise InputError(f"{path}: cannot tell the knee sign convention of the reference moments "
                         f"(their knee moments correlate r={r:.2f} with this trial's inverse "
                         "dynamics)", advice="check the reference belongs to the trial, or give "
                                             "--reference-convention legacy|canonical")
    ratio = np.median([np.std(np.interp(estimate.time_s[keep], ref_time, ref_moments_as_read[k]))
                       / max(np.std(estimate.torque(k)[keep]), 1e-9)
                       for k in ("knee_angle_r", "knee_angle_l")
                       if k in ref_moments_as_read and k in estimate.coordinate_names])
    if not 0.2 <= ratio <= 5.0:
        raise InputError(f"{path}: the reference knee moments are {ratio:.3g} times this trial's "
                         "inverse dynamics: not in N*m (normalised by mass, N*m/kg, or by body "
                         "weight and height?)", advice="give the reference moments in N*m, as "
                                                       "OpenSim's ID writes them")
    return ("canonical" if r > 0 else "legacy"), r


def load_reference_moments(path, convention: str, estimate: Results | None = None):
    """``(time_s, moments, convention)``: ``read_reference_moments`` where ``convention`` may be
    ``"auto"``, detected with ``detect_reference_convention`` against ``estimate``."""
    if convention != "auto":
        return (*read_reference_moments(path, convention), convention)
    time_s, raw = read_reference_moments(path, "canonical")  # canonical = as read, unflipped
    convention, _ = detect_reference_convention(path, time_s, raw, estimate)
    names = list(raw)
    values = convert_convention(names, np.column_stack([raw[n] for n in names]), convention)
    return time_s, {n: values[:, j] for j, n in enumerate(names)}, convention


def moment_metrics(results: Results, ref_time: np.ndarray, ref_moments: dict[str, np.ndarray],
                   coordinates=None) -> dict:
    """Per-coordinate moment RMSE (N*m/kg) and r against reference moments (canonical signs)."""
    t = results.time_s
    keep = _overlap(t, ref_time)
    names = [c for c in (coordinates or results.coordinate_names)
             if c in ref_moments and c in results.coordinate_names]
    rmse, r = {}, {}
    for c in names:
        ref = np.interp(t[keep], ref_time, ref_moments[c])
        est = results.torque(c)[keep]
        rmse[c] = _rmse(est, ref) / results.mass_kg
        r[c] = _r(est, ref)
    sag = [rmse[c] for c in SAGITTAL if c in rmse]
    return {"moment_rmse_nm_per_kg": rmse, "moment_r": r,
            "moment_sagittal_rmse_nm_per_kg": float(np.mean(sag)) if sag else float("nan"),
            "moment_frames": int(keep.sum())}


def lowpassed(results: Results, cutoff_hz: float) -> Results:
    """A copy of ``results`` with the joint torques and the ground reactions (force and moment
    about the ground origin per foot, COP recomputed: ``inverse_dynamics.condition_grf``)
    low-passed at ``cutoff_hz`` (zero-lag 4th-order Butterworth)."""
    from dataclasses import replace

    from ..dynamics.inverse_dynamics import condition_grf
    from ..motion.filtering import lowpass

    rate = (len(results.time_s) - 1) / (results.time_s[-1] - results.time_s[0])
    return replace(results, torque_nm=lowpass(results.torque_nm, rate, cutoff_hz),
                   grf=condition_grf(results.grf, cutoff_hz))


def compute_metrics(results: Results, reference_grf: GroundReactions | None = None,
                    reference_moments: tuple[np.ndarray, dict[str, np.ndarray]] | None = None,
                    coordinates=None, lowpass_hz: float | None = None) -> dict:
    """All figures that the given references allow (residuals always). With ``lowpass_hz`` the
    kinetic figures are also computed with the result's torques and ground reactions and the
    measured ground reactions low-passed at that cutoff (keys ``*_lowpass``; the reference
    moments of an OpenSim ID are not filtered again: they come from kinematics low-passed there)."""
    m = {"residual_force_mean_pct_bw": residual_force_mean_pct_bw(results),
         "residual_moment_mean_pct_bw_height": residual_moment_mean_pct_bw_height(results)}
    # a reference the result never reaches (a twin that fell before the plates' stretch): a note
    if reference_grf is not None and (why := _no_common_time(results, reference_grf.time_s)):
        m["ground_reactions_not_scored"], reference_grf = why, None
    if reference_moments is not None and (why := _no_common_time(results, reference_moments[0])):
        m["moments_not_scored"], reference_moments = why, None
    if reference_grf is not None:
        m.update(grf_metrics(results, reference_grf))
    if reference_moments is not None:
        m.update(moment_metrics(results, *reference_moments, coordinates=coordinates))
    if lowpass_hz and (reference_grf is not None or reference_moments is not None):
        from ..dynamics.inverse_dynamics import condition_grf

        try:
            lp = lowpassed(results, lowpass_hz)
        except ValueError as e:  # too few frames to filter (a twin lost within ~0.1 s): a note
            m["kinetics_lowpass_not_scored"] = str(e)
        else:
            m["kinetics_lowpass_hz"] = float(lowpass_hz)
            extra = {}
            if reference_grf is not None:
                extra.update(grf_metrics(lp, condition_grf(reference_grf, lowpass_hz)))
            if reference_moments is not None:
                extra.update(moment_metrics(lp, *reference_moments, coordinates=coordinates))
            m.update({f"{k}_lowpass": v for k, v in extra.items() if not k.endswith("_frames")})
    if results.muscles is not None:
        m["muscles"] = muscle_metrics(results)
        m["reserve_pct_hip_knee_ankle_max"] = m["muscles"]["reserve_pct_hip_knee_ankle_max"]
    return m


def reserve_pct(reserve_nm: np.ndarray, torque_nm: np.ndarray) -> float:
    """Reserve use: sum |reserve| / sum |joint moment| over the frames, %."""
    return float(100 * np.abs(reserve_nm).sum() / max(np.abs(torque_nm).sum(), 1e-12))


def muscle_metrics(results: Results) -> dict:
    """A muscle-driven result: muscle count, mean activation, reserve use per muscle-driven
    coordinate (% of its joint moment) and the worst of hip, knee and ankle flexion."""
    from ..models.coordinates import RESERVE_PREFIX

    mus = results.muscles
    pct = {}
    for j, name in enumerate(mus.reserve_names):
        c = name[len(RESERVE_PREFIX):]
        if c in results.coordinate_names:
            pct[c] = reserve_pct(mus.reserve_nm[:, j], results.torque(c))
    sagittal = [v for c, v in pct.items() if c.startswith(("hip_flexion", "knee_angle", "ankle_angle"))]
    return {"count": len(mus.names), "mean_activation": float(mus.activation.mean()),
            "reserve_pct_of_joint_torque": pct,
            "reserve_pct_hip_knee_ankle_max": max(sagittal) if sagittal else None,
            "reserve_max_abs_nm": float(np.abs(mus.reserve_nm).max()) if mus.reserve_nm.size else 0.0}
