"""kintwin muscles: muscle activations of a trial by static optimization on the muscle model.

The muscle-driven model (``models.muscles``) is kintwin's skeleton with the muscles of an OpenSim
``.osim`` model: ``--muscles-osim``, else the ``KINTWIN_MUSCLES_OSIM`` environment variable, else
the ``--osim`` model, else the shipped generic gait2392 (``models.muscles.SHIPPED_MUSCLES``, scaled
to the subject's skeleton). Joint torques come from ``--torques``
(a kintwin ``torques.sto`` or an OpenSim inverse dynamics ``.sto``), else from inverse dynamics
of the trial (with ``--grf``: measured ground reactions; without: estimated contacts).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .common import (add_subject_arguments, add_time_arguments, add_trial_arguments, check_files,
                     check_out_dir, nonneg_float, positive_float, read_trial, skeleton_from_args,
                     time_window)

HELP = ("muscle activations by static optimization (min sum of squared activations) reproducing "
        "the joint torques: activations.sto, muscle_forces.sto, metrics.json (reserve use), plot")


def add_muscle_arguments(p) -> None:
    p.add_argument("--muscles-osim", type=Path, default=None,
                   help="OpenSim model (.osim, 4.x) whose muscles are put on the skeleton "
                        "(default: $KINTWIN_MUSCLES_OSIM, else the --osim model, else kintwin's "
                        "shipped generic gait2392, 92 muscles)")


def muscles_osim_path(args) -> Path:
    path = getattr(args, "muscles_osim", None) or os.environ.get("KINTWIN_MUSCLES_OSIM") \
        or getattr(args, "osim", None)
    if not path:
        from ..models.muscles import SHIPPED_MUSCLES, SHIPPED_MUSCLES_CREDITS

        print(f"note: no --muscles-osim: using kintwin's shipped muscles, {SHIPPED_MUSCLES_CREDITS}, "
              "scaled to the subject", file=sys.stderr, flush=True)
        return SHIPPED_MUSCLES
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return Path(path)


def muscle_model_from_args(args, skeleton=None):
    """(MjSpec, MuscleModelInfo) of the subject's muscle model from the command-line arguments."""
    from ..models.muscles import build_muscle_spec

    skeleton = skeleton if skeleton is not None else skeleton_from_args(args)
    return build_muscle_spec(skeleton, muscles_osim_path(args))


def add_arguments(p):
    p.add_argument("trial", type=Path, help="kinematics .mot/.sto (OpenSim IK output or kintwin)")
    add_trial_arguments(p)
    add_subject_arguments(p)
    add_muscle_arguments(p)
    p.add_argument("--torques", type=Path, default=None,
                   help="joint torques .sto (<coordinate>_moment columns): kintwin's torques.sto "
                        "or OpenSim inverse dynamics; default: run inverse dynamics")
    p.add_argument("--torques-convention", choices=("auto", "legacy", "canonical"), default="auto",
                   help="knee sign convention of --torques; auto: the file header's, else the "
                        "trial's (OpenSim gait2392/Hamner ID files are legacy)")
    p.add_argument("--grf", type=Path, help="measured ground reactions .mot for inverse dynamics "
                                            "(without --torques); without it contacts are estimated")
    p.add_argument("--loads", type=Path, help="OpenSim ExternalLoads .xml for --grf")
    p.add_argument("--cutoff", type=nonneg_float, default=6.0,
                   help="kinematics low-pass cutoff (Hz, default 6); 0 disables")
    p.add_argument("--reserve", type=positive_float, default=1.0,
                   help="reserve actuator optimal torque (N*m, default 1: used only when needed)")
    p.add_argument("--passive", action="store_true",
                   help="include passive fibre forces (default: ignored, as OpenSim's static "
                        "optimization; rigid-tendon models overstretch some muscles)")
    add_time_arguments(p)
    p.add_argument("--no-plot", action="store_true", help="skip muscles.png")
    p.add_argument("--out", type=Path, required=True, help="output folder")


def _torques_by_id(args, skeleton, motion):
    import numpy as np

    from ..dynamics.static_optimization import TorqueTable
    from ..models.build import build_model

    model = build_model(skeleton)
    cutoff = args.cutoff if args.cutoff and args.cutoff > 0 else None
    if args.grf:
        from ..dynamics.inverse_dynamics import inverse_dynamics
        from ..motion.checks import check_time_overlap
        from ..motion.grf import read_grf

        grf = read_grf(args.grf, loads_xml=args.loads)
        check_time_overlap(motion, grf.time_s, "ground reactions", args.grf)
        lo, hi = max(motion.time_s[0], grf.time_s[0]), min(motion.time_s[-1], grf.time_s[-1])
        motion = motion.slice_time(lo, hi)
        res = inverse_dynamics(motion, model, grf, cutoff_hz=cutoff, mass_kg=skeleton.mass_kg,
                               height_m=skeleton.height_m)
        how = "inverse dynamics with measured ground reactions"
    else:
        from ..dynamics.contact_estimation import estimate_contacts

        res = estimate_contacts(motion, model, cutoff_hz=cutoff, mass_kg=skeleton.mass_kg,
                                height_m=skeleton.height_m)
        how = "inverse dynamics with estimated ground contacts"
    return TorqueTable(time_s=res.time_s, names=list(res.coordinate_names),
                       values=np.asarray(res.torque_nm), source=how), motion


def run(args):
    import mujoco

    from ..dynamics.static_optimization import (SOOptions, read_torques, static_optimization,
                                                write_static_optimization)
    from ..models.coordinates import PELVIS_COORDINATES
    from ..motion.checks import check_kinematics

    check_files(args.trial, args.torques, args.grf, args.loads)
    motion = time_window(read_trial(args.trial, args), args, min_frames=4)
    skeleton = skeleton_from_args(args, motion.subject)
    spec, info = muscle_model_from_args(args, skeleton)
    model = spec.compile()
    convention = motion.source_convention
    joints = {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(model.njnt)}
    keep = [n for n in motion.names if n in PELVIS_COORDINATES or n in joints]
    if len(keep) < len(motion.names):
        print(f"kintwin muscles: ignoring coordinates the model lacks: "
              f"{[n for n in motion.names if n not in keep]}", file=sys.stderr)
        motion = motion.reordered(keep)
    check_kinematics(motion, model, allow=args.allow_out_of_range)
    check_out_dir(args.out)
    if args.torques:
        torques = read_torques(args.torques, args.torques_convention, kinematics_convention=convention)
    else:
        torques, motion = _torques_by_id(args, skeleton, motion)
    opts = SOOptions(reserve_optimal_nm=args.reserve, passive=args.passive,
                     cutoff_hz=args.cutoff if args.cutoff and args.cutoff > 0 else None)
    result = static_optimization(model, motion, torques, opts)
    write_static_optimization(args.out, result, info={
        "trial": str(args.trial), "trial_convention": convention, "torques": torques.source,
        "muscle_model": info.summary()}, plot=not args.no_plot)
    met = result.metrics()
    print(json.dumps({"out": str(args.out), "muscles": met["muscles"], "frames": met["frames"],
                      "frames_per_s": round(met["frames_per_s"], 1),
                      "reserve_pct_of_torque": round(met["reserve_pct_of_torque"], 3),
                      "reserve_max_abs_nm": round(met["reserve_max_abs_nm"], 3),
                      "mean_activation": round(met["mean_activation"], 4)}, indent=2))
    return 0
