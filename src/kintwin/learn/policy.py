"""Running a trained policy: inference only (no optimiser, no value network, no trainer).

:class:`Policy` is what a twin runs: the policy network (``networks.GaussianPolicy``; its mean
is the action), the observation normaliser it was trained with, the tracking-task settings its
observations follow (``sim.tracking.TrackingConfig``), what kind of policy it is (:data:`PPO`,
trained by ``kintwin train``, or ``learn.distill.KIND``, distilled from the whole-body
controller) and the metadata of its checkpoint. :meth:`Policy.mean_action` is the one jitted
mean-action function of kintwin: the policy twin (``twin/runner.py``), the distilled policy's
driver (``learn/distill.py``) and the trainer's deterministic actions
(``PPOTrainer.act``, used by the evaluations during training) all go through it.

Training (PPO, fine-tuning, DAgger) works on a ``learn.ppo.TrainState``;
:meth:`Policy.from_state` takes the policy out of one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..sim.tracking import TrackingConfig
from .networks import GaussianPolicy
from .normalize import RunningMeanStd

#: ``Policy.kind`` of a policy trained with PPO by ``kintwin train`` (its checkpoints carry no
#: "kind" in their metadata)
PPO = "trained with PPO (kintwin train)"


# Jitted on its own and called inside the jit of each Policy's ``mean_action`` (the weights enter
# it as arguments there): the twin's numbers so far were made so; inlining it changes the last bits.
@jax.jit
def _mean(network: GaussianPolicy, obs_norm: RunningMeanStd, obs: jax.Array) -> jax.Array:
    """The policy's mean action (unclipped) for raw observations (..., obs)."""
    return network.mean(obs_norm.normalize(obs))


@dataclass(eq=False)
class Policy:
    """A trained policy, ready to run (module doc)."""

    network: GaussianPolicy
    obs_norm: RunningMeanStd
    tracking: TrackingConfig | None = None  #: the task it was trained on (None: not known)
    kind: str = PPO
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None  #: the checkpoint it was read from

    def __post_init__(self):
        self._mean_fn = None

    @classmethod
    def from_state(cls, state, tracking: TrackingConfig | None = None, **kw) -> Policy:
        """The policy of a ``learn.ppo.TrainState`` (its network and observation normaliser)."""
        return cls(state.policy, state.obs_norm, tracking, **kw)

    @classmethod
    def from_checkpoint(cls, checkpoint, source: str | Path | None = None) -> Policy:
        """The policy of a ``learn.checkpoint.Checkpoint`` written by ``kintwin train``."""
        meta = checkpoint.metadata
        return cls.from_state(checkpoint.state, TrackingConfig.from_dict(meta.get("tracking_config", {})),
                              kind=meta.get("kind", PPO), metadata=meta,
                              source=None if source is None else Path(source))

    @property
    def obs_size(self) -> int:
        return int(self.obs_norm.mean.shape[-1])

    @property
    def action_size(self) -> int:
        return int(self.network.log_std.shape[-1])

    def mean_action(self, obs) -> np.ndarray:
        """The deterministic action: the policy mean (unclipped) for raw observations (..., obs).

        Jitted with the weights as constants (a call with the weights as arguments costs ~4x
        more: ~0.2 ms vs 0.06 ms on this CPU); compiled (~0.1 s) at the first call of each
        ``Policy``."""
        if self._mean_fn is None:
            network, obs_norm = self.network, self.obs_norm
            self._mean_fn = jax.jit(lambda o: _mean(network, obs_norm, o))
        return np.asarray(self._mean_fn(jnp.asarray(obs, jnp.float32)))

    def action(self, obs) -> np.ndarray:
        """The action an env is sent: :meth:`mean_action` clipped to [-1, 1]."""
        return np.clip(self.mean_action(obs), -1.0, 1.0)

    def train_state(self, **overrides):
        """(TrainState, PPOConfig) of this network and normaliser with a fresh value network and
        optimiser: to save the policy (``learn.checkpoint.save_checkpoint``) or to train on from it
        (``overrides``: other ``PPOConfig`` fields than the network's sizes and activation)."""
        import equinox as eqx

        from .ppo import PPOConfig, init_train_state

        hidden = tuple(int(layer.weight.shape[0]) for layer in self.network.net.layers[:-1])
        config = PPOConfig(policy_hidden=hidden, activation=self.network.net.activation, **overrides)
        state = init_train_state(config, self.obs_size, self.action_size)
        return eqx.tree_at(lambda s: (s.policy, s.obs_norm), state,
                           (self.network, self.obs_norm)), config


__all__ = ["PPO", "Policy"]
