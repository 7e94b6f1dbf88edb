"""Running a trained policy: inference only (no optimiser, no value network, no trainer, no JAX).

:class:`Policy` is what a twin runs: the numbers of the policy network
(``networks.GaussianPolicy``; its mean is the action) and of the observation normaliser it was
trained with, in numpy (:class:`Weights`), the tracking-task settings its observations follow
(``sim.tracking.TrackingConfig``), what kind of policy it is (:data:`PPO`, trained by ``kintwin
train``, or ``learn.distill.KIND``, distilled from the whole-body controller) and the metadata of
its checkpoint. :meth:`Policy.mean_action` is the one mean-action function of kintwin: the policy
twin (``twin/runner.py``), the distilled policy's driver (``learn/distill.py``) and the trainer's
deterministic actions (``PPOTrainer.act``, used by the evaluations during training) all go
through it.

A policy file is read without JAX (:func:`read_weights`): a worker process of a batch that imports
JAX and equinox pays 1.2 s (Intel VM) to 2 s (AMD VM) before its first trial. Training (PPO,
fine-tuning, DAgger) works on a ``learn.ppo.TrainState``; :meth:`Policy.from_state` takes the
policy out of one, and :attr:`Policy.network` and :attr:`Policy.obs_norm` give its JAX modules
back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..sim.tracking import TrackingConfig
from .checkpoint_file import CheckpointError, read_checkpoint_file

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


@dataclass(frozen=True, eq=False)
class Weights:
    """A policy's numbers in numpy: its mean network's layers as ``networks.MLP`` holds them
    (weight (out, in), bias (out,); float32), their activation, the log standard deviation, and
    the observation normaliser's running statistics (``normalize.RunningMeanStd``)."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    activation: str
    log_std: np.ndarray
    obs_mean: np.ndarray
    obs_var: np.ndarray
    obs_count: np.ndarray
    obs_clip: float

    @classmethod
    def of(cls, network, obs_norm) -> Weights:
        """The weights of a ``GaussianPolicy`` and a ``RunningMeanStd`` (JAX modules)."""
        layers = tuple((np.asarray(l.weight), np.asarray(l.bias)) for l in network.net.layers)
        return cls(layers, network.net.activation, np.asarray(network.log_std),
                   np.asarray(obs_norm.mean), np.asarray(obs_norm.var), np.asarray(obs_norm.count),
                   float(obs_norm.clip))

    def modules(self):
        """(``networks.GaussianPolicy``, ``normalize.RunningMeanStd``) of these weights (JAX)."""
        import equinox as eqx
        import jax
        import jax.numpy as jnp

        from .networks import GaussianPolicy
        from .normalize import RunningMeanStd

        hidden = tuple(int(w.shape[0]) for w, _ in self.layers[:-1])
        template = eqx.filter_eval_shape(GaussianPolicy, self.obs_mean.shape[-1], self.log_std.shape[-1],
                                         hidden, self.activation, key=jax.random.PRNGKey(0))
        arrays, static = eqx.partition(template, lambda x: isinstance(x, jax.ShapeDtypeStruct))
        leaves = [jnp.asarray(x) for layer in self.layers for x in layer] + [jnp.asarray(self.log_std)]
        network = eqx.combine(jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(arrays), leaves),
                              static)
        return network, RunningMeanStd(jnp.asarray(self.obs_mean), jnp.asarray(self.obs_var),
                                       jnp.asarray(self.obs_count), self.obs_clip)


def read_weights(path: str | Path) -> tuple[Weights, dict[str, Any]]:
    """(weights, metadata) of a policy file (a ``learn/checkpoint`` file: where its policy's
    arrays are is described there), in numpy. A file that is not a checkpoint, or whose arrays do
    not make a policy of the sizes its header gives, raises ``CheckpointError``."""
    header, leaves, _ = read_checkpoint_file(path)
    try:
        config, obs, act = header["config"], header["obs_size"], header["action_size"]
        n_layers = len(config["policy_hidden"]) + 1
        clip = float(config["obs_clip"]) if config["normalize_obs"] else float("inf")
        layers = tuple((leaves[2 * i], leaves[2 * i + 1]) for i in range(n_layers))
        weights = Weights(layers, config["activation"], leaves[2 * n_layers], leaves[-9], leaves[-8],
                          leaves[-7], clip)
    except IndexError:
        raise CheckpointError(f"{path}: too few saved leaves for a policy") from None
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: its header lacks the policy's settings ({e})") from None
    sizes = [obs] + [int(w.shape[0]) for w, _ in layers]
    want = [((o, i), (o,)) for i, o in zip(sizes[:-1], sizes[1:])] + [(act,), (obs,), (obs,), ()]
    got = [(w.shape, b.shape) for w, b in layers] + [weights.log_std.shape, weights.obs_mean.shape,
                                                     weights.obs_var.shape, weights.obs_count.shape]
    if sizes[-1] != act or got != want:
        raise CheckpointError(f"{path}: its arrays do not make a policy of {obs} observations and "
                              f"{act} actions (shapes {got}, expected {want})")
    return weights, header["metadata"]


@dataclass(eq=False)
class Policy:
    """A trained policy, ready to run (module doc)."""

    weights: Weights
    tracking: TrackingConfig | None = None  #: the task it was trained on (None: not known)
    kind: str = PPO
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None  #: the checkpoint it was read from

    def __post_init__(self):
        self._numpy = None

    def __getstate__(self):  # for worker processes: the transposed weights are rebuilt on first use
        return {**self.__dict__, "_numpy": None}

    @classmethod
    def from_state(cls, state, **fields) -> Policy:
        """The policy of a ``learn.ppo.TrainState`` (its network and observation normaliser), with
        the other ``fields`` given (else the class's defaults)."""
        return cls(Weights.of(state.policy, state.obs_norm), **fields)

    @classmethod
    def read(cls, path: str | Path) -> Policy:
        """The policy of a checkpoint written by ``kintwin train`` (numpy only)."""
        weights, meta = read_weights(path)
        return cls(weights, TrackingConfig.from_dict(meta.get("tracking_config", {})),
                   kind=meta.get("kind", PPO), metadata=meta, source=Path(path))

    @property
    def network(self):
        """The policy network (``networks.GaussianPolicy``, JAX): to train it."""
        return self.weights.modules()[0]

    @property
    def obs_norm(self):
        """The observation normaliser (``normalize.RunningMeanStd``, JAX): to train on."""
        return self.weights.modules()[1]

    @property
    def obs_size(self) -> int:
        return int(self.weights.obs_mean.shape[-1])

    @property
    def action_size(self) -> int:
        return int(self.weights.log_std.shape[-1])

    def mean_action(self, obs) -> np.ndarray:
        """The deterministic action: the policy mean (unclipped, float32) for raw observations
        (..., obs): ``networks.GaussianPolicy.mean`` of the normalised observation, evaluated in
        numpy (equal to the JAX network within float32 rounding; a twin makes one call per control
        step, and a jitted JAX call costs ~0.2 ms against 0.06 ms in numpy on this CPU)."""
        if self._numpy is None:
            w = self.weights
            layers = [(np.asarray(weight, np.float32).T.copy(), np.asarray(bias, np.float32))
                      for weight, bias in w.layers]
            std = np.sqrt(np.asarray(w.obs_var, np.float32) + np.float32(1e-8))  # RunningMeanStd.std
            self._numpy = (np.asarray(w.obs_mean, np.float32), std, w.obs_clip, layers,
                           _NP_ACTIVATIONS[w.activation])
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

        hidden = tuple(int(w.shape[0]) for w, _ in self.weights.layers[:-1])
        config = PPOConfig(policy_hidden=hidden, activation=self.weights.activation, **overrides)
        state = init_train_state(config, self.obs_size, self.action_size)
        return eqx.tree_at(lambda s: (s.policy, s.obs_norm), state, self.weights.modules()), config


__all__ = ["PPO", "Policy", "Weights", "read_weights"]
