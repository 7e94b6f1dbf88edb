"""What the PPO fine-tuning reward pays the muscle policy for, term by term (issue 18).

The committed muscle policy (bench/results/distill_muscles_subject01.npz) in the fine-tuning
env (``learn/finetune_env.ControlledTrackingEnv``) on its trial (subject01, gait2392 IK 0.5-1.6 s,
subject01's gait2392 muscles as in ``bench_distill.py --muscles``), 8 envs x 60 control steps from
random starts, once with the deterministic policy and once with the fine-tuning's exploration noise
(``FinetuneConfig.motor_std`` on every non-residual action, ``residual_std`` on the residuals).
Mean of each reward term per step, the RMS of each reserve torque, and the torque-rate penalty as
it was before 8868354, over every non-residual control (a muscle's control is its excitation).

    .venv/bin/python bench/finetune_reward_terms.py     # bench/results/finetune_reward_terms.json
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_twin import DATA, REPO  # noqa: E402

TERMS = ("r_joint", "r_pelvis_pos", "r_pelvis_rot", "r_grf", "r_cop", "r_residual", "p_torque_rate",
         "p_reserve")


def measure(env, policy, noise: tuple[float, float] | None, steps: int = 60) -> dict:
    rng = np.random.default_rng(0)
    obs = env.reset(0)
    others = np.setdiff1d(np.arange(env.action_size), env.residuals)
    sums, reserve_sq, old_rate, n_rate = {t: 0.0 for t in TERMS}, 0.0, 0.0, 0
    prev, fresh = None, np.ones(env.num_envs, bool)
    for _ in range(steps):
        a = policy.action(obs)
        if noise is not None:
            a[:, others] += noise[0] * rng.standard_normal((len(a), len(others)))
            a[:, env.residuals] += noise[1] * rng.standard_normal((len(a), len(env.residuals)))
        obs, _, done, info = env.step(a)
        ctrl = np.stack([d.ctrl for d in env.datas])
        for t in TERMS:
            sums[t] += float(info[t].mean())
        reserve_sq = reserve_sq + (ctrl[:, env.reserves] * env.gear[env.reserves]) ** 2
        if prev is not None:
            rate = (ctrl[:, others] - prev[:, others]) / env.cfg.torque_rate_scale
            old = -env.cfg.w_torque_rate * np.mean(rate ** 2, axis=1)
            old_rate += float(old[~fresh].sum())
            n_rate += int((~fresh).sum())
        prev, fresh = ctrl, done.copy()
    return {"terms_mean_per_step": {t: v / steps for t, v in sums.items()},
            "reserve_rms_nm": np.sqrt(reserve_sq.mean(axis=0) / steps).round(2).tolist(),
            "torque_rate_penalty_on_all_non_residual_controls": old_rate / max(n_rate, 1)}


def main():
    from kintwin.learn.distill import load_distilled, muscle_drive, teaching
    from kintwin.learn.finetune import FinetuneConfig
    from kintwin.learn.finetune_env import ControlledTrackingEnv
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.motion.kinematics_io import read_motion

    ik = DATA / "osim_subject01_walk" / "gait2392" / "subject01_walk1_ik.mot"
    if not ik.is_file():
        sys.exit(f"no shared data at {ik}: nothing measured")
    warnings.simplefilter("ignore")
    policy = load_distilled(REPO / "bench" / "results" / "distill_muscles_subject01.npz")
    motion = read_motion(ik).slice_time(0.5, 1.6)
    sims = teaching([(default_skeleton(1.803, 72.6), motion)], policy.controller, muscle_drive(policy))
    env = ControlledTrackingEnv(sims, policy, 8, seed=0)
    fc = FinetuneConfig()
    result = {"reserves": [sims[0].model.actuator(a).name for a in env.reserves],
              "deterministic": measure(env, policy, None),
              "exploration_noise": {"motor_std": fc.motor_std, "residual_std": fc.residual_std,
                                    **measure(env, policy, (fc.motor_std, fc.residual_std))}}
    for k in ("deterministic", "exploration_noise"):
        print(k, {t: round(v, 4) for t, v in result[k]["terms_mean_per_step"].items()},
              "rate penalty on all controls:", round(result[k]["torque_rate_penalty_on_all_non_residual_controls"], 4))
    out = REPO / "bench" / "results" / "finetune_reward_terms.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
