"""Learning: running a trained policy (``policy``, numpy only), PPO in JAX (``ppo``), networks,
normalisers, checkpoints, behaviour cloning (``bc``), training runs (``train``, ``train_config``,
``train_log``) and distillation of the whole-body controller (``distill``).

The PPO trainer drives any :class:`kintwin.sim.interface.VecEnv` (numpy or JAX arrays). A twin
runs a :class:`~kintwin.learn.policy.Policy`, which holds nothing of the trainer and needs no JAX:
the names below are imported when first used, so importing this package does not import JAX.
"""

import importlib

_HOMES = {
    "behavior_clone": "bc",
    **dict.fromkeys(("load_checkpoint", "load_trainer", "save_checkpoint", "save_trainer"), "checkpoint"),
    "CheckpointError": "checkpoint_file",
    "Policy": "policy",
    **dict.fromkeys(("PPOConfig", "PPOTrainer", "Rollout", "TrainState", "act", "compute_gae",
                     "init_train_state", "ppo_update"), "ppo"),
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


__all__ = sorted(_HOMES)
