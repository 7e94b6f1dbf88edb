"""How much the inverse-dynamics teacher saves: PPO samples to track the subject01 walk clip.

Three starts of the same PPO run on ``osim_subject01_walk/gait2354/subject01_walk1_ik.mot``
(1.2 s, built-in model scaled to 1.803 m / 72.6 kg), each for ``--budget-min`` of wall-clock
time on 2 cores, deterministic whole-clip evaluations every 5 iterations:

* ``scratch``: no teacher (``feedforward: none``, no pelvis servo), random policy;
* ``bc``: no teacher in the env, the policy behaviour-cloned first on the inverse-dynamics
  actions (``kintwin.learn.bc.bc_warm_start``: ID feed-forward + PD correction labels on
  noisy reference states);
* ``teacher``: the default task, the ID feed-forward and the weak pelvis servo inside the env
  (the policy starts at zero, i.e. as the teacher).

Reported per variant: env steps and wall time to the first evaluation that completes the clip
(None if never), and the best and final evaluations. The other settings are those of
``bench/configs/shipped_policy.yaml`` (without the mirrored copies).

    .venv/bin/python bench/bench_warm_start.py --budget-min 10

Writes ``bench/results/warm_start.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from paths import DATA, REPO  # noqa: E402
CLIP = DATA / "osim_subject01_walk" / "gait2354" / "subject01_walk1_ik.mot"
VARIANTS = {"scratch": (dict(feedforward="none", residual_feedback_hz=0.0, residual_moment_feedback_hz=0.0), dict(bc=False)),
            "bc": (dict(feedforward="none", residual_feedback_hz=0.0, residual_moment_feedback_hz=0.0), dict(bc=True)),
            "teacher": ({}, dict(bc=False))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-min", type=float, default=10.0)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "warm_start")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "warm_start.json")
    args = ap.parse_args()

    from kintwin.learn.train import TrialGroup, train
    from kintwin.learn.train_config import (TrainOptions, default_ppo_config, read_config_file,
                                            split_overrides)
    from kintwin.learn.train_log import read_csv
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import build_model
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.sim.tracking import TrackingConfig

    t_over, p_over, o_over = split_overrides(read_config_file(REPO / "bench" / "configs" /
                                                              "shipped_policy.yaml"))
    t_over["mirror"] = False
    model = build_model(default_skeleton(1.803, 72.6))
    group = TrialGroup(model, [read_motion(CLIP)], (1.803, float(model.body_mass.sum())))
    result = {"clip": str(CLIP), "budget_min": args.budget_min, "variants": {}}
    if args.results.exists():
        result["variants"] = json.loads(args.results.read_text()).get("variants", {})
    for name in args.variants:
        t_extra, o_extra = VARIANTS[name]
        tcfg = TrackingConfig.from_dict({**t_over, **t_extra})
        opts = TrainOptions(**{**o_over, "eval_every": 5, "num_envs": 64, **o_extra,
                               "total_steps": 10**9, "time_budget_s": 60 * args.budget_min})
        pcfg = default_ppo_config(**p_over)
        if name == "scratch" or name == "bc":  # no teacher to start from: the usual init
            pcfg = dataclasses.replace(pcfg, policy_out_gain=0.01)
        summary = train([group], args.out / name, tcfg, pcfg, opts)
        evals = read_csv(args.out / name / "eval_log.csv")
        first = next((e for e in evals if e["completed"] >= 1.0), None)
        result["variants"][name] = {
            "first_completed_env_steps": first and first["env_steps"],
            "first_completed_wall_s": first and first["wall_s"],
            "env_steps": summary["env_steps"], "bc_mse": summary["bc_mse"],
            "best_eval": summary["best_eval"], "final_eval": summary["last_eval"]}
        print(name, json.dumps(result["variants"][name], indent=1, default=float), flush=True)
        args.results.write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
