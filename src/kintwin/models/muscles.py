"""The muscle-driven model: kintwin's skeleton with Hill-type MuJoCo muscles on legs and trunk.

Source chosen (issue 7): a reader for the user's own OpenSim ``.osim`` muscle paths
(``osim_muscles.py``) that builds MuJoCo spatial tendons + ``muscle`` actuators on OUR torque
model's bodies. Rejected alternative: MyoSuite's ``myo-sim`` wheel (Apache-2.0, LICENSE file in
the wheel's ``dist-info/licenses``, MyoLeg = Rajagopal-based, 80 leg muscles). Its legs are a
different skeleton (Rajagopal knee with a patella body and 7 extra knee joints held by
polynomial equality constraints, its own segment geometry and a single body size) and it has no
trunk muscles; grafting its 80 muscles onto kintwin's gait2392-frame bodies would mean
re-deriving every attachment and mapping its knee conventions anyway. The ``.osim`` route keeps the torque model's
skeleton, coordinate names and conventions (every ``Motion`` runs on both models), covers the trunk
(erector spinae, obliques), and lets the benchmark compare like with like (gait2392's own muscles
against OpenSim's static optimization of the same model).

Licences of the parts used: kintwin code (Apache-2.0); MuJoCo (Apache-2.0); NumPy/SciPy (BSD).
Muscle data: kintwin ships OpenSim's GENERIC gait2392 model (92 Thelen 2003 muscles, CC BY 3.0,
Delp et al. 1990 / Anderson & Pandy 1999, 2001 / Thelen 2003: cite them when you use it), trimmed
to bodies, joints and muscles (``SHIPPED_MUSCLES``, ``kintwin/data/CREDITS.md``,
``bench/make_shipped_muscles.py``); it is the default source. A user ``.osim`` (e.g. a scaled
model of the subject) replaces it.

What the builder does (``build_muscle_spec``)
---------------------------------------------
* Skeleton: any kintwin ``Skeleton`` (``default_skeleton(height, mass)`` or ``load_osim``) built by
  ``build.build_spec`` (same bodies, joints, pelvis residuals ``residual_fx..mz``, contacts).
* Which muscles: every file muscle whose path bodies all exist in the skeleton and whose crossed
  coordinates are all leg or lumbar coordinates. The motors of every coordinate crossed by at
  least one kept muscle are REMOVED (legs and lumbar are muscle-driven); arms and neck keep their
  torque motors (``coordinates.ARM_R/ARM_L``, ``neck_*``), plus the 6 pelvis residuals. Actuator
  order: torque motors, residuals, (optional ``reserve_<coordinate>`` motors), then the muscles.
* Scaling (consistent with the torque model): each path point is scaled by the ratio of the
  skeleton body's length scale to the file body's scale (both relative to generic gait2392: the
  skeleton's from its joint offsets against ``default_skeleton(1.80 m)``, the file's from the
  Scale tool's geometry scale factors, ``osim.osim_segment_scales``; a body without geometry takes
  its parent's, 1 at the root, so the shipped generic file is at scale 1). Optimal fibre length and
  tendon slack length are multiplied by ``k = L_mujoco / L_osim`` at the neutral pose (all
  coordinates 0), as OpenSim's Scale tool does; this also absorbs the small path-length offsets of
  the approximations below, so the normalised fibre length at the neutral pose equals OpenSim's.
* Conditional path points: kept (always active) if the neutral pose (coordinate 0) is inside
  their range, dropped otherwise. gait2392: hamstring/gracilis points at the back of the tibia
  (active below 25-32 deg of knee flexion), gastrocnemius condyle points (below 45 deg) and the
  iliopsoas pelvic-brim points (hip flexion below 45 deg) are kept; the quadriceps' deep-flexion
  points (active beyond 70-110 deg) are dropped.
* Moving path points (gait2392 quadriceps insertions, which emulate the patella) are fixed on their
  body at their neutral-pose location.
* Path refit (``MuscleOptions.fit_paths``, default on; ``muscle_paths.py``): for every muscle that
  has kept conditional/moving points or crosses a joint whose file kinematics the skeleton
  simplifies (gait2392's knee translations), the via points next to that joint (and the special
  points) are moved by least squares so that the MuJoCo path length matches the file model's own
  length over sampled poses of the crossed coordinates; this matches the moment arms too
  (subject01/gait2392: 30 muscles, rms length misfit <= 1 mm; hip/knee/ankle moment arms within
  1 cm or 20 % of OpenSim's at 99.6 % of the sampled poses, worst: vasti at full extension,
  1.1 cm, see ``bench/bench_muscles.py``). Without the refit the knee moment arms of hamstrings,
  gastrocnemius and quadriceps are 1-3 cm off. ``MuscleOptions.knee_pulley`` (off) instead adds a
  wrapping cylinder on the knee axis for moving points (radius = the file's median moment arm).
* Wrap objects (``PathWrap``) are IGNORED with a note in ``MuscleModelInfo.approximations``
  (none of the gait2392/gait2354/Hamner models uses any; Rajagopal-type models do, and their hip
  and knee moment arms would then be less accurate).
* Muscle dynamics: MuJoCo's ``muscle`` actuator (``set_to_muscle``): first-order activation
  dynamics with the file's activation/deactivation time constants; RIGID tendon (as OpenSim's
  static optimization assumes); force = a * gain(l, v) + bias(l) with MuJoCo's piecewise-quadratic
  force-length, force-velocity and passive curves, their shape fitted to the file's Thelen 2003
  curves (``lmin``/``lmax`` to the active Gaussian, ``fpmax`` to the passive exponential,
  ``fvmax`` = ``Flen``, ``vmax`` = ``max_contraction_velocity``). Pennation: constant, at its
  optimal-length value: peak force ``F_max * cos(alpha)`` along the tendon and normalised fibre
  length ``1 + (l_MT - l_TS - l_opt cos(alpha)) * cos(alpha) / l_opt`` (the pennation model
  linearised at optimal length). MuJoCo takes these through ``lengthrange`` (set explicitly, no
  length-range simulation at compile time) and ``range``.
* Strength: ``max_isometric_force`` as in the file (OpenSim's Scale tool does not scale it either);
  ``MuscleOptions.strength_scale`` multiplies it.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from .build import SimOptions, build_spec
from .coordinates import ARM_L, ARM_R, RESERVE_PREFIX, TRUNK_COORDINATES
from .muscle_paths import SkeletonFK, fit_points, path_lengths, sample_poses
from .osim_muscles import MuscleDef, OsimMuscleModel, read_osim_muscles
from .skeleton import Skeleton

#: kintwin's shipped muscle source: OpenSim's generic (unscaled) gait2392, trimmed (CC BY 3.0).
SHIPPED_MUSCLES = Path(__file__).resolve().parents[1] / "data" / "gait2392_muscles.osim"
#: One line of credits for the shipped muscles (printed by the CLI when it uses them).
SHIPPED_MUSCLES_CREDITS = ("OpenSim gait2392, generic, 92 muscles (CC BY 3.0; Delp et al. 1990, "
                           "Anderson & Pandy 1999/2001, Thelen 2003)")
#: Coordinates that stay torque-driven in the muscle model (arms and neck).
TORQUE_DRIVEN = frozenset(ARM_R + ARM_L + TRUNK_COORDINATES[3:])
#: MuJoCo ``range`` of the normalised fibre length mapped onto ``lengthrange`` (any r0 < r1 gives
#: the same muscle; this pair keeps ``lengthrange`` positive for every gait2392 muscle).
NORM_RANGE = (0.5, 1.6)


@dataclass
class MuscleOptions:
    strength_scale: float = 1.0  # multiplies every max isometric force
    reserves_nm: float | None = None  # add a reserve motor (gear N*m) per muscle-driven coordinate
    fit_paths: bool = True  # refit via points to the file's length curves (muscle_paths.py)
    knee_pulley: bool = False  # add a joint pulley at moving path points (used when not fitting)
    pulley_range_deg: tuple[float, float] = (20.0, 100.0)  # flexion range for the pulley radius


@dataclass
class MuscleParams:
    """What one MuJoCo muscle was built from (scaled, SI)."""

    name: str
    max_isometric_force: float  # N, file value x strength_scale (before the pennation cosine)
    optimal_fiber_length: float  # m, scaled
    tendon_slack_length: float  # m, scaled
    pennation_angle: float  # rad
    max_contraction_velocity: float  # optimal fibre lengths per second
    length_scale: float  # k = L_mujoco / L_osim at the neutral pose
    coordinates: list[str]  # crossed coordinates (canonical names)
    pulley: str | None = None  # name of the pulley geom, if any
    fit: dict | None = None  # path refit: rms length error before/after (mm), point shifts (mm)


@dataclass
class MuscleModelInfo:
    osim_path: str
    muscles: list[MuscleParams]
    muscle_coordinates: list[str]  # coordinates driven by muscles (their motors removed)
    torque_coordinates: list[str]  # coordinates that keep a torque motor
    skipped: dict[str, str] = field(default_factory=dict)  # file muscle -> reason
    approximations: list[str] = field(default_factory=list)
    body_scale_ratio: dict[str, float] = field(default_factory=dict)

    @property
    def muscle_names(self) -> list[str]:
        return [m.name for m in self.muscles]

    def summary(self) -> dict:
        return {"source": self.osim_path, "count": len(self.muscles), "names": self.muscle_names,
                "muscle_driven_coordinates": self.muscle_coordinates,
                "torque_driven_coordinates": self.torque_coordinates,
                "skipped": self.skipped, "approximations": self.approximations}


# --- force-length-velocity curve fit --------------------------------------------------------------
def _mj_fl(L, lmin, lmax):
    a, b = 0.5 * (lmin + 1), 0.5 * (1 + lmax)
    L = np.asarray(L, float)
    out = np.zeros_like(L)
    m = (L >= lmin) & (L <= a)
    out[m] = 0.5 * ((L[m] - lmin) / (a - lmin)) ** 2
    m = (L > a) & (L <= 1)
    out[m] = 1 - 0.5 * ((1 - L[m]) / (1 - a)) ** 2
    m = (L > 1) & (L <= b)
    out[m] = 1 - 0.5 * ((L[m] - 1) / (b - 1)) ** 2
    m = (L > b) & (L <= lmax)
    out[m] = 0.5 * ((lmax - L[m]) / (lmax - b)) ** 2
    return out


def _mj_fp(L, lmax):
    b = 0.5 * (1 + lmax)
    L = np.asarray(L, float)
    return np.where(L <= 1, 0.0, np.where(L <= b, 0.5 * ((L - 1) / (b - 1)) ** 2,
                                          0.5 + (L - b) / (b - 1)))


@functools.lru_cache(maxsize=32)
def fit_curves(kshape_active: float, kshape_passive: float, strain_max: float) -> tuple[float, float, float]:
    """(lmin, lmax, fpmax) of MuJoCo's muscle curves fitted to Thelen 2003's.

    Active: exp(-(L-1)^2 / KshapeActive) on L in [0.4, 1.6]; passive:
    (exp(KshapePassive (L-1)/e0) - 1) / (exp(KshapePassive) - 1) on L in [1, 1 + e0].
    """
    L = np.linspace(0.4, 1.6, 121)
    target = np.exp(-(L - 1) ** 2 / kshape_active)
    res = least_squares(lambda p: _mj_fl(L, p[0], p[1]) - target, x0=[0.0, 2.0],
                        bounds=([-1.0, 1.2], [0.8, 3.5]))
    lmin, lmax = (float(v) for v in res.x)
    Lp = np.linspace(1.0, 1.0 + strain_max, 61)
    tp = (np.exp(kshape_passive * (Lp - 1) / strain_max) - 1) / (np.exp(kshape_passive) - 1)
    shape = _mj_fp(Lp, lmax)
    fpmax = float(max(np.dot(shape, tp) / max(np.dot(shape, shape), 1e-12), 0.0))
    return lmin, lmax, fpmax


# --- scales ----------------------------------------------------------------------------------------
def _children(skel: Skeleton) -> dict[str, list]:
    kids: dict[str, list] = {}
    for b in skel.bodies:
        if b.parent:
            kids.setdefault(b.parent, []).append(b)
    return kids


def skeleton_scales(skeleton: Skeleton) -> dict[str, float]:
    """Per-body length scale of a skeleton relative to generic gait2392 (the 1.80 m built-in model).

    From the lengths of each body's child joint offsets against ``default_skeleton(1.80)``'s; a body
    without children (or unknown to the generic model) takes its parent's scale.
    """
    from .anthropometry import GENERIC_HEIGHT_M, default_skeleton

    gen = {b.name: b for b in default_skeleton(GENERIC_HEIGHT_M, 75.0).bodies}
    kids = _children(skeleton)
    out: dict[str, float] = {}
    for b in skeleton.bodies:
        ratios = [np.linalg.norm(c.pos_in_parent) / np.linalg.norm(gen[c.name].pos_in_parent)
                  for c in kids.get(b.name, []) if c.name in gen
                  and np.linalg.norm(gen[c.name].pos_in_parent) > 1e-3]
        if ratios:
            out[b.name] = float(np.mean(ratios))
        elif b.parent in out:
            out[b.name] = out[b.parent]
        else:
            out[b.name] = skeleton.height_m / GENERIC_HEIGHT_M
    return out


def _file_scales(om: OsimMuscleModel) -> dict[str, float]:
    from .osim import osim_segment_scales

    try:
        sc = osim_segment_scales(om.path)
    except Exception:  # noqa: BLE001 - geometry scale factors are optional
        sc = {}
    for b in om.file.bodies:
        if b not in sc:
            sc[b] = sc.get(om._by_child[b].parent, 1.0) if b in om._by_child else 1.0
    return sc


# --- skeleton helpers ------------------------------------------------------------------------------
def _rot(q_wxyz) -> np.ndarray:
    return Rotation.from_quat(np.roll(np.asarray(q_wxyz, float), -1)).as_matrix()


def _pose(skel: Skeleton, body: str) -> np.ndarray:
    """4x4 pose of ``body`` in the root body's frame at the zero pose."""
    X = np.eye(4)
    b = skel.body(body)
    while b.parent is not None:
        T = np.eye(4)
        T[:3, :3] = _rot(b.quat_in_parent)
        T[:3, 3] = b.pos_in_parent
        X = T @ X
        b = skel.body(b.parent)
    return X


def _chain(skel: Skeleton, body: str) -> list[str]:
    out = [body]
    while skel.body(out[-1]).parent:
        out.append(skel.body(out[-1]).parent)
    return out


def _crossed(skel: Skeleton, bodies: list[str]) -> list[str]:
    coords: list[str] = []
    for a, b in zip(bodies[:-1], bodies[1:]):
        ca, cb = _chain(skel, a), _chain(skel, b)
        common = next(x for x in ca if x in cb)
        for body in ca[:ca.index(common)] + cb[:cb.index(common)]:
            for d in skel.body(body).dofs:
                if d.name not in coords:
                    coords.append(d.name)
    return coords


# --- the builder -----------------------------------------------------------------------------------
def build_muscle_spec(skeleton: Skeleton, osim: str | Path | OsimMuscleModel | None = None,
                      options: MuscleOptions | None = None, sim_options: SimOptions | None = None
                      ) -> tuple[mujoco.MjSpec, MuscleModelInfo]:
    """The muscle-driven ``MjSpec`` of ``skeleton`` with the muscles of an ``.osim`` file.

    ``osim``: default ``SHIPPED_MUSCLES`` (generic gait2392, scaled here to the skeleton).
    The skeleton's per-body scales relative to generic gait2392 are its ``segment_scales`` (a
    skeleton imported from an ``.osim``: that file's), else estimated by ``skeleton_scales``.
    """
    opt = options or MuscleOptions()
    om = osim if isinstance(osim, OsimMuscleModel) else read_osim_muscles(osim or SHIPPED_MUSCLES)
    spec = build_spec(skeleton, sim_options)
    bodies = {b.name: b for b in skeleton.bodies}
    sk_scale = skeleton.segment_scales or skeleton_scales(skeleton)
    f_scale = _file_scales(om)
    ratio = {b: sk_scale.get(b, 1.0) / f_scale.get(b, 1.0) for b in bodies if b in f_scale}
    info = MuscleModelInfo(osim_path=om.path, muscles=[], muscle_coordinates=[],
                           torque_coordinates=[], skipped=dict(om.skipped), body_scale_ratio=ratio)
    sk_coords = set(skeleton.coordinate_names)

    # 1) choose the muscles
    kept: list[tuple[MuscleDef, list[str]]] = []
    for m in om.muscles:
        missing = sorted({b for b in m.bodies if b not in bodies or b not in ratio})
        if missing:
            info.skipped[m.name] = f"bodies not in the skeleton: {missing}"
            continue
        crossed = [c for c in _crossed(skeleton, m.bodies) if c in sk_coords]
        bad = [c for c in crossed if c in TORQUE_DRIVEN]
        if bad:
            info.skipped[m.name] = f"crosses torque-driven coordinates {bad}"
            continue
        if not crossed:
            info.skipped[m.name] = "crosses no skeleton coordinate"
            continue
        kept.append((m, crossed))
    if not kept:
        raise ValueError(f"{om.path}: none of its muscles fits the skeleton: {info.skipped}")
    driven = [c for c in skeleton.coordinate_names if any(c in cr for _, cr in kept)]
    info.muscle_coordinates = driven
    info.torque_coordinates = [c for c in skeleton.coordinate_names if c not in driven]
    n_wraps = sum(1 for m, _ in kept if m.wraps)
    if n_wraps:
        info.approximations.append(f"wrap objects ignored for {n_wraps} muscle(s): straight segments "
                                   "between path points")

    # 2) remove the motors of muscle-driven coordinates
    for c in driven:
        spec.delete(spec.actuator(c))
    if opt.reserves_nm:
        for c in driven:
            a = spec.add_actuator(name=RESERVE_PREFIX + c, target=c, trntype=mujoco.mjtTrn.mjTRN_JOINT)
            a.set_to_motor()
            a.gear[0] = float(opt.reserves_nm)
            a.ctrlrange = [-1, 1]
            a.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE

    # 3) paths: sites, pulleys, tendons (lengths calibrated after a first compile)
    q0_file = {c: 0.0 for c in om.coordinates}
    n_dropped, pulleys = 0, []
    refit_coords = _coupled_coordinates(om)
    fk_cache: dict = {"fk": SkeletonFK(skeleton)}
    for m, crossed in kept:
        pts = []  # (body, pos in skeleton body frame, PathPointDef)
        for p in m.points:
            if p.kind == "conditional" and not p.active(q0_file):
                n_dropped += 1
                continue
            pts.append((p.body, p.location_at(q0_file) * ratio[p.body], p))
        fit = None
        if opt.fit_paths:
            pts, fit = _refit(skeleton, om, m, pts, crossed, refit_coords, fk_cache)
        sb = {b: spec.body(b) for b in {b for b, _, _ in pts}}
        t = spec.add_tendon(name=m.name)
        t.width = 0.004
        t.rgba = [0.8, 0.2, 0.2, 0.7]
        pulley_name = None
        for k, (b, pos, p) in enumerate(pts):
            if opt.knee_pulley and p.kind == "moving" and k > 0:
                pulley_name = _add_pulley(spec, skeleton, om, m, p, pts[k - 1], (b, pos),
                                          ratio, opt.pulley_range_deg, t)
                if pulley_name:
                    pulleys.append(m.name)
            sb[b].add_site(name=f"{m.name}_p{k + 1}", pos=pos, size=[0.004, 0, 0], group=3)
            t.wrap_site(f"{m.name}_p{k + 1}")
        info.muscles.append(MuscleParams(
            name=m.name, max_isometric_force=m.max_isometric_force * opt.strength_scale,
            optimal_fiber_length=m.optimal_fiber_length, tendon_slack_length=m.tendon_slack_length,
            pennation_angle=m.pennation_angle, max_contraction_velocity=m.max_contraction_velocity,
            length_scale=1.0, coordinates=crossed, pulley=pulley_name, fit=fit))
    if n_dropped:
        info.approximations.append(f"{n_dropped} conditional path point(s) inactive at the neutral "
                                   "pose dropped; the others are always active")
    fitted = [mp for mp in info.muscles if mp.fit]
    if fitted:
        worst = max(fitted, key=lambda mp: mp.fit["rms_after_mm"])
        info.approximations.append(
            f"via points of {len(fitted)} muscle(s) crossing {sorted(refit_coords)} or with "
            f"conditional/moving points refitted to the file's length curves (worst rms "
            f"{worst.fit['rms_after_mm']:.1f} mm, {worst.name})")
    if pulleys:
        info.approximations.append(f"moving path points fixed at the neutral pose with a joint pulley "
                                   f"for {len(pulleys)} muscle(s): {pulleys}")
    info.approximations.append("joint kinematics are the skeleton's (e.g. the knee translation "
                                   "of gait2392 is frozen), not the file's")

    # 4) calibrate lengths at the neutral pose, then add the muscle actuators
    probe = spec.compile()
    d = mujoco.MjData(probe)
    mujoco.mj_kinematics(probe, d)
    mujoco.mj_comPos(probe, d)
    mujoco.mj_tendon(probe, d)
    for mp, (m, _) in zip(info.muscles, kept):
        L_mj = float(d.ten_length[mujoco.mj_name2id(probe, mujoco.mjtObj.mjOBJ_TENDON, m.name)])
        k = L_mj / om.length(m, q0_file)
        mp.length_scale = k
        mp.optimal_fiber_length = m.optimal_fiber_length * k
        mp.tendon_slack_length = m.tendon_slack_length * k
        lmin, lmax, fpmax = fit_curves(m.curve["KshapeActive"], m.curve["KshapePassive"],
                                       m.curve["FmaxMuscleStrain"])
        cosa = float(np.cos(mp.pennation_angle))
        L0 = mp.optimal_fiber_length / cosa  # MT length per unit normalised fibre length
        l_opt_mt = mp.tendon_slack_length + mp.optimal_fiber_length * cosa
        lr = [l_opt_mt + (r - 1.0) * L0 for r in NORM_RANGE]
        a = spec.add_actuator(name=m.name, target=m.name, trntype=mujoco.mjtTrn.mjTRN_TENDON)
        a.set_to_muscle(timeconst=[m.activation_time_constant, m.deactivation_time_constant],
                        tausmooth=0.0, range=list(NORM_RANGE), force=mp.max_isometric_force * cosa,
                        scale=200.0, lmin=lmin, lmax=lmax, vmax=mp.max_contraction_velocity,
                        fpmax=fpmax, fvmax=m.curve["Flen"])
        a.lengthrange = lr
    spec.compiler.LRopt.mode = mujoco.mjtLRMode.mjLRMODE_NONE
    return spec, info


def _coupled_coordinates(om: OsimMuscleModel) -> set[str]:
    """Coordinates that drive more than their own dof in the file (e.g. gait2392's knee
    translations): kintwin's skeleton freezes those functions, so paths across them are refitted."""
    out = set()
    for j in om.file.joints:
        for ax in j.axes:
            if ax.coordinates and not ax.function.identity_sign and not ax.function.constant:
                out.update(ax.coordinates)
    return out


def _refit(skel: Skeleton, om: OsimMuscleModel, m: MuscleDef, pts, crossed, refit_coords, cache):
    """Refit the via points of one muscle (see ``muscle_paths``); returns (points, fit report)."""
    special = [k for k, (_, _, p) in enumerate(pts) if p.kind in ("conditional", "moving")]
    free = set(special)
    for k in range(len(pts) - 1):
        if set(_crossed(skel, [pts[k][0], pts[k + 1][0]])) & refit_coords:
            free.update((k, k + 1))
    if not free:
        return pts, None
    key = tuple(crossed)
    if key not in cache:
        poses = sample_poses(list(crossed))
        cache[key] = (poses, cache["fk"].transforms(poses))
    poses, X = cache[key]
    target = np.array([om.length(m, om.canonical_to_file(q)) for q in poses])
    plain = [(b, pos) for b, pos, _ in pts]
    s = path_lengths(plain, {b: x[:1] for b, x in X.items()})[0] / target[0]  # pose 0 is neutral
    fitted, rep = fit_points(plain, sorted(free), X, target * s)
    rep["free_points"] = [pts[k][2].name for k in sorted(free)]
    return [(b, pos, p) for (b, pos), (_, _, p) in zip(fitted, pts)], rep


def _add_pulley(spec, skel: Skeleton, om: OsimMuscleModel, m: MuscleDef, p, prev, cur,
                ratio, range_deg, tendon) -> str | None:
    """A wrapping cylinder on the parent of the moving point's body, on that body's joint axis."""
    child = skel.body(p.body)
    coords = [c for c in p.coordinates if any(d.name == c for d in child.dofs)]
    if not coords or child.parent is None:
        return None
    coord = coords[0]
    dof = next(d for d in child.dofs if d.name == coord)
    R = _rot(child.quat_in_parent)
    centre = child.pos_in_parent + R @ child.joint_pos  # in the parent frame
    axis = R @ dof.axis
    # radius: the file model's own moment arm about this coordinate over the flexion range
    sign = -1.0 if coord in om.legacy_knees else 1.0
    angles = np.deg2rad(np.linspace(*range_deg, 9))
    arms = [abs(om.moment_arm(m, coord, {coord: sign * x})) for x in angles]
    s = 0.5 * (ratio[child.name] + ratio[child.parent])
    r = float(np.median(arms)) * s
    # side: from the axis towards the closest point of the straight segment (neutral pose)
    X_parent = _pose(skel, child.parent)
    to_parent = lambda body, pos: (np.linalg.inv(X_parent) @ _pose(skel, body) @ np.r_[pos, 1.0])[:3]
    a_pt, b_pt = to_parent(*prev[:2]), to_parent(*cur[:2])
    perp = lambda v: v - axis * np.dot(v, axis)
    a2, b2 = perp(a_pt - centre), perp(b_pt - centre)
    d = b2 - a2
    t = np.clip(-np.dot(a2, d) / max(np.dot(d, d), 1e-12), 0.0, 1.0)
    v = a2 + t * d
    if np.linalg.norm(v) < 1e-6:
        return None
    side = centre + v / np.linalg.norm(v) * (r * 2.0)
    pb = spec.body(child.parent)
    gname = f"{m.name}_pulley"
    half = 0.03
    pb.add_geom(name=gname, type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[r, half, 0],
                fromto=np.r_[centre - axis * half, centre + axis * half], contype=0, conaffinity=0,
                group=3, mass=0.0, rgba=[0.3, 0.8, 0.3, 0.3])
    pb.add_site(name=f"{gname}_side", pos=side, size=[0.003, 0, 0], group=3)
    tendon.wrap_geom(gname, f"{gname}_side")
    return gname


def build_muscle_model(skeleton: Skeleton, osim: str | Path | OsimMuscleModel | None = None,
                       options: MuscleOptions | None = None, sim_options: SimOptions | None = None
                       ) -> tuple[mujoco.MjModel, MuscleModelInfo]:
    spec, info = build_muscle_spec(skeleton, osim, options, sim_options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spec.compile(), info


def muscle_actuators(model: mujoco.MjModel) -> np.ndarray:
    """Indices of the muscle actuators (gain type muscle) of a model."""
    return np.nonzero(model.actuator_gaintype == int(mujoco.mjtGain.mjGAIN_MUSCLE))[0]


def reserve_actuators(model: mujoco.MjModel) -> np.ndarray:
    """Indices of the reserve motors (``reserve_<coordinate>``) of a muscle model."""
    return np.array([a for a in range(model.nu)
                     if model.actuator(a).name.startswith(RESERVE_PREFIX)], int)
