"""Policy and value networks (equinox).

* :class:`GaussianPolicy`: an MLP gives the mean of a diagonal Gaussian; the log standard
  deviation is one learned vector, independent of the state. There is no tanh squashing: the
  sampled action is sent clipped to [-1, 1] to the env, and log-probabilities are computed on
  the unclipped sample (the usual PPO treatment of bounded continuous actions).
* :class:`ValueNetwork`: an MLP with a scalar output. With PopArt value normalisation (see
  ``normalize.py``) it predicts the *normalised* value.

Both take already-normalised observations and accept any leading batch shape ``(..., obs)``
(layers are applied as ``x @ W.T + b``, so no ``vmap`` is needed).

Activation: ELU by default. It is the common choice for wide torque-control policies of
articulated bodies (e.g. legged_gym / rsl_rl with (512, 256, 128)): smooth like tanh but not
saturating, so the wide layers keep useful gradients; tanh ("tanh") remains available and is
the classic choice for small (64, 64) networks.

Initialisation: orthogonal weights (gain sqrt(2) for hidden layers), zero biases; the last
policy layer has gain 0.01 so that the initial mean action is ~0 for every state (the
initial behaviour is pure, state-independent exploration noise), the value head gain 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

ACTIVATIONS = {
    "elu": jax.nn.elu,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
}

#: Bounds applied to the learned log standard deviation when it is used (std 0.0009-2.7 in
#: action units; a fine-tuned policy's residuals explore with 0.005 of m g).
LOG_STD_MIN, LOG_STD_MAX = -7.0, 1.0

_LOG_2PI = math.log(2.0 * math.pi)


def _orthogonal_linear(in_size: int, out_size: int, gain: float, key: jax.Array) -> eqx.nn.Linear:
    """An ``eqx.nn.Linear`` with orthogonal weights scaled by ``gain`` and zero bias."""
    layer = eqx.nn.Linear(in_size, out_size, key=key)
    weight = jax.nn.initializers.orthogonal(gain)(key, (out_size, in_size))
    return eqx.tree_at(lambda l: (l.weight, l.bias), layer, (weight, jnp.zeros(out_size)))


class MLP(eqx.Module):
    """Fully connected network ``in -> hidden... -> out`` with activations between layers."""

    layers: tuple[eqx.nn.Linear, ...]
    activation: str = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int, hidden_sizes: Sequence[int],
                 activation: str, key: jax.Array, *, out_gain: float = 1.0):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)}")
        sizes = (in_size, *hidden_sizes, out_size)
        keys = jax.random.split(key, len(sizes) - 1)
        gains = [math.sqrt(2.0)] * (len(sizes) - 2) + [out_gain]
        self.layers = tuple(_orthogonal_linear(a, b, g, k)
                            for a, b, g, k in zip(sizes[:-1], sizes[1:], gains, keys))
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            x = act(x @ layer.weight.T + layer.bias)
        last = self.layers[-1]
        return x @ last.weight.T + last.bias


class GaussianPolicy(eqx.Module):
    """Diagonal Gaussian policy with state-independent learned log-std (no tanh)."""

    net: MLP
    log_std: jax.Array

    def __init__(self, obs_size: int, action_size: int, hidden_sizes: Sequence[int] = (512, 256),
                 activation: str = "elu", init_std: float = 0.5, out_gain: float = 0.01, *,
                 key: jax.Array):
        self.net = MLP(obs_size, action_size, hidden_sizes, activation, key, out_gain=out_gain)
        self.log_std = jnp.full((action_size,), math.log(init_std), jnp.float32)

    def mean(self, obs: jax.Array) -> jax.Array:
        """Mean action (..., action_size) for normalised observations (..., obs_size)."""
        return self.net(obs)

    def std(self) -> jax.Array:
        return jnp.exp(jnp.clip(self.log_std, LOG_STD_MIN, LOG_STD_MAX))

    def sample(self, obs: jax.Array, key: jax.Array) -> jax.Array:
        """An unclipped action sample ``mean + std * N(0, 1)``."""
        mean = self.mean(obs)
        return mean + self.std() * jax.random.normal(key, mean.shape, mean.dtype)

    def log_prob(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        """Log-density (...,) of the (unclipped) ``action`` under the policy at ``obs``."""
        return self.log_prob_at_mean(self.mean(obs), action)

    def log_prob_at_mean(self, mean: jax.Array, action: jax.Array) -> jax.Array:
        """:meth:`log_prob` given the policy's ``mean`` at the state (computed once by a caller
        that needs it too)."""
        log_std = jnp.clip(self.log_std, LOG_STD_MIN, LOG_STD_MAX)
        z = (action - mean) * jnp.exp(-log_std)
        return -0.5 * jnp.sum(z**2 + 2.0 * log_std + _LOG_2PI, axis=-1)

    def entropy(self) -> jax.Array:
        """Entropy (scalar) of the Gaussian; the same for every state."""
        log_std = jnp.clip(self.log_std, LOG_STD_MIN, LOG_STD_MAX)
        return jnp.sum(log_std + 0.5 * (_LOG_2PI + 1.0))


class ValueNetwork(eqx.Module):
    """State-value MLP; returns shape (...,) (normalised units under PopArt)."""

    net: MLP

    def __init__(self, obs_size: int, hidden_sizes: Sequence[int] = (512, 256),
                 activation: str = "elu", *, key: jax.Array):
        self.net = MLP(obs_size, 1, hidden_sizes, activation, key, out_gain=1.0)

    def __call__(self, obs: jax.Array) -> jax.Array:
        return self.net(obs)[..., 0]

    @property
    def head(self) -> eqx.nn.Linear:
        """The output layer (rescaled by PopArt to preserve outputs when statistics change)."""
        return self.net.layers[-1]
