"""Read and write kinematics files (``.mot``/``.sto``) as ``Motion``s, detecting the convention.

Conventions found in the wild (see ``../shared/data/README.md``):

* ``legacy``: gait2354/gait2392/Hamner 2010 short names, usually degrees, knee flexion NEGATIVE.
* ``canonical``: Rajagopal 2016 / LaiUhlrich 2022 (OpenCap, AddBiomechanics) and kintwin's own:
  knee flexion POSITIVE; often radians with full-path labels ``/jointset/<joint>/<coord>/value``,
  ``_beta`` patella columns and some locked coordinates absent.

Auto-detection: full-path labels mean ``canonical``; with short names, a knee column whose median is
negative means ``legacy``, otherwise ``canonical``. Pass ``convention=`` to override. The result
records the convention used in ``Motion.source_convention``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..models.coordinates import ALL_COORDINATES, LEGACY_NEGATED
from .motion import Motion, Subject, is_translation
from .storage import read_table, write_csv, write_npz, write_table

CONVENTIONS = ("auto", "legacy", "canonical")
_PATH_LABEL = re.compile(r"^/jointset/[^/]+/([^/]+)/(value|speed)$")
# Columns that carry no independent coordinate in our models (patella, coupled knee beta).
_IGNORED = re.compile(r".*_beta$")


def _canonical_labels(labels: list[str]) -> tuple[list[str], list[int], bool]:
    """Short coordinate names and the columns that hold values; whether full paths were used."""
    names, cols, full_path = [], [], False
    for i, lab in enumerate(labels):
        m = _PATH_LABEL.match(lab)
        if m:
            full_path = True
            if m.group(2) == "speed":
                continue
            lab = m.group(1)
        elif lab.startswith("/"):
            continue  # other state variables (activations, fibre lengths, ...)
        names.append(lab)
        cols.append(i)
    return names, cols, full_path


def read_motion(path: str | Path, convention: str = "auto", coordinates=ALL_COORDINATES,
                height_m: float | None = None, mass_kg: float | None = None) -> Motion:
    """Read an OpenSim kinematics file into a canonical ``Motion``.

    ``coordinates`` lists the names the caller's model understands; any other column (except
    ``*_beta`` and non-coordinate state paths) raises a ``ValueError`` naming it.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, not {convention!r}")
    table = read_table(path)
    names, cols, full_path = _canonical_labels(table.labels)
    keep = [k for k, n in enumerate(names) if not _IGNORED.match(n)]
    names, cols = [names[k] for k in keep], [cols[k] for k in keep]
    unknown = [n for n in names if n not in coordinates]
    if unknown:
        raise ValueError(f"{path}: unknown coordinate column(s) {unknown}; expected names such as "
                         f"{list(coordinates)[:8]}... (OpenSim gait2392/Rajagopal short names)")
    if not names:
        raise ValueError(f"{path}: no coordinate columns found among {table.labels[:10]}")
    values = table.data[:, cols].astype(float)

    rot = [j for j, n in enumerate(names) if not is_translation(n)]
    in_degrees = table.in_degrees
    if in_degrees is None:
        in_degrees = bool(rot) and np.nanmax(np.abs(values[:, rot])) > 2 * np.pi
        warnings.warn(f"{path}: header has no inDegrees; angles look like "
                      f"{'degrees' if in_degrees else 'radians'} from their magnitude", stacklevel=2)
    if in_degrees:
        values[:, rot] = np.deg2rad(values[:, rot])

    if convention == "auto":
        knees = [j for j, n in enumerate(names) if n in LEGACY_NEGATED]
        if full_path or not knees:
            convention = "canonical"
            if not full_path:
                warnings.warn(f"{path}: no knee column to detect the convention; assuming canonical",
                              stacklevel=2)
        else:
            convention = "legacy" if np.median(values[:, knees]) < 0 else "canonical"
    values = convert_convention(names, values, convention)
    return Motion(time_s=table.time_s, names=names, values=values,
                  subject=Subject(height_m=height_m, mass_kg=mass_kg),
                  source_file=str(path), source_convention=convention)


def convert_convention(names: list[str], values: np.ndarray, convention: str) -> np.ndarray:
    """Columns ``values`` (T, n) of coordinates ``names`` between canonical and ``convention``:
    for ``"legacy"`` the ``LEGACY_NEGATED`` (knee) columns are negated, the map being its own
    inverse; a copy for legacy, ``values`` itself for canonical. It applies alike to coordinate
    values and to their generalized forces (``<coordinate>_moment``): negating a coordinate
    negates the force along it."""
    if convention not in CONVENTIONS[1:]:
        raise ValueError(f"convention must be one of {CONVENTIONS[1:]}, not {convention!r}")
    if convention == "legacy":
        values = values.copy()
        for j, n in enumerate(names):
            if n in LEGACY_NEGATED:
                values[:, j] *= -1
    return values


def write_motion(path: str | Path, motion: Motion, convention: str | None = None,
                 in_degrees: bool = True) -> Path:
    """Write a Motion as ``.mot``/``.sto`` (OpenSim), ``.csv`` or ``.npz`` by the file suffix.

    ``convention`` defaults to the one the motion was read in, so a file round-trips unchanged;
    use ``"legacy"`` for gait2392/Hamner models in OpenSim. Angles in degrees unless
    ``in_degrees=False`` (always SI in ``.csv``/``.npz``).
    """
    path = Path(path)
    convention = convention or motion.source_convention
    values = convert_convention(motion.names, motion.values, convention)
    if path.suffix in (".mot", ".sto"):
        if in_degrees:
            values = values.copy()
            rot = [j for j, n in enumerate(motion.names) if not is_translation(n)]
            values[:, rot] = np.rad2deg(values[:, rot])
        write_table(path, motion.names, motion.time_s, values, name=path.stem, in_degrees=in_degrees)
    elif path.suffix == ".csv":
        write_csv(path, motion.names, motion.time_s, values)
    elif path.suffix == ".npz":
        write_npz(path, time_s=motion.time_s, values=values, names=np.array(motion.names),
                  convention=np.array(convention))
    else:
        raise ValueError(f"unknown kinematics file type {path.suffix!r}: use .mot, .sto, .csv or .npz")
    return path
