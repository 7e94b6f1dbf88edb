"""Classical inverse dynamics in MuJoCo with measured ground reactions (force plates).

Equation of motion of the model (free pelvis root + hinges)::

    M(q) qdd + c(q, qd) = S^T tau + sum_feet J_foot^T w_foot + [residual; 0]

``mj_inverse`` gives the left-hand side (``qfrc_inverse``); the measured loads ``w_foot`` (force at
the centre of pressure on ``calcn_r``/``calcn_l`` plus the free moment, OpenSim ground converted to
the MuJoCo world) enter through ``J^T w`` (``mj_applyFT``). What is left on the six root rows is
the pelvis residual: the wrench that the loads cannot explain. Its MuJoCo free-joint components are
a world-frame force at the pelvis origin (linear dofs) and a PELVIS-frame moment (angular dofs);
``root_wrench_world`` rotates the moment to the world. The hinge rows are the joint torques.

Coupled joints (``kintwin.models.coupling``; e.g. the imported gait2392/Hamner knee's tibia
translations, quartics of the knee angle): their rows are folded into their master coordinate by
virtual work (``coordinate_forces``), ``tau_knee = tau_hinge + sum_i p_i'(q) F_slide_i``, the
generalized force of the OpenSim coordinate; they never appear as torques of their own. The
kinematics (``Motion.to_qpos``/``velocities``) move them with their master, so the equality
constraints hold exactly and need not be enforced here.

Choices made explicit here (see ``id_model``):

* Armature: ``build.py`` adds an armature (rotor inertia, kg*m^2) to every hinge for simulation
  stability. It is not anatomical, so the ID model sets ``dof_armature`` to ZERO (``keep_armature``
  keeps it, e.g. to check against a simulation of the armatured model).
* Joint limits, contacts and passive forces: ID must not include them. The ID model disables
  constraints (limits, contacts, friction loss, equalities), springs and dampers, so
  ``qfrc_inverse = M qdd + c`` exactly (checked in the tests against ``mj_fullM``/``mj_rne``).
* Filtering: kinematics are low-passed (zero-lag Butterworth, default 6 Hz as OpenSim's ID tool)
  before differentiation; the ground reactions are low-passed at the same cutoff, as force and
  moment about the ground origin (not the COP, which is undefined at zero load), then the COP is
  recomputed on the floor plane.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import mujoco
import numpy as np

from ..models import coupling
from ..models.build import GRAVITY
from ..motion import frames
from ..motion.filtering import lowpass
from ..motion.grf import DEFAULT_BODIES, SIDES, GroundReactions
from ..motion.motion import Motion

DEFAULT_CUTOFF_HZ = 6.0
_DISABLE = (mujoco.mjtDisableBit.mjDSBL_CONSTRAINT | mujoco.mjtDisableBit.mjDSBL_SPRING
            | mujoco.mjtDisableBit.mjDSBL_DAMPER)


# --- the model used for inverse dynamics -------------------------------------------------------
def id_model(model: mujoco.MjModel, keep_armature: bool = False) -> mujoco.MjModel:
    """A copy of ``model`` for inverse dynamics: no armature (unless kept), no constraints
    (joint limits, contacts), no springs or dampers."""
    m = copy.deepcopy(model)
    if not keep_armature:
        m.dof_armature[:] = 0.0
    m.opt.disableflags |= int(_DISABLE)
    return m


def hinge_dofs(model: mujoco.MjModel) -> tuple[list[str], np.ndarray]:
    """Names and dof indices of every coordinate joint (hinges and slides that are not coupled to
    another joint), in model order: the order of the torque motors built by ``build.py``."""
    names, joints = coupling.coordinate_joints(model)
    return names, np.asarray([model.jnt_dofadr[j] for j in joints], int)


def coordinate_forces(model: mujoco.MjModel, qpos, net: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Joint generalized forces (T, n) of the coordinates ``names`` from the full (T, nv) balance
    ``net``: coupled joints' rows are folded into their masters (virtual work, see the module
    docstring). The one place where inverse dynamics and contact estimation report torques."""
    names, dofs = hinge_dofs(model)
    folded = coupling.fold_forces(model, np.atleast_2d(qpos), net) if model.neq else net
    return names, folded[:, dofs]


def _root_body(model: mujoco.MjModel) -> int:
    for j in range(model.njnt):
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
            if model.jnt_dofadr[j] != 0:
                raise ValueError("the free root joint must own dofs 0..5")
            return int(model.jnt_bodyid[j])
    raise ValueError("model has no free root joint")


def root_rotation(qpos: np.ndarray) -> np.ndarray:
    """(T, 3, 3) pelvis-to-world rotation matrices from the free-joint quaternions qpos[:, 3:7]."""
    q = np.asarray(qpos)[:, 3:7]
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)


def root_wrench_world(qpos: np.ndarray, qfrc_root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Free-joint generalized force (T, 6) -> world force (T, 3) N and world moment (T, 3) N*m
    about the pelvis origin. MuJoCo's linear root dofs are world-frame, the angular ones are
    pelvis-frame, so the moment is rotated by the pelvis orientation."""
    R = root_rotation(qpos)
    return qfrc_root[:, 0:3].copy(), np.einsum("tij,tj->ti", R, qfrc_root[:, 3:6])


# --- per-frame dynamics ------------------------------------------------------------------------
def inverse_generalized_forces(model: mujoco.MjModel, qpos, qvel, qacc) -> np.ndarray:
    """(T, nv) ``M(q) qdd + c(q, qd)`` from ``mj_inverse`` (pass an ``id_model``)."""
    if not model.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_CONSTRAINT:
        raise ValueError("use id_model(model): constraints (joint limits, contacts) must be "
                         "disabled for inverse dynamics")
    data = mujoco.MjData(model)
    out = np.empty((len(qpos), model.nv))
    for t in range(len(qpos)):
        data.qpos[:], data.qvel[:], data.qacc[:] = qpos[t], qvel[t], qacc[t]
        mujoco.mj_inverse(model, data)
        out[t] = data.qfrc_inverse
    return out


@dataclass
class FootLoad:
    """A measured load on one body, in the MuJoCo world frame: ``force`` (T, 3) N applied at
    ``point`` (T, 3) m plus a pure moment ``torque`` (T, 3) N*m."""

    body: str
    force: np.ndarray
    point: np.ndarray
    torque: np.ndarray


def loads_generalized_forces(model: mujoco.MjModel, qpos, loads: list[FootLoad]) -> np.ndarray:
    """(T, nv) generalized forces ``sum J^T w`` of the loads at each frame."""
    data = mujoco.MjData(model)
    out = np.zeros((len(qpos), model.nv))
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, ld.body) for ld in loads]
    for ld, b in zip(loads, ids):
        if b < 0:
            raise ValueError(f"load applied to unknown body {ld.body!r}")
    for t in range(len(qpos)):
        data.qpos[:] = qpos[t]
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        for ld, b in zip(loads, ids):
            mujoco.mj_applyFT(model, data, ld.force[t], ld.torque[t], ld.point[t], b, out[t])
    return out


@dataclass
class IDSolution:
    """Raw inverse-dynamics result, MuJoCo world frame.

    ``tau`` (T, n) generalized forces of the hinge coordinates ``names`` (N*m; coupled joints
    folded into their masters); ``residual_force``
    and ``residual_moment`` (T, 3): the pelvis residual wrench (world frame, about the pelvis
    origin); ``qfrc_inverse`` and ``qfrc_loads`` (T, nv) the two sides of the balance.
    """

    names: list[str]
    tau: np.ndarray
    residual_force: np.ndarray
    residual_moment: np.ndarray
    qfrc_inverse: np.ndarray
    qfrc_loads: np.ndarray


def solve_inverse_dynamics(model: mujoco.MjModel, qpos, qvel, qacc, loads: list[FootLoad],
                           keep_armature: bool = False) -> IDSolution:
    """Joint torques and pelvis residual for given states and measured loads (MuJoCo world)."""
    m = id_model(model, keep_armature=keep_armature)
    qpos, qvel, qacc = (np.atleast_2d(np.asarray(a, float)) for a in (qpos, qvel, qacc))
    qfrc = inverse_generalized_forces(m, qpos, qvel, qacc)
    qext = loads_generalized_forces(m, qpos, loads)
    net = qfrc - qext
    names, tau = coordinate_forces(m, qpos, net)
    rf, rm = root_wrench_world(qpos, net[:, :6])
    return IDSolution(names=names, tau=tau, residual_force=rf, residual_moment=rm,
                      qfrc_inverse=qfrc, qfrc_loads=qext)


# --- ground reactions: frames, filtering, COP --------------------------------------------------
def wrench_about_origin(grf: GroundReactions, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Force (T, 3) and moment about the ground origin (T, 3) of one foot (same frame as grf)."""
    f = grf.force_n[side]
    return f, np.cross(grf.cop_m[side], f) + grf.torque_nm[side]


def cop_on_plane(force: np.ndarray, moment_origin: np.ndarray, floor_y,
                 min_vertical_n: float = 10.0, fallback: np.ndarray | None = None):
    """Centre of pressure on the plane y = ``floor_y`` and vertical free moment (OpenSim ground)
    for a force and its moment about the origin. Where |Fy| <= ``min_vertical_n`` the COP is
    ``fallback`` (default zeros) and the torque is the whole moment about that point."""
    T = len(force)
    h = np.broadcast_to(np.asarray(floor_y, float), (T,))
    F, M = force, moment_origin
    ok = np.abs(F[:, 1]) > min_vertical_n
    fy = np.where(ok, F[:, 1], 1.0)
    cop = np.zeros((T, 3)) if fallback is None else np.array(fallback, float)
    cop[ok, 0] = ((M[:, 2] + h * F[:, 0]) / fy)[ok]
    cop[ok, 1] = h[ok]
    cop[ok, 2] = ((h * F[:, 2] - M[:, 0]) / fy)[ok]
    torque = M - np.cross(cop, F)
    torque[ok, 0] = 0.0
    torque[ok, 2] = 0.0
    return cop, torque


def condition_grf(grf: GroundReactions, cutoff_hz: float | None, time_s: np.ndarray | None = None,
                  order: int = 4, min_vertical_n: float = 10.0) -> GroundReactions:
    """Low-pass and/or resample ground reactions, keeping each wrench consistent.

    Each foot's force and moment about the ground origin are filtered (zero-lag Butterworth at
    ``cutoff_hz``; None or <= 0: no filter) and interpolated linearly at ``time_s`` (default: the
    original times); the COP is then recomputed on the plane of the loaded COPs (|Fy| above
    ``min_vertical_n``). Below that load the foot's force and torque are set to exactly zero
    (removing filter ringing) and the COP to zero, as in OpenSim GRF files. Working on the
    wrench avoids the COP's singularity at zero load.
    """
    t = np.asarray(grf.time_s, float)
    out_t = t if time_s is None else np.asarray(time_s, float)
    if out_t[0] < t[0] - 1e-6 or out_t[-1] > t[-1] + 1e-6:
        raise ValueError(f"requested times {out_t[0]:.3f}-{out_t[-1]:.3f} s fall outside the "
                         f"ground reactions {t[0]:.3f}-{t[-1]:.3f} s")
    filt = bool(cutoff_hz) and cutoff_hz > 0
    if filt:
        from ..motion.filtering import lowpass

        rate = float((len(t) - 1) / (t[-1] - t[0]))
    out = GroundReactions(time_s=out_t.copy())
    for s in grf.sides:
        f, m = wrench_about_origin(grf, s)
        loaded = np.abs(f[:, 1]) > min_vertical_n
        floor_y = float(np.median(grf.cop_m[s][loaded, 1])) if loaded.any() else 0.0
        fm = np.hstack([f, m])
        if filt:
            # Time columns are often rounded (0.0017, 0.0033, ...): close enough to a uniform grid,
            # the samples are taken as uniform; otherwise they are interpolated onto one.
            grid = np.linspace(t[0], t[-1], len(t))
            if np.abs(t - grid).max() > 0.25 / rate:
                fm = np.column_stack([np.interp(grid, t, fm[:, k]) for k in range(6)])
            fm = lowpass(fm, rate, cutoff_hz, order=order)
            src_t = grid
        else:
            src_t = t
        if time_s is not None:
            tc = np.clip(out_t, t[0], t[-1])
            fm = np.column_stack([np.interp(tc, src_t, fm[:, k]) for k in range(6)])
        f2, m2 = fm[:, :3], fm[:, 3:]
        cop, tq = cop_on_plane(f2, m2, floor_y, min_vertical_n)
        off = np.abs(f2[:, 1]) <= min_vertical_n
        f2[off] = 0.0
        tq[off] = 0.0
        out.force_n[s], out.cop_m[s], out.torque_nm[s] = f2, cop, tq
    return out


def grf_to_loads(grf: GroundReactions, bodies: dict[str, str] | None = None) -> list[FootLoad]:
    """GroundReactions (OpenSim ground) -> MuJoCo-world ``FootLoad``s on calcn_r / calcn_l."""
    bodies = {**DEFAULT_BODIES, **(bodies or {})}
    return [FootLoad(body=bodies[s], force=frames.osim_to_mujoco_vec(grf.force_n[s]),
                     point=frames.osim_to_mujoco_vec(grf.cop_m[s]),
                     torque=frames.osim_to_mujoco_vec(grf.torque_nm[s]))
            for s in SIDES if s in grf.force_n]


# --- kinematics ---------------------------------------------------------------------------------
@dataclass
class States:
    """Model states along a motion: the (filtered) motion and MuJoCo qpos/qvel/qacc (T, nq/nv)."""

    motion: Motion
    qpos: np.ndarray
    qvel: np.ndarray
    qacc: np.ndarray

    @property
    def time_s(self) -> np.ndarray:
        return self.motion.time_s


#: plates whose best agreement with the body's centre of mass is this far from zero lag (s) ...
MAX_PLATE_LAG_S = 0.02
#: ... where that agreement is good (r) and better than at zero lag by this much
MIN_SYNC_R, MIN_SYNC_GAIN = 0.8, 0.02
#: plates that weigh the subject this far (fraction) from the model's mass, where they agree (r)
MAX_MASS_MISMATCH = 0.15


@dataclass(frozen=True)
class PlateSync:
    """The shift of the plates' time (s; positive: the plates' events come late) at which their
    total vertical force agrees best with the kinematics' m (g + z''_COM), the correlations there
    and at zero shift, the mass the plates weigh at that shift (least squares of their force on
    g + z''_COM, kg) and the model's."""

    lag_s: float
    r: float
    r_at_zero: float
    plate_mass_kg: float
    model_mass_kg: float

    @property
    def off(self) -> bool:
        return (abs(self.lag_s) >= MAX_PLATE_LAG_S and self.r >= MIN_SYNC_R
                and self.r - self.r_at_zero >= MIN_SYNC_GAIN)

    @property
    def mass_off(self) -> bool:
        return self.r >= MIN_SYNC_R and abs(self.plate_mass_kg / self.model_mass_kg - 1) > MAX_MASS_MISMATCH

    def to_dict(self) -> dict:
        return {"lag_ms": round(1000 * self.lag_s, 1), "r": round(self.r, 3),
                "r_at_zero_lag": round(self.r_at_zero, 3), "out_of_sync": self.off,
                "plates_weigh_kg": round(self.plate_mass_kg, 1), "model_mass_kg": round(self.model_mass_kg, 1),
                "mass_mismatch": self.mass_off}


def plate_sync(motion: Motion, model: mujoco.MjModel, grf: GroundReactions, cutoff_hz: float = 8.0,
               max_lag_s: float = 0.15, rate_hz: float = 500.0) -> PlateSync | None:
    """How the plates' clock sits against the kinematics' (``PlateSync``): the total vertical
    force of every foot equals m (g + z''_COM) where the plates see every foot, so the two,
    low-passed alike at ``cutoff_hz``, are cross-correlated over shifts up to ``max_lag_s``.
    None where they overlap too briefly (< 0.5 s besides the shifts). On subject01 and
    hamner_run the best shift is 2 ms (r 0.967, 0.995) and the plates shifted by +50 / -80 ms are
    found at +52 / -78 ms."""
    from ..sim.reference import centre_of_mass

    t0 = max(motion.time_s[0], grf.time_s[0]) + max_lag_s + 0.2
    t1 = min(motion.time_s[-1], grf.time_s[-1]) - max_lag_s - 0.2
    if t1 - t0 < 0.5 or not grf.sides:
        return None
    m = motion.resampled(rate_hz)
    t = m.time_s
    z = centre_of_mass(model, m.to_qpos(model, warn=False))[:, 2]
    acc = np.gradient(np.gradient(lowpass(z, rate_hz, cutoff_hz), t), t)
    mass = float(model.body_mass.sum())
    com_force = mass * (GRAVITY + acc)
    tg = np.arange(grf.time_s[0], grf.time_s[-1], 1.0 / rate_hz)
    plates = lowpass(np.interp(tg, grf.time_s, sum(grf.vertical_n(s) for s in grf.sides)),
                     rate_hz, cutoff_hz)
    inner = (t >= t0) & (t <= t1)
    lags = np.arange(-max_lag_s, max_lag_s + 1e-9, 0.002)
    r = np.array([np.corrcoef(com_force[inner], np.interp(t[inner] + lag, tg, plates))[0, 1]
                  for lag in lags])
    if not np.all(np.isfinite(r)):
        return None
    k = int(np.argmax(r))
    force, accel = np.interp(t[inner] + lags[k], tg, plates), GRAVITY + acc[inner]
    return PlateSync(float(lags[k]), float(r[k]), float(r[np.argmin(np.abs(lags))]),
                     float(force @ accel / (accel @ accel)), mass)


def warn_plate_sync(motion: Motion, model: mujoco.MjModel, grf: GroundReactions, source) -> dict | None:
    """``plate_sync`` as a dict for metrics.json, with a warning when the plates are out of sync
    or weigh the subject more than ``MAX_MASS_MISMATCH`` off the model's mass."""
    sync = plate_sync(motion, model, grf)
    if sync is None:
        return None
    if sync.off:
        warnings.warn(f"{source}: the force plates look {abs(1000 * sync.lag_s):.0f} ms "
                      f"{'late' if sync.lag_s > 0 else 'early'} against the kinematics (their total "
                      f"vertical force agrees with the body's centre of mass at r {sync.r:.2f} when "
                      f"shifted, {sync.r_at_zero:.2f} as they are): check the synchronisation of "
                      "plates and motion capture; kinetics from them are off by that much",
                      stacklevel=2)
    if sync.mass_off:
        warnings.warn(f"{source}: the force plates weigh the subject at {sync.plate_mass_kg:.1f} kg "
                      f"(their force against the body's centre of mass), the model at "
                      f"{sync.model_mass_kg:.1f} kg: check --mass (kinetics in %BW and the twin's "
                      "loads scale with it)", stacklevel=2)
    return sync.to_dict()


def prepare_states(motion: Motion, model: mujoco.MjModel, cutoff_hz: float | None = DEFAULT_CUTOFF_HZ,
                   order: int = 4) -> States:
    """Low-pass the coordinates (zero-lag Butterworth; None/<=0: no filter), then positions and
    spline derivatives. A non-uniformly sampled motion is first resampled at its mean rate."""
    dt = np.diff(motion.time_s)
    if len(dt) and np.ptp(dt) > 1e-6 * dt.mean():
        motion = motion.resampled(motion.rate_hz)
    if cutoff_hz and cutoff_hz > 0:
        motion = motion.filtered(cutoff_hz, order=order)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coordinates absent from the file are held at neutral
        qpos = motion.to_qpos(model)
        qvel, qacc = motion.velocities(model)
    return States(motion=motion, qpos=qpos, qvel=qvel, qacc=qacc)


def inverse_dynamics(motion: Motion, model: mujoco.MjModel, grf: GroundReactions,
                     cutoff_hz: float | None = DEFAULT_CUTOFF_HZ, grf_cutoff_hz: float | None = None,
                     bodies: dict[str, str] | None = None, mass_kg: float | None = None,
                     height_m: float | None = None, keep_armature: bool = False):
    """Classical inverse dynamics of ``motion`` with measured ground reactions.

    Kinematics and GRF are low-passed at ``cutoff_hz`` (the GRF at ``grf_cutoff_hz`` when given),
    the GRF is interpolated at the kinematic frames and applied at the COP on ``calcn_r``/
    ``calcn_l`` with its free moment. Returns ``analysis.results.Results`` (residuals in OpenSim
    ground, about the pelvis origin).
    """
    from ..analysis.results import Results

    states = prepare_states(motion, model, cutoff_hz)
    t = states.time_s
    if t[0] < grf.time_s[0] - 1e-6 or t[-1] > grf.time_s[-1] + 1e-6:
        raise ValueError(f"kinematics span {t[0]:.3f}-{t[-1]:.3f} s but the ground reactions "
                         f"only {grf.time_s[0]:.3f}-{grf.time_s[-1]:.3f} s: trim the motion")
    gc = cutoff_hz if grf_cutoff_hz is None else grf_cutoff_hz
    g = condition_grf(grf, gc, time_s=t)
    sol = solve_inverse_dynamics(model, states.qpos, states.qvel, states.qacc,
                                 grf_to_loads(g, bodies), keep_armature=keep_armature)
    return Results(
        time_s=t, kinematics=states.motion, coordinate_names=sol.names, torque_nm=sol.tau,
        grf=g, residual_force_n=frames.mujoco_to_osim_vec(sol.residual_force),
        residual_moment_nm=frames.mujoco_to_osim_vec(sol.residual_moment),
        mass_kg=float(mass_kg if mass_kg is not None else model.body_mass.sum()),
        height_m=height_m if height_m is not None else motion.subject.height_m,
        method="inverse_dynamics",
        info={"cutoff_hz": cutoff_hz, "grf_cutoff_hz": gc, "armature": "kept" if keep_armature
              else "zero", "grf_source": "force plates"})
