"""Arguments shared by the subcommands and the checks every command runs before any work.

One spelling everywhere: the subject (``--height --mass --scales --osim``), the trial's reading
(``--convention --coordinate-map --angle-units --allow-out-of-range``), the time window
(``--start --end``) and ``--out``. Numbers are checked by argparse types (a negative cutoff or
zero workers is an error, not a surprise later).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import InputError


def _number(kind, test, what):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text} must be {what}")
        return value
    parse.__name__ = f"{what} {kind.__name__}"
    return parse


positive_float = _number(float, lambda v: v > 0, "> 0")
nonneg_float = _number(float, lambda v: v >= 0, ">= 0")
positive_int = _number(int, lambda v: v > 0, ">= 1")
nonneg_int = _number(int, lambda v: v >= 0, ">= 0")


def add_subject_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--height", type=positive_float,
                   help="subject height (m); with --osim default: from the model's geometry")
    p.add_argument("--mass", type=positive_float,
                   help="subject mass (kg); with --osim default: the model's own segment masses "
                        "(given: they are scaled to it)")
    p.add_argument("--scales", type=Path, default=None,
                   help="JSON file of per-segment scale factors ({'femur_r': 1.05, ...}), "
                        "e.g. written by `kintwin ik`")
    p.add_argument("--osim", type=Path, default=None,
                   help="build the model from this scaled OpenSim model instead of the built-in one")


def subject_spec(args):
    from ..models.subject import SubjectSpec

    return SubjectSpec(height_m=getattr(args, "height", None), mass_kg=getattr(args, "mass", None),
                       scales=getattr(args, "scales", None), osim=getattr(args, "osim", None))


def skeleton_from_args(args, trial_subject=None):
    """The subject's Skeleton (``models.subject.resolve_subject``'s rules)."""
    from ..models.subject import resolve_subject

    return resolve_subject(subject_spec(args), trial_subject)


def add_trial_arguments(p: argparse.ArgumentParser) -> None:
    """How the trial's kinematics file is read and checked (``read_trial``)."""
    p.add_argument("--convention", choices=("auto", "legacy", "canonical"), default="auto",
                   help="sign convention of the trial's kinematics: legacy (gait2354/gait2392/"
                        "Hamner, knee flexion negative) or canonical (knee flexion positive); "
                        "default auto: detected from the file")
    p.add_argument("--coordinate-map", type=Path, default=None, metavar="FILE",
                   help="YAML/JSON map of the file's coordinate names to kintwin's "
                        "(name: kintwin_name, or name: {name: ..., sign: -1, offset_deg: 0})")
    p.add_argument("--angle-units", choices=("header", "degrees", "radians"), default="header",
                   help="units of the trial's angles: default from the header's inDegrees "
                        "(checked against the range of motion); give it when the header is wrong")
    p.add_argument("--allow-out-of-range", action="store_true",
                   help="warn instead of failing when coordinates leave the model's joint ranges "
                        "(the joint limits then act on the movement)")


def read_trial(path, args, height_m=None, mass_kg=None):
    """The trial's Motion, read as ``add_trial_arguments`` says."""
    from ..motion.kinematics_io import read_motion

    return read_motion(path, convention=args.convention, coordinate_map=args.coordinate_map,
                       angle_units=args.angle_units, height_m=height_m, mass_kg=mass_kg)


def add_time_arguments(p: argparse.ArgumentParser, what: str = "analyse") -> None:
    p.add_argument("--start", type=float, default=None, help=f"first time to {what} (s)")
    p.add_argument("--end", type=float, default=None, help=f"last time to {what} (s)")


def time_window(motion, args, min_frames: int = 10):
    """The motion between --start and --end (``motion.checks.time_window``)."""
    from ..motion.checks import time_window as window

    return window(motion, args.start, args.end, min_frames)


def parse_foot_of(text: str | None) -> dict[str, str] | None:
    """``--foot-of 'ground=r,1_ground=l'``: which plate (GRF column prefix) pushes which foot."""
    if not text:
        return None
    out = {}
    for item in text.split(","):
        key, sep, side = item.partition("=")
        if not sep or side.strip() not in ("r", "l"):
            raise InputError(f"--foot-of entries look like 'ground=r', not {item!r}")
        out[key.strip()] = side.strip()
    return out


def check_files(*paths) -> None:
    for f in paths:
        if f is not None and not Path(f).is_file():
            raise InputError(f"no such file: {f}")


def check_out_dir(path: Path, create: bool = True) -> Path:
    """``--out`` must be a folder we can write: checked after the inputs and before any work, and
    created unless ``create`` is False (then only its nearest existing parent is checked)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path} is a file, not a folder")
    if not create:
        parent = next(p for p in (path, *path.absolute().parents) if p.exists())
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"--out {path}: cannot create a folder under {parent}")
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {path}: cannot create the folder ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"--out {path}: the folder is not writable")
    return path
