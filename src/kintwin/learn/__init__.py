"""Learning: running a trained policy (``policy``), PPO in JAX (``ppo``), networks, normalisers,
checkpoints, behaviour cloning (``bc``), training runs (``train``, ``train_config``,
``train_log``) and distillation of the whole-body controller (``distill``).

The PPO trainer drives any :class:`kintwin.sim.interface.VecEnv` (numpy or JAX arrays). A twin
runs a :class:`~kintwin.learn.policy.Policy`, which holds nothing of the trainer.
"""

from kintwin.learn.bc import behavior_clone
from kintwin.learn.checkpoint import (CheckpointError, load_checkpoint, load_trainer,
                                      save_checkpoint, save_trainer)
from kintwin.learn.policy import Policy
from kintwin.learn.ppo import (PPOConfig, PPOTrainer, Rollout, TrainState, act, compute_gae,
                               init_train_state, ppo_update)

__all__ = [
    "CheckpointError", "PPOConfig", "PPOTrainer", "Policy", "Rollout", "TrainState", "act",
    "behavior_clone", "compute_gae", "init_train_state", "load_checkpoint", "load_trainer",
    "ppo_update", "save_checkpoint", "save_trainer",
]
