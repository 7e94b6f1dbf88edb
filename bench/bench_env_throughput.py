"""Throughput of the CPU tracking env with the policy in the loop vs bare ``mj_step``.

Measures, on the default 1.75 m / 70 kg model tracking the generated sample walk (control 50 Hz,
10 physics substeps of 2 ms):

* ``env_policy_steps_per_s``: env steps/s of the rollout loop as PPO runs it (jitted policy
  sampling on the (512, 256) network + ``env.step`` with auto-resets), ``--envs`` envs stepped by
  ``--threads`` threads;
* ``env_only_steps_per_s``: the same without the policy (fixed random actions);
* ``bare_steps_per_s``: control steps/s (x substeps physics steps) of plain ``mj_step`` calls
  on the SAME states and controls as the env run (each control step's states are restored
  untimed, then only the threaded ``mj_step(m, d, substeps)`` calls are timed), same threads;
* ``ratio = env_policy / bare`` (target >= 0.6), and the single-thread bare rate.

Prints JSON and writes ``bench/results/env_throughput.json``.

    python bench/bench_env_throughput.py [--envs 64] [--threads 2] [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import mujoco
import numpy as np

from kintwin.learn.ppo import PPOTrainer, _policy_step
from kintwin.learn.train_config import default_ppo_config
from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import build_model
from kintwin.motion.sample import sample_walk
from kintwin.sim.cpu_backend import CpuTrackingEnv

SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS  # the env's state rows (ThreadedPhysics)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200, help="control steps measured")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "env_throughput.json")
    args = ap.parse_args()

    model = build_model(default_skeleton(1.75, 70.0))
    env = CpuTrackingEnv(model, [sample_walk()], num_envs=args.envs, num_threads=args.threads)
    n, S = args.envs, env.config.substeps
    trainer = PPOTrainer(default_ppo_config(), env.obs_size, env.action_size)
    policy, obs_norm = trainer.state.policy, trainer.state.obs_norm
    key = jax.random.PRNGKey(0)

    # --- env with the policy in the loop (as PPOTrainer._collect runs it)
    obs = jax.numpy.asarray(env.reset(0), jax.numpy.float32)
    for _ in range(args.warmup):
        _, a, key = _policy_step(policy, obs_norm, obs, key)
        obs = jax.numpy.asarray(env.step(np.asarray(a))[0], jax.numpy.float32)
    states, ctrls = [], []
    t_policy = t_env = t_rec = 0.0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        t1 = time.perf_counter()
        _, a, key = _policy_step(policy, obs_norm, obs, key)
        a = np.asarray(a)
        t2 = time.perf_counter()
        states.append(env.physics.get_state())  # for the bare replay; not part of the loop cost
        ctrls.append(np.clip(a, -1, 1) * env.action_scale)
        t3 = time.perf_counter()
        o = env.step(a)[0]
        t4 = time.perf_counter()
        obs = jax.numpy.asarray(o, jax.numpy.float32)
        t_policy += t2 - t1
        t_rec += t3 - t2
        t_env += t4 - t3
    env_policy = n * args.steps / (time.perf_counter() - t0 - t_rec)

    # --- env alone (same kind of actions, no policy)
    rng = np.random.default_rng(0)
    acts = np.clip(rng.normal(0, 0.3, (args.steps, n, env.action_size)), -1, 1)
    env.reset(1)
    t0 = time.perf_counter()
    for a in acts:
        env.step(a)
    env_only = n * args.steps / (time.perf_counter() - t0)

    # --- bare mj_step on the recorded states and controls, same threads
    datas = [mujoco.MjData(env.model) for _ in range(n)]
    bounds = np.linspace(0, n, args.threads + 1).astype(int)
    chunks = [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]

    def work(chunk):
        for i in chunk:
            mujoco.mj_step(env.model, datas[i], S)

    def bare(pool):
        total = 0.0
        for st, c in zip(states, ctrls):
            for i, d in enumerate(datas):
                mujoco.mj_setState(env.model, d, st[i], SPEC)
                d.ctrl[:] = c[i]
            t = time.perf_counter()
            if pool is None:
                work(range(n))
            else:
                list(pool.map(work, chunks))
            total += time.perf_counter() - t
        return n * len(states) / total

    with ThreadPoolExecutor(args.threads) as pool:
        bare_mt = bare(pool)
    bare_1 = bare(None)
    env.close()

    result = {
        "envs": n, "threads": args.threads, "substeps": S, "control_hz": env.config.control_rate_hz,
        "timestep_s": env.model.opt.timestep, "measured_steps": args.steps,
        "obs_size": env.obs_size, "action_size": env.action_size,
        "policy_hidden": list(trainer.config.policy_hidden),
        "env_policy_steps_per_s": round(env_policy, 1),
        "env_only_steps_per_s": round(env_only, 1),
        "bare_steps_per_s": round(bare_mt, 1),
        "bare_physics_steps_per_s": round(bare_mt * S, 1),
        "bare_1thread_steps_per_s": round(bare_1, 1),
        "ratio_env_policy_to_bare": round(env_policy / bare_mt, 3),
        "ratio_env_only_to_bare": round(env_only / bare_mt, 3),
        "policy_ms_per_step": round(1e3 * t_policy / args.steps, 3),
        "env_ms_per_step": round(1e3 * t_env / args.steps, 3),
        "mujoco": mujoco.__version__, "jax": jax.__version__, "cpus": os.cpu_count(),
        "machine": platform.machine(), "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
