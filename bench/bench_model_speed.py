"""Physics steps per second of the built-in torque model on ONE core.

Two cases: standing (all controls zero, the model settles and falls over: contact-heavy) and
replaying gait under torque control (the sample walking trial's inverse-dynamics-free PD torques
+ residuals, open loop, starting from the reference state). Both use mujoco.rollout with one
thread (the C loop, no Python per step) and also a plain Python mj_step loop for reference.

    .venv/bin/python bench/bench_model_speed.py
"""

import json
import os
import platform
import time
from pathlib import Path

import mujoco
import mujoco.rollout
import numpy as np

from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import build_model
from kintwin.motion.sample import sample_walk

NSTEP = 20000


def gait_controls(model, motion, nstep):
    """PD torques (as ctrl) that would track the sample trial, precomputed along the reference."""
    qpos = motion.to_qpos(model)
    qvel, _ = motion.velocities(model)
    dt = model.opt.timestep
    idx = np.minimum((np.arange(nstep) * dt / (motion.time_s[1] - motion.time_s[0])).astype(int),
                     motion.n_frames - 1)
    ctrl = np.zeros((nstep, model.nu))
    gear = model.actuator_gear[:34, 0]
    ctrl[:, :34] = np.clip((400.0 * qpos[idx, 7:] + 20.0 * qvel[idx, 6:]) / gear, -1, 1)
    return ctrl, qpos[0], qvel[0]


def rollout_rate(model, qpos0, qvel0, ctrl):
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = qpos0, qvel0
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state = np.zeros(mujoco.mj_stateSize(model, spec))
    mujoco.mj_getState(model, data, state, spec)
    t = time.perf_counter()
    mujoco.rollout.rollout(model, data, state[None], ctrl[None])
    return len(ctrl) / (time.perf_counter() - t)


def python_rate(model, qpos0, qvel0, ctrl):
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = qpos0, qvel0
    t = time.perf_counter()
    for c in ctrl:
        data.ctrl[:] = c
        mujoco.mj_step(model, data)
    return len(ctrl) / (time.perf_counter() - t)


def main():
    motion = sample_walk()
    model = build_model(default_skeleton(motion.subject.height_m, motion.subject.mass_kg))
    stand_q = model.qpos0.copy()
    stand_q[2] = 0.95
    cases = {
        "standing": (np.zeros((NSTEP, model.nu)), stand_q, np.zeros(model.nv)),
        "gait_torque_control": gait_controls(model, motion, NSTEP),
    }
    out = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "mujoco": mujoco.__version__, "timestep_s": model.opt.timestep, "nstep": NSTEP}
    for name, (ctrl, q0, v0) in cases.items():
        rollout_rate(model, q0, v0, ctrl[:500])  # warm up
        out[name] = {"rollout_steps_per_s": round(rollout_rate(model, q0, v0, ctrl)),
                     "python_loop_steps_per_s": round(python_rate(model, q0, v0, ctrl))}
    print(json.dumps(out, indent=2))
    Path(__file__).with_name("results").mkdir(exist_ok=True)
    Path(__file__).with_name("results").joinpath("model_speed.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
