"""Ground reaction forces of each foot from MuJoCo contacts, as force plates would report them.

A model built with ``SimOptions(foot_sensors=True)`` carries one contact sensor per foot
(``grf_r`` / ``grf_l``, ``models/build.py``): the net
force and torque between the foot's subtree and the floor and a point, world axes, the force and
torque being those the foot exerts on the floor. MuJoCo computes them at every physics step (so
``mujoco.rollout`` returns them per substep). From one sensor reading, or the mean over several
(e.g. the physics steps of a control step, as a force plate averages over its sampling interval),
this gives the total force the floor exerts on each foot, its centre of pressure (COP, on the
floor plane, or on the top of the support box under the foot: ``sim/terrain.py``) and the free moment about the vertical axis, all in OpenSim's ground frame (Y up) so
they compare directly with measured ``grf.mot`` files.
"""

from __future__ import annotations

import mujoco
import numpy as np

from ..motion import frames
from .terrain import Terrain

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


def foot_wrench_series(model: mujoco.MjModel, sensordata: np.ndarray
                       ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per side: (force_n, cop_m, free_moment_nm), each (T, 3) in OpenSim ground (Y up), from
    ``sensordata`` (T, n, nsensordata): for each of T frames, the ``n`` sensor readings averaged
    over (e.g. the physics steps of a control step, as a force plate averages over its sampling
    interval).

    The force is what the floor exerts on the foot. COP = point on the floor about which the
    horizontal moments of the (mean) contact forces vanish; the free moment is the remaining
    moment about the vertical axis through the COP. With no load (or no foot on that side) all
    are zero.
    """
    rows = np.asarray(sensordata, float)
    slices = foot_sensor_slices(model)
    if not slices:
        raise ValueError("the model has no foot contact sensors: build it with "
                         "SimOptions(foot_sensors=True)")
    T = rows.shape[0]
    terrain = Terrain.from_model(model)
    out = {}
    for s in SIDES:
        f, m = np.zeros((T, 3)), np.zeros((T, 3))
        if s in slices:
            v = rows[:, :, slices[s]]
            force = -v[..., 0:3]  # the floor on the foot
            # moment about the world origin: point x force + torque (of the floor on the foot)
            f = force.mean(axis=1)
            m = np.cross(v[..., 6:9], force).mean(axis=1) - v[..., 3:6].mean(axis=1)
            h = terrain.height_at(v[..., 6:8].mean(axis=1)) if terrain else np.zeros(T)
        else:
            h = np.zeros(T)
        loaded = f[:, 2] > MIN_VERTICAL_N
        fz = np.where(loaded, f[:, 2], 1.0)
        # moment about the origin M = cop x f + (0, 0, tz) with cop on the support (z = h)
        cop = np.where(loaded[:, None], np.stack([(h * f[:, 0] - m[:, 1]) / fz,
                                                  (m[:, 0] + h * f[:, 1]) / fz, h], axis=1), 0.0)
        tz = np.where(loaded, m[:, 2] - (cop[:, 0] * f[:, 1] - cop[:, 1] * f[:, 0]), 0.0)
        torque = np.zeros((T, 3))
        torque[:, 2] = tz
        out[s] = (frames.mujoco_to_osim_vec(f), frames.mujoco_to_osim_vec(cop),
                  frames.mujoco_to_osim_vec(torque))
    return out


def foot_wrenches(model: mujoco.MjModel, sensordata: np.ndarray
                  ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``foot_wrench_series`` of one frame: 3-vectors per side, from ``sensordata`` (one reading
    or rows of readings, averaged)."""
    series = foot_wrench_series(model, np.atleast_2d(np.asarray(sensordata, float))[None])
    return {s: tuple(x[0] for x in w) for s, w in series.items()}
