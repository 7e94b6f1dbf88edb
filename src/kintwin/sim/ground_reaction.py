"""Ground reaction forces of each foot from MuJoCo contacts, as force plates would report them.

A model built with ``SimOptions(foot_sensors=True)`` carries one contact sensor per foot
(``grf_r`` / ``grf_l``, ``models/build.py``): the net
force and torque between the foot's subtree and the floor and a point, world axes, the force and
torque being those the foot exerts on the floor. MuJoCo computes them at every physics step (so
``mujoco.rollout`` returns them per substep). From one sensor reading, or the mean over several
(e.g. the physics steps of a control step, as a force plate averages over its sampling interval),
this gives the total force the floor exerts on each foot, its centre of pressure (COP, on the
floor plane) and the free moment about the vertical axis, all in OpenSim's ground frame (Y up) so
they compare directly with measured ``grf.mot`` files.
"""

from __future__ import annotations

import mujoco
import numpy as np

from ..motion import frames

SIDES = ("r", "l")
MIN_VERTICAL_N = 10.0  # below this the COP is undefined and reported as zero


def foot_sensor_slices(model: mujoco.MjModel) -> dict[str, slice]:
    """Side -> its 9 values (force, torque, point) in ``sensordata``; sides without feet absent."""
    out = {}
    for s in SIDES:
        i = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SENSOR, f"grf_{s}")
        if i >= 0:
            adr = int(model.sensor_adr[i])
            out[s] = slice(adr, adr + 9)
    return out


def foot_wrenches(model: mujoco.MjModel, sensordata: np.ndarray
                  ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per side: (force_n, cop_m, free_moment_nm), 3-vectors in OpenSim ground (Y up), from
    ``sensordata`` (``MjData.sensordata`` after a step or ``mj_forward``, or rows of it, averaged).

    The force is what the floor exerts on the foot. COP = point on the floor about which the
    horizontal moments of the (mean) contact forces vanish; the free moment is the remaining
    moment about the vertical axis through the COP. With no load (or no foot on that side) all are zero.
    """
    rows = np.atleast_2d(np.asarray(sensordata, float))
    slices = foot_sensor_slices(model)
    if not slices:
        raise ValueError("the model has no foot contact sensors: build it with "
                         "SimOptions(foot_sensors=True)")
    out = {}
    for s in SIDES:
        f, m = np.zeros(3), np.zeros(3)
        if s in slices:
            v = rows[:, slices[s]]
            fx, fy, fz = -v[:, 0], -v[:, 1], -v[:, 2]  # the floor on the foot
            px, py, pz = v[:, 6], v[:, 7], v[:, 8]
            # moment about the world origin: point x force + torque (of the floor on the foot);
            # cross product written out (np.cross is slow on a few 3-vectors)
            f = np.array([fx.mean(), fy.mean(), fz.mean()])
            m = np.array([(py * fz - pz * fy).mean(), (pz * fx - px * fz).mean(),
                          (px * fy - py * fx).mean()]) - v[:, 3:6].mean(axis=0)
        cop = np.zeros(3)
        tz = 0.0
        if f[2] > MIN_VERTICAL_N:
            # moment about the origin M = cop x f + (0, 0, tz) with cop on the floor (z = 0)
            cop = np.array([-m[1] / f[2], m[0] / f[2], 0.0])
            tz = m[2] - (cop[0] * f[1] - cop[1] * f[0])
        out[s] = (frames.mujoco_to_osim_vec(f), frames.mujoco_to_osim_vec(cop),
                  frames.mujoco_to_osim_vec(np.array([0.0, 0.0, tz])))
    return out
