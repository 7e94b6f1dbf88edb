"""The motion-tracking task: configuration, observation, reward and termination as pure functions.

These functions are the whole task definition; the back ends (``cpu_backend`` now, an MJX back end
later) only do physics and bookkeeping. They take plain batched arrays (leading axis = envs) and
an array namespace ``xp`` (``numpy`` by default; ``jax.numpy`` works unchanged: no in-place
writes, only ``stack``/``concatenate``/``where``/``einsum``-style operations), so the same code can
be jitted for MJX.

State layout (MuJoCo free root + hinges): ``qpos = [pelvis xyz (world), pelvis quat (w,x,y,z),
joint angles (nj)]``, ``qvel = [pelvis linear velocity (world), pelvis angular velocity (pelvis
frame), joint velocities (nj)]``.

Heading frame: the world frame rotated about the vertical by the pelvis yaw (the yaw of the
pelvis' forward axis, its local X). Expressing velocities and the reference in it makes the
policy invariant to walking direction and position on the floor.

Observation (``observation``), all float, in this order:

==========================  ====  ==========================================================
own state                   size
==========================  ====  ==========================================================
joint angles                nj    rad
joint velocities            nj    rad/s
pelvis height               1     m (world z)
pelvis orientation          6     first two columns of the rotation matrix in the heading
                                  frame ("6D" rotation; contains the gravity direction)
pelvis linear velocity      3     heading frame, m/s
pelvis angular velocity     3     heading frame, rad/s
foot contact flags          2     right, left (a contact sphere within 1 cm of the floor)
==========================  ====  ==========================================================

then for each of the K future reference frames (``TrackingConfig.future_frames``, in control
steps ahead of the current state): joint angle differences ``ref - q`` (nj), pelvis position
difference in the heading frame (3), reference pelvis orientation in the current heading frame
(6D, 6), reference pelvis linear velocity in the heading frame (3); and optionally the subject's
height (m) and mass (kg / 100) (2) and, per foot, the floor's force / body weight and its point
relative to the pelvis, in the heading frame (12). With 34 joints and K = 3: 83 + 3 x 46 + 2 = 223 values.

K = 3 frames at +1, +2, +4 control steps (20, 40, 80 ms at 50 Hz): the first is the target of the
coming step, the next two give the direction and curvature of the motion (velocity and
acceleration of the reference) over the time the body needs to respond (~the 50-100 ms
electromechanical delay scale), at low cost in observation size.

Reward (``reward``), KinTwin/DeepMimic style: a weighted sum of ``exp(-err / scale^2)`` terms
(each in (0, 1], 1 at perfect tracking), ``err`` being a mean squared error:

* joint angles (mean over joints, rad^2), joint velocities ((rad/s)^2),
* pelvis position (squared distance, m^2), pelvis orientation (squared rotation angle, rad^2),
* body positions (mean squared distance of the tracked sites: feet, hands, head, pelvis; m^2);

minus penalties on the motor action magnitude (mean a^2), the action change from the previous
control step (mean (a - a_prev)^2, zero at the first step of an episode) and residual use (mean
squared APPLIED residual control / ``residual_action_scale``: the policy's residual action plus
the pelvis servo below). The tracking weights sum to 1, so a perfect step earns ~1.

Pelvis residual servo (``residual_feedback``; ``residual_feedback_hz`` = 0.3 for the position,
``residual_moment_feedback_hz`` = 1 for the orientation by default): a weak critically damped PD
of the pelvis towards the reference, force ``m (w^2 e + 2 w e')`` and moment
``I (w^2 theta + 2 w theta')`` (m the body mass, I the whole body's rotational inertia about
the pelvis origin at the neutral pose, turned with the pelvis, w = 2 pi f),
added to the policy's residual action. It only catches the slow drift (0.3 Hz: a 3 cm error
costs ~1 % BW) that the policy would otherwise have to learn to correct from scratch; it is part
of the residual, reported and penalised with it, so the policy is still paid to balance on its
own feet (it can cancel the servo).

Termination (``terminated``): pelvis more than ``max_pelvis_error_m`` (0.25 m) from the
reference, pelvis height below ``min_pelvis_height_frac`` of the reference height (collapse),
or a non-finite state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..motion.frames import quat_mul

FREE_QPOS, FREE_QVEL = 7, 6


@dataclass(frozen=True)
class TrackingConfig:
    """Every constant of the tracking task (timing, observation, reward, termination)."""

    # Timing: control at control_rate_hz; physics step = 1 / (control_rate_hz * substeps).
    control_rate_hz: float = 50.0
    substeps: int = 10  #: 50 Hz x 10 = 500 Hz physics (2 ms, SimOptions' default)
    # Observation
    future_frames: tuple[int, ...] = (1, 2, 4)  #: K reference frames ahead, in control steps
    include_subject: bool = True  #: append height (m) and mass (kg / 100)
    #: append, per foot (right, left), the floor's force on it / body weight and its point of
    #: application relative to the pelvis (m), both in the heading frame (12 values; needs the
    #: model's foot sensors: the distilled policy's observation)
    observe_foot_forces: bool = False
    #: append the controls applied over the previous control step (``data.ctrl``, actuator
    #: units; model.nu values, zeros at a simulation's start): the policy distilled from the
    #: whole-body controller sees them (with them the held-out error of its imitation of the
    #: controller is a third lower: MSE 1.57e-3 -> 1.06e-3 on subject01,
    #: bench/distill_observation_ablation.py)
    observe_previous_controls: bool = False
    #: append what the reference's dynamics ask for, from its kinematics alone: the feed-forward
    #: controls at the current frame (the inverse-dynamics controls the policy's action is added
    #: to, actuator units, model.nu values) and the kinematics-only contact estimate's vertical
    #: load on each foot / body weight at the current and the K future frames (2 (K + 1) values)
    observe_feedforward: bool = False
    contact_threshold_m: float = 0.01  #: a contact sphere this close to the floor = contact
    # Reward: weights of the tracking terms (sum to 1) and their scales (err / scale^2)
    w_joint_pos: float = 0.3
    w_joint_vel: float = 0.1
    w_pelvis_pos: float = 0.2
    w_pelvis_rot: float = 0.1
    w_body_pos: float = 0.3
    # Wide scales: from a torque-driven start the errors are tens of degrees, where tight
    # (DeepMimic-like, ~0.1 rad) scales give exp(-err) ~ 0 and no learning signal.
    joint_pos_scale: float = 0.5  #: rad (RMS joint error giving exp(-1))
    joint_vel_scale: float = 5.0  #: rad/s
    pelvis_pos_scale: float = 0.15  #: m
    pelvis_rot_scale: float = 0.5  #: rad
    body_pos_scale: float = 0.2  #: m (RMS site distance)
    # Penalties (subtracted)
    w_action: float = 0.02  #: x mean(motor action^2)
    w_action_rate: float = 0.05  #: x mean((action - previous action)^2)
    w_residual: float = 0.1  #: x mean(residual action^2)
    # Action mapping (see sim/actuation.py): "pd" servo targets = reference + action x
    # pd_offset_rad, or "torque" (ctrl = action); residual ctrl = action x residual_action_scale
    action_mode: str = "pd"
    pd_kp_per_peak: float = 10.0  #: servo stiffness, (N*m/rad) per N*m of peak torque
    pd_kd_s: float = 0.1  #: servo damping = pd_kd_s x stiffness
    pd_offset_rad: float = 0.5  #: servo target offset at |action| = 1
    residual_action_scale: float = 0.3  #: residual ctrl range = +-0.3 x gear (0.3 BW force)
    #: weak pelvis servo added to the policy's residual (``residual_feedback``): natural
    #: frequency (Hz) of the critically damped pelvis position/orientation PD; 0 disables
    residual_feedback_hz: float = 0.3
    #: the same for the orientation part (the residual moments); None: ``residual_feedback_hz``.
    #: 1 Hz: with the 0.3 Hz translation servo an untrained policy completes every walking trial
    #: tried (subject01 gait2354 and gait2392, the sample) and 1 s of hamner_run
    residual_moment_feedback_hz: float | None = 1.0
    #: "id": add the inverse-dynamics feed-forward torques of the reference (``feedforward.py``)
    #: to the policy's motor actions, so the policy learns the feedback; "none": the policy
    #: outputs the whole action
    feedforward: str = "id"
    # Termination and episodes
    max_pelvis_error_m: float = 0.25
    min_pelvis_height_frac: float = 0.6
    max_episode_steps: int | None = None  #: cut (truncate) longer episodes; None: trial end
    random_start: bool = True  #: reference state initialisation at a random frame
    # Reference
    mirror: bool = False  #: add left/right mirrored copies of every trial
    reference_filter_hz: float | None = None  #: low-pass the reference before differentiation
    align_ground: bool = True  #: put the feet on the floor, turn treadmill into overground

    def __post_init__(self):
        object.__setattr__(self, "future_frames", tuple(int(k) for k in self.future_frames))
        if len(self.future_frames) < 2 or min(self.future_frames) < 1:
            raise ValueError("future_frames needs K >= 2 offsets, each >= 1 control step")
        if self.feedforward not in ("id", "none"):
            raise ValueError(f"feedforward must be 'id' or 'none', not {self.feedforward!r}")
        if self.action_mode not in ("pd", "torque"):
            raise ValueError(f"action_mode must be 'pd' or 'torque', not {self.action_mode!r}")
        if self.residual_feedback_hz < 0:
            raise ValueError("residual_feedback_hz must be >= 0")
        if self.substeps < 1 or self.control_rate_hz <= 0:
            raise ValueError("substeps must be >= 1 and control_rate_hz > 0")

    @property
    def timestep(self) -> float:
        """Physics step (s)."""
        return 1.0 / (self.control_rate_hz * self.substeps)

    @property
    def K(self) -> int:
        return len(self.future_frames)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrackingConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown TrackingConfig fields: {sorted(unknown)}")
        return cls(**d)


def obs_size(n_joints: int, config: TrackingConfig, n_activations: int = 0, n_controls: int = 0) -> int:
    """Observation size; ``n_activations``: the model's activation states (its muscles), observed
    by a policy of a muscle-driven model; ``n_controls``: the model's controls (nu), observed
    with ``config.observe_previous_controls`` and ``config.observe_feedforward``."""
    if (config.observe_previous_controls or config.observe_feedforward) and n_controls < 1:
        raise ValueError("observe_previous_controls / observe_feedforward is set: give the model's "
                         "number of controls")
    own = 2 * n_joints + 1 + 6 + 3 + 3 + 2
    return (own + config.K * (n_joints + 3 + 6 + 3) + (2 if config.include_subject else 0)
            + (12 if config.observe_foot_forces else 0) + n_activations
            + (n_controls if config.observe_previous_controls else 0)
            + (n_controls + 2 * (config.K + 1) if config.observe_feedforward else 0))


# --- rotations (batched, xp-generic; quat_mul from motion.frames) ------------------------------
def quat_to_mat(q, xp=np):
    """(..., 3, 3) rotation matrices from unit quaternions (..., 4) (w, x, y, z)."""
    q = q * (2.0 / xp.sum(q * q, axis=-1, keepdims=True)) ** 0.5  # sqrt(2) x the unit quaternion
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    xx, yy, zz, xy, xz, yz, wx, wy, wz = x * x, y * y, z * z, x * y, x * z, y * z, w * x, w * y, w * z
    r = xp.stack([1 - (yy + zz), xy - wz, xz + wy,
                  xy + wz, 1 - (xx + zz), yz - wx,
                  xz - wy, yz + wx, 1 - (xx + yy)], axis=-1)  # one stack: cheap for small batches
    return r.reshape(q.shape[:-1] + (3, 3))


def heading(rot, xp=np):
    """Yaw (...,) of the pelvis' forward axis (local X) about the world vertical."""
    return xp.arctan2(rot[..., 1, 0], rot[..., 0, 0])


def to_heading(v, yaw, xp=np):
    """Rotate world vectors v (..., 3) into the heading frame of yaw (broadcastable (...,))."""
    c, s = xp.cos(yaw), xp.sin(yaw)
    return xp.stack([c * v[..., 0] + s * v[..., 1], -s * v[..., 0] + c * v[..., 1], v[..., 2]],
                    axis=-1)


def rot6_in_heading(rot, yaw, xp=np):
    """6D representation (..., 6) of rotations (..., 3, 3) expressed in the heading frame."""
    cols = [to_heading(rot[..., :, j], yaw, xp) for j in (0, 1)]
    return xp.concatenate(cols, axis=-1)


def quat_to_rotvec(q, xp=np):
    """Rotation vectors (..., 3) (axis x angle, rad, angle in [0, pi]) of quaternions (..., 4)."""
    q = q * xp.where(q[..., :1] < 0, -1.0, 1.0)
    v = q[..., 1:]
    n = xp.sqrt(xp.sum(v * v, axis=-1, keepdims=True))
    angle = 2.0 * xp.arctan2(n, q[..., :1])
    return v * xp.where(n > 1e-12, angle / xp.maximum(n, 1e-12), 2.0)


def quat_angle(q1, q2, xp=np):
    """Rotation angle (rad) between unit quaternions (..., 4)."""
    d = xp.abs(xp.sum(q1 * q2, axis=-1))
    d = d / xp.maximum(xp.sqrt(xp.sum(q1 * q1, -1) * xp.sum(q2 * q2, -1)), 1e-12)
    return 2.0 * xp.arccos(xp.clip(d, 0.0, 1.0))


# --- task functions ---------------------------------------------------------------------------
def contact_flags(sphere_z, sphere_radius, sphere_side, threshold: float, xp=np):
    """(N, 2) float flags (right, left): any contact sphere of that foot within ``threshold`` of
    the floor (z = 0). ``sphere_z`` (N, C) centre heights, ``sphere_radius`` (C,), ``sphere_side``
    (C,) 0 = right, 1 = left."""
    touching = (sphere_z - sphere_radius) < threshold
    right = xp.any(touching & (sphere_side == 0), axis=-1)
    left = xp.any(touching & (sphere_side == 1), axis=-1)
    return xp.stack([right, left], axis=-1).astype(xp.float64 if xp is np else xp.float32)


def observation(config: TrackingConfig, qpos, qvel, contact, ref_qpos, ref_qvel, subject=None,
                foot_force=None, activation=None, previous_controls=None, feedforward=None, xp=np):
    """Observations (N, obs_size).

    ``qpos`` (N, nq), ``qvel`` (N, nv), ``contact`` (N, 2), ``ref_qpos`` (N, K, nq) and
    ``ref_qvel`` (N, K, nv) the K future reference frames, ``subject`` (N, 2) height (m) and
    mass (kg) when ``config.include_subject``; ``foot_force`` (N, 2, 6) per foot (right, left) the
    floor's force on it / body weight and its world point of application (m) when
    ``config.observe_foot_forces``; ``activation`` (N, na) the muscle activations (0-1) of a
    muscle-driven model (its state: what a muscle can do next depends on it);
    ``previous_controls`` (N, nu) the controls applied over the previous control step when
    ``config.observe_previous_controls``; ``feedforward`` (N, nu + 2 (K + 1)) the feed-forward
    controls and the per-foot estimated loads / body weight when ``config.observe_feedforward``.
    """
    rot = quat_to_mat(qpos[:, 3:7], xp)
    yaw = heading(rot, xp)
    q, qd = qpos[:, FREE_QPOS:], qvel[:, FREE_QVEL:]
    ang_world = xp.einsum("nij,nj->ni", rot, qvel[:, 3:6])
    n = qpos.shape[0]
    # every vector in the heading frame with one rotation per group (own: pelvis axes X and Y,
    # linear and angular velocity; each future frame: position offset, axes X and Y, velocity)
    own = to_heading(xp.stack([rot[:, :, 0], rot[:, :, 1], qvel[:, 0:3], ang_world], axis=1),
                     yaw[:, None], xp).reshape(n, 12)
    ref_rot = quat_to_mat(ref_qpos[:, :, 3:7], xp)
    fut = to_heading(xp.stack([ref_qpos[:, :, 0:3] - qpos[:, None, 0:3], ref_rot[..., 0],
                               ref_rot[..., 1], ref_qvel[:, :, 0:3]], axis=2), yaw[:, None, None], xp)
    fut = xp.concatenate([ref_qpos[:, :, FREE_QPOS:] - q[:, None, :],
                          fut.reshape(fut.shape[:2] + (12,))], axis=-1).reshape(n, -1)
    parts = [q, qd, qpos[:, 2:3], own, contact, fut]
    if config.include_subject:
        if subject is None:
            raise ValueError("include_subject is set: pass subject (N, 2) height, mass")
        parts.append(subject * xp.asarray([1.0, 0.01]))
    if config.observe_foot_forces:
        if foot_force is None:
            raise ValueError("observe_foot_forces is set: pass foot_force (N, 2, 6)")
        point = foot_force[:, :, 3:6] - qpos[:, None, 0:3]
        parts.append(to_heading(xp.stack([foot_force[:, :, 0:3], point], axis=2), yaw[:, None, None],
                                xp).reshape(n, 12))
    if activation is not None:
        parts.append(activation)
    if config.observe_previous_controls:
        if previous_controls is None:
            raise ValueError("observe_previous_controls is set: pass previous_controls (N, nu)")
        parts.append(previous_controls)
    if config.observe_feedforward:
        if feedforward is None:
            raise ValueError("observe_feedforward is set: pass feedforward (N, nu + 2 (K + 1))")
        parts.append(feedforward)
    return xp.concatenate(parts, axis=-1)


def pose_error(qpos, ref_qpos) -> tuple[float, float]:
    """(pelvis position error in m, RMS joint angle error in rad) of one state against the
    reference's: what the twin's lost-track rule and DAgger's labelling cut-off compare."""
    return (float(np.linalg.norm(qpos[:3] - ref_qpos[:3])),
            float(np.sqrt(np.mean((qpos[FREE_QPOS:] - ref_qpos[FREE_QPOS:]) ** 2))))


def tracking_errors(qpos, qvel, site_pos, ref_qpos, ref_qvel, ref_site_pos, xp=np):
    """Mean squared errors (N,) each: joint angles, joint velocities, pelvis position, pelvis
    orientation (squared angle), body sites."""
    dq = qpos[:, FREE_QPOS:] - ref_qpos[:, FREE_QPOS:]
    dqd = qvel[:, FREE_QVEL:] - ref_qvel[:, FREE_QVEL:]
    dp = qpos[:, 0:3] - ref_qpos[:, 0:3]
    ang = quat_angle(qpos[:, 3:7], ref_qpos[:, 3:7], xp)
    ds = site_pos - ref_site_pos
    return {
        "joint_pos": xp.mean(dq * dq, axis=-1),
        "joint_vel": xp.mean(dqd * dqd, axis=-1),
        "pelvis_pos": xp.sum(dp * dp, axis=-1),
        "pelvis_rot": ang * ang,
        "body_pos": xp.mean(xp.sum(ds * ds, axis=-1), axis=-1),
    }


def residual_feedback(config: TrackingConfig, qpos, qvel, ref_qpos, ref_qvel, mass_kg: float,
                      rot_inertia, xp=np):
    """Pelvis servo wrench (N, 6): world force (N) and world moment (N*m) at the pelvis origin
    pulling the state (qpos, qvel) towards the reference state (ref_qpos, ref_qvel) (module
    doc); zeros when ``residual_feedback_hz`` is 0. ``rot_inertia`` (3, 3): the whole body's
    rotational inertia about the pelvis origin in the pelvis frame (kg m^2)."""
    w = 2.0 * np.pi * config.residual_feedback_hz
    force = mass_kg * (w * w * (ref_qpos[:, 0:3] - qpos[:, 0:3])
                       + 2 * w * (ref_qvel[:, 0:3] - qvel[:, 0:3]))
    conj = qpos[:, 3:7] * xp.asarray([1.0, -1.0, -1.0, -1.0])
    theta = quat_to_rotvec(quat_mul(ref_qpos[:, 3:7], conj, xp), xp)  # world frame
    rot = quat_to_mat(qpos[:, 3:7], xp)
    omega = xp.einsum("nij,nj->ni", rot, qvel[:, 3:6])
    omega_ref = xp.einsum("nij,nj->ni", quat_to_mat(ref_qpos[:, 3:7], xp), ref_qvel[:, 3:6])
    inertia = xp.einsum("nij,jk,nlk->nil", rot, xp.asarray(rot_inertia), rot)  # world frame
    hz = config.residual_feedback_hz if config.residual_moment_feedback_hz is None \
        else config.residual_moment_feedback_hz
    w = 2.0 * np.pi * hz
    moment = xp.einsum("nij,nj->ni", inertia, w * w * theta + 2 * w * (omega_ref - omega))
    return xp.concatenate([force, moment], axis=-1)


def reward(config: TrackingConfig, qpos, qvel, site_pos, ref_qpos, ref_qvel, ref_site_pos,
           action, prev_action, first_step, n_motors: int, residual=None, xp=np):
    """Reward (N,) and a dict of its terms (N,) each.

    The state is compared with the reference frame it should have reached. ``action`` and
    ``prev_action`` (N, nu) are the clipped policy actions (motors first, then residuals);
    ``first_step`` (N,) bool disables the action-change penalty on an episode's first step;
    ``residual`` (N, n_residuals): the applied residual controls / ``residual_action_scale``
    (default: the policy's residual actions).
    """
    c = config
    err = tracking_errors(qpos, qvel, site_pos, ref_qpos, ref_qvel, ref_site_pos, xp)
    terms = {
        "r_joint_pos": c.w_joint_pos * xp.exp(-err["joint_pos"] / c.joint_pos_scale ** 2),
        "r_joint_vel": c.w_joint_vel * xp.exp(-err["joint_vel"] / c.joint_vel_scale ** 2),
        "r_pelvis_pos": c.w_pelvis_pos * xp.exp(-err["pelvis_pos"] / c.pelvis_pos_scale ** 2),
        "r_pelvis_rot": c.w_pelvis_rot * xp.exp(-err["pelvis_rot"] / c.pelvis_rot_scale ** 2),
        "r_body_pos": c.w_body_pos * xp.exp(-err["body_pos"] / c.body_pos_scale ** 2),
    }
    motor = action[:, :n_motors]
    res = action[:, n_motors:] if residual is None else residual
    da = action - prev_action
    terms["p_action"] = -c.w_action * xp.mean(motor * motor, axis=-1)
    terms["p_action_rate"] = -c.w_action_rate * xp.where(first_step, 0.0, xp.mean(da * da, axis=-1))
    terms["p_residual"] = (-c.w_residual * xp.mean(res * res, axis=-1) if res.shape[-1]
                           else 0.0 * terms["p_action"])
    total = sum(terms.values())
    return total, terms


def terminated(config: TrackingConfig, qpos, ref_qpos, xp=np):
    """(N,) bool: tracking lost (pelvis too far from the reference), collapse, or NaN state."""
    dp = qpos[:, 0:3] - ref_qpos[:, 0:3]
    far = xp.sqrt(xp.sum(dp * dp, axis=-1)) > config.max_pelvis_error_m
    low = qpos[:, 2] < config.min_pelvis_height_frac * ref_qpos[:, 2]
    bad = ~xp.all(xp.isfinite(qpos), axis=-1)
    return far | low | bad


__all__ = ["TrackingConfig", "obs_size", "observation", "reward", "terminated", "tracking_errors",
           "pose_error",
           "residual_feedback", "contact_flags", "quat_mul", "quat_to_rotvec", "quat_to_mat", "heading", "to_heading", "rot6_in_heading",
           "quat_angle"]
