"""The options of a training run (``kintwin train``) and the config files that override them.

* :class:`TrainOptions` -- the run's options besides the task and PPO configs (steps, envs,
  behaviour-cloning warm start, exploration std, checkpoint and evaluation intervals, time
  budget);
* :data:`TRACKING_PPO_DEFAULTS` / :func:`default_ppo_config` -- PPO's settings for the tracking
  task;
* :func:`read_config_file` + :func:`split_overrides` -- a YAML/JSON file of overrides
  (``kintwin train --config``) split into TrackingConfig, PPOConfig and TrainOptions fields.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..sim.tracking import TrackingConfig
from .ppo import PPOConfig

#: PPO defaults of the tracking task (fields not listed keep ``PPOConfig``'s defaults).
#: Small std and learning rate: after the BC warm start, larger values wreck the cloned policy in
#: the first updates (KL >> 1); torque noise of 0.15 x peak torque is already large.
TRACKING_PPO_DEFAULTS = dict(num_steps=32, epochs=4, num_minibatches=4, learning_rate=1e-4,
                             init_std=0.15, entropy_coef=0.0, gamma=0.97)


def default_ppo_config(**overrides) -> PPOConfig:
    return PPOConfig(**{**TRACKING_PPO_DEFAULTS, **overrides})


@dataclass
class TrainOptions:
    """Options of a training run (besides the task and PPO configs)."""

    total_steps: int = 2_000_000
    num_envs: int = 64
    num_threads: int = 2
    seed: int = 0
    bc: bool = True  #: behaviour-cloning warm start from inverse dynamics (fresh runs)
    bc_epochs: int = 200
    bc_learning_rate: float = 1e-3
    bc_copies: int = 16  #: noisy copies of each reference state in the BC data (BCOptions)
    bc_joint_feedback_hz: float = 1.5  #: PD correction in the BC labels (BCOptions)
    bc_residual_feedback_hz: float = 1.5
    #: per-joint exploration std (``learn.train.exploration_std``, e.g. 300 rad/s^2); None:
    #: uniform init_std.
    #: Off by default: std < ~0.05 on some joints made the first PPO updates explode (KL >> 1).
    explore_accel: float | None = None
    explore_min_std: float = 0.02
    residual_std: float | None = None  #: exploration std of the residuals (None: init_std)
    checkpoint_every: int = 20  #: iterations between checkpoints
    eval_every: int = 10  #: iterations between deterministic whole-trial evaluations (0: never)
    time_budget_s: float | None = None  #: stop (and checkpoint) after this wall-clock time (s)
    progress: bool = True


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON file of overrides: sections ``tracking``, ``ppo``, ``train``, or flat keys
    (each flat key goes to the config that has a field of that name)."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the config file must hold a mapping")
    return data


def split_overrides(data: dict[str, Any]) -> tuple[dict, dict, dict]:
    """(tracking, ppo, train) override dicts from a config mapping."""
    t_fields = {f.name for f in dataclasses.fields(TrackingConfig)}
    p_fields = {f.name for f in dataclasses.fields(PPOConfig)}
    o_fields = {f.name for f in dataclasses.fields(TrainOptions)}
    tr, pp, op = dict(data.get("tracking", {})), dict(data.get("ppo", {})), dict(data.get("train", {}))
    for k, v in data.items():
        if k in ("tracking", "ppo", "train"):
            continue
        if k in t_fields:
            tr[k] = v
        elif k in p_fields:
            pp[k] = v
        elif k in o_fields:
            op[k] = v
        else:
            raise ValueError(f"unknown config key {k!r} (not a TrackingConfig, PPOConfig or "
                             f"train option field)")
    for name, d, fields in (("tracking", tr, t_fields), ("ppo", pp, p_fields), ("train", op, o_fields)):
        bad = set(d) - fields
        if bad:
            raise ValueError(f"unknown {name} config fields: {sorted(bad)}")
    return tr, pp, op


__all__ = ["TRACKING_PPO_DEFAULTS", "TrainOptions", "default_ppo_config", "read_config_file",
           "split_overrides"]
