"""Inverse dynamics WITHOUT force plates: ground reactions estimated from the kinematics.

Model (MuJoCo world, Z up)::

    M(q) qdd + c(q, qd) = S^T tau + sum_i J_i^T f_i + [residual; 0]

with f_i the force of the floor on contact point i: the lowest point of each foot contact sphere
(``heel``, ``meta1``, ``meta5``, ``toe`` on each side, see ``models/anthropometry.py``). The joint
torques tau are free, so the hinge rows can always be satisfied; only the six root rows constrain
the contact forces. Per frame, a small quadratic program (solved with DAQP) picks the forces::

    minimise   w_F |r_F / BW|^2 + w_M |r_M / (BW h)|^2            (pelvis residual, heavily weighted)
             + sum_i (eps + p_off (1 - a_i)) |f_i / BW|^2           (small norm; distribution)
             + d sum_i |(I - u_i u_i^T) f_i / BW|^2                 (force points at the COM)
             + s |(f - f_prev) / BW|^2                             (smoothness across frames)
    subject to f_i inside a linearised friction cone (mu, an n_faces-sided inscribed polygon),
               0 <= f_iz <= F_max a_i

where ``[r_F; r_M] = [F_root; M_root] - sum_i [f_i; (p_i - p_pelvis) x f_i]`` is the world-frame
residual wrench about the pelvis origin and ``a_i`` in [0, 1] is the contact availability of the
point: 1 when it is within ``height_on_m`` of the floor and slides slower than ``speed_on_mps``
relative to the ground, falling smoothly (smoothstep) to 0 at ``height_off_m`` / ``speed_off_mps``.
Points with a_i = 0 get no variables. The floor height is estimated as a low percentile of the
per-frame lowest contact point, each point's own ground height (model feet are not the subject's
shod feet) as its low percentile height clipped to 0-3 cm above that floor, and the ground
velocity (treadmill belt) as the median horizontal velocity of the points lying on the floor, so
treadmill trials work without settings.

Why the regularisers: with the residual forced to ~0, single support is fully determined (the six
root equations fix the foot's force, COP and free moment). In double support the split between the
feet is not: the vertical split follows from the COP equations, but equal and opposite horizontal
forces (feet pushing apart) are invisible to the root. ``u_i`` is the unit vector from point i to
the whole-body centre of mass: ground reaction forces point close to the COM in gait, which picks
the braking force on the leading foot and the propulsive force on the trailing one (on subject01
walking it halved the AP force error and cut the sagittal moment RMSE from 0.27 to 0.18 N*m/kg).

The joint torques then follow from the hinge rows: ``tau = (M qdd + c)_hinges - sum_i (J_i^T f_i)_hinges``.
The per-foot resultants are reported like force plates: total force, COP on the floor plane (on
the support under the foot where the feet stand on steps or boxes: ``estimate_contacts`` builds
that support as ``sim/terrain.py`` does for the twin, and each point's height is measured from
it) and the vertical free moment, in OpenSim ground.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace

import mujoco
import numpy as np

from ..models.build import GRAVITY
from ..motion import frames
from ..motion.grf import GroundReactions
from ..motion.motion import Motion
from ..sim.terrain import LEVEL_FLOOR, Terrain, detect_terrain
from .qp import INFINITY, solve_qp
from .inverse_dynamics import (DEFAULT_CUTOFF_HZ, cop_on_plane, coordinate_forces, id_model,
                               inverse_generalized_forces, prepare_states, root_rotation)

CONTACT_POINTS = ("heel", "meta1", "meta5", "toe")


@dataclass
class ContactOptions:
    """Settings of the contact estimator (SI units; forces relative to body weight BW)."""

    mu: float = 0.9  # friction coefficient of the cone
    n_faces: int = 8  # faces of the inscribed friction polygon (4 or 8)
    height_on_m: float = 0.02  # full availability below this height above the floor
    height_off_m: float = 0.05  # none above
    speed_on_mps: float = 0.5  # full availability below this sliding speed (relative to ground)
    speed_off_mps: float = 1.5  # none above (lenient: filtered feet still move at touchdown)
    max_force_bw: float = 3.0  # upper bound of each point's normal force
    residual_force_weight: float = 1e4  # w_F
    residual_moment_weight: float = 1e4  # w_M
    force_regularization: float = 1e-2  # eps
    off_ground_penalty: float = 0.5  # p_off: cost of using a partly available point
    smoothness: float = 0.3  # s
    direction_weight: float = 0.3  # d: penalty on force components not pointing at the COM
    floor_height_m: float | None = None  # MuJoCo world z of the floor; None: estimated
    ground_velocity_mps: tuple[float, float] | None = None  # belt (x, y) world; None: estimated
    floor_percentile: float = 10.0
    max_point_offset_m: float = 0.03  # per-point ground height calibration (0: off)


@dataclass
class ContactPoint:
    side: str
    name: str
    geom: int
    body: int
    radius: float


def contact_points(model: mujoco.MjModel) -> list[ContactPoint]:
    """The foot contact spheres (``heel_r``, ``meta1_r``, ..., ``toe_l``) present in the model."""
    out = []
    for side in ("r", "l"):
        for n in CONTACT_POINTS:
            g = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f"{n}_{side}")
            if g >= 0:
                out.append(ContactPoint(side, f"{n}_{side}", g, int(model.geom_bodyid[g]),
                                        float(model.geom_size[g][0])))
    if not out:
        raise ValueError("model has no foot contact spheres (heel_r, meta1_r, meta5_r, toe_r, ...)")
    return out


def point_kinematics(model: mujoco.MjModel, qpos, qvel, points: list[ContactPoint]):
    """World positions (T, P, 3) of each sphere's lowest point and its velocity (T, P, 3), the
    pelvis origin (T, 3) and the whole-body centre of mass (T, 3)."""
    data = mujoco.MjData(model)
    T, P = len(qpos), len(points)
    pos, vel = np.empty((T, P, 3)), np.empty((T, P, 3))
    root = np.empty((T, 3))
    com = np.empty((T, 3))
    jacp = np.empty((3, model.nv))
    down = np.array([0.0, 0.0, 1.0])
    for t in range(T):
        data.qpos[:] = qpos[t]
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        root[t] = qpos[t, :3]
        com[t] = data.subtree_com[0]
        for i, p in enumerate(points):
            x = data.geom_xpos[p.geom] - p.radius * down
            mujoco.mj_jac(model, data, jacp, None, x, p.body)
            pos[t, i] = x
            vel[t, i] = jacp @ qvel[t]
    return pos, vel, root, com


def estimate_floor(pos: np.ndarray, percentile: float = 10.0) -> float:
    """Floor height: a low percentile of the per-frame lowest contact point (robust to flight
    phases covering less than 1 - percentile of the frames, and to a few low outliers)."""
    return float(np.percentile(pos[:, :, 2].min(axis=1), percentile))


def estimate_point_offsets(pos: np.ndarray, floor: float, percentile: float = 5.0,
                           max_offset_m: float = 0.03) -> np.ndarray:
    """(P,) height of each contact point above the floor when it is on the ground.

    The model's feet are not the subject's (shoe soles, sphere placement, foot IK), so a point
    that carries load may sit a few cm above (or below) the floor in the model. Each point's low
    percentile height over the trial, clipped to [0, ``max_offset_m``] above the floor, is taken as
    its ground height.
    """
    low = np.percentile(pos[:, :, 2], percentile, axis=0) - floor
    return np.clip(low, 0.0, max_offset_m)


def estimate_ground_velocity(pos, vel, floor: float, band_m: float = 0.01) -> np.ndarray:
    """Horizontal ground velocity (x, y): the median velocity of points within ``band_m`` of the
    floor. About zero overground; the belt velocity on a treadmill."""
    low = pos[:, :, 2] < floor + band_m
    if low.sum() < 3:
        return np.zeros(2)
    return np.median(vel[low][:, :2], axis=0)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def availability(pos, vel, floor, ground_vel, opt: ContactOptions, offsets=None) -> np.ndarray:
    """(T, P) contact availability a_i in [0, 1] from height above the floor (less each point's
    ground ``offsets``) and sliding speed relative to the ground."""
    h = pos[..., 2] - floor - (0.0 if offsets is None else np.asarray(offsets)[None, :])
    slide = np.linalg.norm(vel[..., :2] - np.asarray(ground_vel)[None, None, :], axis=-1)
    a_h = _smoothstep((opt.height_off_m - h) / (opt.height_off_m - opt.height_on_m))
    a_v = _smoothstep((opt.speed_off_mps - slide) / (opt.speed_off_mps - opt.speed_on_mps))
    return a_h * a_v


def _cone_rows(mu: float, n_faces: int) -> np.ndarray:
    """(n_faces, 3) rows c with c . f <= 0 for f inside the inscribed friction polygon."""
    if n_faces < 3:
        raise ValueError("the friction polygon needs at least 3 faces")
    th = 2 * np.pi * (np.arange(n_faces) + 0.5) / n_faces
    mu_in = mu * np.cos(np.pi / n_faces)  # inscribed polygon: never exceeds the true cone
    return np.column_stack([np.cos(th), np.sin(th), -mu_in * np.ones(n_faces)])


def _skew(v):
    x, y, z = v
    return np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])


@dataclass
class ContactSolution:
    """Per-frame contact estimate, MuJoCo world frame.

    ``forces`` (T, P, 3) N at ``points_pos`` (T, P, 3); ``availability`` (T, P); ``tau`` (T, n)
    hinge generalized forces of ``names``; residual wrench about the pelvis origin (world).
    """

    points: list[ContactPoint]
    names: list[str]
    forces: np.ndarray
    points_pos: np.ndarray
    availability: np.ndarray
    tau: np.ndarray
    residual_force: np.ndarray
    residual_moment: np.ndarray
    floor_height: float
    ground_velocity: np.ndarray
    #: (T, P) height of the support under each point above the floor (a step, a box; zeros on a
    #: level floor): each foot's centre of pressure lies on it
    support_height: np.ndarray | None = None
    solve_seconds: float = 0.0
    qp_failures: int = 0
    info: dict = field(default_factory=dict)

    def foot_wrench(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Total force (T, 3) and moment about the world origin (T, 3) on one foot (world)."""
        idx = [i for i, p in enumerate(self.points) if p.side == side]
        f = self.forces[:, idx].sum(axis=1)
        m = np.cross(self.points_pos[:, idx], self.forces[:, idx]).sum(axis=1)
        return f, m


def solve_contact_forces(model: mujoco.MjModel, qpos, qvel, qacc,
                         options: ContactOptions | None = None, keep_armature: bool = False,
                         height_m: float | None = None, terrain: Terrain = LEVEL_FLOOR) -> ContactSolution:
    """Estimate contact forces, joint torques and the pelvis residual at each state; each point's
    height is measured from ``terrain``'s support under it (``sim/terrain.py``: the floor, a step,
    a box)."""
    opt = options or ContactOptions()
    qpos, qvel, qacc = (np.atleast_2d(np.asarray(a, float)) for a in (qpos, qvel, qacc))
    t_start = time.perf_counter()
    m = id_model(model, keep_armature=keep_armature)
    T = len(qpos)
    bw = float(model.body_mass.sum()) * GRAVITY
    h = float(height_m) if height_m else 1.0
    points = contact_points(m)
    P = len(points)

    qfrc = inverse_generalized_forces(m, qpos, qvel, qacc)
    pos, vel, root, com = point_kinematics(m, qpos, qvel, points)
    raise_m = terrain.height_at(pos[..., :2]) - terrain.floor_m  # support above the floor
    support = terrain.above(pos)  # heights above what is under them
    floor = opt.floor_height_m if opt.floor_height_m is not None else estimate_floor(
        support, opt.floor_percentile)
    gvel = (np.asarray(opt.ground_velocity_mps, float) if opt.ground_velocity_mps is not None
            else estimate_ground_velocity(support, vel, floor))
    offsets = (estimate_point_offsets(support, floor, max_offset_m=opt.max_point_offset_m)
               if opt.max_point_offset_m > 0 else np.zeros(P))
    avail = availability(support, vel, floor, gvel, opt, offsets)

    R = root_rotation(qpos)
    b = np.hstack([qfrc[:, 0:3] / bw, np.einsum("tij,tj->ti", R, qfrc[:, 3:6]) / (bw * h)])
    wr = np.r_[np.full(3, opt.residual_force_weight), np.full(3, opt.residual_moment_weight)]
    cone = _cone_rows(opt.mu, opt.n_faces)
    nf = len(cone)

    forces = np.zeros((T, P, 3))
    prev = np.zeros((P, 3))
    failures = 0
    for t in range(T):
        act = np.flatnonzero(avail[t] > 1e-3)
        n = len(act)
        if n == 0:
            prev[:] = 0.0
            continue
        A = np.zeros((6, 3 * n))
        for k, i in enumerate(act):
            A[0:3, 3 * k:3 * k + 3] = np.eye(3)
            A[3:6, 3 * k:3 * k + 3] = _skew(pos[t, i] - root[t]) / h
        a = avail[t, act]
        reg = np.repeat(opt.force_regularization + opt.off_ground_penalty * (1 - a), 3)
        WA = A * wr[:, None]
        H = A.T @ WA + np.diag(reg + opt.smoothness)
        if opt.direction_weight > 0:
            for k, i in enumerate(act):
                u = com[t] - pos[t, i]
                u /= np.linalg.norm(u)
                H[3 * k:3 * k + 3, 3 * k:3 * k + 3] += opt.direction_weight * (np.eye(3) - np.outer(u, u))
        H *= 2
        x_prev = prev[act].reshape(-1)
        g = -2 * (WA.T @ b[t] + opt.smoothness * x_prev)
        C = np.zeros((nf * n, 3 * n))
        for k in range(n):
            C[nf * k:nf * (k + 1), 3 * k:3 * k + 3] = cone
        ub = np.full(3 * n, 1e3)
        lb = np.full(3 * n, -1e3)
        ub[2::3] = opt.max_force_bw * a
        lb[2::3] = 0.0
        x, ok = solve_qp(H, g, C, np.full(nf * n, -INFINITY), np.zeros(nf * n),
                         x_lower=lb, x_upper=ub)
        if not ok:
            failures += 1
            x = np.zeros(3 * n)
        xs = x.reshape(n, 3)
        forces[t, act] = xs * bw
        prev[:] = 0.0
        prev[act] = xs

    # joint torques and residual from the chosen forces
    data = mujoco.MjData(m)
    qext = np.zeros((T, m.nv))
    zero = np.zeros(3)
    for t in range(T):
        act = np.flatnonzero(np.abs(forces[t]).sum(axis=1) > 0)
        if not len(act):
            continue
        data.qpos[:] = qpos[t]
        mujoco.mj_kinematics(m, data)
        mujoco.mj_comPos(m, data)
        for i in act:
            mujoco.mj_applyFT(m, data, forces[t, i], zero, pos[t, i], points[i].body, qext[t])
    net = qfrc - qext
    names, tau = coordinate_forces(m, qpos, net)
    rf = net[:, 0:3]
    rm = np.einsum("tij,tj->ti", R, net[:, 3:6])
    if failures:
        warnings.warn(f"contact QP failed in {failures} of {T} frames (forces set to zero there)",
                      stacklevel=2)
    return ContactSolution(points=points, names=names, forces=forces, points_pos=pos,
                           availability=avail, tau=tau, residual_force=rf,
                           residual_moment=rm,
                           floor_height=float(floor) + terrain.floor_m,
                           ground_velocity=np.asarray(gvel, float), support_height=raise_m,
                           solve_seconds=time.perf_counter() - t_start, qp_failures=failures)


def solution_grf(sol: ContactSolution, time_s: np.ndarray, min_vertical_n: float = 10.0) -> GroundReactions:
    """Per-foot ground reactions (OpenSim ground) from the point forces: total force, COP on the
    floor plane and free moment; zero (COP at the origin) below ``min_vertical_n``."""
    g = GroundReactions(time_s=np.asarray(time_s, float).copy())
    for side in ("r", "l"):
        if not any(p.side == side for p in sol.points):
            continue
        f, m = sol.foot_wrench(side)
        f_os, m_os = frames.mujoco_to_osim_vec(f), frames.mujoco_to_osim_vec(m)
        plane = sol.floor_height
        if sol.support_height is not None and sol.support_height.any():  # the foot's support
            idx = [i for i, p in enumerate(sol.points) if p.side == side]
            fz = np.clip(sol.forces[:, idx, 2], 0.0, None)
            plane = plane + (fz * sol.support_height[:, idx]).sum(axis=1) / np.maximum(fz.sum(axis=1), 1e-9)
        cop, tq = cop_on_plane(f_os, m_os, plane, min_vertical_n)
        off = np.abs(f_os[:, 1]) <= min_vertical_n
        f_os = f_os.copy()
        f_os[off] = 0.0
        tq[off] = 0.0
        g.force_n[side], g.cop_m[side], g.torque_nm[side] = f_os, cop, tq
    return g


def estimate_contacts(motion: Motion, model: mujoco.MjModel,
                      cutoff_hz: float | None = DEFAULT_CUTOFF_HZ,
                      options: ContactOptions | None = None, mass_kg: float | None = None,
                      height_m: float | None = None, keep_armature: bool = False):
    """Inverse dynamics of ``motion`` with ground reactions estimated from the kinematics alone.

    Returns ``analysis.results.Results`` (GRF per foot and residuals in OpenSim ground; a trial
    whose capture frame is tilted is levelled first, ``sim/floor.level_floor``, and its results
    are in the levelled frame); the ``info`` holds the tilt, the floor height, ground (belt)
    velocity, speed and solver failures.
    """
    from ..analysis.results import Results

    from ..sim.floor import level_floor
    from ..sim.reference import ground_alignment

    motion, tilt = level_floor(model, motion)  # a tilted capture frame levelled (sim/floor.py)
    states = prepare_states(motion, model, cutoff_hz)
    height = height_m if height_m is not None else motion.subject.height_m
    sol = solve_contact_forces(model, states.qpos, states.qvel, states.qacc, options,
                               keep_armature=keep_armature, height_m=height)
    # support above the floor (sim/terrain.py), found on the trial with its floor at z = 0
    floor, _ = ground_alignment(model, states.qpos, states.motion.rate_hz, toes_set_floor=False)
    aligned = states.qpos.copy()
    aligned[:, 2] -= floor
    terrain = detect_terrain(model, aligned, states.motion.rate_hz, t0_s=float(states.time_s[0]))
    if terrain:
        terrain = terrain.raised(floor).needed(sol, float(model.body_mass.sum()) * GRAVITY, height)
    if terrain:  # heights from the support, whose floor is the alignment's
        sol = solve_contact_forces(model, states.qpos, states.qvel, states.qacc,
                                   replace(options or ContactOptions(), floor_height_m=0.0),
                                   keep_armature=keep_armature, height_m=height, terrain=terrain)
    grf = solution_grf(sol, states.time_s)
    T = len(states.time_s)
    return Results(
        time_s=states.time_s, kinematics=states.motion, coordinate_names=sol.names,
        torque_nm=sol.tau, grf=grf, residual_force_n=frames.mujoco_to_osim_vec(sol.residual_force),
        residual_moment_nm=frames.mujoco_to_osim_vec(sol.residual_moment),
        mass_kg=float(mass_kg if mass_kg is not None else model.body_mass.sum()),
        height_m=height, method="contact_estimation",
        info={"cutoff_hz": cutoff_hz, "armature": "kept" if keep_armature else "zero",
              "grf_source": "estimated from kinematics",
              "floor_height_m": sol.floor_height,
              "terrain_boxes": terrain.to_dict(),
              "floor_tilt": tilt.to_dict(),
              "ground_velocity_mps": sol.ground_velocity.tolist(),
              "frames_per_s": T / max(sol.solve_seconds, 1e-9),
              "qp_failures": sol.qp_failures,
              "options": {k: v for k, v in vars(options or ContactOptions()).items()}})
