"""Pelvis orientation and the OpenSim (Y-up) <-> MuJoCo (Z-up) frame change.

OpenSim's pelvis orientation is the body-fixed Z-X-Y sequence ``Rz(tilt) @ Rx(list) @ Ry(rotation)``
in OpenSim ground (X forward, Y up, Z right). MuJoCo's world is Z-up (X forward, Y left, Z up);
``OSIM_TO_MUJOCO`` (+90 deg about X) maps OpenSim ground vectors to MuJoCo world vectors:
``(x, y, z)_osim -> (x, -z, y)_mujoco``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

OSIM_TO_MUJOCO = Rotation.from_euler("x", 90, degrees=True)
_R = OSIM_TO_MUJOCO.as_matrix()


def osim_to_mujoco_vec(v: np.ndarray) -> np.ndarray:
    """Vectors (..., 3) from OpenSim ground to MuJoCo world."""
    return np.asarray(v) @ _R.T


def mujoco_to_osim_vec(v: np.ndarray) -> np.ndarray:
    """Vectors (..., 3) from MuJoCo world to OpenSim ground."""
    return np.asarray(v) @ _R


def pelvis_rotation(tilt: np.ndarray, list_: np.ndarray, rot: np.ndarray) -> Rotation:
    """Pelvis orientation in OpenSim ground from the body-fixed Z-X-Y angles (rad)."""
    return Rotation.from_euler("ZXY", np.stack([tilt, list_, rot], axis=-1))


def pelvis_quat_mujoco(tilt, list_, rot) -> np.ndarray:
    """MuJoCo free-joint quaternion (w, x, y, z) of the pelvis for OpenSim pelvis angles."""
    q = (OSIM_TO_MUJOCO * pelvis_rotation(tilt, list_, rot)).as_quat()  # (x, y, z, w)
    return np.roll(q, 1, axis=-1)


def pelvis_angles_from_quat(quat_wxyz: np.ndarray) -> np.ndarray:
    """Inverse of ``pelvis_quat_mujoco``: (..., 3) tilt, list, rotation in rad."""
    r = OSIM_TO_MUJOCO.inv() * Rotation.from_quat(np.roll(quat_wxyz, -1, axis=-1))
    return r.as_euler("ZXY")


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
