"""Arguments shared by several subcommands, and building the subject's model from them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_subject_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--height", type=float, help="subject height (m)")
    p.add_argument("--mass", type=float,
                   help="subject mass (kg); with --osim the model's own masses are used")
    p.add_argument("--scales", type=Path, default=None,
                   help="JSON file of per-segment scale factors ({'femur_r': 1.05, ...}), "
                        "e.g. written by `kintwin ik`")
    p.add_argument("--osim", type=Path, default=None,
                   help="build the model from this scaled OpenSim model instead of the built-in one")


def add_convention_argument(p: argparse.ArgumentParser) -> None:
    """``--convention`` of the trial's kinematics file (``kinematics_io.read_motion``)."""
    p.add_argument("--convention", choices=("auto", "legacy", "canonical"), default="auto",
                   help="sign convention of the trial's kinematics: legacy (gait2354/gait2392/"
                        "Hamner, knee flexion negative) or canonical (knee flexion positive); "
                        "default auto: detected from the file")


def load_scales(path: Path | None) -> dict[str, float] | None:
    if path is None:
        return None
    data = json.loads(Path(path).read_text())
    return {str(k): float(v) for k, v in data.get("segment_scales", data).items()}


def skeleton_from_args(args):
    """The subject's Skeleton from --height/--mass/--scales or --osim."""
    if getattr(args, "osim", None):
        from ..models.osim import load_osim

        return load_osim(args.osim, height_m=getattr(args, "height", None))
    from ..models.anthropometry import default_skeleton

    if args.height is None or args.mass is None:
        raise ValueError("give the subject's --height (m) and --mass (kg), or --osim MODEL")
    return default_skeleton(args.height, args.mass, load_scales(getattr(args, "scales", None)))
