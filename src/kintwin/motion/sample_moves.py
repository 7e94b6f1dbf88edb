"""Generated trials that are not level walking: a step ``step_m`` high ``reach_m`` ahead, one
leg, a jump.

* ``step_stand``: standing with the left foot flat on the floor and the right foot flat on the
  step, shifting the weight between the feet (the whole-body centre of mass moves forward and back
  over the line between the feet, ``shift`` of the distance between the heels, sinusoidally at
  ``shift_hz``);
* ``one_leg_stand``: standing on the left leg, the right foot held still in the air;
* ``step_up``: standing on the floor, then stepping up onto the step, right foot first, and
  standing on it: each swing foot lifts its heel first (``HEEL_OFF_M``), then rises to
  ``CLEARANCE_M`` above the step (nearly flat: its toes clear the step's edge), moves over it and
  comes down onto it, its leg near a raised pose; the centre of mass moves towards the stance foot
  before each swing, lowers ``COM_DIP_M`` as it moves over the step and rises by the step through
  the left swing;
* ``countermovement_jump``: down, up, a ballistic flight and a landing, feet flat.

Each frame is solved by damped least squares from the previous one over the pelvis position,
tilt and list and both legs' hip flexion and adduction, knee and ankle (``step_up``: and
subtalar joint, ``FOOT_ROLL``): each foot's heel and metatarsal spheres at the foot's height
(flat), its heel at its place, the centre of mass on its path; the pelvis upright
(``PELVIS_TOL_RAD``), the legs near a pose (``PRIOR_RAD``) and the knees not bent backwards. Frame by frame the solve can switch branches
(a knee that unlocks from straight); ``step_up`` is therefore solved twice, the second time near
the first low-passed at ``SMOOTH_HZ``. Before (2026-12-08, ``bench/generated_moves_twin.py``):
joints jumped up to 25 deg in one 10 ms frame, the stance foot floated 18 mm, and the centre of
mass rose 11 cm in 0.2 s (530 %BW of vertical content above 6 Hz; the twin's vertical ground
reaction peaked at 641 %BW). Test trials for the support the twin builds (``sim/terrain.py``)
and for movements with flight.
"""

from __future__ import annotations

import mujoco
import numpy as np

from .motion import Motion, Subject

#: the solve's tolerances: feet and centre of mass; pelvis list and tilt; legs; a knee bent backwards
TOL_M, PELVIS_TOL_RAD, PRIOR_RAD, KNEE_TOL_RAD = 0.001, 0.1, 0.3, 0.002
SOLVED = ("hip_flexion_r", "hip_adduction_r", "knee_angle_r", "ankle_angle_r",
          "hip_flexion_l", "hip_adduction_l", "knee_angle_l", "ankle_angle_l")
#: ``step_up`` solves these too: as its weight shifts between a foot on the floor and one on the
#: step, a flat foot needs its roll (without them a stance foot rolled 2-3 mm off the floor)
FOOT_ROLL = ("subtalar_angle_r", "subtalar_angle_l")
FOOT_TO_ANKLE_M = 0.05  #: the centre of mass over a foot: this far in front of its heel
CLEARANCE_M = 0.05  #: a swing foot's sole clears the step by this much
#: ``step_up``: the centre of mass lowers this much as it moves over the step (the left foot still
#: on the floor behind), before it rises by the step
COM_DIP_M = 0.02
SWING_POSE_DEG = {"hip_flexion": 50.0, "knee_angle": 60.0, "ankle_angle": 10.0}  #: a raised leg
HEEL_OFF_M = 0.04  #: ``step_up``: a swing starts with the heel rising this much, the toes down
#: ``step_up``'s second solve stays within this of its first low-passed at ``SMOOTH_HZ``
SMOOTH_HZ, SMOOTH_PRIOR_RAD = 4.0, 0.05


def step_stand(step_m: float = 0.15, reach_m: float = 0.30, shift: float = 0.25,
               shift_hz: float = 0.5, duration_s: float = 2.0, rate_hz: float = 100.0,
               height_m: float = 1.75, mass_kg: float = 70.0) -> Motion:
    """Standing with the right foot on a step (module doc)."""
    def targets(t):
        frac = 0.5 + shift * np.sin(2 * np.pi * shift_hz * t)  # share of the way to the right heel
        return {"r": (reach_m, step_m), "l": (0.0, 0.0)}, (FOOT_TO_ANKLE_M + frac * reach_m, None)

    pose = {"hip_flexion_r": 50.0, "knee_angle_r": 60.0, "ankle_angle_r": 10.0, "knee_angle_l": 5.0}
    return _solve(targets, pose, duration_s, rate_hz, height_m, mass_kg, "step_stand")


def step_up(step_m: float = 0.15, reach_m: float = 0.30, rate_hz: float = 100.0,
            height_m: float = 1.75, mass_kg: float = 70.0) -> Motion:
    """Standing, stepping up onto a step right foot first, standing on it (module doc): 6 s."""
    # (start, end) of: weight onto the left foot, right swing, weight onto the right foot, left
    # swing, weight between the feet on the step
    shift_l, swing_r, shift_r, swing_l, settle = (0.5, 1.4), (1.4, 2.5), (2.5, 3.6), (3.6, 4.7), (4.7, 5.5)
    rise = (3.6, 4.5)  # the centre of mass rises onto the step, through the left swing

    def ramp(t, span):
        s = np.clip((t - span[0]) / (span[1] - span[0]), 0.0, 1.0)
        return s * s * (3 - 2 * s)  # smoothstep

    def foot(t, span):  # heel x, sole height, flatness, heel rise: the heel first, then the foot
        s = (t - span[0]) / (span[1] - span[0])  # up above the step, forward and down onto it
        heel = HEEL_OFF_M * (ramp(s, (0.0, 0.15)) - ramp(s, (0.15, 0.45)))
        lift = ramp(s, (0.15, 0.45)) * (step_m + CLEARANCE_M) - ramp(s, (0.6, 1.0)) * CLEARANCE_M
        flat = 1.0 - 0.9 * (ramp(s, (0.15, 0.35)) - ramp(s, (0.8, 1.0)))
        return reach_m * ramp(s, (0.2, 0.8)), lift, flat, heel

    z0 = _standing_com_height(height_m, mass_kg)

    def targets(t):
        feet = {"r": foot(t, swing_r), "l": foot(t, swing_l)}
        lateral = 0.7 * (-ramp(t, shift_l) + 2.0 * ramp(t, shift_r) - ramp(t, settle))
        x = FOOT_TO_ANKLE_M + reach_m * (0.5 * ramp(t, shift_r) + 0.5 * ramp(t, rise))
        z = z0 - COM_DIP_M * ramp(t, shift_r) + (COM_DIP_M + step_m) * ramp(t, rise)
        return feet, (x, lateral, z)

    def pose(t):  # a swing leg near a raised pose
        out = {}
        for s, span in (("r", swing_r), ("l", swing_l)):
            lift = ramp(t, (span[0], span[0] + 0.3)) - ramp(t, (span[1] - 0.3, span[1]))
            for j, deg in SWING_POSE_DEG.items():
                base = 5.0 if j == "knee_angle" else 0.0
                out[f"{j}_{s}"] = base + lift * (deg - base)
        return out

    solved = SOLVED + FOOT_ROLL
    first = _solve(targets, pose, 6.0, rate_hz, height_m, mass_kg, "step_up", solved=solved)
    first = first.filtered(SMOOTH_HZ)

    def near(t):  # the first solve, low-passed: its branch switches smoothed out
        return {j: float(np.rad2deg(np.interp(t, first.time_s, first[j]))) for j in solved}

    return _solve(targets, near, 6.0, rate_hz, height_m, mass_kg, "step_up", SMOOTH_PRIOR_RAD, solved)


def one_leg_stand(lift_m: float = 0.20, duration_s: float = 2.0, rate_hz: float = 100.0,
                  height_m: float = 1.75, mass_kg: float = 70.0) -> Motion:
    """Standing on the left leg, the right foot held still ``lift_m`` up in the air: to the
    kinematics a foot standing on something (``sim/terrain.py`` builds no box under it, as no
    force is needed there)."""
    def targets(t):
        return {"r": (0.10, lift_m), "l": (0.0, 0.0)}, (FOOT_TO_ANKLE_M, -0.8)

    pose = {"hip_flexion_r": 40.0, "knee_angle_r": 60.0, "knee_angle_l": 5.0}
    return _solve(targets, pose, duration_s, rate_hz, height_m, mass_kg, "one_leg_stand")


def countermovement_jump(depth_m: float = 0.15, takeoff_mps: float = 1.4, rate_hz: float = 100.0,
                         height_m: float = 1.75, mass_kg: float = 70.0) -> Motion:
    """A vertical countermovement jump with flat feet (3 s): standing, down ``depth_m``, up to
    take off at ``takeoff_mps`` with straight legs, a ballistic flight (the feet under the body),
    landing and absorbing ``depth_m`` / 2, standing again. Centre-of-mass height on that path
    (cubic segments that join in height and speed)."""
    from ..models.build import GRAVITY

    z0 = _standing_com_height(height_m, mass_kg)
    flight = 2 * takeoff_mps / GRAVITY
    t_down, t_low, t_off = 0.4, 0.9, 1.2
    t_land = t_off + flight
    t_absorb, t_up = t_land + 0.25, t_land + 0.85
    knots = [(0.0, z0, 0.0), (t_down, z0, 0.0), (t_low, z0 - depth_m, 0.0), (t_off, z0, takeoff_mps)]
    after = [(t_land, z0, -takeoff_mps), (t_absorb, z0 - depth_m / 2, 0.0), (t_up, z0, 0.0),
             (t_up + 1.0, z0, 0.0)]

    def com_height(t):
        if t_off < t < t_land:  # flight
            return z0 + takeoff_mps * (t - t_off) - 0.5 * GRAVITY * (t - t_off) ** 2
        for (a, za, va), (b, zb, vb) in zip(knots + after, (knots + after)[1:]):
            if a <= t <= b and not (a == t_off and b == t_land):
                return _hermite(t, a, b, za, zb, va, vb)
        return z0

    def targets(t):
        lift = max(0.0, com_height(t) - z0) if t_off < t < t_land else 0.0
        return {"r": (0.0, lift), "l": (0.0, lift)}, (FOOT_TO_ANKLE_M, 0.0, com_height(t))

    pose = {"knee_angle_r": 5.0, "knee_angle_l": 5.0}
    return _solve(targets, pose, t_up + 0.6, rate_hz, height_m, mass_kg, "countermovement_jump")


def _hermite(t, a, b, za, zb, va, vb):
    """Cubic from (a, za, va) to (b, zb, vb) at t (heights and speeds)."""
    h, s = b - a, (t - a) / (b - a)
    return ((2 * s ** 3 - 3 * s ** 2 + 1) * za + (s ** 3 - 2 * s ** 2 + s) * h * va
            + (-2 * s ** 3 + 3 * s ** 2) * zb + (s ** 3 - s ** 2) * h * vb)


def _standing_com_height(height_m: float, mass_kg: float) -> float:
    """The centre of mass height of the model standing straight, feet flat on the floor."""
    def targets(t):
        return {"r": (0.0, 0.0), "l": (0.0, 0.0)}, (FOOT_TO_ANKLE_M, 0.0)

    from ..models.anthropometry import default_skeleton
    from ..models.build import build_model
    from ..sim.reference import centre_of_mass

    m = _solve(targets, {"knee_angle_r": 5.0, "knee_angle_l": 5.0}, 0.0, 100.0, height_m, mass_kg, "standing")
    model = build_model(default_skeleton(height_m, mass_kg))
    return float(centre_of_mass(model, m.to_qpos(model, warn=False))[0, 2])


def _solve(targets, pose_deg, duration_s: float, rate_hz: float, height_m: float,
           mass_kg: float, name: str, prior_rad: float = PRIOR_RAD, solved=SOLVED) -> Motion:
    """Frames at ``rate_hz`` of the solve in the module doc. ``targets(t)``: ({side: (heel x,
    sole height[, flatness[, heel rise]])}, (centre of mass x, lateral place or None[, height])),
    the lateral place -1 over the left foot, 0 midway, +1 over the right foot, the flatness the
    weight (0-1) of the sole's other spheres at the sole's height, the heel rise above it (m);
    ``pose_deg``: the legs' pose the solve stays near, within ``prior_rad``, a dict or a function
    of time giving one; ``solved``: the legs' joints solved (the others held at 0)."""
    from ..models.anthropometry import default_skeleton
    from ..models.build import build_model
    from ..sim.floor import contact_spheres

    model = build_model(default_skeleton(height_m, mass_kg))
    data = mujoco.MjData(model)
    geoms, names, side = contact_spheres(model)
    sole = {s: [geoms[i] for i, n in enumerate(names) if not n.startswith("toe") and n.endswith(s)]
            for s in ("r", "l")}
    heel = {s: geoms[names.index(f"heel_{s}")] for s in ("r", "l")}
    jid = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in solved]
    qadr = np.array([model.jnt_qposadr[j] for j in jid])
    # pelvis x, y, z, list and tilt (free joint rotations in body axes: OpenSim x forward, z
    # lateral), then the legs
    dofs = [0, 1, 2, 3, 5] + [model.jnt_dofadr[j] for j in jid]

    def pose_at(t):
        pose = pose_deg(t) if callable(pose_deg) else pose_deg
        return np.deg2rad([pose.get(j, 0.0) for j in solved])

    prior = pose_at(0.0)
    knee = np.array([j.startswith("knee") for j in solved])
    q = model.qpos0.copy()
    q[qadr] = prior
    data.qpos[:] = q
    mujoco.mj_kinematics(model, data)
    q[2] -= min(data.geom_xpos[g, 2] - model.geom_size[g, 0] for g in sole["l"])  # left foot down
    heel_y = {}
    t = np.arange(0.0, duration_s + 1e-9, 1.0 / rate_hz)
    out = np.empty((len(t), model.nq))
    jac = np.zeros((3, model.nv))
    w = np.r_[np.zeros(3), np.full(2, 1 / PELVIS_TOL_RAD ** 2), np.full(len(solved), 1 / prior_rad ** 2)]
    for k, tk in enumerate(t):
        feet, com = targets(tk)
        prior = pose_at(tk)
        com_x, lateral, com_z = (*com, None)[:3]
        for _ in range(40):
            data.qpos[:] = q
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            if not heel_y:  # the feet keep their sideways places
                heel_y = {s: float(data.geom_xpos[heel[s], 1]) for s in heel}
            rows, jacs = [], []

            def row(point, body, axis, value):
                mujoco.mj_jac(model, data, jac, None, point, body)
                rows.append(point[axis] - value)
                jacs.append(jac[axis].copy())

            for s, (hx, hz, *more) in feet.items():
                flat, rise = (*more, 1.0, 0.0)[:2]
                for g in sole[s]:  # flat foot at its height (a raised foot: its heel at its height)
                    bottom = data.geom_xpos[g] - (0.0, 0.0, model.geom_size[g, 0])
                    row(bottom, model.geom_bodyid[g], 2, hz + (rise if g == heel[s] else 0.0))
                    if g != heel[s]:
                        rows[-1], jacs[-1] = rows[-1] * flat, jacs[-1] * flat
                row(data.geom_xpos[heel[s]], model.geom_bodyid[heel[s]], 0, hx)
                row(data.geom_xpos[heel[s]], model.geom_bodyid[heel[s]], 1, heel_y[s])
            mujoco.mj_jacSubtreeCom(model, data, jac, 0)
            rows.append(data.subtree_com[0, 0] - com_x)
            jacs.append(jac[0].copy())
            if com_z is not None:
                rows.append(data.subtree_com[0, 2] - com_z)
                jacs.append(jac[2].copy())
            if lateral is not None:
                mid = 0.5 * (heel_y["r"] + heel_y["l"])
                rows.append(data.subtree_com[0, 1] - (mid + 0.5 * lateral * (heel_y["r"] - heel_y["l"])))
                jacs.append(jac[1].copy())
            r, J = np.array(rows) / TOL_M, np.array(jacs)[:, dofs] / TOL_M
            dev = np.r_[np.zeros(3), _list_tilt(q), q[qadr] - prior]
            # knees do not bend backwards (the solve would find that branch for a swing leg)
            over = np.r_[np.zeros(5), np.minimum(q[qadr] - np.where(knee, 0.0, -np.inf), 0.0)]
            wk = np.where(over < 0, 1 / KNEE_TOL_RAD ** 2, 0.0)
            dq = np.linalg.solve(J.T @ J + np.diag(w + wk + 1e-6), -J.T @ r - w * dev - wk * over)
            v = np.zeros(model.nv)
            v[dofs] = dq
            mujoco.mj_integratePos(model, q, v, 1.0)
            if np.abs(dq).max() < 1e-7:
                break
        out[k] = q
    return Motion.from_qpos(model, t, out, subject=Subject(height_m=height_m, mass_kg=mass_kg),
                            source_file=f"kintwin.motion.sample_moves.{name}",
                            source_convention="canonical")


def _list_tilt(q: np.ndarray) -> np.ndarray:
    """The pelvis's list and tilt (rad) from the free joint's quaternion."""
    from .frames import pelvis_angles_from_quat

    tilt, lst, _ = pelvis_angles_from_quat(q[None, 3:7])[0]
    return np.array([lst, tilt])


__all__ = ["step_stand", "step_up", "one_leg_stand", "countermovement_jump"]
