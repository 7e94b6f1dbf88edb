"""What a twin run records at each output frame, turned into ``analysis.results.Results``.

Both twins (a policy, ``runner.py``; the whole-body controller, ``controlled.py``) record, for
each control step, the simulated state at its end, the joint torques and the pelvis residual
applied during it (mean over its physics steps) and each foot's ground reaction (mean of the
foot contact sensors over its physics steps, ``sim/ground_reaction.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from ..analysis.results import MuscleActivity, Results
from ..models.coordinates import RESIDUAL_ACTUATORS
from ..motion import frames
from ..motion.grf import GroundReactions
from ..motion.motion import Motion
from ..sim.ground_reaction import SIDES, foot_wrench_series


@dataclass
class Recording:
    """Per output frame: ``qpos`` (nq,), ``torque`` (n_motors,) N*m, ``residual`` (6,) world
    force N and moment N*m at the pelvis origin, ``sensordata`` (n, nsensordata): the sensor
    readings of its physics steps (``foot_wrench_series``)."""

    qpos: list = field(default_factory=list)
    torque: list = field(default_factory=list)
    residual: list = field(default_factory=list)
    sensordata: list = field(default_factory=list)
    activation: list = field(default_factory=list)  # muscle models: per muscle (0-1)
    tension: list = field(default_factory=list)  # per muscle, N (positive = pulling)
    reserve: list = field(default_factory=list)  # per reserve motor, N*m

    def add(self, qpos, torque, residual, sensordata) -> None:
        self.qpos.append(np.array(qpos, float))
        self.torque.append(np.array(torque, float))
        self.residual.append(np.array(residual, float))
        self.sensordata.append(np.array(sensordata, float))

    def add_muscles(self, activation, tension_n, reserve_nm) -> None:
        self.activation.append(np.array(activation, float))
        self.tension.append(np.array(tension_n, float))
        self.reserve.append(np.array(reserve_nm, float))

    def __len__(self) -> int:
        return len(self.qpos)

    def results(self, model: mujoco.MjModel, time_s: np.ndarray, motion: Motion,
                subject: tuple[float, float], method: str, info: dict) -> Results:
        """``Results`` in the trial's conventions (exports follow its sign convention)."""
        sim = Motion.from_qpos(model, time_s, np.array(self.qpos), subject=motion.subject,
                               source_file=method,
                               source_convention=motion.source_convention)
        motors = np.flatnonzero(model.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT)
        names = [model.joint(int(model.actuator_trnid[a, 0])).name for a in motors]
        muscles = None
        if self.activation:
            from ..models.muscles import muscle_actuators, reserve_actuators

            actuator = lambda a: model.actuator(int(a)).name
            muscles = MuscleActivity(
                names=[actuator(a) for a in muscle_actuators(model)],
                activation=np.array(self.activation), force_n=np.array(self.tension),
                reserve_names=[actuator(a) for a in reserve_actuators(model)],
                reserve_nm=np.array(self.reserve))
        res = np.array(self.residual)
        loads = foot_wrench_series(model, np.array(self.sensordata))
        grf = GroundReactions(time_s=np.asarray(time_s, float),
                              force_n={s: loads[s][0] for s in SIDES},
                              cop_m={s: loads[s][1] for s in SIDES},
                              torque_nm={s: loads[s][2] for s in SIDES})
        return Results(time_s=np.asarray(time_s, float), kinematics=sim, coordinate_names=names,
                       torque_nm=np.array(self.torque), grf=grf,
                       residual_force_n=frames.mujoco_to_osim_vec(res[:, :3]),
                       residual_moment_nm=frames.mujoco_to_osim_vec(res[:, 3:]),
                       mass_kg=float(subject[1]), height_m=float(subject[0]), method=method,
                       info={**info, "residual_actuators": list(RESIDUAL_ACTUATORS)},
                       muscles=muscles)
