"""Learning: PPO in JAX (``ppo``), networks, normalisers, checkpoints and behaviour cloning.

The PPO trainer drives any :class:`kintwin.sim.interface.VecEnv` (numpy or JAX arrays).
"""

from kintwin.learn.bc import behavior_clone
from kintwin.learn.checkpoint import (CheckpointError, load_checkpoint, load_trainer,
                                      save_checkpoint, save_trainer)
from kintwin.learn.ppo import (PPOConfig, PPOTrainer, Rollout, TrainState, act, compute_gae,
                               init_train_state, ppo_update)

__all__ = [
    "CheckpointError", "PPOConfig", "PPOTrainer", "Rollout", "TrainState", "act",
    "behavior_clone", "compute_gae", "init_train_state", "load_checkpoint", "load_trainer",
    "ppo_update", "save_checkpoint", "save_trainer",
]
