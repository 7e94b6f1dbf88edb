"""kintwin model: build the subject-scaled torque model, print its summary or write its MJCF."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from .common import add_subject_arguments, skeleton_from_args
from .muscles_cmd import add_muscle_arguments, muscle_model_from_args

HELP = "build the subject-scaled MuJoCo model; print a JSON summary (--info) or write MJCF (--out)"
MJCF_SUFFIXES = (".xml", ".mjcf")


def add_arguments(p):
    add_subject_arguments(p)
    p.add_argument("--info", action="store_true", help="print a JSON summary")
    p.add_argument("--out", type=Path, help="write the model as MuJoCo MJCF XML (NAME.xml)")
    p.add_argument("--muscles", action="store_true",
                   help="the muscle-driven model: legs and trunk driven by the Hill-type muscles "
                        "of --muscles-osim (default: the shipped gait2392), arms and neck by "
                        "torque motors")
    add_muscle_arguments(p)


def model_info(model) -> dict:
    """Summary of a compiled ``mujoco.MjModel``."""
    import mujoco

    from ..models.coupling import couplings

    names = lambda kind, n: [mujoco.mj_id2name(model, kind, i) for i in range(n)]
    return {
        "nq": model.nq, "nv": model.nv, "nu": model.nu,
        "mass_kg": float(model.body_mass.sum()),
        "timestep": model.opt.timestep,
        "joint_names": names(mujoco.mjtObj.mjOBJ_JOINT, model.njnt),
        "actuator_names": names(mujoco.mjtObj.mjOBJ_ACTUATOR, model.nu),
        "body_names": names(mujoco.mjtObj.mjOBJ_BODY, model.nbody),
        "coupled_joints": {c.joint: c.master for c in couplings(model)},
    }


def run(args):
    if args.out and args.out.suffix.lower() not in MJCF_SUFFIXES:
        raise InputError(f"--out {args.out}: kintwin model writes MuJoCo MJCF XML: give --out "
                         "NAME.xml", advice="or NAME.mjcf; it cannot write an OpenSim model")
    from ..models.build import build_spec

    info = None
    if args.muscles:
        spec, info = muscle_model_from_args(args)
    else:
        spec = build_spec(skeleton_from_args(args))
    model = spec.compile()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(spec.to_xml())
        print(f"wrote {args.out}")
    if args.info or not args.out:
        summary = model_info(model)
        if info is not None:
            summary["muscles"] = info.summary()
        print(json.dumps(summary, indent=2))
    return 0
