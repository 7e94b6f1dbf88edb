"""Whole-body tracking controller: a QP per control step in MuJoCo's own contact model.

At every control step (``control_rate_hz``, default 250 Hz: 2 physics steps of 2 ms; the
muscle-driven twin 125 Hz, ``default_config``) the controller reads the simulation state and
MuJoCo's active constraints (``mj_forward``: the foot contacts, joint limits, the equality
constraints of coupled joints) and solves one QP (DAQP, ``dynamics/qp.py``) over

* the generalized accelerations ``qdd`` (nv), and
* the force ``f_e`` of every active constraint row ``e`` of MuJoCo (the 4 edges of each foot
  sphere's pyramidal friction cone, limit and equality rows), in body weights,

whose applied generalized forces follow from the equation of motion::

    u = M(q) qdd + c(q, qd) - J^T f          (u: joint torques on the hinge rows, the pelvis
                                              residual wrench on the six root rows)

**MuJoCo-consistent contact.** MuJoCo's contacts are soft: an active row's force is
``f_e = (aref_e - J_e qdd) / R_e`` (``efc_aref``, ``efc_R``), zero where the row separates. The QP
keeps each row in the state MuJoCo's last solve found it in:

* rows carrying force ("held"): ``J_e qdd + R_e f_e = aref_e`` with ``f_e >= 0`` (unilateral rows);
  the row can unload to zero but not pull;
* rows MuJoCo found separating ("free"): ``f_e = 0`` and ``J_e qdd >= aref_e``.

So the torques and residual the QP returns, applied in MuJoCo, produce the planned accelerations
and contact forces exactly (up to the state change within the control step): there is no second
contact model to disagree with the simulation. A row changes state through the boundary (a held
row unloads to zero, MuJoCo then finds it separating; a free row touches the floor at zero force,
MuJoCo then makes it active).

**Objective** (all terms quadratic; weights in ``WholeBodyConfig``)::

    w_root  |qdd_root  - qdd_root_des|^2          (m/s^2, rad/s^2)
  + w_joint |qdd_joint - qdd_joint_des|^2         (rad/s^2; w_joint_loose: subtalar and toes;
                                                  w_joint_stance_loose: a foot's ankle while
                                                  its load rises, weight acceptance)
  + w_residual (|F_res / BW|^2 + |M_res / (BW h)|^2)
  + w_contact_prior sum_spheres |F_sphere / BW - F_estimate / BW|^2
  + w_torque_rate |(tau - tau_prev) / peak|^2 + w_torque |tau / peak|^2

with desired accelerations = reference accelerations + critically damped PD feedback
(``qdd_des = qdd_ref + w^2 (q_ref - q) + 2 w (qd_ref - qd)``, ``w = 2 pi f``; joints at
``joint_hz`` (an unloaded foot's ankle, subtalar and toes at ``swing_joint_hz`` when set: DAgger's
teacher), pelvis position and orientation at ``root_hz``; the orientation error is the
rotation vector from the current pelvis frame to the reference one). ``F_estimate`` is the
kinematics-only contact estimate of ``kintwin id`` (``dynamics/contact_estimation.py``) at the same
contact spheres of the same model: it settles how the load splits between the feet in double
support, which the equations of motion leave open. The residual weight makes the pelvis residual
the last resort: the pelvis is moved by the contact forces, and its acceleration errors are paid
for instead. **Constraints**: motor torques within their peak (|tau| <= gear), the constraint rows
above, and zero generalized force on dofs with no motor and no residual (the coupled tibia
translations of imported OpenSim knees).

The torques and the residual are applied as motor controls (``ctrl = tau / gear``, clipped to
[-1, 1]) and held over the control step.

**Muscles** (a model from ``models/muscles.py``: legs and trunk muscle-driven, arms and neck torque
motors, ``reserve_<coordinate>`` motors): the same QP with one more variable per muscle, its mean
activation ``a`` over the coming control step (OpenSim's computed muscle control in one QP: static
optimization on the desired accelerations with the contact forces, activation dynamics respected).
A muscle's force is MuJoCo's ``F = G(l, v) a + B(l)`` (gain: active force-length-velocity x peak
force, negative = tension; bias: passive force), evaluated at the current length and speed, and its
generalized force is ``moment^T F``; so the generalized force still needed from motors and residual
is ``u = M qdd + c - J^T f - moment^T (G a + B)``, linear in ``[qdd, f, a]``. Added terms:
``w_activation |a|^2``, the reserves' own weight ``w_reserve |tau_reserve / 1 N*m|^2`` (reserves:
the last resort after the residual; ``w_reserve_trunk`` on the lumbar coordinates) and
``w_activation_rate |max(0, a - a0)|^2``, a cost on raising an activation (``a0``: the current
one). That term stands in for look-ahead: without it the one-step plan raises activations it
cannot lower in the next step and cancels them with antagonists or reserves. It costs rises
only; a symmetric cost (centred on ``a0``) also held activations up: its decay took
``w_activation_rate / w_activation`` control steps (0.8 s at 200 / 1), and the muscles
co-contracted (subject01: tibialis anterior 0.5-0.6 through stance, mean activation 0.20 against
0.115). The one-sided cost is solved as two QPs (one step of an active set): the first with the
term on every muscle, the second without it on the muscles the first lowered, which are held at
or below ``a0``. Activation dynamics: MuJoCo's first-order muscle
activation (``tau_act (0.5 + 1.5 a)`` rising, ``tau_deact / (0.5 + 1.5 a)`` falling, Euler steps of
the physics) makes the mean activation over the step an affine function of the excitation ``e``:
``a = rho a0 + (1 - rho) e``; ``e`` in [0, 1] bounds ``a``, and the excitation sent to MuJoCo is
the ``e`` that gives the planned ``a``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import mujoco
import numpy as np

from ..dynamics.qp import INFINITY, solve_qp
from ..models.linear_paths import LinearPaths
from ..models.build import GRAVITY
from ..models.muscles import muscle_actuators, reserve_actuators
from ..sim import floor

_EQUALITY = int(mujoco.mjtConstraint.mjCNSTR_EQUALITY)
_SATISFIED = int(mujoco.mjtConstraintState.mjCNSTRSTATE_SATISFIED)
#: the control period ``w_activation_rate`` is given for (s)
RATE_COST_PERIOD_S = 0.004
#: the muscle-driven twin's control rate (Hz): at 250 Hz it ran 0.6-0.9x real time on the Intel VM
#: (two QPs of ~0.9 ms per step); at 125 Hz 1.0-1.1x with the same or better figures on subject01
#: (worst hip/knee/ankle reserve 3.5 against 3.3 %, vertical GRF 8.6 against 10.1 %BW,
#: activations vs SO median r 0.86 against 0.81; BENCHMARKS, issue 18)
MUSCLE_CONTROL_RATE_HZ = 125.0
#: rad: a reference coordinate whose range over the trial is at most this is held, not measured
#: (``WholeBodyConfig.tight_when_moved``)
MOVED_RAD = 0.01


@dataclass(frozen=True)
class WholeBodyConfig:
    """Gains and weights of the whole-body controller (module doc), SI units."""

    control_rate_hz: float = 250.0  #: QP rate; must divide the physics rate
    joint_hz: float = 4.0  #: natural frequency of the joint PD (critically damped)
    root_hz: float = 5.0  #: natural frequency of the pelvis position / orientation PD
    w_root: float = 30.0  #: per (m/s^2)^2 and (rad/s^2)^2 of pelvis acceleration error
    w_joint: float = 0.1  #: per (rad/s^2)^2 of joint acceleration error
    #: the same for ``loose_coordinates`` (both sides): the subtalar and toe joints, which IK
    #: measures worst (gait2354/gait2392 lock them, few marker sets see the toes) and the floor
    #: sets in stance. Tracked as tightly as the others, the QP paid for the load's mediolateral
    #: shift under the foot with the pelvis residual (subject01: residual moment 2.5 -> 1.6 %BW*h,
    #: hip adduction moment RMSE 0.40 / 0.30 -> 0.30 / 0.22 N*m/kg vs OpenSim ID)
    w_joint_loose: float = 0.01
    loose_coordinates: tuple[str, ...] = ("subtalar_angle", "mtp_angle")
    #: of ``loose_coordinates``, those tracked at ``w_joint`` after all on a side whose reference
    #: moves them (range over the trial > ``MOVED_RAD``; IK that locks a coordinate holds it
    #: constant). For DAgger's teacher, whose labels then carry the feedback a policy needs to
    #: hold them (``learn/distill.TEACHER_TIGHT_WHEN_MOVED``, where it is measured)
    tight_when_moved: tuple[str, ...] = ()
    #: weight acceptance: while a foot's load in the kinematics-only estimate is at least
    #: ``stance_loose_load_bw`` body weights and still rising ``stance_loose_lookahead_s`` later,
    #: its ``stance_loose_coordinates`` are tracked at ``w_joint_stance_loose``: the floor, not
    #: the IK's foot angle, sets the orientation of a foot being loaded. Tracked tightly, the
    #: ankle held a running stance foot at the IK's angle, whose sole then rose off the floor
    #: while the estimate put 2 BW on it (hamner_run over 10 depth jitters: vertical GRF 43.6 ->
    #: 26.4 %BW, residual 15.4 -> 10.9 %BW); over the whole stance, walking's heel rise went
    #: early (subject01 toe-off 31 ms earlier). BENCHMARKS, issue 15.
    stance_loose_coordinates: tuple[str, ...] = ("ankle_angle",)
    w_joint_stance_loose: float = 1e-3  #: per (rad/s^2)^2, as w_joint
    stance_loose_load_bw: float = 0.5  #: body weights
    stance_loose_lookahead_s: float = 0.04  #: s
    #: natural frequency (Hz) of the PD of a foot's ``swing_coordinates`` while the
    #: kinematics-only estimate puts no load on it (< 1 %BW); None: ``joint_hz``. For DAgger's
    #: teacher, whose labels then carry the swing foot's feedback
    swing_joint_hz: float | None = None
    swing_coordinates: tuple[str, ...] = ("ankle_angle", "subtalar_angle", "mtp_angle")
    w_residual: float = 1e4  #: per (residual force / BW)^2
    w_residual_moment: float = 1e4  #: per (residual moment / (BW h))^2
    w_contact_prior: float = 1000.0  #: per (sphere force deviation / BW)^2
    #: per (torque change / peak torque)^2. Next to the tracking terms it barely acts: the
    #: sample walk's mean |torque change| per control step is 1.28 N*m at 1e-3 and at 1, 1.21 at
    #: 100; raising it to 1e2-1e4 did not lower subject01's moment error (0.200 -> 0.201-0.225
    #: N*m/kg: the heel-strike transients are forced by the contact, not by the QP's choice)
    w_torque_rate: float = 1e-3
    w_torque: float = 1e-4  #: per (torque / peak torque)^2
    w_force: float = 1e-4  #: per (constraint row force / BW)^2 (keeps the QP strictly convex)
    w_activation: float = 1.0  #: per activation^2, each muscle (muscle models)
    #: per (reserve torque / 1 N*m)^2 (muscle models' reserve_* motors). Weighed against the rate
    #: term: a leg muscle gives ~40 N*m per unit activation (1000 N at 4 cm), so 1 N*m more from
    #: one muscle within a step costs w_activation_rate (1/40)^2 = 0.125: a reserve is not the
    #: cheaper way to follow a rise of the moment. At 1e-2 it was (subject01, gait2392 muscles:
    #: hip and knee reserves 8.7-11.3 % of the joint moments; BENCHMARKS, issue 18)
    w_reserve: float = 0.1
    #: the same for ``trunk_coordinates``: gait2392's trunk is three lumped muscle pairs for three
    #: lumbar dofs, which make a pure bending or rotation moment only by co-contracting (a
    #: standing arm swing at 0.1: erector spinae and obliques 0.4-0.6 active throughout)
    w_reserve_trunk: float = 1e-2
    trunk_coordinates: tuple[str, ...] = ("lumbar_extension", "lumbar_bending", "lumbar_rotation")
    #: per (rad/s^2)^2, as w_joint, for ``trunk_coordinates``; None: ``w_joint``. For DAgger's
    #: teacher (``learn/distill.py``), whose labels then hold a student's trunk on the reference
    w_joint_trunk: float | None = None
    #: per (mean activation - current activation)^2 of a rise, each muscle, per 4 ms control step
    #: (module doc); scaled by the control period (x 4 ms / period) so that a rise at a given
    #: speed costs the same per second at any control rate
    w_activation_rate: float = 200.0
    cutoff_hz: float | None = 6.0  #: low-pass of the reference kinematics (as ``kintwin id``)

    def __post_init__(self):
        for name in ("loose_coordinates", "tight_when_moved", "stance_loose_coordinates",
                     "trunk_coordinates", "swing_coordinates"):  # JSON: lists
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("control_rate_hz", "joint_hz", "root_hz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"WholeBodyConfig.{name} must be > 0")
        if self.cutoff_hz is not None and self.cutoff_hz <= 0:
            raise ValueError("WholeBodyConfig.cutoff_hz must be > 0 (or None: no filter)")


@dataclass
class ControlReference:
    """The reference at the physics rate: ``qpos`` (T, nq), ``qvel`` and ``qacc`` (T, nv); contact
    prior ``sphere_force_n`` (Tc, S, 3) world N at ``prior_index`` (T,) -> row of it, for the
    sphere geoms ``sphere_geoms`` (S,); ``feedforward_ctrl`` (Tc, nu) the controls of the same
    kinematics-only inverse dynamics (motor torque / peak, residual wrench / gear; muscle
    activations of its static optimization), which a policy distilled from the controller acts
    around."""

    qpos: np.ndarray
    qvel: np.ndarray
    qacc: np.ndarray
    sphere_geoms: list[int]
    sphere_force_n: np.ndarray
    prior_index: np.ndarray
    feedforward_ctrl: np.ndarray | None = None
    #: a muscle model's paths, written into its fixed tendons before every control step by
    #: whatever steps the model (``models/linear_paths.py``); None for the torque model
    paths: LinearPaths | None = None

    def sphere_sides(self, model: mujoco.MjModel) -> np.ndarray:
        """(S,) the foot of each prior sphere of ``model``: 0 right, 1 left."""
        ids, _, side = floor.contact_spheres(model)
        return np.asarray(side)[[list(ids).index(g) for g in self.sphere_geoms]]

    def foot_load_n(self, model: mujoco.MjModel) -> np.ndarray:
        """(Tc, 2) the prior's vertical force on each foot (right, left), N, per prior row."""
        fz, sides = np.maximum(self.sphere_force_n[..., 2], 0.0), self.sphere_sides(model)
        return np.stack([(fz * (sides == s)).sum(axis=1) for s in (0, 1)], axis=1)

    def refresh_paths(self, data: mujoco.MjData, substeps: int) -> None:
        """Linearise the muscle paths (into ``paths.model``, the model stepped) over the coming
        control step of ``substeps`` physics steps (no-op without ``paths``)."""
        if self.paths is not None:
            self.paths.refresh(data.qpos, data.qvel, 0.5 * substeps * self.paths.model.opt.timestep)


def default_config(muscles: bool = False) -> WholeBodyConfig:
    """The controller's default settings; for the muscle-driven twin at ``MUSCLE_CONTROL_RATE_HZ``."""
    return WholeBodyConfig(control_rate_hz=MUSCLE_CONTROL_RATE_HZ) if muscles else WholeBodyConfig()


class WholeBodyController:
    """Computes the controls of ``model`` (motors, then pelvis residuals) at a state (module doc)."""

    def __init__(self, model: mujoco.MjModel, reference: ControlReference, height_m: float,
                 config: WholeBodyConfig | None = None):
        self.model = model
        self.ref = reference
        self.config = cfg = config or WholeBodyConfig()
        steps = 1.0 / (cfg.control_rate_hz * model.opt.timestep)
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            raise ValueError(f"control rate {cfg.control_rate_hz:g} Hz must divide the physics rate "
                             f"{1 / model.opt.timestep:g} Hz")
        self.substeps = int(round(steps))
        self.w_rate = cfg.w_activation_rate * RATE_COST_PERIOD_S * cfg.control_rate_hz
        nv, nu = model.nv, model.nu
        trn = model.actuator_trntype
        self.motors = np.flatnonzero(trn == mujoco.mjtTrn.mjTRN_JOINT)
        self.motor_dofs = model.jnt_dofadr[model.actuator_trnid[self.motors, 0]]
        self.peak = model.actuator_gear[self.motors, 0].copy()
        self.residuals = np.flatnonzero(trn == mujoco.mjtTrn.mjTRN_SITE)
        if len(self.residuals) != 6:
            raise ValueError("the controller needs the model's six pelvis residual actuators")
        self.residual_gear = np.abs(model.actuator_gear[self.residuals]).max(axis=1)
        reserve = np.isin(self.motors, reserve_actuators(model))
        trunk = np.isin([model.joint(j).name for j in model.actuator_trnid[self.motors, 0]],
                        cfg.trunk_coordinates)
        #: weight of each motor's (tau / peak)^2: torque motors w_torque, reserves w_reserve (or
        #: w_reserve_trunk) per N*m^2
        self.torque_weight = np.where(reserve, np.where(trunk, cfg.w_reserve_trunk, cfg.w_reserve)
                                      * self.peak ** 2, cfg.w_torque)
        self.muscles = muscle_actuators(model)
        self.activation = MuscleActivation(model, self.muscles, self.substeps)
        driven = np.zeros(nv, bool)
        driven[:6] = True
        driven[self.motor_dofs] = True
        self.passive_dofs = np.flatnonzero(~driven)  # e.g. coupled knee translations
        self.bw = float(model.body_mass.sum()) * GRAVITY
        self.res_scale = np.r_[np.full(3, np.sqrt(cfg.w_residual) / self.bw),
                               np.full(3, np.sqrt(cfg.w_residual_moment) / (self.bw * height_m))]
        self.acc_weight = np.r_[np.full(6, cfg.w_root), np.full(nv - 6, cfg.w_joint)]
        #: per foot (right, left): the dofs tracked at w_joint_stance_loose while it is being loaded
        self.stance_loose_dofs: list[list[int]] = [[], []]
        #: per foot: its swing_coordinates' indices among the joint dofs (qvel[6:])
        self.swing_joints: list[list[int]] = [[], []]
        for j in range(model.njnt):
            name = model.joint(j).name
            if name in cfg.trunk_coordinates and cfg.w_joint_trunk is not None:
                self.acc_weight[model.jnt_dofadr[j]] = cfg.w_joint_trunk
            if name[-2:] not in ("_r", "_l"):
                continue
            coord = name[:-2]
            tight = (coord in cfg.tight_when_moved
                     and np.ptp(reference.qpos[:, model.jnt_qposadr[j]]) > MOVED_RAD)
            if coord in cfg.loose_coordinates and not tight:
                self.acc_weight[model.jnt_dofadr[j]] = cfg.w_joint_loose
            if coord in cfg.stance_loose_coordinates:
                self.stance_loose_dofs[("_r", "_l").index(name[-2:])].append(int(model.jnt_dofadr[j]))
            if coord in cfg.swing_coordinates:
                self.swing_joints[("_r", "_l").index(name[-2:])].append(int(model.jnt_dofadr[j]) - 6)
        self.sphere_of_geom = {g: k for k, g in enumerate(reference.sphere_geoms)}
        load_bw = reference.foot_load_n(model)[reference.prior_index] / self.bw  # (T, 2) per foot
        self.accepting = self._weight_acceptance(load_bw, model.opt.timestep)
        self.swinging = load_bw < 0.01  # (T, 2): the feet tracked at swing_joint_hz
        self.w_joint_pd = np.full(nv - 6, 2 * np.pi * cfg.joint_hz)  #: rad/s per joint dof
        self._M = np.zeros((nv, nv))
        self._moment = np.zeros((nu, nv))
        self.tau_prev: np.ndarray | None = None
        self.failures = 0
        self.ctrl = np.zeros(nu)
        self.planned_qacc = np.zeros(nv)  #: the accelerations of the last solved plan
        self.planned_activation = np.zeros(len(self.muscles))  #: mean activations of that plan

    def _weight_acceptance(self, load: np.ndarray, timestep: float) -> np.ndarray:
        """(T, 2) bool per physics frame and foot (right, left) of the estimate's ``load`` (T, 2)
        on each foot (body weights): at least ``stance_loose_load_bw`` and no lower
        ``stance_loose_lookahead_s`` later."""
        cfg = self.config
        ahead = int(round(cfg.stance_loose_lookahead_s / timestep))
        later = load[np.minimum(np.arange(len(load)) + ahead, len(load) - 1)]
        return (load >= cfg.stance_loose_load_bw) & (later >= load)

    def desired_acceleration(self, data: mujoco.MjData, i: int) -> np.ndarray:
        """Reference acceleration (middle of the coming control step) + PD feedback, (nv,)."""
        r, cfg = self.ref, self.config
        q, v = data.qpos, data.qvel
        T = len(r.qpos)
        qdd = r.qacc[min(i + self.substeps // 2, T - 1)].copy()
        wr = 2 * np.pi * cfg.root_hz
        wj = self.w_joint_pd
        feet = () if cfg.swing_joint_hz is None else np.flatnonzero(self.swinging[min(i, T - 1)])
        if len(feet):
            wj = wj.copy()
            for s in feet:
                wj[self.swing_joints[s]] = 2 * np.pi * cfg.swing_joint_hz
        qdd[6:] += wj * wj * (r.qpos[i, 7:] - q[7:]) + 2 * wj * (r.qvel[i, 6:] - v[6:])
        qdd[0:3] += wr * wr * (r.qpos[i, 0:3] - q[0:3]) + 2 * wr * (r.qvel[i, 0:3] - v[0:3])
        conj, rel, rotvec, mat = np.empty(4), np.empty(4), np.empty(3), np.empty(9)
        mujoco.mju_negQuat(conj, q[3:7])
        mujoco.mju_mulQuat(rel, conj, r.qpos[i, 3:7])  # current pelvis -> reference pelvis
        mujoco.mju_quat2Vel(rotvec, rel, 1.0)  # its rotation vector, in the pelvis frame
        mujoco.mju_quat2Mat(mat, rel)
        qdd[3:6] += wr * wr * rotvec + 2 * wr * (mat.reshape(3, 3) @ r.qvel[i, 3:6] - v[3:6])
        return qdd

    @contextmanager
    def state_kept(self):
        """Calls inside leave the controller's memory as it was (its last torques and controls,
        its plan, the failure count): to label states it does not go on from (DAgger's
        perturbed copies)."""
        saved = self.tau_prev, self.ctrl, self.planned_qacc, self.planned_activation, self.failures
        try:
            yield
        finally:
            self.tau_prev, self.ctrl, self.planned_qacc, self.planned_activation, self.failures = saved

    def __call__(self, data: mujoco.MjData, i: int) -> np.ndarray:
        """Controls (nu,) for the control step starting at reference frame ``i`` (physics steps
        from the start); ``data`` holds the current state (``mj_forward`` is called here)."""
        m, cfg, bw = self.model, self.config, self.bw
        nv = m.nv
        mujoco.mj_forward(m, data)
        qdd_des = self.desired_acceleration(data, i)
        M = self._M
        mujoco.mj_fullM(m, data, M)
        h = data.qfrc_bias.copy()
        nefc = data.nefc
        J = data.efc_J.reshape(nefc, nv) if nefc else np.zeros((0, nv))
        free = data.efc_state[:nefc] == _SATISFIED
        unilateral = data.efc_type[:nefc] != _EQUALITY
        free &= unilateral
        for c in range(data.ncon):  # a contact is free when all its rows are (as one constraint)
            r0, dim = data.contact[c].efc_address, data.contact[c].dim
            if r0 >= 0 and dim == 3:
                free[r0:r0 + 4] = free[r0:r0 + 4].all()
        held = np.flatnonzero(~free)
        ne, nm = len(held), len(self.muscles)
        first = self.tau_prev is None or data.time == 0.0  # a fresh simulation
        if first:
            self.tau_prev = None  # no torque-rate term against another run's torques
        nx = nv + ne + nm
        # u = A x + h, x = [qdd, f / BW, a]: the generalized force motors and residual must add
        A = np.hstack([M, -J[held].T * bw, np.zeros((nv, nm))])
        if nm:
            mujoco.mju_sparse2dense(self._moment, data.actuator_moment, data.moment_rownnz,
                                    data.moment_rowadr, data.moment_colind)
            R = self._moment[self.muscles].T  # (nv, nm): generalized force per unit muscle force
            gain, bias, dgain = self.activation.force_terms(data)
            a0 = data.act[self.activation.actadr]
            A[:, nv + ne:] = -R * gain
            A[:, :nv] -= (R * (a0 * dgain * self.activation.t_mean)) @ R.T  # force-velocity
            h -= R @ bias

        H = np.zeros((nx, nx))
        g = np.zeros(nx)
        W = self.acc_weight
        accepting = self.accepting[min(i, len(self.accepting) - 1)]
        if accepting.any():
            W = W.copy()
            for s in np.flatnonzero(accepting):
                W[self.stance_loose_dofs[s]] = cfg.w_joint_stance_loose
        H[:nv, :nv] += np.diag(W)
        g[:nv] -= W * qdd_des
        Ar = A[:6] * self.res_scale[:, None]
        H += Ar.T @ Ar
        g += Ar.T @ (h[:6] * self.res_scale)
        At = A[self.motor_dofs] / self.peak[:, None]
        bt = h[self.motor_dofs] / self.peak
        Wt = self.torque_weight[:, None]
        H += At.T @ (Wt * At)
        g += At.T @ (self.torque_weight * bt)
        if self.tau_prev is not None:
            H += cfg.w_torque_rate * At.T @ At
            g += cfg.w_torque_rate * At.T @ (bt - self.tau_prev / self.peak)
        H[nv:nv + ne, nv:nv + ne] += cfg.w_force * np.eye(ne)
        a0 = data.act[self.activation.actadr]
        H[nv + ne:, nv + ne:] += (cfg.w_activation + self.w_rate) * np.eye(nm)
        g[nv + ne:] -= self.w_rate * a0
        self._contact_prior(data, held, H, g, i)

        rows, lo, up, eq = [At], [-1 - bt], [1 - bt], [np.zeros(len(bt), bool)]
        if len(self.passive_dofs):
            rows.append(A[self.passive_dofs])
            lo.append(-h[self.passive_dofs])
            up.append(-h[self.passive_dofs])
            eq.append(np.ones(len(self.passive_dofs), bool))
        x_lo, x_up = np.full(nx, -INFINITY), np.full(nx, INFINITY)
        if ne:
            aref, Rc = data.efc_aref[held], data.efc_R[held]
            rows.append(np.hstack([J[held], np.diag(Rc * bw), np.zeros((ne, nm))]))
            lo.append(aref)
            up.append(aref)
            eq.append(np.ones(ne, bool))
            x_lo[nv:nv + ne] = np.where(unilateral[held], 0.0, -INFINITY)
        fr = np.flatnonzero(free)
        if len(fr):
            rows.append(np.hstack([J[fr], np.zeros((len(fr), ne + nm))]))
            lo.append(data.efc_aref[fr])
            up.append(np.full(len(fr), INFINITY))
            eq.append(np.zeros(len(fr), bool))
        if nm:  # the first step starts the muscles in the activation state its plan needs
            x_lo[nv + ne:], x_up[nv + ne:] = ((np.zeros(nm), np.ones(nm)) if first
                                              else self.activation.bounds(data))
        C, lo, up, eq = np.vstack(rows), np.concatenate(lo), np.concatenate(up), np.concatenate(eq)
        x, ok = solve_qp(H, g, C, lo, up, eq, x_lo, x_up)
        fall = np.flatnonzero(x[nv + ne:] < a0) if ok else []
        if len(fall):  # no rate cost on the muscles this plan lowers, held at or below a0
            k = nv + ne + fall
            H[k, k] -= self.w_rate
            g[k] += self.w_rate * a0[fall]
            x_up[k] = np.minimum(x_up[k], a0[fall])
            x, ok = solve_qp(H, g, C, lo, up, eq, x_lo, x_up)
        if not ok:  # keep the previous controls for this step
            self.failures += 1
            return self.ctrl
        self.planned_qacc = x[:nv]
        u = A @ x + h
        tau = np.clip(u[self.motor_dofs], -self.peak, self.peak)
        self.tau_prev = tau
        moment = np.empty(3)  # residual: world force and world moment at the pelvis
        mujoco.mju_rotVecQuat(moment, u[3:6], data.qpos[3:7])
        wrench = np.r_[u[0:3], moment]
        ctrl = np.zeros(m.nu)
        ctrl[self.motors] = tau / self.peak
        ctrl[self.residuals] = np.clip(wrench / self.residual_gear, -1.0, 1.0)
        if nm:
            self.planned_activation = np.clip(x[nv + ne:], 0.0, 1.0)  # QP round-off
            if first:
                data.act[self.activation.actadr] = self.planned_activation
            ctrl[self.muscles] = self.activation.excitation(data, self.planned_activation)
        self.ctrl = ctrl
        return ctrl

    def _contact_prior(self, data, held, H, g, i) -> None:
        """Add w |F_sphere/BW - F_estimate/BW|^2 for each foot sphere with held rows."""
        nv = self.model.nv
        est = self.ref.sphere_force_n[self.ref.prior_index[min(i, len(self.ref.prior_index) - 1)]]
        rows_of: dict[int, list[int]] = {}
        dirs = np.zeros((len(held), 3))
        pos = {r: j for j, r in enumerate(held)}
        for c in range(data.ncon):
            con = data.contact[c]
            r0 = con.efc_address
            if r0 < 0 or r0 not in pos or con.dim != 3:
                continue
            k = self.sphere_of_geom.get(con.geom2, self.sphere_of_geom.get(con.geom1))
            if k is None:
                continue
            fr = con.frame.reshape(3, 3)
            mu = con.friction[0]
            # world direction of each pyramid edge's force (normal +- mu tangent)
            edges = (fr[0] + mu * fr[1], fr[0] - mu * fr[1], fr[0] + mu * fr[2], fr[0] - mu * fr[2])
            for e in range(4):
                if r0 + e in pos:
                    j = pos[r0 + e]
                    rows_of.setdefault(k, []).append(j)
                    dirs[j] = edges[e]
        w = self.config.w_contact_prior
        for k, js in rows_of.items():
            D = np.zeros((3, H.shape[0]))
            D[:, nv + np.asarray(js)] = dirs[js].T
            H += w * D.T @ D
            g -= w * D.T @ (est[k] / self.bw)


class MuscleActivation:
    """Force and activation dynamics of a model's muscles as the controller sees them (module doc)."""

    def __init__(self, model: mujoco.MjModel, muscles: np.ndarray, substeps: int):
        self.model, self.muscles = model, muscles
        self.actadr = model.actuator_actadr[muscles]
        self.tau_act, self.tau_deact = (model.actuator_dynprm[muscles, k].copy() for k in (0, 1))
        first = model.actuator_actearly[muscles].astype(float)  # force from the next activation
        #: physics steps of a control step as seen by the force: k = 0..n-1 (1..n with actearly)
        self.k = np.arange(substeps)[None, :] + first[:, None]
        self.dt = model.opt.timestep
        self.t_mean = self.k.mean(axis=1) * self.dt  #: mean time into the step of the force (s)
        self.passive = model.actuator_biastype[muscles] == mujoco.mjtBias.mjBIAS_MUSCLE

    def force_terms(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(G, B, dG/dv) per muscle over the coming control step: force = G a + B + a0 dG/dv dv
        (N, negative = tension), with G and B at the step's mean length (``l + v t``, ``t`` the
        mean time into the step the force acts at) and ``dv`` = the change of the muscle's speed
        by then (``t`` times its acceleration), which the plan's accelerations set."""
        m = self.model
        n = len(self.muscles)
        gain, bias, dgain = np.empty(n), np.empty(n), np.empty(n)
        eps = 1e-4  # m/s
        for j, a in enumerate(self.muscles):
            v = data.actuator_velocity[a]
            L = data.actuator_length[a] + v * self.t_mean[j]
            lr, acc0, prm = m.actuator_lengthrange[a], m.actuator_acc0[a], m.actuator_gainprm[a, :9]
            gain[j] = mujoco.mju_muscleGain(L, v, lr, acc0, prm)
            dgain[j] = (mujoco.mju_muscleGain(L, v + eps, lr, acc0, prm)
                        - mujoco.mju_muscleGain(L, v - eps, lr, acc0, prm)) / (2 * eps)
            bias[j] = (mujoco.mju_muscleBias(L, lr, acc0, m.actuator_biasprm[a, :9])
                       if self.passive[j] else 0.0)
        return gain, bias, dgain

    def _rho(self, a0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean over the control step of the decay factor of (a - e), rising and falling."""
        s = 0.5 + 1.5 * a0
        decay = lambda tau: np.mean((1.0 - self.dt / np.maximum(tau, self.dt))[:, None] ** self.k, axis=1)
        return decay(self.tau_act * s), decay(self.tau_deact / s)

    def bounds(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """The mean activations reachable over the control step (excitation 0 and 1)."""
        a0 = data.act[self.actadr]
        rho_up, rho_down = self._rho(a0)
        return rho_down * a0, rho_up * a0 + 1.0 - rho_up

    def excitation(self, data: mujoco.MjData, planned: np.ndarray) -> np.ndarray:
        """The excitation that gives the planned mean activation over the control step."""
        a0 = data.act[self.actadr]
        rho_up, rho_down = self._rho(a0)
        rho = np.where(planned >= a0, rho_up, rho_down)
        return np.clip(a0 + (planned - a0) / np.maximum(1.0 - rho, 1e-9), 0.0, 1.0)


__all__ = ["WholeBodyConfig", "WholeBodyController", "ControlReference", "MuscleActivation", "default_config",
           "MUSCLE_CONTROL_RATE_HZ"]
