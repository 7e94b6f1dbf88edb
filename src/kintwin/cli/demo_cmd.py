"""kintwin demo: run the main job on the embedded sample walking trial."""

from __future__ import annotations

import time
from pathlib import Path

import mujoco
import numpy as np

from ..models.anthropometry import default_skeleton
from ..models.build import build_model
from ..motion.kinematics_io import write_motion
from ..motion.sample import sample_walk

HELP = "analyze the embedded sample walking trial and write the outputs (no arguments needed)"


def add_arguments(p):
    p.add_argument("--out", type=Path, default=Path("kintwin_demo"), help="output folder")


def run(args):
    t0 = time.perf_counter()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    print("[1/3] generating the sample walking trial ...", flush=True)
    motion = sample_walk()
    trial = write_motion(out / "sample_walk.mot", motion)
    h, m = motion.subject.height_m, motion.subject.mass_kg
    print(f"      {motion.n_frames} frames, {motion.time_s[-1]:.2f} s, subject {h} m, {m} kg -> {trial}")
    print("[2/3] building the subject-scaled model ...", flush=True)
    model = build_model(default_skeleton(h, m))
    print(f"      nq={model.nq} nv={model.nv} nu={model.nu} mass={model.body_mass.sum():.2f} kg")
    print("[3/3] replaying the trial kinematically ...", flush=True)
    data = mujoco.MjData(model)
    low = []
    for q in motion.to_qpos(model):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        low.append(min(data.geom_xpos[g][2] - model.geom_size[g][0]
                       for g in range(model.ngeom) if model.geom_contype[g]))
    speed = np.ptp(motion["pelvis_tx"]) / np.ptp(motion.time_s)
    print(f"      walking speed {speed:.2f} m/s; lowest foot point {1000 * np.min(low):+.1f} to "
          f"{1000 * np.max(low):+.1f} mm from the floor")
    print(f"done in {time.perf_counter() - t0:.1f} s; outputs in {out.resolve()}")
    return 0
