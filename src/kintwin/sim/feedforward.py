"""The inverse-dynamics teacher: feed-forward joint torques of a reference trial.

For every control frame of a reference (``reference.TrialReference``: qpos, qvel at the control
rate) the torques that would move the simulated model along it, from the force-free inverse
dynamics of ``kintwin.dynamics.contact_estimation`` (ground contacts estimated from the
kinematics alone, per-frame QP) or, when measured foot loads are given, from the classical
inverse dynamics. The armature of the simulated model is kept: these torques must move the
simulated model, not the idealised one of ``kintwin id``.

The tracking environment adds them to the policy's action (``TrackingConfig.feedforward``), so a
zero policy is already the inverse-dynamics tracking controller and the policy learns the
feedback that keeps the body balanced on its own feet; behaviour cloning uses them as labels.

Conversion to actions (``torque_to_action``): in ``torque`` mode a torque is ``action x peak``;
in ``pd`` mode the servo (``actuation.py``) applies ``kp (target - q) - kd qdot`` with target =
next reference frame + ``action x pd_offset_rad``, so the action that applies ``tau`` in the
reference state is ``((tau + kd qdot) / kp + q - q_next) / pd_offset_rad``.
"""

from __future__ import annotations

import warnings

import mujoco
import numpy as np

from .tracking import FREE_QPOS, FREE_QVEL, TrackingConfig


def reference_torques(model: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray, rate_hz: float,
                      height_m: float, loads=None) -> tuple[np.ndarray, np.ndarray]:
    """(joint torques (T, n_coordinates) N*m, pelvis residual wrench (T, 6) world N / N*m) along a
    reference sampled at ``rate_hz``. ``loads``: world-frame ``FootLoad``s at those frames
    (classical ID); None: contacts estimated from the kinematics."""
    qacc = np.gradient(qvel, 1.0 / rate_hz, axis=0)
    if loads is not None:
        from ..dynamics.inverse_dynamics import solve_inverse_dynamics

        sol = solve_inverse_dynamics(model, qpos, qvel, qacc, loads, keep_armature=True)
    else:
        from ..dynamics.contact_estimation import ContactOptions, solve_contact_forces

        with warnings.catch_warnings():  # QP failures at a few frames: forces zero there
            warnings.simplefilter("ignore")
            sol = solve_contact_forces(model, qpos, qvel, qacc,
                                       ContactOptions(floor_height_m=0.0, ground_velocity_mps=(0.0, 0.0)),
                                       keep_armature=True, height_m=height_m)
    return sol.tau, np.concatenate([sol.residual_force, sol.residual_moment], axis=1)


def torque_to_action(config: TrackingConfig, motor_gear: np.ndarray, tau: np.ndarray,
                     qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """Normalised motor actions (T, n_motors) applying ``tau`` (T, n_motors) in the reference
    states (qpos, qvel) (T, ...) of consecutive control frames (module doc)."""
    n_m = len(motor_gear)
    if config.action_mode == "torque":
        return tau / motor_gear
    kp = config.pd_kp_per_peak * motor_gear
    q, qd = qpos[:, FREE_QPOS:FREE_QPOS + n_m], qvel[:, FREE_QVEL:FREE_QVEL + n_m]
    q_next = np.concatenate([q[1:], q[-1:]])
    return ((tau + config.pd_kd_s * kp * qd) / kp + q - q_next) / config.pd_offset_rad


__all__ = ["reference_torques", "torque_to_action"]
