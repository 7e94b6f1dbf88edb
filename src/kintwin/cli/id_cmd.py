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

import json
import sys
import warnings
from pathlib import Path

from .common import add_convention_argument, add_subject_arguments, skeleton_from_args

HELP = ("inverse dynamics of a trial: joint torques, ground reactions (measured with --grf, "
        "else estimated from the kinematics) and pelvis residuals")


def add_arguments(p):
    p.add_argument("trial", type=Path, help="kinematics .mot/.sto (OpenSim IK output or kintwin)")
    add_convention_argument(p)
    p.add_argument("--grf", type=Path, help="measured ground reactions .mot (force plates); "
                                            "without it the contacts are estimated")
    p.add_argument("--loads", type=Path, help="OpenSim ExternalLoads .xml telling which plate "
                                              "pushes which foot (for --grf and --compare-grf)")
    p.add_argument("--foot-of", default=None,
                   help="plate-to-foot map instead of --loads, e.g. 'ground=r,1_ground=l'")
    p.add_argument("--reference-id", type=Path,
                   help="OpenSim inverse dynamics .sto (or RRA/CMC actuation .sto) to score the "
                        "joint moments against")
    p.add_argument("--reference-convention", choices=("auto", "legacy", "canonical"),
                   default="auto", help="knee sign convention of the reference model; auto: "
                                        "the trial's (detected, or --convention)")
    p.add_argument("--compare-grf", type=Path,
                   help="measured ground reactions .mot, not used as input, to score the estimated "
                        "GRF against (default with --grf: the --grf plates, a check of the export)")
    add_subject_arguments(p)
    p.add_argument("--cutoff", type=float, default=6.0,
                   help="low-pass cutoff (Hz) for the kinematics and the GRF (default 6, as "
                        "OpenSim ID); 0 disables filtering")
    p.add_argument("--grf-cutoff", type=float, default=None,
                   help="separate cutoff for the measured GRF (default: --cutoff; 0: none)")
    p.add_argument("--start", type=float, default=None, help="first time to analyse (s)")
    p.add_argument("--end", type=float, default=None, help="last time to analyse (s)")
    p.add_argument("--out", type=Path, required=True, help="results folder")


def _foot_of(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    out = {}
    for item in text.split(","):
        key, sep, side = item.partition("=")
        if not sep or side.strip() not in ("r", "l"):
            raise ValueError(f"--foot-of entries look like 'ground=r', not {item!r}")
        out[key.strip()] = side.strip()
    return out


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


def run(args):
    from ..analysis.metrics import compute_metrics, read_reference_moments
    from ..analysis.results import write_results
    from ..dynamics.contact_estimation import estimate_contacts
    from ..dynamics.inverse_dynamics import inverse_dynamics
    from ..models.build import build_model
    from ..motion.grf import read_grf
    from ..motion.kinematics_io import read_motion

    for f in (args.trial, args.grf, args.loads, args.reference_id, args.compare_grf):
        if f is not None and not Path(f).is_file():
            raise FileNotFoundError(f"no such file: {f}")
    foot_of = _foot_of(args.foot_of)
    cutoff = args.cutoff if args.cutoff and args.cutoff > 0 else None

    model = build_model(skeleton_from_args(args))
    motion = read_motion(args.trial, convention=args.convention, height_m=args.height,
                         mass_kg=args.mass)
    convention = motion.source_convention
    motion = _model_motion(motion, model)
    t0 = args.start if args.start is not None else motion.time_s[0]
    t1 = args.end if args.end is not None else motion.time_s[-1]

    grf = read_grf(args.grf, loads_xml=args.loads, foot_of=foot_of) if args.grf else None
    if grf is not None:
        lo, hi = max(t0, grf.time_s[0]), min(t1, grf.time_s[-1])
        if (lo, hi) != (t0, t1):
            print(f"kintwin id: analysing {lo:.3f}-{hi:.3f} s, where both kinematics and "
                  "ground reactions exist", file=sys.stderr)
        t0, t1 = lo, hi
    motion = motion.slice_time(t0, t1)
    if motion.n_frames < 10:
        raise ValueError(f"only {motion.n_frames} frames between {t0:.3f} and {t1:.3f} s")

    if grf is not None:
        gc = args.grf_cutoff if args.grf_cutoff is not None else cutoff
        results = inverse_dynamics(motion, model, grf, cutoff_hz=cutoff,
                                   grf_cutoff_hz=gc if gc else 0.0, mass_kg=args.mass,
                                   height_m=args.height)
    else:
        results = estimate_contacts(motion, model, cutoff_hz=cutoff, mass_kg=args.mass,
                                    height_m=args.height)
    results.info.update({"trial": str(args.trial), "grf_file": str(args.grf) if args.grf else None,
                         "model": str(args.osim) if args.osim else "built-in anthropometric",
                         "trial_convention": convention})

    ref_grf = (read_grf(args.compare_grf, loads_xml=args.loads, foot_of=foot_of)
               if args.compare_grf else grf)
    if ref_grf is not None:
        results.info["grf_scored_against"] = (
            f"{args.compare_grf} (--compare-grf, not an input)" if args.compare_grf
            else f"{args.grf} (--grf, the input loads: a check of the exported GRF)")
    ref_mom = None
    if args.reference_id:
        conv = convention if args.reference_convention == "auto" else args.reference_convention
        ref_mom = read_reference_moments(args.reference_id, conv)
        results.info["reference_convention"] = conv
    metrics = compute_metrics(results, reference_grf=ref_grf, reference_moments=ref_mom)
    write_results(args.out, results, metrics)
    print(json.dumps({"method": results.method, "out": str(args.out), "frames": len(results.time_s),
                      "export_convention": results.kinematics.source_convention,
                      **{k: v for k, v in metrics.items() if not isinstance(v, dict)}}, indent=2,
                     default=float))
    return 0
