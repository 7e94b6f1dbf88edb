"""Save / load a PPO :class:`TrainState` (+ config + JSON metadata) to one ``.npz`` file.

Layout of the file (a plain numpy ``.npz``, readable without kintwin):

* ``__header__``: a JSON string ``{"format", "version", "config", "obs_size", "action_size",
  "env_steps", "num_leaves", "metadata"}``;
* ``leaf/00000`` ...: the array leaves of the TrainState in ``jax.tree_util`` order (exact
  bytes, so a resumed run continues bit-identically). The policy's come first (each layer's
  weight and bias, then the log std) and the observation normaliser's mean, variance and count
  are the 9th to 7th from the end: ``learn/policy`` reads a policy from those without JAX;
* ``extra/<name>``: optional extra arrays (the trainer's rollout carry and env snapshot).

Loading (to train on: a twin reads only the policy's arrays, ``learn/policy.read_weights``)
rebuilds the TrainState's structure from the saved config (abstractly,
``equinox.filter_eval_shape``: no networks are initialised, nothing is compiled) and fills it
with the saved leaves, checking count, shapes and dtypes. A missing file raises ``FileNotFoundError``; an
unreadable, truncated or foreign file raises :class:`CheckpointError`. Files are written to a
temporary name and renamed, so a crash mid-save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from kintwin.learn.checkpoint_file import FORMAT, VERSION, CheckpointError, read_checkpoint_file
from kintwin.learn.ppo import PPOConfig, PPOTrainer, TrainState, init_train_state


@dataclass
class Checkpoint:
    state: TrainState
    config: PPOConfig
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    env_steps: int = 0


def _is_leaf_array(x) -> bool:
    """An array leaf of a TrainState, or its shape in an abstract one (``filter_eval_shape``)."""
    return eqx.is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


def _leaves(state: TrainState) -> tuple[list[Any], Any]:
    return jax.tree_util.tree_flatten(eqx.filter(state, _is_leaf_array))


def save_checkpoint(path: str | os.PathLike, state: TrainState, config: PPOConfig,
                    metadata: dict[str, Any] | None = None,
                    extra: dict[str, np.ndarray] | None = None, env_steps: int = 0) -> Path:
    """Write ``state`` + ``config`` + JSON-serialisable ``metadata`` (+ ``extra`` arrays)."""
    path = Path(path)
    leaves, _ = _leaves(state)
    header = {
        "format": FORMAT, "version": VERSION, "config": config.to_dict(),
        "obs_size": state.obs_size, "action_size": state.action_size,
        "env_steps": int(env_steps), "num_leaves": len(leaves), "metadata": metadata or {},
    }
    try:
        header_json = json.dumps(header)
    except TypeError as e:
        raise TypeError(f"checkpoint metadata must be JSON-serialisable: {e}") from None
    arrays = {"__header__": np.asarray(header_json)}
    arrays.update({f"leaf/{i:05d}": np.asarray(x) for i, x in enumerate(leaves)})
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in (extra or {}).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    header, saved, extra = read_checkpoint_file(path)
    config = PPOConfig.from_dict(header["config"])
    template = eqx.filter_eval_shape(init_train_state, config, header["obs_size"],
                                     header["action_size"])
    leaves, treedef = _leaves(template)
    if len(saved) != len(leaves):
        raise CheckpointError(f"{path}: {len(saved)} saved leaves, expected {len(leaves)}")
    for i, (s, t) in enumerate(zip(saved, leaves)):
        if s.shape != t.shape or s.dtype != t.dtype:
            raise CheckpointError(f"{path}: leaf {i} is {s.dtype}{s.shape}, expected "
                                  f"{t.dtype}{t.shape}")
    arrays = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(s) for s in saved])
    state = eqx.combine(arrays, template)
    return Checkpoint(state, config, header["metadata"], extra, int(header["env_steps"]))


def save_trainer(path: str | os.PathLike, trainer: PPOTrainer, env=None,
                 metadata: dict[str, Any] | None = None) -> Path:
    """Save a trainer; with ``env`` (a :class:`SnapshotVecEnv`) also its running episodes.

    Resuming with :func:`load_trainer` then continues bit-identically to an uninterrupted run.
    """
    carry = trainer.get_rollout_state(env) if env is not None else None
    return save_checkpoint(path, trainer.state, trainer.config, metadata, carry,
                           trainer.env_steps)


def load_trainer(path: str | os.PathLike, env=None) -> tuple[PPOTrainer, dict[str, Any]]:
    """Rebuild a :class:`PPOTrainer` (and restore ``env``'s episodes if they were saved).

    ``env`` must be built like the saved one. Without a saved env snapshot the next ``train``
    call starts fresh episodes. Returns ``(trainer, metadata)``.
    """
    ckpt = load_checkpoint(path)
    trainer = PPOTrainer(ckpt.config, ckpt.state.obs_size, ckpt.state.action_size, ckpt.state,
                         ckpt.env_steps)
    if env is not None and ckpt.extra:
        trainer.set_rollout_state(env, ckpt.extra)
    return trainer, ckpt.metadata
