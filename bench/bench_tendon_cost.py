"""Where the muscle model's physics step goes, against the torque model's (issue 18's step rate).

Since the muscle twin steps its muscle model with fixed tendons refreshed from the spatial paths
at every control step (``models/linear_paths.py``), that model is timed too
(``muscle_linear_paths``), with the refresh itself (``refresh_us``: one Python call) and the
ratio the loop gets with one refresh per control step of 8 (125 Hz, the muscle twin) or 4 (250
Hz, a distilled muscle policy) physics steps of 1 ms.

Models: the built-in torque model of the controller twin and the shipped 92-muscle model as
``kintwin analyze --muscles`` builds it (generic gait2392 muscles scaled to the skeleton), both on
the sample subject, plus a lower bound for "fewer via points": the same muscle model with every
tendon cut down to its origin and insertion (2 sites: a straight line, the fewest sites a spatial
tendon can have; not a usable model, its moment arms are wrong). States: every frame of the
generated sample walk, zero velocity (the bench of ``bench_muscle_twin.py`` uses subject01's IK
states). Each stage is timed as one call from Python after ``mj_forward`` (the ~0.3 us call
overhead is in every figure of both models), mean over all states x repeats, one thread.

    .venv/bin/python bench/bench_tendon_cost.py     # bench/results/tendon_cost.json
"""

from __future__ import annotations

import json
import os
import platform
import time
import warnings
from pathlib import Path

import mujoco
import numpy as np

STAGES = ("mj_step", "mj_kinematics", "mj_tendon", "mj_transmission", "mj_fwdVelocity",
          "mj_fwdActuation")


def call_time_us(model: mujoco.MjModel, states: np.ndarray, fn, repeats: int = 5) -> float:
    """Mean wall time (us) of ``fn(model, data)``, one call per state (zero velocity) after
    mj_forward at that state."""
    data = mujoco.MjData(model)
    total = 0.0
    for _ in range(repeats):
        for q in states:
            data.qpos[:], data.qvel[:] = q, 0.0
            mujoco.mj_forward(model, data)
            t0 = time.perf_counter()
            fn(model, data)
            total += time.perf_counter() - t0
    return 1e6 * total / (repeats * len(states))


def paired_step_us(models: dict, states: np.ndarray, rounds: int = 15) -> dict:
    """Median ``mj_step`` time (us) of each model, the models timed in turn within each round
    (``call_time_us`` over every state once) so that this VM's drifts in speed (2x between
    minutes) hit them alike; also each model's median per-round ratio to the first model's
    (``ratio_to_first``: the first model's time / this model's, i.e. a step-rate ratio)."""
    times = {name: [] for name in models}
    for _ in range(rounds):
        for name, m in models.items():
            times[name].append(call_time_us(m, states, mujoco.mj_step, 1))
    first = np.asarray(next(iter(times.values())))
    return {name: {"median_us": float(np.median(t)),
                   "ratio_to_first": float(np.median(first / np.asarray(t)))}
            for name, t in times.items()}


def stage_times_us(model: mujoco.MjModel, states: np.ndarray, repeats: int = 5) -> dict:
    """Mean wall time (us) of each stage (``call_time_us``)."""
    return {name: call_time_us(model, states, getattr(mujoco, name), repeats) for name in STAGES}


def endpoints_only(spec: mujoco.MjSpec, model: mujoco.MjModel) -> mujoco.MjModel:
    """The muscle model with each spatial tendon reduced to its first and last site."""
    for t in range(model.ntendon):
        adr, num = model.tendon_adr[t], model.tendon_num[t]
        sites = [model.site(model.wrap_objid[adr + k]).name for k in (0, num - 1)]
        name = model.tendon(t).name
        spec.delete(spec.tendon(name))
        tendon = spec.add_tendon(name=name)
        for s in sites:
            tendon.wrap_site(s)
    return spec.compile()


def main():
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import build_model
    from kintwin.models.linear_paths import LinearPaths
    from kintwin.motion.sample import sample_walk
    from kintwin.twin.controlled import CONTROLLER_SIM_OPTIONS, MuscleDrive

    motion = sample_walk()
    skeleton = default_skeleton(motion.subject.height_m, motion.subject.mass_kg)
    torque = build_model(skeleton, CONTROLLER_SIM_OPTIONS)
    spec, _ = MuscleDrive().spec(skeleton, CONTROLLER_SIM_OPTIONS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        muscle = spec.compile()
        paths = LinearPaths(spec.copy(), muscle)
        straight = endpoints_only(spec, muscle)
        states = motion.to_qpos(torque, warn=False)
    paths.refresh(states[0])
    models = {"torque": torque, "muscle": muscle, "muscle_linear_paths": paths.model,
              "muscle_endpoints_only": straight}
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "mujoco": mujoco.__version__, "states": len(states), "models": {}}
    for name, m in models.items():
        stage_times_us(m, states[:20], repeats=1)  # warm up
        t = stage_times_us(m, states)
        result["models"][name] = {"ntendon": m.ntendon, "nsite": m.nsite, "nwrap": m.nwrap,
                                  "nu": m.nu, "timestep_s": m.opt.timestep, "us": t}
    paired = paired_step_us(models, states)
    result["paired_mj_step"] = paired
    step = {k: v["median_us"] for k, v in paired.items()}
    mus = result["models"]["muscle"]["us"]
    result["step_rate_ratio"] = paired["muscle"]["ratio_to_first"]
    result["step_rate_ratio_endpoints_only"] = paired["muscle_endpoints_only"]["ratio_to_first"]
    #: the ratio if the 92 tendons cost nothing (the muscle step without mj_tendon)
    result["step_rate_ratio_without_tendon_stage"] = (  # from the stage times (one pass each)
        result["models"]["torque"]["us"]["mj_step"] / (mus["mj_step"] - mus["mj_tendon"]))
    result["tendon_us_per_tendon"] = mus["mj_tendon"] / result["models"]["muscle"]["ntendon"]
    result["step_rate_ratio_linear_paths"] = paired["muscle_linear_paths"]["ratio_to_first"]
    paths.refresh(states[0])  # warm up
    t0 = time.perf_counter()
    for q in np.tile(states, (5, 1)):
        paths.refresh(q)
    result["refresh_us"] = 1e6 * (time.perf_counter() - t0) / (5 * len(states))
    for steps in (8, 4):  # physics steps per control step (one refresh each)
        result[f"step_rate_ratio_linear_paths_refresh_every_{steps}"] = step["torque"] / (
            step["muscle_linear_paths"] + result["refresh_us"] / steps)
    print(json.dumps(result, indent=1))
    out = Path(__file__).with_name("results") / "tendon_cost.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
