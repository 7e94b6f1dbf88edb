"""Pelvis orientation and the OpenSim (Y-up) <-> MuJoCo (Z-up) frame change.

OpenSim's pelvis orientation is the body-fixed Z-X-Y sequence ``Rz(tilt) @ Rx(list) @ Ry(rotation)``
in OpenSim ground (X forward, Y up, Z right). MuJoCo's world is Z-up (X forward, Y left, Z up);
``OSIM_TO_MUJOCO_QUAT`` (+90 deg about X) maps OpenSim ground vectors to MuJoCo world vectors:
``(x, y, z)_osim -> (x, -z, y)_mujoco``.
"""

from __future__ import annotations

import numpy as np

# +90 deg about X: (x, y, z)_osim -> (x, -z, y)_mujoco
_R = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# the same rotation taking OpenSim's Y-up ground to MuJoCo's Z-up world, as (w, x, y, z)
OSIM_TO_MUJOCO_QUAT = np.array([np.sqrt(0.5), np.sqrt(0.5), 0.0, 0.0])

# Rotations are written out in numpy (``quat_mul`` is array-module generic, ``xp``: numpy, or
# jax.numpy for the tracking task): scipy.spatial.transform, which the tests compare them with,
# costs ~0.2 s to import, a fifth of a whole ``kintwin id`` process.


def osim_to_mujoco_vec(v: np.ndarray) -> np.ndarray:
    """Vectors (..., 3) from OpenSim ground to MuJoCo world."""
    return np.asarray(v) @ _R.T


def mujoco_to_osim_vec(v: np.ndarray) -> np.ndarray:
    """Vectors (..., 3) from MuJoCo world to OpenSim ground."""
    return np.asarray(v) @ _R


def quat_mul(a, b, xp=np):
    """Hamilton product (..., 4) of quaternions (w, x, y, z)."""
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return xp.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw],
                    axis=-1)


def _axis_quat(axis: int, angle: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) of rotations by ``angle`` (rad) about coordinate axis 0/1/2."""
    angle = np.asarray(angle, float)
    q = np.zeros(angle.shape + (4,))
    q[..., 0], q[..., 1 + axis] = np.cos(angle / 2), np.sin(angle / 2)
    return q


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of quaternions (..., 4) (normalised here). The same matrix
    as ``sim.tracking.quat_to_mat`` with other rounding; using that one instead moves the
    pelvis angles of written kinematics by ~1e-16 rad, which chaotic simulations built on them
    (the distillation tests) amplify."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
                     np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
                     np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)],
                    axis=-2)


def _pelvis_quat_osim(tilt, list_, rot) -> np.ndarray:
    """Pelvis orientation in OpenSim ground, Rz(tilt) Rx(list) Ry(rotation), as (w, x, y, z)."""
    return quat_mul(quat_mul(_axis_quat(2, tilt), _axis_quat(0, list_)), _axis_quat(1, rot))


def pelvis_rotation(tilt, list_, rot) -> np.ndarray:
    """Pelvis orientation matrices (..., 3, 3) in OpenSim ground from the body-fixed Z-X-Y
    angles (rad)."""
    return _quat_matrix(_pelvis_quat_osim(tilt, list_, rot))


def pelvis_quat_mujoco(tilt, list_, rot) -> np.ndarray:
    """MuJoCo free-joint quaternion (w, x, y, z) of the pelvis for OpenSim pelvis angles."""
    return quat_mul(OSIM_TO_MUJOCO_QUAT, _pelvis_quat_osim(tilt, list_, rot))


def pelvis_angles_from_quat(quat_wxyz: np.ndarray) -> np.ndarray:
    """Inverse of ``pelvis_quat_mujoco``: (..., 3) tilt, list, rotation in rad (list within
    +-90 deg)."""
    R = _R.T @ _quat_matrix(np.asarray(quat_wxyz, float))  # in OpenSim ground
    # R = Rz(a) Rx(b) Ry(c): third row (-cos b sin c, sin b, cos b cos c); R01 = -sin a cos b,
    # R11 = cos a cos b
    return np.stack([np.arctan2(-R[..., 0, 1], R[..., 1, 1]),
                     np.arcsin(np.clip(R[..., 2, 1], -1.0, 1.0)),
                     np.arctan2(-R[..., 2, 0], R[..., 2, 2])], axis=-1)


def body_angular_velocity(angles: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Pelvis angular velocity in the pelvis frame from Z-X-Y angles and their rates (rad/s).

    For R = Rz(a) Rx(b) Ry(c): omega_body = Ry(c)^T Rx(b)^T a' e_z + Ry(c)^T b' e_x + c' e_y.
    This is MuJoCo's free-joint angular velocity (qvel[3:6], local frame).
    """
    b, c = angles[..., 1], angles[..., 2]
    da, db, dc = rates[..., 0], rates[..., 1], rates[..., 2]
    sb, cb, sc, cc = np.sin(b), np.cos(b), np.sin(c), np.cos(c)
    # Rx(b)^T e_z = (0, sin b, cos b); then Ry(c)^T (x, y, z) = (x cos c - z sin c, y, x sin c + z cos c)
    wx = -cb * sc * da + cc * db
    wy = sb * da + dc
    wz = cb * cc * da + sc * db
    return np.stack([wx, wy, wz], axis=-1)
