"""Train a general PPO policy: the first wave's shipped policy (``src/kintwin/data/policy.npz``
until the distilled walking and running policies of ``bench/distill_shipped_policy.py`` replaced
it; the first wave's file is in git history).

Training set (every trial also mirrored left/right, ``bench/configs/shipped_policy.yaml``):

* generated walking (``kintwin.motion.sample.sample_walk``) of three made-up subjects of
  different size and cadence: 1.60 m / 58 kg / 1.00 s cycle, 1.75 m / 70 kg / 1.10 s (the demo's
  sample trial), 1.90 m / 85 kg / 1.20 s;
* ``../shared/data`` subject01 treadmill walking (gait2392 IK, 0.5-2.5 s, 1.803 m, 72.6 kg) and
  hamner_run treadmill running (IK, 0.5-4.5 s, 1.83 m, 65.9 kg), each on the built-in model
  scaled to the subject (the data is read at training time; only the weights are committed).

Each subject is one group of envs with its own scaled model (``kintwin.learn.train.TrialGroup``)
and its height and mass in the observation; episodes start at random frames of random trials.
The run stops at ``--budget-min``; the checkpoint with the best deterministic whole-trial
evaluation (``best.npz``) is copied to ``--ship`` with the command in its metadata.

    .venv/bin/python bench/train_shipped_policy.py --budget-min 35 \
        > bench/results/train_shipped_policy.log 2>&1

Writes ``bench/results/train_shipped_policy.json`` (summary, best and final evaluations).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from paths import DATA, REPO  # noqa: E402
SUBJECT01 = DATA / "osim_subject01_walk" / "gait2392" / "subject01_walk1_ik.mot"
HAMNER = DATA / "hamner_run" / "IK" / "subject02_running_ik.mot"
GENERATED = [(1.60, 58.0, 1.00), (1.75, 70.0, 1.10), (1.90, 85.0, 1.20)]  # height, mass, cycle


def training_groups(with_shared: bool = True):
    from kintwin.learn.train import TrialGroup
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import build_model
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.motion.sample import sample_walk

    groups = []
    for h, m, cycle in GENERATED:
        walk = sample_walk(height_m=h, mass_kg=m, cycle_s=cycle)
        walk.source_file = f"sample_walk {h} m {m} kg {cycle} s"
        model = build_model(default_skeleton(h, m))
        groups.append(TrialGroup(model, [walk], (h, float(model.body_mass.sum()))))
    if with_shared:
        for path, (t0, t1), h, m in ((SUBJECT01, (0.5, 2.5), 1.803, 72.6),
                                      (HAMNER, (0.5, 4.5), 1.83, 65.9)):
            if not path.is_file():
                sys.exit(f"{path} not found (set KINTWIN_SHARED_DATA)")
            motion = read_motion(path).slice_time(t0, t1)
            model = build_model(default_skeleton(h, m))
            groups.append(TrialGroup(model, [motion], (h, float(model.body_mass.sum()))))
    return groups


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-min", type=float, default=35.0)
    ap.add_argument("--config", type=Path, default=REPO / "bench" / "configs" / "shipped_policy.yaml")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "shipped_policy")
    ap.add_argument("--ship", type=Path, default=REPO / "runs" / "shipped_policy" / "policy.npz",
                    help="where the best checkpoint is copied")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "train_shipped_policy.json")
    args = ap.parse_args()

    from kintwin.learn.checkpoint import load_checkpoint, save_checkpoint
    from kintwin.learn.train import train
    from kintwin.learn.train_config import (TrainOptions, default_ppo_config, read_config_file,
                                            split_overrides)
    from kintwin.sim.tracking import TrackingConfig

    t_over, p_over, o_over = split_overrides(read_config_file(args.config))
    opts = TrainOptions(**{**dict(total_steps=10**9, time_budget_s=60 * args.budget_min), **o_over})
    tcfg = TrackingConfig.from_dict(t_over)
    pcfg = default_ppo_config(**{"schedule_env_steps": 10_000_000, **p_over})
    command = "python bench/train_shipped_policy.py " + " ".join(sys.argv[1:])
    t0 = time.time()
    summary = train(training_groups(), args.out, tcfg, pcfg, opts,
                    metadata={"command": command, "config_file": str(args.config.name)})
    summary.pop("trainer")
    best = args.out / "best.npz"
    ckpt = load_checkpoint(best)
    save_checkpoint(args.ship, ckpt.state, ckpt.config,
                    {**ckpt.metadata, "shipped_from": "best.npz", "command": command},
                    env_steps=ckpt.env_steps)
    shutil.copy(args.out / "learning_curve.png", args.results.with_suffix(".png"))
    result = {"command": command, "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(t0)),
              "wall_s": summary["wall_s"], "env_steps": summary["env_steps"],
              "iterations": summary["iterations"], "stopped": summary["stopped"],
              "best_eval": summary["best_eval"], "final_eval": summary["last_eval"],
              "trials": ckpt.metadata.get("trials"), "shipped": str(args.ship.relative_to(REPO)),
              "shipped_bytes": args.ship.stat().st_size}
    args.results.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
