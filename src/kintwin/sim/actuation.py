"""How the policy's actions drive the joints.

``torque``: the action is the normalised torque of each joint motor (torque = action x peak).

``pd`` (default): each joint motor becomes a MuJoCo position servo (computed by MuJoCo at every
physics step, its damping integrated implicitly) whose target is the reference angle of the coming
control frame plus ``action x pd_offset_rad``:

    torque = clip(kp (target - q) - kd qdot, -peak, +peak),  kp = pd_kp_per_peak x peak,
    kd = pd_kd_s x kp.

The torque is limited to the same peak torque as in ``torque`` mode, and what the servo applies
(MuJoCo's ``actuator_force``, averaged over the physics substeps of a control step) is recorded
and reported as the joint torque. The servo is only a parameterisation of the torques: it starts
the policy close to the reference, so learning needs far fewer samples.
"""

from __future__ import annotations

import copy

import mujoco
import numpy as np

ACTION_MODES = ("pd", "torque")


def servo_model(model: mujoco.MjModel, n_motors: int, kp_per_peak: float, kd_s: float
                ) -> mujoco.MjModel:
    """A copy of ``model`` whose first ``n_motors`` joint motors are torque-limited PD servos."""
    if np.any(model.actuator_biastype[:n_motors] != mujoco.mjtBias.mjBIAS_NONE):
        raise ValueError("the model's joint motors are already servos: build the env from the "
                         "torque model (env.torque_model)")
    m = copy.deepcopy(model)
    peak = m.actuator_gear[:n_motors, 0].copy()
    kp = kp_per_peak * peak
    m.actuator_gear[:n_motors] = 0.0
    m.actuator_gear[:n_motors, 0] = 1.0
    m.actuator_gaintype[:n_motors] = mujoco.mjtGain.mjGAIN_FIXED
    m.actuator_gainprm[:n_motors] = 0.0
    m.actuator_gainprm[:n_motors, 0] = kp
    m.actuator_biastype[:n_motors] = mujoco.mjtBias.mjBIAS_AFFINE
    m.actuator_biasprm[:n_motors] = 0.0
    m.actuator_biasprm[:n_motors, 1] = -kp
    m.actuator_biasprm[:n_motors, 2] = -kd_s * kp
    m.actuator_ctrllimited[:n_motors] = 0
    m.actuator_forcelimited[:n_motors] = 1
    m.actuator_forcerange[:n_motors] = np.c_[-peak, peak]
    return m
