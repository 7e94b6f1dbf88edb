"""PPO fine-tuning of a distilled policy (``learn/distill.py``) in its own simulation, paid for the
twin's figures (``learn/finetune_env.py``: tracking of the measured joints and kinetics against
the kinematics-only contact estimate; force plates and reference files never enter).

:func:`finetune` reads top to bottom:

1. the simulation of every trial (``distill.teaching``) and two envs on it: the training env
   (``num_envs`` x ``num_steps`` >= 32k samples per update) and the evaluation env
   (``eval_episodes`` deterministic episodes from random start frames with random perturbations,
   drawn once, the same at every evaluation);
2. the PPO trainer (``learn/ppo.py``) started at the distilled policy: its network and its
   observation normaliser, which stays frozen (``update_obs_norm=False``: the deterministic policy
   moves only by gradient steps); a fresh value network trained alone for the first
   ``value_warmup_iterations``; the exploration std fixed at ``motor_std`` (fraction of each
   motor's peak torque) and ``residual_std`` (fraction of m g, or m g h) (``learn_std=False``);
   with ``anchor_kl_coef`` the KL from the distilled policy is penalised (``learn/ppo.py``);
3. the loop: one PPO iteration at a time, an evaluation every ``eval_every`` iterations, until
   ``time_budget_s`` or ``max_iterations``;
4. the policy of the best evaluation (the distilled policy itself when nothing beat it).

Evaluation score (lower is better; each figure over its target, so 1 is "at the target"):
``joint MAE / 1 deg + per-foot vertical GRF RMSE vs the estimate / 10 %BW + mean residual force
/ 3 %BW + mean |hip, knee and ankle flexion reserve| / 1.5 N*m + 3 x (1 - completed fraction)``,
each a mean over the episodes. The reserves (muscle-driven twin; 0 on a torque model) are
scored against 1.5 N*m, 5 % (the twin's bar for them) of a walking adult's mean hip, knee and
ankle flexion moment (~30 N*m).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..sim.tracking import FREE_QPOS
from .distill import DistilledPolicy, muscle_drive, teaching
from .finetune_env import ControlledTrackingEnv, FinetuneReward
from .policy import Policy, Weights
from .ppo import PPOTrainer


@dataclass
class FinetuneConfig:
    num_envs: int = 128
    #: control steps per env per update: x num_envs = 131,072 samples. The policy gradient of
    #: one 32k-sample rollout was measured ~70 % noise (signal-to-noise 0.16-0.41 for stds
    #: 0.005-0.05, ``bench/finetune_gradient_snr.py``); with 32k per update PPO degraded the policy
    num_steps: int = 1024
    motor_std: float = 0.02  #: exploration std, fraction of each motor's peak torque
    residual_std: float = 0.005  #: exploration std of the residuals, fraction of m g (m g h)
    #: the policy's, start of the adaptive schedule (at 3e-5 the first update had KL 1.2; the
    #: schedule settled at 4.5e-6 in the first run)
    learning_rate: float = 5e-6
    value_lr_scale: float = 30.0  #: the critic's learning rate / the policy's
    #: weight of KL(distilled policy || fine-tuned policy) in the loss (``PPOConfig.anchor_kl_coef``):
    #: without it the policy drifted from its start (evaluation score 4.39 -> 5.68 in 28 updates);
    #: with 1 it held there (KL to the start ~0.01-0.02) and, from the policy of bench_distill,
    #: improved it on fresh episodes after 40 updates (BENCHMARKS.md, issue 16)
    anchor_kl_coef: float = 1.0
    lr_schedule: str = "adaptive"  #: PPOConfig.lr_schedule (adaptive: towards target_kl)
    target_kl: float = 0.01
    clip_eps: float = 0.1
    epochs: int = 2  #: passes over each batch (more fit its noise)
    num_minibatches: int = 16
    gamma: float = 0.99  #: at 250 Hz: a 0.4 s horizon
    gae_lambda: float = 0.95
    value_warmup_iterations: int = 5
    eval_every: int = 2
    eval_episodes: int = 8
    time_budget_s: float = 1800.0
    max_iterations: int | None = None
    seed: int = 0
    reward: FinetuneReward = field(default_factory=FinetuneReward)


def score(ev: dict) -> float:
    """The evaluation score of :func:`evaluate`'s figures (module doc; lower is better)."""
    return (ev["joint_mae_deg"] / 1.0 + ev["grf_vertical_rmse_pct_bw"] / 10.0
            + ev["residual_force_pct_bw"] / 3.0 + ev["sagittal_reserve_nm"] / 1.5
            + 3.0 * (1.0 - ev["completed_fraction"]))


def evaluation_starts(env: ControlledTrackingEnv, seed: int):
    """(frames, noises) of the evaluation episodes: one random control frame in the first 60 % of
    each env's trial and a start perturbation, drawn once from ``seed``."""
    rng = np.random.default_rng(seed)
    frames, noises = [], []
    for e in range(env.num_envs):
        sim = env.sims[env.sim_of[e]]
        n, nj = sim.teacher.substeps, sim.model.nq - FREE_QPOS
        frames.append(int(rng.integers(0, int(0.6 * (len(sim.cref.qpos) - 1)) // n)) * n)
        noises.append((rng.normal(0, env.cfg.start_noise_rad, nj), rng.normal(0, env.cfg.start_noise_rad_s, nj)))
    return frames, noises


def evaluate(env: ControlledTrackingEnv, policy: Policy, starts) -> dict:
    """Deterministic episodes (the policy's mean) from ``starts`` (:func:`evaluation_starts`) to
    the trial end or the loss of tracking: means over episodes of the joint MAE (deg, measured
    coordinates), per-foot vertical GRF RMSE vs the estimate (%BW), mean residual force (%BW),
    COP error (m), mean |hip, knee and ankle flexion reserve| (N*m) and completed fraction (of
    the frames from the start to the trial end), and the :func:`score`."""
    obs = env.reset_to(*starts)
    N = env.num_envs
    alive, steps = np.ones(N, bool), np.zeros(N)
    means = ("joint_mae_deg", "residual_force_pct_bw", "cop_error_m", "sagittal_reserve_nm")
    sums = {k: np.zeros(N) for k in means + ("grf_sq",)}
    completed = np.zeros(N, bool)
    while alive.any():
        obs, _, done, info = env.step(policy.mean_action(obs))
        w = alive.astype(float)
        for k in means:
            sums[k] += w * info[k]
        sums["grf_sq"] += w * info["grf_vertical_error_pct_bw"] ** 2
        steps += alive
        completed |= alive & done & info["truncated"]
        alive &= ~done
    spans = (env.last_frame - np.asarray(starts[0])) // env.substeps
    out = {"joint_mae_deg": float(np.mean(sums["joint_mae_deg"] / steps)),
           "grf_vertical_rmse_pct_bw": float(np.mean(np.sqrt(sums["grf_sq"] / steps))),
           "residual_force_pct_bw": float(np.mean(sums["residual_force_pct_bw"] / steps)),
           "cop_error_m": float(np.mean(sums["cop_error_m"] / steps)),
           "sagittal_reserve_nm": float(np.mean(sums["sagittal_reserve_nm"] / steps)),
           "completed_fraction": float(np.mean(np.where(completed, 1.0, steps / spans)))}
    out["score"] = score(out)
    return out


def _trainer(policy: DistilledPolicy, cfg: FinetuneConfig, env: ControlledTrackingEnv) -> PPOTrainer:
    """A PPO trainer started at ``policy`` (module doc, step 2)."""
    state, pcfg = policy.train_state(
        num_steps=cfg.num_steps, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, clip_eps=cfg.clip_eps,
        entropy_coef=0.0, epochs=cfg.epochs, num_minibatches=cfg.num_minibatches,
        learning_rate=cfg.learning_rate, lr_schedule=cfg.lr_schedule, target_kl=cfg.target_kl,
        lr_min=1e-7, value_lr_scale=cfg.value_lr_scale, value_warmup_iterations=cfg.value_warmup_iterations,
        learn_std=False, update_obs_norm=False, anchor_kl_coef=cfg.anchor_kl_coef, seed=cfg.seed)
    std = np.full(env.action_size, cfg.motor_std)
    std[env.residuals] = cfg.residual_std
    state = eqx.tree_at(lambda s: s.policy.log_std, state, jnp.asarray(np.log(std), jnp.float32))
    return PPOTrainer(pcfg, env.obs_size, env.action_size, state=state, anchor=state.policy)


def finetune(policy: DistilledPolicy, trials, config: FinetuneConfig | None = None,
             log=None) -> tuple[DistilledPolicy, list[dict]]:
    """Fine-tune ``policy`` with PPO on ``trials`` (a list of ``(skeleton, motion)``), module doc.
    Returns the policy of the best evaluation and one log row per iteration (the PPO statistics,
    the rollout's means of the env's figures, ``eval_*`` after an evaluation, ``wall_s``); row
    -1 (``iteration`` 0) is the distilled policy's evaluation."""
    cfg = config or FinetuneConfig()
    sims = teaching(trials, policy.controller, muscle_drive(policy))
    env = ControlledTrackingEnv(sims, policy, cfg.num_envs, cfg.reward, cfg.seed)
    eval_env = ControlledTrackingEnv(sims, policy, cfg.eval_episodes, cfg.reward, cfg.seed + 1)
    starts = evaluation_starts(eval_env, cfg.seed + 1000)
    trainer = _trainer(policy, cfg, env)
    t0 = time.perf_counter()
    ev = evaluate(eval_env, Policy.from_state(trainer.state), starts)
    rows = [{"iteration": 0, "env_steps": 0, "wall_s": time.perf_counter() - t0,
             **{f"eval_{k}": v for k, v in ev.items()}}]
    if log is not None:
        log(rows[-1])
    best, best_score = trainer.state, ev["score"]
    while True:
        stats = trainer.iterate(env, 10 ** 12)
        it = int(stats["iteration"])
        if not np.isfinite(stats["value_loss"]):
            break
        if it % cfg.eval_every == 0:
            ev = evaluate(eval_env, Policy.from_state(trainer.state), starts)
            stats.update({f"eval_{k}": v for k, v in ev.items()})
            if ev["score"] < best_score:
                best, best_score = trainer.state, ev["score"]
                stats["selected"] = True
        stats["wall_s"] = time.perf_counter() - t0
        rows.append(stats)
        if log is not None:
            log(stats)
        if stats["wall_s"] >= cfg.time_budget_s or (cfg.max_iterations and it >= cfg.max_iterations):
            break
    weights = dataclasses.replace(Weights.of(best.policy, best.obs_norm), log_std=policy.weights.log_std)
    tuned = dataclasses.replace(policy, weights=weights, source=None,
                                metadata={**policy.metadata, "finetuned": True})
    return tuned, rows


__all__ = ["FinetuneConfig", "evaluate", "evaluation_starts", "finetune", "score"]
