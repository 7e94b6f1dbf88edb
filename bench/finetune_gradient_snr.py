"""How much of PPO's policy gradient is signal when fine-tuning the distilled policy: the
gradient of PPO's surrogate at the rollout policy (ratio 1: the policy gradient with GAE
advantages, normalised as in an update) from independent 32k-sample rollouts of the same policy,
compared with each other.

Starts from ``bench/results/distill_subject01.npz`` on its trial (subject01 walk), with
``learn/finetune.py``'s env, reward and trainer; the critic first learns alone for
``--warmup`` updates. For each exploration std: cosine similarity of the gradients of every pair
of K rollouts, and the signal-to-noise ratio of one rollout's gradient, |g|^2 / E|g_i - g|^2
with |g|^2 estimated without bias as |mean g_i|^2 - E|g_i - mean|^2 / K (it grows linearly with
the samples per update).
Writes ``bench/results/finetune_gradient_snr.json``.

    .venv/bin/python bench/finetune_gradient_snr.py [--stds 0.02 0.05] [--rollouts 4] [--warmup 8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_controller_twin import REPO, trials  # noqa: E402


def policy_gradient(state, rollout, config) -> np.ndarray:
    """Flat gradient of PPO's clipped surrogate at ratio 1 (advantages normalised over the batch)."""
    from kintwin.learn.ppo import compute_gae

    obs = state.obs_norm.normalize(rollout.obs)
    v_of = lambda o: state.value_norm.denormalize(state.value(state.obs_norm.normalize(o)))  # noqa: E731
    values = state.value_norm.denormalize(state.value(obs))
    adv, _ = compute_gae(rollout.rewards, values, v_of(rollout.last_obs), rollout.dones, rollout.truncated,
                         v_of(rollout.terminal_obs), config.gamma, config.gae_lambda)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    params, static = eqx.partition(state.policy, eqx.is_array)
    old = jax.lax.stop_gradient(state.policy.log_prob(obs, rollout.actions))

    def loss(p):
        ratio = jnp.exp(eqx.combine(p, static).log_prob(obs, rollout.actions) - old)
        return -jnp.mean(ratio * adv)

    g = jax.grad(loss)(params)
    g = eqx.tree_at(lambda t: t.log_std, g, jnp.zeros_like(g.log_std))  # the std is fixed
    return np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(g)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stds", type=float, nargs="+", default=[0.02, 0.05])
    ap.add_argument("--rollouts", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--policy", type=Path, default=REPO / "bench" / "results" / "distill_subject01.npz")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "finetune_gradient_snr.json")
    args = ap.parse_args()

    from kintwin.learn.distill import load_distilled, teaching
    from kintwin.learn.finetune import FinetuneConfig, _trainer
    from kintwin.learn.finetune_env import ControlledTrackingEnv
    from kintwin.models.subject import SubjectSpec, resolve_subject
    from kintwin.motion.kinematics_io import read_motion

    spec = trials(REPO / "runs" / "snr")["subject01_walk"]
    skeleton = resolve_subject(SubjectSpec(spec["height"], spec["mass"]))
    policy = load_distilled(args.policy)
    sims = teaching([(skeleton, read_motion(spec["trial"]))], policy.controller)
    out = {"command": " ".join(sys.argv), "warmup_updates": args.warmup, "by_std": {}}
    for std in args.stds:
        cfg = FinetuneConfig(motor_std=std, num_steps=256,  # 128 x 256 = 32,768 samples a rollout
                             value_warmup_iterations=10 ** 6)  # the critic only
        env = ControlledTrackingEnv(sims, policy, cfg.num_envs, cfg.reward, cfg.seed)
        trainer = _trainer(policy, cfg, env)
        ev = []
        for _ in range(args.warmup):
            ev.append(trainer.iterate(env, 10 ** 12)["explained_variance"])
        grads = []
        for k in range(args.rollouts):
            trainer.state = eqx.tree_at(lambda s: s.key, trainer.state, jax.random.PRNGKey(1000 + k))
            rollout, stats = trainer._collect(env)
            grads.append(policy_gradient(trainer.state, rollout, trainer.config))
        G = np.stack(grads)
        mean = G.mean(0)
        cos = [float(G[i] @ G[j] / np.linalg.norm(G[i]) / np.linalg.norm(G[j]))
               for i in range(len(G)) for j in range(i + 1, len(G))]
        noise = float(np.mean(np.sum((G - mean) ** 2, axis=1)))  # per-rollout gradient noise
        out["by_std"][str(std)] = {
            "explained_variance_after_warmup": ev[-1],
            "pairwise_cosine": cos, "pairwise_cosine_mean": float(np.mean(cos)),
            # |true gradient|^2 estimated without bias: |mean|^2 - noise / K
            "signal_to_noise_one_rollout": float((mean @ mean - noise / len(G)) / noise),
            "reward_mean": float(stats["reward_mean"]) if "reward_mean" in stats else None,
        }
        print(std, json.dumps(out["by_std"][str(std)]), flush=True)
    args.results.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
