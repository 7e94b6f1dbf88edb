"""From marker files to model kinematics: scaling, marker placement and IK (``kintwin ik``).

``run_ik`` does, in order:

0. Samples at exactly (0, 0, 0) are gaps (many exporters write gaps as zeros): NaN.
1. Marker names: pair the trial's (and static trial's) markers with the marker map; unknown names
   are an error that lists them (or are left out with ``ignore_unknown``). Map markers on bodies
   the model lacks are dropped.
2. Units: distances between markers against the subject-sized model (``checks.check_units``);
   the file's vertical from the body's feet-to-head direction, turned to +Y where it is another
   axis (``checks.vertical_rotation``).
3. Scaling (built-in model only): the segment-group factors and the poses are fitted jointly by
   least squares of marker positions (``solver.fit_scales``): on the median static pose when a
   static trial is given (with a weak prior towards the neutral standing pose), else on up to
   ``scale_frames`` frames of the trial spread over its duration. Only groups that move some
   marker are fitted; the others keep ``height / 1.80``. Soft-tissue (non-landmark) markers count
   with a fifth of their weight. ``segment_scales`` given: no fit.
4. Marker placement (static trial given, on by default): every marker seen in the static trial is
   moved, in its body frame, to where the static trial has it on the scaled model in the fitted
   static pose (OpenSim's MarkerPlacer). This removes the subject-specific offsets of the generic
   marker positions; the joint angles of the static pose become the reference for the trial.
5. IK of every frame (``solver.MarkerIK``) on the model recompiled with
   ``default_skeleton(height, mass, segment_scales)`` (or the given skeleton).
6. Placement check (after placement only): a marker whose mean body-frame offset from its site
   over the trial exceeds ``refine_threshold_m`` (2 cm) sits elsewhere on its body than in the
   static trial (typically the acromion: the scapula moves between a T-pose and walking); it is
   re-placed at its mean trial position and IK is solved again (largest offsets first, up to three
   rounds; markers on the pelvis, which define the reference frame, are never moved). Markers whose systematic trial
   error stays under the threshold keep their static placement, so the static pose remains the
   reference of the joint angles.
7. Coverage: leading and trailing frames that see fewer than ``MIN_MARKER_SHARE`` of the markers
   the best frame sees (the subject entering or leaving the capture volume: a few markers, or none,
   and the pose held from the nearest solved frame) are left out of the kinematics
   (``metrics["frames_left_out_s"]``); interior frames like that are kept and listed
   (``metrics["frames_with_few_markers_s"]``), with a warning.
8. Systematic marker offsets (mean body-frame offset of each marker from its site over the
   trial) go into the metrics; without placement, three or more markers over 5 cm raise a warning
   that the marker set looks unplaced on this subject (an OpenSim model's MarkerSet straight from
   scaling, before marker placement, is typically 5-20 cm off on the thigh and shank clusters).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from ..models.anthropometry import GENERIC_HEIGHT_M, default_skeleton
from ..models.coordinates import ARM_PREFIXES
from ..models.skeleton import Skeleton
from ..motion.filtering import true_runs
from ..motion.kinematics_io import write_motion
from ..motion.motion import Motion, Subject
from ..motion.trc import Markers
from .checks import check_units, match_markers, vertical_rotation
from .markersets import MarkerDef, MarkerMap, builtin_map, save_marker_map
from .model import MarkerModel, ScaleGeometry, subject_marker_positions
from .solver import IKOptions, MarkerIK, fit_scales

NONLANDMARK_SCALE_FACTOR = 0.0  # weight share of soft-tissue markers in the scale fit
MARKER_SIGMA_M = 0.01  # typical marker error: the unit of the priors below
NEUTRAL_PRIOR_DEG = 10.0  # static pose: a joint angle this far from 0 costs like one 1 cm error
SCALE_PRIOR_REL = 0.3  # a factor 30 % off height/1.80 costs like one 1 cm error
TRUNK_PRIOR_DEG = 10.0  # lumbar angles, only when the pelvis orientation is not observable
UNPLACED_OFFSET_M = 0.05  # a marker this far from its site on average is misplaced on its body
UNPLACED_MIN_MARKERS = 3  # this many such markers without placement: the set looks unplaced
#: leading and trailing frames that see fewer than this share of the markers the best frame sees
#: (the subject walking into or out of the capture volume) are left out of the kinematics
MIN_MARKER_SHARE = 0.8
ARM_PRIOR_DEG = 60.0  # arms: much weaker (T-pose or arms down); only settles ambiguities
#: the arm coordinates of the weaker static prior: the wrists keep the standing neutral prior
_ARM_PREFIXES = tuple(p for p in ARM_PREFIXES if p != "wrist_")


def load_markers(path: str | Path) -> Markers:
    """Markers in OpenSim's ground frame (Y up, metres) from ``.trc`` or ``.c3d``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"marker file {path} not found")
    suf = path.suffix.lower()
    if suf == ".trc":
        from ..motion.trc import read_trc

        return read_trc(path)
    if suf == ".c3d":
        from ..motion.c3d import read_c3d

        return read_c3d(path, to_opensim=True)[0]
    raise ValueError(f"{path}: unknown marker file type {path.suffix!r}: use .trc or .c3d")


def zero_gaps_to_nan(markers: Markers) -> tuple[Markers, dict[str, int]]:
    """Samples at exactly (0, 0, 0) become NaN: many exporters write gaps as zeros.

    Returns the cleaned markers and, per marker, how many samples were zero-coded.
    """
    zero = np.all(markers.positions_m == 0.0, axis=2)
    if not zero.any():
        return markers, {}
    pos = markers.positions_m.copy()
    pos[zero] = np.nan
    counts = {n: int(c) for n, c in zip(markers.names, zero.sum(axis=0)) if c}
    return Markers(time_s=markers.time_s, names=markers.names, positions_m=pos,
                   rate_hz=markers.rate_hz, units_in_file=markers.units_in_file), counts


def get_marker_map(marker_set: str | None = None, marker_map: str | Path | None = None,
                   osim: str | Path | None = None, marker_names=None) -> MarkerMap:
    """The marker map asked for: a map file, a built-in set, an OpenSim model's MarkerSet; with
    none of these, the built-in set that knows the most of ``marker_names`` (the trial's marker
    names; ``choose_builtin_map``), else ``opensim_example``."""
    from .markersets import choose_builtin_map, load_marker_map, marker_map_from_osim

    if marker_set and marker_map:
        raise ValueError("give either --marker-set or --marker-map, not both")
    if marker_map:
        return load_marker_map(marker_map)
    if marker_set:
        return builtin_map(marker_set)
    if osim:
        return marker_map_from_osim(osim)
    if marker_names is not None:
        return choose_builtin_map(marker_names)[0]
    return builtin_map("opensim_example")


@dataclass
class IKResult:
    motion: Motion
    marker_names: list[str]
    time_s: np.ndarray
    errors_m: np.ndarray  # (T, M) marker distance errors, NaN where missing
    segment_scales: dict[str, float]
    scale_info: dict
    marker_map: MarkerMap  # subject-specific (scaled, placed) marker positions
    metrics: dict
    model: mujoco.MjModel = field(repr=False)


def _fit_frames(trial: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """Indices of up to n frames spread over the trial, each with the most markers in its slot."""
    T = trial.shape[0]
    score = (np.all(np.isfinite(trial), axis=2) * (w > 0)).sum(axis=1)
    edges = np.linspace(0, T, min(n, T) + 1).astype(int)
    idx = [a + int(np.argmax(score[a:b])) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    return np.array([i for i in idx if score[i] >= 3], int)


def _observed_groups(mm: MarkerModel, geom: ScaleGeometry, mask: np.ndarray) -> np.ndarray:
    """Groups whose factor moves some marker: a marker on one of the group's bodies or below them
    (a group's factor scales its bodies' joint centres and sites and its children's offsets)."""
    m = mm.model
    marked = set()
    for b in mm.marker_body_ids[np.asarray(mask, bool)]:
        while b > 0:
            marked.add(m.body(int(b)).name)
            b = m.body_parentid[b]
    return np.array([any(b in marked for b in geom.groups[g]) for g in geom.group_names], bool)


def run_ik(trial: Markers, height_m: float, mass_kg: float,
           marker_map: MarkerMap | str = "opensim_example", static: Markers | None = None,
           skeleton: Skeleton | None = None, segment_scales: dict[str, float] | None = None,
           fit_segment_scales: bool = True, place_markers: bool | None = None,
           ignore_unknown: bool = False, time_range: tuple[float, float] | None = None,
           locked: dict[str, float] | None = None, refine_threshold_m: float | None = 0.02,
           options: IKOptions | None = None, scale_frames: int = 8,
           trial_name: str = "marker file", static_name: str = "static trial") -> IKResult:
    """Scale the model, place the markers and solve IK for every frame (see the module doc)."""
    mmap = builtin_map(marker_map) if isinstance(marker_map, str) else marker_map
    base = skeleton or default_skeleton(height_m, mass_kg)
    s0 = height_m / GENERIC_HEIGHT_M
    body_names = {b.name for b in base.bodies}
    off_model = sorted(n for n, mk in mmap.markers.items() if mk.body not in body_names)
    if off_model:
        warnings.warn(f"{len(off_model)} marker(s) of {mmap.name!r} are on bodies the model lacks "
                      f"and are left out: {off_model}", stacklevel=2)
        mmap = mmap.subset([n for n in mmap.names if n not in off_model])

    trial, zero_trial = zero_gaps_to_nan(trial)
    zero_static = {}
    if static is not None:
        static, zero_static = zero_gaps_to_nan(static)
    if time_range is not None:
        keep = (trial.time_s >= time_range[0] - 1e-9) & (trial.time_s <= time_range[1] + 1e-9)
        if not keep.any():
            raise ValueError(f"{trial_name}: no frames in time range {time_range} "
                             f"(file: {trial.time_s[0]:.3f}-{trial.time_s[-1]:.3f} s)")
        trial = Markers(time_s=trial.time_s[keep], names=trial.names,
                        positions_m=trial.positions_m[keep], rate_hz=trial.rate_hz,
                        units_in_file=trial.units_in_file)
    t_names, t_pos, t_unknown = match_markers(trial, mmap, ignore_unknown, trial_name)
    s_names, s_pos, s_unknown = ([], None, [])
    if static is not None:
        s_names, s_pos, s_unknown = match_markers(static, mmap, ignore_unknown, static_name)
    used = [n for n in mmap.names if n in t_names or n in s_names]
    w = np.array([mmap.markers[n].weight for n in used])
    landmark = np.array([mmap.markers[n].landmark for n in used])

    def arrange(names, pos):
        out = np.full((pos.shape[0], len(used), 3), np.nan)
        for j, n in enumerate(names):
            out[:, used.index(n)] = pos[:, j]
        return out

    X = arrange(t_names, t_pos)
    XS = arrange(s_names, s_pos) if static is not None else None

    # ---- units ----
    scales_given = dict(segment_scales) if segment_scales else None
    start_scales = scales_given or {}
    pos0 = subject_marker_positions(mmap.subset(used), start_scales, s0)
    bodies = {n: mmap.markers[n].body for n in used}
    skel0 = default_skeleton(height_m, mass_kg, start_scales) if skeleton is None else skeleton
    mm0 = MarkerModel(skel0, pos0, bodies)
    neutral = mm0.site_positions(mm0.neutral_qpos())
    ratio = check_units(X, neutral, height_m, trial_name, trial.units_in_file)
    if XS is not None:
        check_units(XS, neutral, height_m, static_name, static.units_in_file)
    turned = {}  # a file whose vertical is not +Y (checks.vertical_rotation)
    for key, pos, name in (("trial", X, trial_name), ("static", XS, static_name)):
        R, note = vertical_rotation(pos, neutral, name) if pos is not None else (None, None)
        if R is not None:
            pos[:] = pos @ R.T
            turned[key] = note
            warnings.warn(note, stacklevel=2)

    # ---- scaling ----
    scale_info: dict = {"method": "none", "default_scale": s0}
    fitted = dict(start_scales)
    static_q = None
    if skeleton is not None:
        scale_info["method"] = "given model (no scaling)"
    elif scales_given is not None:
        scale_info["method"] = "given segment scales"
    if place_markers is None:
        place_markers = XS is not None
    need_fit = skeleton is None and scales_given is None and fit_segment_scales
    if need_fit or (place_markers and XS is not None):
        if XS is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                frames_x = np.nanmedian(XS, axis=0)[None]
            source = "static trial (median pose)"
        else:
            idx = _fit_frames(X, w, scale_frames)
            frames_x = X[idx]
            source = f"{len(idx)} trial frames"
        # the fit uses landmark markers (soft-tissue clusters are placed afterwards)
        w_fit = w * np.where(landmark, 1.0, NONLANDMARK_SCALE_FACTOR)
        if not np.any(w_fit > 0):
            w_fit = w
        seen = np.any(np.all(np.isfinite(frames_x), axis=2), axis=0) & (w_fit > 0)
        ik0 = MarkerIK(mm0, w_fit)
        ik0.active = mm0.dof_observed(seen)
        ik0.lock(locked or {})
        wm = float(np.mean(w_fit[w_fit > 0]))
        neutral_w = np.zeros(len(mm0.hinge.names))
        if XS is not None:  # static: standing neutral, arms free (T-pose or arms down)
            arm = np.array([n.startswith(_ARM_PREFIXES) for n in mm0.hinge.names])
            neutral_w[~arm] = wm * (MARKER_SIGMA_M / np.deg2rad(NEUTRAL_PRIOR_DEG)) ** 2
            neutral_w[arm] = wm * (MARKER_SIGMA_M / np.deg2rad(ARM_PRIOR_DEG)) ** 2
        ik0.prior_w[:] = 0.0
        ik0.prior_w[mm0.hinge.dadr] = neutral_w
        q_init = []
        for x in frames_x:
            q, _ = ik0.solve_frame(ik0.rigid_start(x), x, max_iter=300)
            q_init.append(q)
        ik0.prior_w[:] = 0.0
        geom = ScaleGeometry(mm0, mmap.subset(used), mass_kg) if skeleton is None else None
        if need_fit:
            s_init = np.array([float(start_scales.get(geom.groups[g][0], s0)) for g in geom.group_names])
            fit_groups = _observed_groups(mm0, geom, seen)
            fit = fit_scales(ik0, geom, frames_x, w_fit, s_init, np.array(q_init), fit_groups,
                             neutral_prior_w=neutral_w,
                             scale_prior_w=wm * len(frames_x) * (MARKER_SIGMA_M / SCALE_PRIOR_REL) ** 2)
            fitted = geom.segment_scales(fit.scales)
            static_q = fit.qpos
            scale_info.update({
                "method": f"least squares of marker positions, {source}",
                "groups": {g: float(fit.scales[k]) for k, g in enumerate(geom.group_names)},
                "fitted_groups": fit.fitted_groups,
                "fixed_groups": [g for g in geom.group_names if g not in fit.fitted_groups],
                "fit_rmse_m": fit.rmse_m,
                "fit_per_marker_rmse_m": {n: (None if not np.isfinite(e) else round(float(e), 5))
                                          for n, e in zip(used, fit.per_marker_rmse_m)},
                "iterations": fit.iterations,
            })
        else:
            static_q = np.array(q_init)
            if geom is not None:
                geom.apply(np.array([float(start_scales.get(geom.groups[g][0], s0))
                                     for g in geom.group_names]))
        # poses on the scaled model (geom already holds the fitted factors)
        if static_q is not None and XS is not None:
            scale_info["static_pose_deg"] = {
                n: round(float(np.rad2deg(static_q[0][a])), 2)
                for n, a in zip(mm0.hinge.names, mm0.hinge.qadr)}

    # ---- subject marker positions (scaled, then placed) ----
    pos_subject = subject_marker_positions(mmap.subset(used), fitted, s0)
    placed = []
    if place_markers and XS is not None and static_q is not None:
        x = frames_x[0]
        mm0.data.qpos[:] = static_q[0]
        mujoco.mj_kinematics(mm0.model, mm0.data)
        for k, n in enumerate(used):
            if np.all(np.isfinite(x[k])):
                b = mm0.marker_body_ids[k]
                R = mm0.data.xmat[b].reshape(3, 3)
                pos_subject[n] = R.T @ (x[k] - mm0.data.xpos[b])
                placed.append(n)
    scale_info["placed_markers"] = placed
    calibrated = MarkerMap(
        name=f"{mmap.name}_subject", scaled=True, source=f"kintwin ik ({mmap.source})",
        markers={n: MarkerDef(bodies[n], pos_subject[n], mmap.markers[n].weight,
                              mmap.markers[n].landmark) for n in used})

    # ---- IK ----
    final_skel = skeleton if skeleton is not None else default_skeleton(height_m, mass_kg, fitted)
    mm = MarkerModel(final_skel, pos_subject, bodies)
    present = np.any(np.all(np.isfinite(X), axis=2), axis=0) & (w > 0)
    observed = mm.dof_observed(present)
    trunk_prior = _trunk_prior(mm, pos_subject, present, w)

    def make_ik(model):
        solver = MarkerIK(model, w, options)
        solver.active = observed.copy()
        solver.lock(locked or {})
        for k, n in enumerate(model.hinge.names):
            if n in trunk_prior:
                solver.prior_w[model.hinge.dadr[k]] = trunk_prior[n]
        return solver

    ik = make_ik(mm)
    qpos, errors, info = ik.solve_trajectory(X)
    refined = {}
    if refine_threshold_m and place_markers and placed:
        # Markers that sit elsewhere on their body in the trial than in the static trial (e.g.
        # the acromion over a scapula that moved between a T-pose and walking) are re-placed at
        # their mean body-frame position over the trial and IK is solved again. Largest first:
        # one displaced marker also drags the others, which recover once it is fixed.
        secs = info["seconds"]
        for _ in range(3):
            shift = _systematic_offsets(mm, qpos, X, present)
            size = np.linalg.norm(shift, axis=1)
            if size.max(initial=0.0) <= refine_threshold_m:
                break
            # pelvis (root) markers define the reference frame: never moved
            size[mm.marker_body_ids == mm.model.body(final_skel.bodies[0].name).id] = 0.0
            if size.max(initial=0.0) <= refine_threshold_m:
                break
            for k in np.flatnonzero((size > refine_threshold_m) & (size >= 0.5 * size.max())):
                n = used[k]
                pos_subject[n] = pos_subject[n] + shift[k]
                refined[n] = round(float(refined.get(n, 0.0) + size[k]), 4)
            mm = MarkerModel(final_skel, pos_subject, bodies)
            ik = make_ik(mm)
            qpos, errors, info2 = ik.solve_trajectory(X)
            secs += info2["seconds"]
        info = {"seconds": secs, "frames_per_s": X.shape[0] / info["seconds"],
                "mean_iterations": info["mean_iterations"], "refine_seconds": secs - info["seconds"]}
        calibrated.markers.update({n: MarkerDef(bodies[n], pos_subject[n], mmap.markers[n].weight,
                                                mmap.markers[n].landmark) for n in refined})
    scale_info["markers_replaced_from_trial_m"] = refined
    # systematic marker offsets: a marker set that was never placed on this subject (e.g. the
    # MarkerSet of an OpenSim model after scaling but before marker placement) sits cm away from
    # the subject's markers on their bodies, and IK then bends the joints to reach them
    offsets = np.linalg.norm(_systematic_offsets(mm, qpos, X, present), axis=1)
    off_markers = {n: round(float(v), 4) for n, v, p in zip(used, offsets, present)
                   if p and v > UNPLACED_OFFSET_M}
    if not placed and len(off_markers) >= UNPLACED_MIN_MARKERS:
        warnings.warn(f"{len(off_markers)} markers sit more than {UNPLACED_OFFSET_M * 100:.0f} cm "
                      f"from their model positions on average over the trial ({off_markers}): the "
                      f"marker set {mmap.name!r} looks unplaced on this subject (generic or scaled "
                      "positions); give a static trial (--static) to place the markers, or an "
                      "OpenSim model whose MarkerSet its Scale tool has placed", stacklevel=2)
    held = [n for n, d in zip(mm.hinge.names, mm.hinge.dadr) if not observed[d]]
    seen = (np.all(np.isfinite(X), axis=2) & present).sum(axis=1)
    covered = seen >= MIN_MARKER_SHARE * seen.max()
    first, last = np.flatnonzero(covered)[[0, -1]]
    t = trial.time_s
    left_out = [[float(t[a]), float(t[b - 1])] for a, b in ((0, first), (last + 1, len(t))) if b > a]
    few = [[float(t[first + a]), float(t[first + b - 1])] for a, b in true_runs(~covered[first:last + 1])]
    if few:
        warnings.warn(f"{trial_name}: frames at {', '.join(f'{a:.3f}-{b:.3f} s' for a, b in few)} see "
                      f"fewer than {MIN_MARKER_SHARE:.0%} of the markers: their pose is poorly "
                      "determined", stacklevel=2)
    keep = slice(first, last + 1)
    qpos, errors, t = qpos[keep], errors[keep], t[keep]
    motion = Motion.from_qpos(mm.model, t, qpos,
                              subject=Subject(height_m=height_m, mass_kg=mass_kg),
                              source_convention="canonical")

    seg_scales = {b.name: float(fitted.get(b.name, s0)) for b in final_skel.bodies} \
        if skeleton is None else {}
    metrics = ik_metrics(used, errors, t)
    metrics.update({
        "frames_left_out_s": left_out, "frames_with_few_markers_s": few,
        "frames_per_s": info["frames_per_s"], "solve_seconds": info["seconds"],
        "mean_iterations": info["mean_iterations"],
        "marker_set": mmap.name, "markers_used": [n for n, p in zip(used, present) if p],
        "markers_in_map_not_in_trial": [n for n in mmap.names if n not in t_names],
        "unknown_markers_ignored": sorted(set(t_unknown) | set(s_unknown)),
        "markers_on_absent_bodies": off_model,
        "coordinates_held_at_zero": held,
        "marker_mean_offset_m": {n: (round(float(v), 4) if p else None)
                                 for n, v, p in zip(used, offsets, present)},
        "markers_offset_over_5cm": off_markers,
        "trunk_prior": ({"coordinates": sorted(trunk_prior), "std_deg": TRUNK_PRIOR_DEG,
                         "why": "pelvis markers collinear or fewer than 3: pelvis tilt, lumbar "
                                "and hip flexion are not separable without it"}
                        if trunk_prior else None),
        "coordinates_locked_deg": {k: float(np.rad2deg(v)) for k, v in (locked or {}).items()},
        "units_distance_ratio": ratio,
        "vertical_axis_turned": turned,
        "zero_coded_gaps": {"trial": zero_trial, "static": zero_static},
        "scaling": scale_info,
    })
    return IKResult(motion=motion, marker_names=used, time_s=t, errors_m=errors,
                    segment_scales=seg_scales, scale_info=scale_info, marker_map=calibrated,
                    metrics=metrics, model=mm.model)


def _trunk_prior(mm: MarkerModel, pos: dict[str, np.ndarray], present: np.ndarray,
                 w: np.ndarray) -> dict[str, float]:
    """Prior weights on the lumbar angles when the pelvis markers cannot fix the pelvis
    orientation (fewer than 3, or collinear as hip-centre keypoints are): then pelvis tilt trades
    off against lumbar extension and hip flexion, and the lumbar joint is assumed near neutral."""
    root = mm.model.body(mm.skeleton.bodies[0].name).id
    on_pelvis = [n for k, n in enumerate(mm.marker_names)
                 if present[k] and mm.marker_body_ids[k] == root]
    if len(on_pelvis) >= 3:
        p = np.array([pos[n] for n in on_pelvis])
        sv = np.linalg.svd(p - p.mean(axis=0), compute_uv=False)
        if sv[1] > 0.02:  # spread over >2 cm in a second direction: not collinear
            return {}
    wm = float(np.mean(w[present])) if present.any() else 1.0
    pw = wm * (MARKER_SIGMA_M / np.deg2rad(TRUNK_PRIOR_DEG)) ** 2
    return {n: pw for n in ("lumbar_extension", "lumbar_bending", "lumbar_rotation")
            if n in mm.hinge.names}


def _systematic_offsets(mm: MarkerModel, qpos: np.ndarray, X: np.ndarray,
                        present: np.ndarray) -> np.ndarray:
    """(M, 3) mean body-frame offset of each measured marker from its model site over a trial."""
    M = len(mm.marker_names)
    acc, cnt = np.zeros((M, 3)), np.zeros(M)
    d = mm.data
    for t in range(X.shape[0]):
        ok = np.all(np.isfinite(X[t]), axis=1) & present
        if not ok.any():
            continue
        d.qpos[:] = qpos[t]
        mujoco.mj_kinematics(mm.model, d)
        for k in np.flatnonzero(ok):
            R = d.xmat[mm.marker_body_ids[k]].reshape(3, 3)
            acc[k] += R.T @ (X[t, k] - d.site_xpos[mm.site_ids[k]])
            cnt[k] += 1
    return acc / np.maximum(cnt, 1)[:, None]


def ik_metrics(names: list[str], errors: np.ndarray, time_s: np.ndarray) -> dict:
    """RMSE summaries of marker errors (T, M) in metres."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        frame = np.sqrt(np.nanmean(errors ** 2, axis=1))
        per_marker = np.sqrt(np.nanmean(errors ** 2, axis=0))
        per_marker_max = np.nanmax(np.where(np.isfinite(errors), errors, -np.inf), axis=0)
    r = lambda v: None if not np.isfinite(v) else round(float(v), 5)
    finite = np.isfinite(errors)
    worst = np.unravel_index(np.argmax(np.where(finite, errors, -1)), errors.shape) if finite.any() else None
    return {
        "n_frames": int(errors.shape[0]),
        "n_markers": len(names),
        "marker_rmse_m": r(np.sqrt(np.nanmean(errors[finite] ** 2))) if finite.any() else None,
        "frame_rmse_m": {"mean": r(np.nanmean(frame)), "median": r(np.nanmedian(frame)),
                         "p95": r(np.nanpercentile(frame, 95)), "max": r(np.nanmax(frame))}
        if np.isfinite(frame).any() else None,
        "max_marker_error_m": ({"value": r(errors[worst]), "marker": names[worst[1]],
                                "time_s": r(time_s[worst[0]])} if worst is not None else None),
        "per_marker_rmse_m": {n: r(v) for n, v in zip(names, per_marker)},
        "per_marker_max_m": {n: r(v) for n, v in zip(names, per_marker_max)},
    }


def write_ik_outputs(result: IKResult, out_dir: str | Path, height_m: float, mass_kg: float,
                     extra: dict | None = None) -> dict[str, Path]:
    """Write ``kinematics.mot``, ``scales.json``, ``ik_errors.csv``, ``ik_metrics.json`` and
    ``markers_subject.yaml`` (the subject's marker positions, usable as ``--marker-map``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"kinematics": write_motion(out / "kinematics.mot", result.motion, convention="canonical")}
    scales = {"segment_scales": result.segment_scales, "height_m": height_m, "mass_kg": mass_kg,
              "scaling": result.scale_info}
    paths["scales"] = out / "scales.json"
    paths["scales"].write_text(json.dumps(scales, indent=2))
    # per-frame and per-marker errors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        frame = np.sqrt(np.nanmean(result.errors_m ** 2, axis=1))
        fmax = np.nanmax(np.where(np.isfinite(result.errors_m), result.errors_m, -np.inf), axis=1)
    fmax = np.where(np.isfinite(fmax), fmax, np.nan)
    header = ["time", "frame_rmse_m", "max_error_m"] + [f"{n}_m" for n in result.marker_names]
    table = np.column_stack([result.time_s, frame, fmax, result.errors_m])
    paths["errors"] = out / "ik_errors.csv"
    with open(paths["errors"], "w") as f:
        f.write(",".join(header) + "\n")
        for row in table:
            f.write(",".join("" if not np.isfinite(v) else f"{v:.6g}" for v in row) + "\n")
    metrics = dict(result.metrics)
    metrics["per_frame_errors_file"] = "ik_errors.csv"
    if extra:
        metrics.update(extra)
    paths["metrics"] = out / "ik_metrics.json"
    paths["metrics"].write_text(json.dumps(metrics, indent=2))
    paths["markers"] = save_marker_map(out / "markers_subject.yaml", result.marker_map)
    return paths
