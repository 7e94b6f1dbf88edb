"""Observation and value normalisation, as immutable pytrees (equinox modules).

* :class:`RunningMeanStd` -- exact running mean / variance of every observation seen, merged
  batch by batch with the parallel Welford (Chan et al.) formula; ``normalize`` gives
  ``clip((x - mean) / sqrt(var + eps), -clip, clip)`` with ``clip = 10``. Before any data it is
  the identity (mean 0, var 1).
* :class:`PopArtStats` + :func:`popart_rescale` -- value-target normalisation ("PopArt-lite",
  van Hasselt et al. 2016). The value network predicts ``(V - mu) / sigma``; ``mu`` and
  ``sigma`` are exponential moving averages (bias-corrected like Adam) of the first and second
  moments of the GAE returns of each rollout. Whenever they change, the last value layer is
  rescaled so that the *unnormalised* prediction is unchanged ("preserving outputs precisely").
  This keeps the value loss O(1) whatever the reward scale, so ``value_coef`` and the value clip
  range need no retuning when rewards change, and the critic never has to chase a moving scale.
  (Unlike full PopArt, Adam's moment estimates are not rescaled.)
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

_EPS = 1e-8


class RunningMeanStd(eqx.Module):
    """Running per-feature mean and (population) variance of the data seen so far."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array
    clip: float = eqx.field(static=True, default=10.0)

    @classmethod
    def create(cls, size: int, clip: float = 10.0) -> RunningMeanStd:
        return cls(jnp.zeros(size, jnp.float32), jnp.ones(size, jnp.float32),
                   jnp.zeros((), jnp.float32), clip)

    def update(self, x: jax.Array) -> RunningMeanStd:
        """Merge the batch ``x`` (..., size) (all leading axes are samples) into the stats."""
        x = jnp.reshape(jnp.asarray(x, jnp.float32), (-1, self.mean.shape[-1]))
        n_b = jnp.asarray(x.shape[0], jnp.float32)
        mean_b, var_b = jnp.mean(x, axis=0), jnp.var(x, axis=0)
        total = self.count + n_b
        delta = mean_b - self.mean
        mean = self.mean + delta * (n_b / total)
        m2 = self.var * self.count + var_b * n_b + delta**2 * (self.count * n_b / total)
        return RunningMeanStd(mean, m2 / total, total, self.clip)

    @property
    def std(self) -> jax.Array:
        return jnp.sqrt(self.var + _EPS)

    def normalize(self, x: jax.Array) -> jax.Array:
        return jnp.clip((x - self.mean) / self.std, -self.clip, self.clip)

    def denormalize(self, x: jax.Array) -> jax.Array:
        return x * self.std + self.mean


class PopArtStats(eqx.Module):
    """Bias-corrected EMA of the mean and second moment of value targets (scalars).

    ``weight`` is the bias-correction mass ``1 - (1 - beta)^k`` after ``k`` updates; with
    ``weight == 0`` (never updated, or value normalisation disabled) the stats are the identity.
    """

    ema_mean: jax.Array
    ema_sq: jax.Array
    weight: jax.Array

    @classmethod
    def create(cls) -> PopArtStats:
        z = jnp.zeros((), jnp.float32)
        return cls(z, z, z)

    def update(self, targets: jax.Array, beta: float) -> PopArtStats:
        t = jnp.asarray(targets, jnp.float32)
        decay = 1.0 - beta
        return PopArtStats(decay * self.ema_mean + beta * jnp.mean(t),
                           decay * self.ema_sq + beta * jnp.mean(t**2),
                           decay * self.weight + beta)

    @property
    def mean(self) -> jax.Array:
        return jnp.where(self.weight > 0, self.ema_mean / jnp.maximum(self.weight, _EPS), 0.0)

    @property
    def std(self) -> jax.Array:
        w = jnp.maximum(self.weight, _EPS)
        var = jnp.maximum(self.ema_sq / w - (self.ema_mean / w) ** 2, 1e-6)
        return jnp.where(self.weight > 0, jnp.sqrt(var), 1.0)

    def normalize(self, x: jax.Array) -> jax.Array:
        return (x - self.mean) / self.std

    def denormalize(self, x: jax.Array) -> jax.Array:
        return x * self.std + self.mean


def popart_rescale(head: eqx.nn.Linear, old: PopArtStats, new: PopArtStats) -> eqx.nn.Linear:
    """Rescale the value output layer so that ``new.denormalize(head(h))`` equals
    ``old.denormalize(head(h))`` for every hidden feature ``h`` (PopArt's output preservation)."""
    ratio = old.std / new.std
    weight = head.weight * ratio
    bias = (old.std * head.bias + old.mean - new.mean) / new.std
    return eqx.tree_at(lambda l: (l.weight, l.bias), head, (weight, bias))
