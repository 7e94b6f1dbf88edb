"""Running a trained policy: inference only (no optimiser, no value network, no trainer).

:class:`Policy` is what a twin runs: the policy network (``networks.GaussianPolicy``; its mean
is the action), the observation normaliser it was trained with, the tracking-task settings its
observations follow (``sim.tracking.TrackingConfig``), what kind of policy it is (:data:`PPO`,
trained by ``kintwin train``, or ``learn.distill.KIND``, distilled from the whole-body
controller) and the metadata of its checkpoint. :meth:`Policy.mean_action` is the one
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

import numpy as np

from ..sim.tracking import TrackingConfig
from .networks import GaussianPolicy
from .normalize import RunningMeanStd

#: ``Policy.kind`` of a policy trained with PPO by ``kintwin train`` (its checkpoints carry no
#: "kind" in their metadata)
PPO = "trained with PPO (kintwin train)"


#: numpy versions of ``networks.ACTIVATIONS`` (float32 in, float32 out)
_NP_ACTIVATIONS = {
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "silu": lambda x: x / (1 + np.exp(-x)),
}


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
        self._numpy = None

    def __getstate__(self):  # for worker processes: the numpy copy is rebuilt on first use
        return {**self.__dict__, "_numpy": None}

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
        """The deterministic action: the policy mean (unclipped, float32) for raw observations
        (..., obs): ``networks.GaussianPolicy.mean`` of the normalised observation, evaluated in
        numpy (equal to the JAX network within float32 rounding; a twin makes one call per control
        step, and a jitted JAX call costs ~0.2 ms against 0.06 ms in numpy on this CPU)."""
        if self._numpy is None:
            norm = self.obs_norm
            layers = [(np.asarray(l.weight, np.float32).T.copy(), np.asarray(l.bias, np.float32))
                      for l in self.network.net.layers]
            self._numpy = (np.asarray(norm.mean, np.float32), np.asarray(norm.std, np.float32),
                           float(norm.clip), layers, _NP_ACTIVATIONS[self.network.net.activation])
        mean, std, clip, layers, act = self._numpy
        x = np.clip((np.asarray(obs, np.float32) - mean) / std, -clip, clip)
        for weight, bias in layers[:-1]:
            x = act(x @ weight + bias)
        return x @ layers[-1][0] + layers[-1][1]

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
