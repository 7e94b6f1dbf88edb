"""kintwin train: learn a tracking policy (PPO on the CPU MuJoCo back end) for kinematic trials."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from ..errors import InputError
from .common import (add_subject_arguments, add_time_arguments, add_trial_arguments, check_files,
                     check_out_dir, positive_float, positive_int, read_trial, skeleton_from_args,
                     time_window)
from .muscles_cmd import add_muscle_arguments, muscles_osim_path

HELP = ("train a policy that drives the subject's torque model to imitate kinematic trials "
        "(PPO; checkpoints, logs and a learning curve in --out)")


def add_arguments(p):
    p.add_argument("trials", nargs="+",
                   help="kinematics files (.mot/.sto), or the word 'sample' for the generated "
                        "sample walking trial")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--config", type=Path, default=None,
                   help="YAML/JSON file overriding TrackingConfig and PPOConfig fields (sections "
                        "'tracking', 'ppo', 'train', or flat field names)")
    p.add_argument("--steps", type=positive_int, default=None, help="total env steps (default 2e6)")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint to continue from")
    add_subject_arguments(p)
    p.add_argument("--envs", type=positive_int, default=None, help="parallel environments (default 64)")
    p.add_argument("--threads", type=positive_int, default=None, help="physics threads (default 2)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    add_time_arguments(p, "use of each trial")
    p.add_argument("--time-budget", type=positive_float, default=None,
                   help="stop after this many wall-clock seconds (with a checkpoint)")
    bc = p.add_mutually_exclusive_group()
    bc.add_argument("--bc", dest="bc", action="store_true", default=None,
                    help="behaviour-cloning warm start from inverse dynamics (default: on)")
    bc.add_argument("--no-bc", dest="bc", action="store_false", help="no warm start")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--distill", type=positive_int, default=None, metavar="ITERATIONS",
                   help="instead of PPO, distil the whole-body controller into a policy by this "
                        "many DAgger iterations (8: ~6 min per 1.2 s trial on 2 cores); writes "
                        "OUT/policy.npz for `kintwin analyze --policy` and OUT/distill_log.json")
    p.add_argument("--finetune", type=Path, default=None, metavar="POLICY",
                   help="instead of PPO from scratch, fine-tune a distilled policy (kintwin train "
                        "--distill's policy.npz) with PPO in its own simulation, paid for tracking "
                        "and for kinetics against the kinematics-only contact estimate; keeps the "
                        "policy of the best of the evaluations (8 episodes); --time-budget "
                        "(default 1800 s); --envs (default 128) x 1024 samples per update; writes OUT/policy.npz and OUT/finetune_log.json")
    p.add_argument("--muscles", action="store_true",
                   help="with --distill: distil the muscle-driven twin's controller (the policy "
                        "outputs muscle excitations; --muscles-osim, default the shipped gait2392 "
                        "muscles)")
    add_muscle_arguments(p)
    add_trial_arguments(p)


def load_trials(args):
    """The trials' motions (``sample``: the generated walk), each in the --start/--end window."""
    from ..motion.sample import sample_walk

    check_files(*(s for s in args.trials if s != "sample"))
    motions = []
    for s in args.trials:
        if s == "sample":
            m = sample_walk()
            m.source_file = "sample"
        else:
            m = read_trial(s, args)
        motions.append(time_window(m, args, min_frames=3))
    return motions


def build_subject_model(args, motions):
    """(skeleton, model, (height, mass)) of the subject (``models.subject`` rules; the first trial may carry
    height and mass), checked against every trial's coordinate ranges."""
    from ..models.build import build_model
    from ..motion.checks import check_kinematics

    skel = skeleton_from_args(args, motions[0].subject)
    model = build_model(skel)
    for m in motions:
        check_kinematics(m, model, allow=args.allow_out_of_range)
    return skel, model, (float(skel.height_m), float(model.body_mass.sum()))


def distill_run(args) -> int:
    """``--distill``: DAgger of the whole-body controller over the trials (``learn/distill.py``)."""
    from ..learn.distill import default_config, distill

    for option in ("config", "resume", "steps", "envs", "threads", "time_budget", "bc"):
        if getattr(args, option) is not None:
            raise ValueError(f"--{option.replace('_', '-')} belongs to PPO training, not --distill")
    motions = load_trials(args)
    skeleton, _, _ = build_subject_model(args, motions)  # checked before any work
    muscles = None
    if args.muscles_osim and not args.muscles:
        raise InputError("--muscles-osim needs --muscles", advice="add --muscles")
    if args.muscles:
        from ..twin.controlled import MuscleDrive

        muscles = MuscleDrive(muscles_osim_path(args))
    out = check_out_dir(args.out)
    cfg = default_config(muscles is not None, iterations=args.distill, seed=args.seed or 0)

    def log(row):
        if not args.no_progress:
            print(f"DAgger iteration {row['iteration'] + 1}/{cfg.iterations}: teacher acts "
                  f"{100 * row['beta']:.0f} %, tracked {100 * row['tracked_fraction']:.0f} %, "
                  f"{row['labels']} labels, fit MSE {row['imitation_mse']:.2e}, "
                  f"{row['wall_s']:.0f} s", flush=True)

    policy, rows = distill([(skeleton, m) for m in motions], cfg, log=log, muscles=muscles)
    path = policy.save(out / "policy.npz", {"trials_arg": list(args.trials)})
    (out / "distill_log.json").write_text(json.dumps(
        {"config": dataclasses.asdict(cfg), "log": rows}, indent=2, default=float))
    print(f"wrote {path} (use: kintwin analyze TRIAL --policy {path} ...)")
    return 0


def finetune_run(args) -> int:
    """``--finetune POLICY``: PPO fine-tuning of a distilled policy (``learn/finetune.py``)."""
    from ..learn.distill import load_distilled
    from ..learn.finetune import FinetuneConfig, finetune

    for option in ("config", "resume", "steps", "threads", "bc", "distill"):
        if getattr(args, option) is not None:
            raise ValueError(f"--{option.replace('_', '-')} does not go with --finetune")
    if args.muscles or args.muscles_osim:
        raise InputError("--finetune takes the muscle model the policy was distilled on",
                         advice="leave out --muscles and --muscles-osim")
    check_files(args.finetune)
    policy = load_distilled(args.finetune)
    motions = load_trials(args)
    skeleton, _, _ = build_subject_model(args, motions)  # checked before any work
    out = check_out_dir(args.out)
    cfg = FinetuneConfig(time_budget_s=args.time_budget or 1800.0, seed=args.seed or 0)
    if args.envs:
        cfg.num_envs = args.envs

    def log(row):
        if not args.no_progress and "eval_score" in row:
            print(f"PPO iteration {int(row['iteration'])}: evaluation score {row['eval_score']:.3f} "
                  f"(joint MAE {row['eval_joint_mae_deg']:.2f} deg, vGRF vs estimate "
                  f"{row['eval_grf_vertical_rmse_pct_bw']:.1f} %BW, residual "
                  f"{row['eval_residual_force_pct_bw']:.2f} %BW), {row['wall_s']:.0f} s", flush=True)

    tuned, rows = finetune(policy, [(skeleton, m) for m in motions], cfg, log=log)
    path = tuned.save(out / "policy.npz", {"trials_arg": list(args.trials),
                                           "finetuned_from": str(args.finetune)})
    (out / "finetune_log.json").write_text(json.dumps(
        {"config": dataclasses.asdict(cfg), "log": rows}, indent=2, default=float))
    best = min(r["eval_score"] for r in rows if "eval_score" in r)
    print(f"wrote {path}: evaluation score {rows[0]['eval_score']:.3f} (distilled) -> {best:.3f} "
          f"(use: kintwin analyze TRIAL --policy {path} ...)")
    return 0


def run(args):
    if args.distill and args.finetune:
        raise InputError("--distill and --finetune are two runs", advice="distil first, then "
                         "fine-tune its OUT/policy.npz")
    if args.distill:
        return distill_run(args)
    if args.finetune:
        return finetune_run(args)
    if args.muscles or args.muscles_osim:
        raise InputError("--muscles trains by distillation only so far", advice="add --distill 8")
    from ..learn.train import UNFINISHED, TrialGroup, train
    from ..learn.train_config import (TrainOptions, default_ppo_config, read_config_file,
                                      split_overrides)
    from ..sim.tracking import TrackingConfig

    check_files(args.config, args.resume)
    t_over, p_over, o_over = ({}, {}, {})
    if args.config:
        t_over, p_over, o_over = split_overrides(read_config_file(args.config))
    opt = TrainOptions(**o_over)
    repl = {k: v for k, v in dict(total_steps=args.steps, num_envs=args.envs,
                                  num_threads=args.threads, seed=args.seed, bc=args.bc,
                                  time_budget_s=args.time_budget).items() if v is not None}
    if args.no_progress:
        repl["progress"] = False
    opt = dataclasses.replace(opt, **repl)
    tcfg = TrackingConfig.from_dict(t_over) if t_over else TrackingConfig()
    pcfg = default_ppo_config(**{"seed": opt.seed, **p_over})
    motions = load_trials(args)
    _, model, subject = build_subject_model(args, motions)
    check_out_dir(args.out)
    summary = train([TrialGroup(model, motions, subject)], args.out, tcfg, pcfg, opt,
                    resume=args.resume, metadata={"trials_arg": list(args.trials)})
    summary.pop("trainer", None)
    print(json.dumps(summary, indent=2, default=float))
    stopped = summary["stopped"]
    print(f"kintwin train: stopped: {stopped}, after {summary['env_steps']} env steps")
    if stopped in UNFINISHED:
        resume = " ".join(["kintwin train", *map(str, args.trials), "--out", str(args.out),
                           "--resume", summary["checkpoint"]])
        print(f"kintwin train: {stopped} after {summary['env_steps']} steps; the policy is not "
              f"finished. Resume with (and your other options):\n  {resume}", file=sys.stderr)
        return 3
    return 0
