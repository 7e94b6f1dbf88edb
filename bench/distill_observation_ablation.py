"""What the distilled policy must observe to imitate the whole-body controller: held-out
imitation error with and without the controls applied over the previous control step.

Teacher-only DAgger rollouts (``learn/distill.collect`` with beta = 1: the controller acts, with
its DART noise, from random perturbed starts) on subject01 walking (gait2354 IK 0.4-1.6 s,
``bench_distill``'s trial); the policy mean is fitted (``learn/bc.behavior_clone``, as DAgger
does) on the rollouts of one seed and scored on those of another (held-out states). Columns of
the observation (``sim/tracking.observation``, ``learn/distill.DISTILL_TRACKING``): all, or all
but the previous controls (its last nu entries).

    .venv/bin/python bench/distill_observation_ablation.py   # bench/results/distill_observation_ablation.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_controller_twin import REPO, trials  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rollouts", type=int, default=60, help="training rollouts (held out: a quarter)")
    ap.add_argument("--results", type=Path,
                    default=REPO / "bench" / "results" / "distill_observation_ablation.json")
    args = ap.parse_args()

    from kintwin.learn.bc import behavior_clone
    from kintwin.learn.distill import DISTILL_TRACKING, DistillConfig, _student, collect, teaching
    from kintwin.learn.policy import Policy
    from kintwin.learn.ppo import PPOConfig, init_train_state
    from kintwin.models.subject import SubjectSpec, resolve_subject
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.sim.tracking import FREE_QPOS, obs_size

    spec = trials(REPO / "runs" / "bench_distill")["subject01_walk"]
    skeleton = resolve_subject(SubjectSpec(spec["height"], spec["mass"]))
    sims = teaching([(skeleton, read_motion(spec["trial"]))])
    model = sims[0].model
    nu = model.nu
    cfg = DistillConfig()
    size = obs_size(model.nq - FREE_QPOS, DISTILL_TRACKING, model.na, nu)
    untrained = _student(init_train_state(PPOConfig(policy_hidden=(8,)), size, nu))  # beta 1: never acts
    train = collect(sims, untrained, 1.0, cfg, np.random.default_rng(0), args.rollouts)
    test = collect(sims, untrained, 1.0, cfg, np.random.default_rng(1), max(1, args.rollouts // 4))
    result = {"trial": Path(spec["trial"]).name, "rollouts": args.rollouts,
              "labels": [len(train[1]), len(test[1])],
              "label_variance": float(np.var(train[1], axis=0).mean()), "fits": []}
    for observed, cols in (("all", slice(None)), ("without previous controls", slice(0, -nu))):
        for hidden, epochs in (((512, 256), 30), ((1024, 512), 60)):
            pcfg = PPOConfig(policy_hidden=hidden)
            x = train[0][:, cols]
            state, mse = behavior_clone(init_train_state(pcfg, x.shape[1], nu), pcfg, x, train[1],
                                        epochs=epochs, clip_targets=False, batch_size=cfg.batch_size,
                                        learning_rate=cfg.learning_rate)
            held = float(np.mean((Policy.from_state(state).mean_action(test[0][:, cols]) - test[1]) ** 2))
            row = {"observation": observed, "hidden": list(hidden), "epochs": epochs,
                   "train_mse": mse, "held_out_mse": held}
            result["fits"].append(row)
            print(json.dumps(row), flush=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
