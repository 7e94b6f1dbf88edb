"""Ground reaction forces of each foot from MuJoCo contacts, as force plates would report them.

For one simulation state: the total force the floor exerts on each foot, its centre of pressure
(COP, on the floor plane) and the free moment about the vertical axis, all in OpenSim's ground
frame (Y up) so they compare directly with measured ``grf.mot`` files.
"""

from __future__ import annotations

import mujoco
import numpy as np

from ..motion import frames

SIDES = ("r", "l")
MIN_VERTICAL_N = 10.0  # below this the COP is undefined and reported as the previous/zero


def foot_geoms(model: mujoco.MjModel) -> dict[int, str]:
    """Contact geom id -> foot side ("r"/"l") for every colliding geom of the model."""
    out = {}
    for g in range(model.ngeom):
        if model.geom_contype[g]:
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
            if name[-2:] in ("_r", "_l"):
                out[g] = name[-1]
    return out


def _contact_sums(model: mujoco.MjModel, data: mujoco.MjData, geoms: dict[int, str]) -> dict:
    """Per side: [force, moment about the world origin] of the floor on the foot (MuJoCo world)."""
    sums = {s: [np.zeros(3), np.zeros(3)] for s in SIDES}
    f6 = np.zeros(6)
    for i in range(data.ncon):
        c = data.contact[i]
        g1, g2 = c.geom[0], c.geom[1]
        if g2 in geoms:
            side, sign = geoms[g2], 1.0  # force acts on geom2 along the normal (geom1 -> geom2)
        elif g1 in geoms:
            side, sign = geoms[g1], -1.0
        else:
            continue
        mujoco.mj_contactForce(model, data, i, f6)
        f = sign * (f6[:3] @ c.frame.reshape(3, 3))
        p = c.pos
        sums[side][0] += f
        sums[side][1] += (p[1] * f[2] - p[2] * f[1], p[2] * f[0] - p[0] * f[2],
                          p[0] * f[1] - p[1] * f[0])  # p x f (np.cross is slow on 3-vectors)
    return sums


def foot_wrenches(model: mujoco.MjModel, datas, geoms: dict[int, str] | None = None
                  ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per side: (force_n, cop_m, free_moment_nm), 3-vectors in OpenSim ground (Y up), of one
    ``MjData`` or the mean over several (e.g. the physics substeps of a control step, as a force
    plate averages over its sampling interval).

    The force is what the floor exerts on the foot. COP = point on the floor about which the
    horizontal moments of the (mean) contact forces vanish; the free moment is the remaining
    moment about the vertical axis through the COP. With no load the COP is zero.
    """
    geoms = foot_geoms(model) if geoms is None else geoms
    datas = [datas] if isinstance(datas, mujoco.MjData) else datas
    sums = {s: [np.zeros(3), np.zeros(3)] for s in SIDES}
    n = 0
    for d in datas:  # one at a time: an iterator may reuse one MjData for every state
        n += 1
        for s, (f, m) in _contact_sums(model, d, geoms).items():
            sums[s][0] += f
            sums[s][1] += m
    out = {}
    for s in SIDES:
        f, m = sums[s][0] / max(n, 1), sums[s][1] / max(n, 1)
        cop = np.zeros(3)
        tz = 0.0
        if f[2] > MIN_VERTICAL_N:
            # moment about the origin M = cop x f + (0, 0, tz) with cop on the floor (z = 0)
            cop = np.array([-m[1] / f[2], m[0] / f[2], 0.0])
            tz = m[2] - (cop[0] * f[1] - cop[1] * f[0])
        out[s] = (frames.mujoco_to_osim_vec(f), frames.mujoco_to_osim_vec(cop),
                  frames.mujoco_to_osim_vec(np.array([0.0, 0.0, tz])))
    return out
