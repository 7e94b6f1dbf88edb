"""Behaviour-cloning warm start of the PPO policy.

Given observations (N, obs) and target actions (N, act) -- e.g. normalised torques from inverse
dynamics of the reference motion -- fit the policy *mean* by minibatch MSE with Adam. The
observation normaliser first absorbs the observations (so PPO starts with matching statistics).
The learned log-std, the value network and PPO's optimiser state are left unchanged: choose the
exploration noise after BC with ``config.init_std`` (or edit ``state.policy.log_std``).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from kintwin.learn.ppo import PPOConfig, TrainState


def behavior_clone(state: TrainState, config: PPOConfig, observations, actions, *,
                   epochs: int = 50, batch_size: int = 256, learning_rate: float = 1e-3,
                   update_normalizer: bool = True, clip_targets: bool = True,
                   seed: int = 0) -> tuple[TrainState, float]:
    """Fit ``state.policy`` mean to ``actions`` at ``observations``.

    ``clip_targets`` clips targets to [-1, 1] (the env clips actions anyway, so larger targets
    only distort the fit). Returns ``(new_state, final_mse)`` with the MSE over the whole data
    set (mean over samples and action dimensions) after training.
    """
    obs = jnp.asarray(observations, jnp.float32)
    targets = jnp.asarray(actions, jnp.float32)
    if obs.ndim != 2 or targets.ndim != 2 or obs.shape[0] != targets.shape[0]:
        raise ValueError(f"need observations (N, obs) and actions (N, act); got {obs.shape}, "
                         f"{targets.shape}")
    if (obs.shape[1], targets.shape[1]) != (state.obs_size, state.action_size):
        raise ValueError("data sizes do not match the policy")
    if clip_targets:
        targets = jnp.clip(targets, -1.0, 1.0)
    obs_norm = state.obs_norm.update(obs) if update_normalizer and config.normalize_obs \
        else state.obs_norm
    policy, loss = _fit(state.policy, obs_norm.normalize(obs), targets, jax.random.PRNGKey(seed),
                        epochs, min(batch_size, obs.shape[0]), learning_rate)
    return eqx.tree_at(lambda s: (s.policy, s.obs_norm), state, (policy, obs_norm)), float(loss)


@eqx.filter_jit
def _fit(policy, obs, targets, key, epochs: int, batch_size: int, learning_rate: float):
    params, static = eqx.partition(policy, eqx.is_array)
    tx = optax.adam(learning_rate)
    n = obs.shape[0]
    nb = n // batch_size

    def loss_fn(p, o, t):
        return jnp.mean((eqx.combine(p, static).mean(o) - t) ** 2)

    def step(carry, batch):
        p, opt_state = carry
        grads = jax.grad(loss_fn)(p, *batch)
        updates, opt_state = tx.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), None

    def epoch(carry, k):
        perm = jax.random.permutation(k, n)[: nb * batch_size].reshape(nb, batch_size)
        return jax.lax.scan(step, carry, (obs[perm], targets[perm]))

    (params, _), _ = jax.lax.scan(epoch, (params, tx.init(params)), jax.random.split(key, epochs))
    return eqx.combine(params, static), loss_fn(params, obs, targets)
