"""kintwin id: inverse dynamics of a trial, with force plates or with estimated ground contact.

With ``--grf`` the measured ground reactions are applied at the centre of pressure on calcn_r /
calcn_l (classical inverse dynamics, as OpenSim's ID tool); without it the ground reactions are
estimated from the kinematics (``dynamics.contact_estimation``). Either way the results folder has
the same layout (``analysis.results``): torques.sto, grf.mot (+ ExternalLoads xml), residuals.sto,
kinematics.mot and metrics.json; kinematics.mot and torques.sto in the trial's sign convention.
GRF figures in metrics.json score the exported GRF against ``--compare-grf`` when given, else
against the ``--grf`` plates themselves (then a check of the export only).
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from pathlib import Path

from .common import (add_subject_arguments, add_time_arguments, add_trial_arguments, check_files,
                     check_out_dir, nonneg_float, parse_foot_of, read_trial, skeleton_from_args, time_window)

HELP = ("inverse dynamics of a trial: joint torques, ground reactions (measured with --grf, "
        "else estimated from the kinematics) and pelvis residuals")


def add_arguments(p):
    p.add_argument("trial", type=Path, help="kinematics .mot/.sto (OpenSim IK output or kintwin)")
    add_trial_arguments(p)
    p.add_argument("--grf", type=Path, help="measured ground reactions: GRF .mot, or the force "
                                            "plates of a .c3d; without it the contacts are estimated")
    p.add_argument("--loads", type=Path, help="OpenSim ExternalLoads .xml telling which plate "
                                              "pushes which foot (for --grf and --compare-grf)")
    p.add_argument("--foot-of", default=None,
                   help="plate-to-foot map instead of --loads, e.g. 'ground=r,1_ground=l' (.c3d: "
                        "plate numbers, '1=r,2=l'; default: the foot on the plate)")
    p.add_argument("--reference-id", type=Path,
                   help="OpenSim inverse dynamics .sto (or RRA/CMC actuation .sto) to score the "
                        "joint moments against")
    add_reference_convention_argument(p)
    p.add_argument("--compare-grf", type=Path,
                   help="measured ground reactions .mot, not used as input, to score the estimated "
                        "GRF against (default with --grf: the --grf plates, a check of the export)")
    add_subject_arguments(p)
    p.add_argument("--cutoff", type=nonneg_float, default=6.0,
                   help="low-pass cutoff (Hz) for the kinematics and the GRF (default 6, as "
                        "OpenSim ID); 0 disables filtering")
    p.add_argument("--grf-cutoff", type=nonneg_float, default=None,
                   help="separate cutoff for the measured GRF (default: --cutoff; 0: none)")
    add_time_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="results folder")


def _model_motion(motion, model):
    """Keep the pelvis and the coordinates the model has (warn about the others)."""
    import mujoco

    from ..models.coordinates import PELVIS_COORDINATES

    joints = {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(model.njnt)}
    keep = [n for n in motion.names if n in PELVIS_COORDINATES or n in joints]
    dropped = [n for n in motion.names if n not in keep]
    if dropped:
        warnings.warn(f"the model has no coordinate(s) {dropped}: ignored", stacklevel=2)
    return motion.reordered(keep) if dropped else motion


def add_reference_convention_argument(p):
    p.add_argument("--reference-convention", choices=("auto", "legacy", "canonical"),
                   default="auto", help="knee sign convention of the --reference-id model; auto: "
                                        "detected from the reference's knee moments against this "
                                        "trial's inverse dynamics")


def run(args):
    from ..analysis.metrics import compute_metrics, load_reference_moments
    from ..analysis.results import write_results
    from ..dynamics.contact_estimation import estimate_contacts
    from ..dynamics.inverse_dynamics import inverse_dynamics, warn_plate_sync
    from ..models.build import build_model
    from ..motion.checks import check_kinematics, check_reactions, check_time_overlap
    from ..motion.grf import read_grf
    from ..motion.storage import read_table

    # Every input and option is checked before any work.
    check_files(args.trial, args.grf, args.loads, args.reference_id, args.compare_grf)
    foot_of = parse_foot_of(args.foot_of)
    if args.loads and foot_of:
        raise ValueError("give --loads or --foot-of, not both")
    cutoff = args.cutoff if args.cutoff > 0 else None
    motion = time_window(read_trial(args.trial, args), args)
    skeleton = skeleton_from_args(args, motion.subject)
    mass_kg = skeleton.mass_kg
    model = build_model(skeleton)
    convention = motion.source_convention
    motion = _model_motion(motion, model)
    check_kinematics(motion, model, allow=args.allow_out_of_range)
    from ..sim.floor import level_floor, lowest_foot_points

    @functools.cache
    def feet():  # the lowest foot points of the kinematics as analysed when the plates are read
        # (without --grf the estimate levels a tilted capture frame first: sim/floor.py)
        return lowest_foot_points(model, motion if args.grf else level_floor(model, motion)[0])

    grf = read_grf(args.grf, loads_xml=args.loads, foot_of=foot_of, feet=feet) if args.grf else None
    if grf is not None:
        check_reactions(motion, grf, args.grf, mass_kg=mass_kg, feet=feet)
        lo, hi = max(motion.time_s[0], grf.time_s[0]), min(motion.time_s[-1], grf.time_s[-1])
        if (lo, hi) != (motion.time_s[0], motion.time_s[-1]):
            print(f"kintwin id: analysing {lo:.3f}-{hi:.3f} s, where both kinematics and "
                  "ground reactions exist", file=sys.stderr)
            motion = motion.slice_time(lo, hi)
        if motion.n_frames < 10:
            raise ValueError(f"only {motion.n_frames} frames where the kinematics and the ground "
                             "reactions overlap")
    ref_grf = (read_grf(args.compare_grf, loads_xml=args.loads, foot_of=foot_of, feet=feet)
               if args.compare_grf else grf)
    if args.compare_grf:
        check_reactions(motion, ref_grf, args.compare_grf, mass_kg=mass_kg, feet=feet)
    sync = (warn_plate_sync(motion, model, ref_grf, args.compare_grf or args.grf)
            if ref_grf is not None else None)
    if args.reference_id:
        check_time_overlap(motion, read_table(args.reference_id).time_s, "reference moments",
                           args.reference_id)
    check_out_dir(args.out, create=False)  # created with the results, once the references are read

    if grf is not None:
        gc = args.grf_cutoff if args.grf_cutoff is not None else cutoff
        results = inverse_dynamics(motion, model, grf, cutoff_hz=cutoff,
                                   grf_cutoff_hz=gc if gc else 0.0, mass_kg=mass_kg,
                                   height_m=skeleton.height_m)
    else:
        results = estimate_contacts(motion, model, cutoff_hz=cutoff, mass_kg=mass_kg,
                                    height_m=skeleton.height_m)
    results.info.update({"plate_sync": sync,
                         "trial": str(args.trial), "grf_file": str(args.grf) if args.grf else None,
                         "model": str(args.osim) if args.osim else "built-in anthropometric",
                         "trial_convention": convention})
    if ref_grf is not None:
        results.info["grf_scored_against"] = (
            f"{args.compare_grf} (--compare-grf, not an input)" if args.compare_grf
            else f"{args.grf} (--grf, the input loads: a check of the exported GRF)")
    ref_mom = None
    if args.reference_id:
        ref_t, ref_m, conv = load_reference_moments(args.reference_id, args.reference_convention,
                                                    results)
        ref_mom = (ref_t, ref_m)
        results.info["reference_convention"] = conv
    metrics = compute_metrics(results, reference_grf=ref_grf, reference_moments=ref_mom)
    write_results(args.out, results, metrics)
    print(json.dumps({"method": results.method, "out": str(args.out), "frames": len(results.time_s),
                      "export_convention": results.kinematics.source_convention,
                      **{k: v for k, v in metrics.items() if not isinstance(v, dict)}}, indent=2,
                     default=float))
    return 0
