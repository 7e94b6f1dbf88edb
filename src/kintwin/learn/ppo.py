"""Proximal Policy Optimisation in JAX, driven from a host loop over a batched :class:`VecEnv`.

Structure
---------
* :class:`PPOConfig` -- every hyperparameter (frozen, hashable: it is a static jit argument).
* :class:`TrainState` -- policy, value network, optimiser state, observation normaliser, PopArt
  value statistics, base RNG key and iteration counter. A pytree of arrays only.
* Pure jitted functions: :func:`act` (sample or deterministic mean), :func:`compute_gae`, and
  :func:`ppo_update` (one PPO update from one rollout).
* :class:`PPOTrainer` -- the host loop: :meth:`PPOTrainer.iterate` runs one iteration
  (``num_steps`` env steps with the jitted policy, then one update) and returns its statistics;
  :meth:`PPOTrainer.train` iterates up to a step count, reporting each iteration to a callback.

Running a trained policy needs none of this: ``learn/policy.py``.

The env may return numpy (CPU MuJoCo) or JAX (MJX) arrays: everything it returns goes through
``jnp.asarray``, the rollout is stacked on the JAX device, and the update never leaves it.

Algorithmic choices
-------------------
* Randomness: the keys of iteration ``i`` are ``fold_in(state.key, i)`` (split into a rollout
  and an update key), so a run is a pure function of (seed, env) and a resumed run continues
  exactly.
* Observation normalisation: at the start of each update the normaliser absorbs the rollout's
  observations; the old log-probs and values are then recomputed under the new statistics (one
  extra batched forward pass) so that the PPO ratio is exactly 1 at the first minibatch. The
  rollout itself never needs the value network. ``update_obs_norm=False`` freezes it (fine-tuning
  a policy fitted with its own statistics).
* Exploration std: learned with the rest (``learn_std``) or fixed where the caller set it
  (``learn_std=False``: its gradient is zeroed before the optimiser).
* Anchor (fine-tuning a good policy): with ``PPOTrainer(anchor=policy)`` and ``anchor_kl_coef``
  the loss adds ``anchor_kl_coef x KL(anchor || policy)`` on each minibatch's states (Gaussians
  of the policy's std: half the squared mean difference in stds), so the policy does not drift
  from its start where the gradient is mostly noise. Not part of trainer checkpoints.
* Truncation: ``done & truncated`` steps are bootstrapped with ``V(terminal_obs)``; ``done &
  ~truncated`` steps (terminations) have value 0; GAE never crosses an episode boundary.
* Value targets are normalised with PopArt (``normalize.py``) when ``normalize_value``; the value
  clip range is then in units of the return std. Advantages are normalised per minibatch.
* Optimiser: ``optax.chain(clip_by_global_norm, adam)`` on policy and value together, learning
  rate from an optax schedule evaluated on the host at the iteration counter and passed to the
  jitted update as an argument (no retracing).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from kintwin.learn.networks import GaussianPolicy, ValueNetwork
from kintwin.learn.normalize import PopArtStats, RunningMeanStd, popart_rescale
from kintwin.learn.policy import Policy


@dataclass(frozen=True)
class PPOConfig:
    """All PPO hyperparameters. Defaults target torque control of a ~40-DoF model."""

    # Rollout / returns
    num_steps: int = 64  #: env steps per env per iteration (batch = num_steps * num_envs)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    # Loss
    clip_eps: float = 0.2  #: PPO ratio clip
    value_clip: float | None = 0.2  #: value-change clip (normalised units); None disables
    entropy_coef: float = 1e-3
    value_coef: float = 0.5
    normalize_advantages: bool = True  #: per minibatch
    # Optimisation
    epochs: int = 5
    num_minibatches: int = 4  #: minibatch = batch // num_minibatches (remainder dropped)
    learning_rate: float = 3e-4
    #: "constant", "linear" or "cosine" (decay over the horizon), or "adaptive": after every
    #: update the rate is divided by 1.5 when the update's approx. KL exceeds 2 x ``target_kl``
    #: and multiplied by 1.5 below ``target_kl`` / 2, within [lr_min, lr_max]
    lr_schedule: str = "linear"
    lr_final_fraction: float = 0.1  #: final lr = learning_rate * lr_final_fraction
    #: schedule horizon in env steps; None: the ``total_steps`` of each ``train`` call. Set it
    #: for runs that are resumed or trained in several ``train`` calls.
    schedule_env_steps: int | None = None
    target_kl: float = 0.01  #: "adaptive" schedule
    #: first iterations that train only the value function (policy and learning rate kept): a
    #: policy that starts good (e.g. at a teacher) is not moved by the advantages of an untrained
    #: critic
    value_warmup_iterations: int = 0
    lr_min: float = 1e-5
    #: the value network's learning rate / the policy's: a policy fine-tuned from a good start
    #: needs tiny steps (a KL budget) while its fresh critic must learn fast
    value_lr_scale: float = 1.0
    anchor_kl_coef: float = 0.0  #: weight of KL(anchor || policy) (module doc); 0: no anchor
    lr_max: float = 1e-3
    max_grad_norm: float = 0.5
    adam_eps: float = 1e-5
    # Networks
    policy_hidden: tuple[int, ...] = (512, 256)
    value_hidden: tuple[int, ...] = (512, 256)
    activation: str = "elu"
    init_std: float = 0.5  #: initial action std (actions live in [-1, 1])
    #: False: the exploration std stays where it was set (``learn.train.set_action_std``): its
    #: gradient is zeroed, so the shared Adam optimiser never moves it
    learn_std: bool = True
    #: gain of the policy's output layer: 0.01 gives a near-zero initial mean; 0 an exactly zero
    #: one (when the env's own controller is the starting point, e.g. a feed-forward teacher)
    policy_out_gain: float = 0.01
    # Normalisation
    normalize_obs: bool = True
    #: False: the observation normaliser is frozen (e.g. the one a distilled policy was fitted
    #: with), so an update never moves the deterministic policy without a gradient
    update_obs_norm: bool = True
    obs_clip: float = 10.0
    normalize_value: bool = True  #: PopArt value-target normalisation
    value_norm_beta: float = 0.05  #: PopArt EMA rate per update
    seed: int = 0

    def __post_init__(self):
        for name in ("policy_hidden", "value_hidden"):  # lists from JSON -> hashable tuples
            object.__setattr__(self, name, tuple(int(h) for h in getattr(self, name)))
        if self.lr_schedule not in ("constant", "linear", "cosine", "adaptive"):
            raise ValueError(f"lr_schedule must be constant, linear, cosine or adaptive, "
                             f"got {self.lr_schedule!r}")
        if self.num_steps < 1 or self.epochs < 1 or self.num_minibatches < 1:
            raise ValueError("num_steps, epochs and num_minibatches must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PPOConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown PPOConfig fields: {sorted(unknown)}")
        return cls(**d)


class TrainState(eqx.Module):
    """Everything that evolves during training (a pytree of arrays)."""

    policy: GaussianPolicy
    value: ValueNetwork
    opt_state: optax.OptState
    obs_norm: RunningMeanStd
    value_norm: PopArtStats
    key: jax.Array  #: base key; iteration i uses fold_in(key, i)
    iteration: jax.Array  #: int32, number of updates done
    learning_rate: jax.Array  #: float32, the rate of the next update ("adaptive" schedule)

    @property
    def obs_size(self) -> int:
        return int(self.obs_norm.mean.shape[-1])

    @property
    def action_size(self) -> int:
        return int(self.policy.log_std.shape[-1])


class Rollout(NamedTuple):
    """One rollout, time-major: leading axes (num_steps, num_envs)."""

    obs: jax.Array  #: (T, N, obs) observation the action was taken in
    actions: jax.Array  #: (T, N, act) unclipped sampled actions
    rewards: jax.Array  #: (T, N)
    dones: jax.Array  #: (T, N) bool, episode ended at this step
    truncated: jax.Array  #: (T, N) bool, ended by time limit (bootstrap from terminal_obs)
    terminal_obs: jax.Array  #: (T, N, obs) last obs of the ended episode (used where truncated)
    last_obs: jax.Array  #: (N, obs) obs after the last step (bootstrap of the rollout end)


def make_optimizer(config: PPOConfig,
                   learning_rate: float | jax.Array) -> optax.GradientTransformation:
    """Gradient clipping + Adam. The state structure does not depend on ``learning_rate``."""
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                       optax.adam(learning_rate, eps=config.adam_eps))


def make_lr_schedule(config: PPOConfig, horizon_iterations: int) -> optax.Schedule:
    """Learning rate as a function of the iteration counter."""
    lr, end = config.learning_rate, config.learning_rate * config.lr_final_fraction
    horizon = max(1, int(horizon_iterations))
    if config.lr_schedule == "linear":
        return optax.linear_schedule(lr, end, horizon)
    if config.lr_schedule == "cosine":
        return optax.cosine_decay_schedule(lr, horizon, alpha=config.lr_final_fraction)
    return optax.constant_schedule(lr)


def init_train_state(config: PPOConfig, obs_size: int, action_size: int) -> TrainState:
    """Fresh networks, optimiser and normalisers, all determined by ``config.seed``."""
    key, k_pi, k_v = jax.random.split(jax.random.PRNGKey(config.seed), 3)
    policy = GaussianPolicy(obs_size, action_size, config.policy_hidden, config.activation,
                            config.init_std, config.policy_out_gain, key=k_pi)
    value = ValueNetwork(obs_size, config.value_hidden, config.activation, key=k_v)
    opt_state = make_optimizer(config, config.learning_rate).init(
        eqx.filter((policy, value), eqx.is_array))
    obs_clip = config.obs_clip if config.normalize_obs else math.inf
    return TrainState(policy, value, opt_state, RunningMeanStd.create(obs_size, obs_clip),
                      PopArtStats.create(), key, jnp.zeros((), jnp.int32),
                      jnp.asarray(config.learning_rate, jnp.float32))


def adapt_learning_rate(config: PPOConfig, lr: float, approx_kl: float) -> float:
    """The next learning rate of the "adaptive" schedule (see ``PPOConfig.lr_schedule``)."""
    if not math.isfinite(approx_kl) or approx_kl > 2.0 * config.target_kl:
        lr = lr / 1.5
    elif approx_kl < 0.5 * config.target_kl:
        lr = lr * 1.5
    return float(min(max(lr, config.lr_min), config.lr_max))


def iteration_keys(state: TrainState) -> tuple[jax.Array, jax.Array]:
    """(rollout key, update key) of the current iteration."""
    k = jax.random.split(jax.random.fold_in(state.key, state.iteration))
    return k[0], k[1]


@eqx.filter_jit
def act(policy: GaussianPolicy, obs_norm: RunningMeanStd, obs: jax.Array,
        key: jax.Array | None = None, deterministic: bool = False) -> jax.Array:
    """Unclipped action (..., act) for raw observations (..., obs); the mean if deterministic.

    Clip to [-1, 1] before sending it to an env.
    """
    o = obs_norm.normalize(jnp.asarray(obs, jnp.float32))
    return policy.mean(o) if deterministic else policy.sample(o, key)


@jax.jit
def _policy_step(policy, obs_norm, obs, key):
    """Rollout step: (unclipped action, clipped action, next key)."""
    key, sub = jax.random.split(key)
    raw = policy.sample(obs_norm.normalize(obs), sub)
    return raw, jnp.clip(raw, -1.0, 1.0), key


def compute_gae(rewards: jax.Array, values: jax.Array, last_value: jax.Array, dones: jax.Array,
                truncated: jax.Array, terminal_values: jax.Array, gamma: float,
                gae_lambda: float) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation with time-limit bootstrapping.

    All inputs are time-major (T, N...) except ``last_value`` (N...), the value of the obs after
    the last step. ``values[t]`` is V(obs_t); ``terminal_values[t]`` is V(terminal_obs_t), used
    where ``dones & truncated``. Returns ``(advantages, returns = advantages + values)``.

        next_t  = V(terminal_obs_t) if truncated_t else V(obs_{t+1})
        delta_t = r_t + gamma * next_t * (1 - terminated_t) - V(obs_t)
        A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
    """
    dones = dones.astype(bool)
    truncated = truncated.astype(bool) & dones
    not_terminated = 1.0 - (dones & ~truncated).astype(values.dtype)
    not_done = 1.0 - dones.astype(values.dtype)
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    next_values = jnp.where(truncated, terminal_values, next_values)
    deltas = rewards + gamma * next_values * not_terminated - values

    def backward(adv_next, x):
        delta, nd = x
        adv = delta + gamma * gae_lambda * nd * adv_next
        return adv, adv

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(last_value), (deltas, not_done),
                                 reverse=True)
    return advantages, advantages + values


def _ppo_loss(params, static, mb, config: PPOConfig, actor_on):
    policy, value = eqx.combine(params, static)
    mean = policy.mean(mb["obs"])
    logp = policy.log_prob_at_mean(mean, mb["actions"])
    log_ratio = logp - mb["old_logp"]
    ratio = jnp.exp(log_ratio)
    adv = mb["advantages"]
    if config.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    clipped = jnp.clip(ratio, 1.0 - config.clip_eps, 1.0 + config.clip_eps)
    policy_loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))

    v = value(mb["obs"])
    v_loss = (v - mb["targets"]) ** 2
    if config.value_clip is not None:
        v_clip = mb["old_values"] + jnp.clip(v - mb["old_values"], -config.value_clip,
                                             config.value_clip)
        v_loss = jnp.maximum(v_loss, (v_clip - mb["targets"]) ** 2)
    value_loss = 0.5 * jnp.mean(v_loss)
    entropy = policy.entropy()
    loss = actor_on * (policy_loss - config.entropy_coef * entropy) + config.value_coef * value_loss
    stats = {}
    if "anchor_mean" in mb:
        z = (mean - mb["anchor_mean"]) / policy.std()
        stats["anchor_kl"] = 0.5 * jnp.mean(jnp.sum(z ** 2, axis=-1))
        loss = loss + actor_on * config.anchor_kl_coef * stats["anchor_kl"]
    stats |= {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": jnp.mean(ratio - 1.0 - log_ratio),
        "clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > config.clip_eps).astype(jnp.float32)),
    }
    return loss, stats


def ppo_update(state: TrainState, rollout: Rollout, config: PPOConfig,
               learning_rate: float | jax.Array, anchor: GaussianPolicy | None = None
               ) -> tuple[TrainState, dict[str, jax.Array]]:
    """One PPO update (``epochs`` x ``num_minibatches`` Adam steps) from one rollout; with
    ``anchor`` and ``config.anchor_kl_coef`` the KL to it is penalised (module doc).

    Jitted (recompiled only when ``config`` or array shapes change). Returns the new state
    (iteration + 1) and a dict of scalar statistics (means over all minibatch steps).
    """
    if not config.anchor_kl_coef:
        anchor = None
    return _ppo_update(state, rollout, config, jnp.asarray(learning_rate, jnp.float32), anchor)


@eqx.filter_jit
def _ppo_update(state: TrainState, rollout: Rollout, config: PPOConfig,
                learning_rate: jax.Array, anchor: GaussianPolicy | None
                ) -> tuple[TrainState, dict[str, jax.Array]]:
    T, N = rollout.rewards.shape
    obs_norm = (state.obs_norm.update(rollout.obs) if config.normalize_obs and config.update_obs_norm
                else state.obs_norm)
    obs = obs_norm.normalize(rollout.obs)

    # Values in return units under the current statistics, then GAE.
    def v_of(o):
        return state.value_norm.denormalize(state.value(obs_norm.normalize(o)))

    values = state.value_norm.denormalize(state.value(obs))
    advantages, returns = compute_gae(
        rollout.rewards.astype(jnp.float32), values, v_of(rollout.last_obs), rollout.dones,
        rollout.truncated, v_of(rollout.terminal_obs), config.gamma, config.gae_lambda)

    # PopArt: new target statistics, value head rescaled so outputs are preserved.
    value_net = state.value
    value_norm = state.value_norm
    if config.normalize_value:
        value_norm = state.value_norm.update(returns, config.value_norm_beta)
        head = popart_rescale(value_net.head, state.value_norm, value_norm)
        value_net = eqx.tree_at(lambda v: v.net.layers[-1], value_net, head)

    batch = {
        "obs": obs,
        "actions": rollout.actions,
        "old_logp": state.policy.log_prob(obs, rollout.actions),
        "old_values": value_norm.normalize(values),
        "targets": value_norm.normalize(returns),
        "advantages": advantages,
    }
    if anchor is not None:
        batch["anchor_mean"] = anchor.mean(obs)
    size = T * N
    mb_size = size // config.num_minibatches
    batch = jax.tree.map(lambda x: x.reshape(size, *x.shape[2:]), batch)

    tx = make_optimizer(config, learning_rate)
    params, static = eqx.partition((state.policy, value_net), eqx.is_array)
    grad_fn = jax.grad(_ppo_loss, has_aux=True)

    actor_on = (state.iteration >= config.value_warmup_iterations).astype(jnp.float32)

    def minibatch_step(carry, mb):
        params, opt_state = carry
        grads, stats = grad_fn(params, static, mb, config, actor_on)
        if not config.learn_std:  # a zero gradient: Adam leaves the std as it is
            grads = eqx.tree_at(lambda g: g[0].log_std, grads, jnp.zeros_like(grads[0].log_std))
        updates, opt_state = tx.update(grads, opt_state, params)
        if config.value_lr_scale != 1.0:
            updates = (updates[0], jax.tree.map(lambda u: config.value_lr_scale * u, updates[1]))
        stats["grad_norm"] = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grads)))
        return (optax.apply_updates(params, updates), opt_state), stats

    def epoch(carry, key):
        perm = jax.random.permutation(key, size)[: config.num_minibatches * mb_size]
        mbs = jax.tree.map(
            lambda x: x[perm].reshape(config.num_minibatches, mb_size, *x.shape[1:]), batch)
        return jax.lax.scan(minibatch_step, carry, mbs)

    _, update_key = iteration_keys(state)
    (params, opt_state), stats = jax.lax.scan(
        epoch, (params, state.opt_state), jax.random.split(update_key, config.epochs))
    policy, value_net = eqx.combine(params, static)

    stats = jax.tree.map(jnp.mean, stats)
    stats["learning_rate"] = jnp.asarray(learning_rate, jnp.float32)
    stats["explained_variance"] = 1.0 - jnp.var(returns - values) / (jnp.var(returns) + 1e-8)
    stats["value_mean"] = jnp.mean(values)
    stats["return_mean"] = jnp.mean(returns)
    stats["action_std"] = jnp.mean(policy.std())
    stats["reward_mean"] = jnp.mean(rollout.rewards)
    new_state = TrainState(policy, value_net, opt_state, obs_norm, value_norm, state.key,
                           state.iteration + 1, state.learning_rate)
    return new_state, stats


@jax.jit
def _episode_stats(ep_ret, ep_len, rewards, dones):
    """Scan a rollout's rewards/dones; returns carry and (sum return, sum length, count)."""

    def step(carry, x):
        ret, length = carry
        r, d = x
        ret, length = ret + r, length + 1
        out = (jnp.sum(jnp.where(d, ret, 0.0)), jnp.sum(jnp.where(d, length, 0)), jnp.sum(d))
        return (jnp.where(d, 0.0, ret), jnp.where(d, 0, length)), out

    (ep_ret, ep_len), (s_ret, s_len, n) = jax.lax.scan(step, (ep_ret, ep_len), (rewards, dones))
    return ep_ret, ep_len, s_ret.sum(), s_len.sum(), n.sum()


_RESERVED_INFO = ("truncated", "terminal_obs")


class PPOTrainer:
    """Host loop: rollouts of ``config.num_steps`` from a :class:`VecEnv`, then PPO updates.

    ``trainer.state`` is the current :class:`TrainState`; ``trainer.env_steps`` the number of env
    steps trained on (kept on the host as a Python int: no int32 overflow on long MJX runs).
    The trainer also carries the env's current observations and per-env episode accumulators
    between ``train`` calls (the "rollout carry"), so consecutive calls on the same env continue
    the running episodes.
    """

    def __init__(self, config: PPOConfig, obs_size: int, action_size: int,
                 state: TrainState | None = None, env_steps: int = 0,
                 anchor: GaussianPolicy | None = None):
        self.config, self.anchor = config, anchor
        self.state = state if state is not None else init_train_state(config, obs_size, action_size)
        if (self.state.obs_size, self.state.action_size) != (obs_size, action_size):
            raise ValueError("state sizes do not match obs_size/action_size")
        self.env_steps = int(env_steps)
        self._env = None  # env the rollout carry belongs to
        self._obs = self._ep_ret = self._ep_len = None
        self._numpy_env = True
        self._policy = None  # the Policy of ``state`` for deterministic ``act``

    @classmethod
    def for_env(cls, env, config: PPOConfig) -> PPOTrainer:
        return cls(config, env.obs_size, env.action_size)

    # ----------------------------------------------------------------- rollout carry
    def _check_env(self, env) -> None:
        if (env.obs_size, env.action_size) != (self.state.obs_size, self.state.action_size):
            raise ValueError(f"env sizes (obs {env.obs_size}, act {env.action_size}) do not match "
                             f"the policy ({self.state.obs_size}, {self.state.action_size})")

    def _set_carry(self, env, obs, ep_ret=None, ep_len=None) -> None:
        self._env = env
        self._numpy_env = isinstance(obs, np.ndarray)
        self._obs = jnp.asarray(obs, jnp.float32)
        n = self._obs.shape[0]
        self._ep_ret = jnp.zeros(n, jnp.float32) if ep_ret is None else jnp.asarray(ep_ret)
        self._ep_len = jnp.zeros(n, jnp.int32) if ep_len is None else jnp.asarray(ep_len)

    def _reset(self, env) -> None:
        """Start fresh episodes; the seed depends on the iteration so resumes differ from start."""
        self._set_carry(env, env.reset(self.config.seed + int(self.state.iteration)))

    def get_rollout_state(self, env) -> dict[str, np.ndarray] | None:
        """Arrays needed to continue the running episodes of ``env`` exactly, or None.

        None when ``env`` cannot snapshot itself (no ``get_state``) or has no running episodes
        from this trainer. Used by :func:`kintwin.learn.checkpoint.save_trainer`.
        """
        if env is not self._env or self._obs is None or not hasattr(env, "get_state"):
            return None
        out = {f"env/{k}": np.asarray(v) for k, v in env.get_state().items()}
        out.update(obs=np.asarray(self._obs), episode_return=np.asarray(self._ep_ret),
                   episode_length=np.asarray(self._ep_len), numpy_env=np.asarray(self._numpy_env))
        return out

    def set_rollout_state(self, env, arrays: dict[str, np.ndarray]) -> None:
        """Restore ``env`` and the carry from :meth:`get_rollout_state` output."""
        if not hasattr(env, "set_state"):
            raise TypeError("env has no set_state(); cannot restore its running episodes")
        env.set_state({k[4:]: v for k, v in arrays.items() if k.startswith("env/")})
        self._set_carry(env, arrays["obs"], arrays["episode_return"], arrays["episode_length"])
        self._numpy_env = bool(arrays["numpy_env"])

    # ----------------------------------------------------------------- training
    def _collect(self, env) -> tuple[Rollout, dict[str, jax.Array]]:
        key, _ = iteration_keys(self.state)
        policy, obs_norm = self.state.policy, self.state.obs_norm
        cols: dict[str, list] = {k: [] for k in Rollout._fields if k != "last_obs"}
        infos: dict[str, list] = {}
        obs = self._obs
        for _ in range(self.config.num_steps):
            raw, clipped, key = _policy_step(policy, obs_norm, obs, key)
            next_obs, reward, done, info = env.step(np.asarray(clipped) if self._numpy_env
                                                    else clipped)
            next_obs = jnp.asarray(next_obs, jnp.float32)
            done = jnp.asarray(done, bool)
            truncated = info.get("truncated")
            truncated = jnp.zeros_like(done) if truncated is None else jnp.asarray(truncated, bool)
            if "terminal_obs" in info:
                terminal = jnp.asarray(info["terminal_obs"], jnp.float32)
            elif "truncated" in info:
                raise KeyError("env info has 'truncated' but no 'terminal_obs' to bootstrap from")
            else:
                terminal = next_obs
            for name, x in zip(cols, (obs, raw, jnp.asarray(reward, jnp.float32), done,
                                      truncated, terminal)):
                cols[name].append(x)
            for k, v in info.items():
                if k not in _RESERVED_INFO and getattr(v, "ndim", None) == 1 and (
                        np.issubdtype(v.dtype, np.number) or v.dtype == bool):
                    infos.setdefault(k, []).append(jnp.asarray(v, jnp.float32))
            obs = next_obs
        self._obs = obs
        rollout = Rollout(**{k: jnp.stack(v) for k, v in cols.items()}, last_obs=obs)
        self._ep_ret, self._ep_len, s_ret, s_len, n = _episode_stats(
            self._ep_ret, self._ep_len, rollout.rewards, rollout.dones)
        n_safe = jnp.maximum(n, 1)
        stats = {k: jnp.mean(jnp.stack(v)) for k, v in infos.items()}
        stats.update(episode_return=jnp.where(n > 0, s_ret / n_safe, jnp.nan),
                     episode_length=jnp.where(n > 0, s_len / n_safe, jnp.nan), episodes=n)
        return rollout, stats

    def iterate(self, env, total_steps: int) -> dict[str, float]:
        """One iteration: ``config.num_steps`` steps of every env with the current policy, then
        one PPO update; returns the iteration's statistics (see :meth:`train`). ``total_steps``
        is the learning-rate schedule's horizon when ``config.schedule_env_steps`` is None.

        ``state`` and ``env_steps`` change together at the end; the rollout carry (and the env)
        change before that, so an exception raised during the call leaves them out of step."""
        self._check_env(env)
        cfg = self.config
        batch = cfg.num_steps * env.num_envs
        schedule = make_lr_schedule(cfg, math.ceil((cfg.schedule_env_steps or total_steps) / batch))
        if env is not self._env or self._obs is None:
            self._reset(env)
        t0 = time.perf_counter()
        rollout, stats = self._collect(env)
        t1 = time.perf_counter()
        adaptive = cfg.lr_schedule == "adaptive"
        lr = self.state.learning_rate if adaptive else schedule(self.state.iteration)
        state, update_stats = ppo_update(self.state, rollout, cfg, lr, self.anchor)
        stats = {k: float(v) for k, v in jax.device_get({**stats, **update_stats}).items()}
        if adaptive and state.iteration > cfg.value_warmup_iterations:
            new_lr = adapt_learning_rate(cfg, stats["learning_rate"], stats["approx_kl"])
            state = eqx.tree_at(lambda s: s.learning_rate, state, jnp.asarray(new_lr, jnp.float32))
        t2 = time.perf_counter()
        self.state, self.env_steps = state, self.env_steps + batch
        stats.update(iteration=float(self.state.iteration), env_steps=float(self.env_steps),
                     steps_per_s=batch / (t2 - t0), rollout_s=t1 - t0, update_s=t2 - t1)
        return stats

    def train(self, env, total_steps: int,
              callback: Callable[[dict[str, float]], bool | None] | None = None) -> TrainState:
        """Train until ``self.env_steps >= total_steps`` (an absolute count, so that a resumed
        trainer is called with the same target). Returns the final :class:`TrainState`.

        ``callback(stats)`` is called after every iteration with floats: ``iteration``,
        ``env_steps``, ``steps_per_s`` (rollout + update), ``rollout_s``, ``update_s``,
        ``episode_return`` / ``episode_length`` (means over episodes that ended in this rollout,
        nan if none), ``episodes``, ``policy_loss``, ``value_loss``, ``entropy``, ``approx_kl``,
        ``clip_fraction``, ``grad_norm``, ``learning_rate``, ``explained_variance``,
        ``action_std``, ``reward_mean``, ... plus the rollout mean of every numeric (N,) info
        entry of the env under its own name (names above take precedence). Returning True from
        the callback stops training after that iteration.
        """
        self._check_env(env)
        while self.env_steps < total_steps:
            stats = self.iterate(env, total_steps)
            if callback is not None and callback(stats):
                break
        return self.state

    def act(self, obs, key: jax.Array | None = None, deterministic: bool = True) -> jax.Array:
        """Clipped action for raw observations with the current policy (mean by default: the
        current state's :class:`~kintwin.learn.policy.Policy`)."""
        if deterministic:
            if self._policy is None or self._policy.network is not self.state.policy or \
                    self._policy.obs_norm is not self.state.obs_norm:
                self._policy = Policy.from_state(self.state)
            return self._policy.action(obs)
        a = act(self.state.policy, self.state.obs_norm, obs, key, deterministic)
        return jnp.clip(a, -1.0, 1.0)

    def evaluate(self, env, seed: int = 12345, max_steps: int = 1000,
                 deterministic: bool = True) -> dict[str, float]:
        """Mean return/length of the first episode of every env (steps cut at ``max_steps``).

        Resets ``env``; if it is the training env, the next ``train`` call starts new episodes.
        """
        self._check_env(env)
        if env is self._env:
            self._env = None
        obs = env.reset(seed)
        numpy_env = isinstance(obs, np.ndarray)
        key = jax.random.PRNGKey(seed)
        ret = np.zeros(env.num_envs)
        length = np.zeros(env.num_envs, np.int64)
        finished = np.zeros(env.num_envs, bool)
        for _ in range(max_steps):
            key, sub = jax.random.split(key)
            a = self.act(obs, sub, deterministic)
            obs, reward, done, _ = env.step(np.asarray(a) if numpy_env else jnp.asarray(a))
            ret += np.where(finished, 0.0, np.asarray(reward))
            length += ~finished
            finished |= np.asarray(done)
            if finished.all():
                break
        return {"episode_return": float(ret.mean()), "episode_length": float(length.mean()),
                "finished_fraction": float(finished.mean())}
