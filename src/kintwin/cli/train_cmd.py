"""kintwin train: learn a tracking policy (PPO on the CPU MuJoCo back end) for kinematic trials."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from .common import add_convention_argument

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
    p.add_argument("--steps", type=int, default=None, help="total env steps (default 2e6)")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint to continue from")
    p.add_argument("--height", type=float, default=None,
                   help="subject height (m); default: from the trial, else 1.75")
    p.add_argument("--mass", type=float, default=None,
                   help="subject mass (kg); default: from the trial, else 70")
    p.add_argument("--scales", type=Path, default=None, help="JSON of per-segment scale factors")
    p.add_argument("--osim", type=Path, default=None, help="scaled OpenSim model to build from")
    p.add_argument("--envs", type=int, default=None, help="parallel environments (default 64)")
    p.add_argument("--threads", type=int, default=None, help="physics threads (default 2)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--start", type=float, default=None, help="use the trials from this time (s)")
    p.add_argument("--stop", type=float, default=None, help="use the trials up to this time (s)")
    p.add_argument("--time-budget", type=float, default=None,
                   help="stop after this many wall-clock seconds (with a checkpoint)")
    bc = p.add_mutually_exclusive_group()
    bc.add_argument("--bc", dest="bc", action="store_true", default=None,
                    help="behaviour-cloning warm start from inverse dynamics (default: on)")
    bc.add_argument("--no-bc", dest="bc", action="store_false", help="no warm start")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_convention_argument(p)


def load_trials(specs, start=None, stop=None, convention: str = "auto"):
    from ..motion.kinematics_io import read_motion
    from ..motion.sample import sample_walk

    motions = []
    for s in specs:
        if s == "sample":
            m = sample_walk()
            m.source_file = "sample"
        else:
            if not Path(s).is_file():
                raise FileNotFoundError(f"trial file not found: {s}")
            m = read_motion(s, convention=convention)
        if start is not None or stop is not None:
            m = m.slice_time(m.time_s[0] if start is None else start,
                             m.time_s[-1] if stop is None else stop)
            if m.n_frames < 3:
                raise ValueError(f"{s}: fewer than 3 frames in --start/--stop")
        motions.append(m)
    return motions


def build_subject_model(args, motions):
    """(model, (height, mass)) from --osim / --height/--mass/--scales or the trial's subject."""
    from ..models.build import build_model
    from .common import load_scales

    if args.osim:
        from ..models.osim import load_osim

        skel = load_osim(args.osim)
    else:
        from ..models.anthropometry import default_skeleton

        subj = motions[0].subject
        height = args.height or (subj.height_m if subj and subj.height_m else 1.75)
        mass = args.mass or (subj.mass_kg if subj and subj.mass_kg else 70.0)
        skel = default_skeleton(height, mass, load_scales(args.scales))
    model = build_model(skel)
    return model, (float(skel.height_m), float(model.body_mass.sum()))


def run(args):
    from ..learn.train import (TrainOptions, TrialGroup, default_ppo_config, read_config_file,
                               split_overrides, train)
    from ..sim.tracking import TrackingConfig

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
    motions = load_trials(args.trials, args.start, args.stop, args.convention)
    model, subject = build_subject_model(args, motions)
    summary = train([TrialGroup(model, motions, subject)], args.out, tcfg, pcfg, opt,
                    resume=args.resume, metadata={"trials_arg": list(args.trials)})
    summary.pop("trainer", None)
    print(json.dumps(summary, indent=2, default=float))
    return 0
