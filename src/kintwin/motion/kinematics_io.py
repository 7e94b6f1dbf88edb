"""Read and write kinematics files (``.mot``/``.sto``) as ``Motion``s, detecting the convention.

Conventions found in the wild (see ``../shared/data/README.md``):

* ``legacy``: gait2354/gait2392/Hamner 2010 short names, usually degrees, knee flexion NEGATIVE.
* ``canonical``: Rajagopal 2016 / LaiUhlrich 2022 (OpenCap, AddBiomechanics) and kintwin's own:
  knee flexion POSITIVE; often radians with full-path labels ``/jointset/<joint>/<coord>/value``,
  ``_beta`` patella columns and some locked coordinates absent.

Auto-detection: full-path labels mean ``canonical``; with short names, a knee column whose median is
negative means ``legacy``, otherwise ``canonical``. Pass ``convention=`` to override. The result
records the convention used in ``Motion.source_convention``.

Other models' coordinate names come in through a coordinate map (``read_motion(coordinate_map=)``,
``load_coordinate_map``) or, for the few in ``AUTO_NAMES`` whose meaning and sign are certain, by
themselves; renamed columns are already in kintwin's convention. Angle units follow the header's
``inDegrees``, checked against the range of motion, or ``read_motion(angle_units=)``.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import InputError
from ..models.coordinates import ALL_COORDINATES, LEGACY_NEGATED, PELVIS_COORDINATES
from .motion import Motion, Subject, is_translation
from .storage import read_table, write_csv, write_npz, write_table

CONVENTIONS = ("auto", "legacy", "canonical")
_PATH_LABEL = re.compile(r"^/jointset/[^/]+/([^/]+)/(value|speed)$")
# Columns that carry no independent coordinate in our models (patella, coupled knee beta).
_IGNORED = re.compile(r".*_beta$")
ANGLE_UNITS = ("header", "degrees", "radians")
#: The heading, which may wrap beyond 2*pi: left out of the unit checks.
HEADING = "pelvis_rotation"
#: A header saying degrees is refused when no joint angle exceeds pi "degrees" while at least
#: MOVING_COLUMNS of them range over MOVING_RANGE_RAD or more (20 deg when read as radians; a
#: 0.36 s slice of walking still has 3 such columns, quiet standing in radians has none).
MOVING_RANGE_RAD, MOVING_COLUMNS = 0.35, 2
#: Other models' names renamed without a map (with ``_r``/``_l``): the same coordinate with the
#: same positive direction as kintwin's (knee_flex: flexion positive, kintwin's canonical knee;
#: hip_rot: internal rotation positive, as OpenSim's hip_rotation).
AUTO_NAMES = {"hip_flex": "hip_flexion", "hip_add": "hip_adduction", "hip_rot": "hip_rotation",
              "knee_flex": "knee_angle", "knee_flexion": "knee_angle",
              "ankle_dorsiflexion": "ankle_angle", "subt_angle": "subtalar_angle",
              "elbow_flexion": "elbow_flex", "wrist_flexion": "wrist_flex",
              "wrist_deviation": "wrist_dev"}
#: Names only guessed in the unknown-column error, never applied: their sign (or, for the pelvis,
#: the rotation order) is not certain. "ankle_flex" is dorsiflexion positive in some models
#: (PredSim) and plantarflexion positive in clinical usage; kintwin's ankle_angle is dorsiflexion.
GUESSED_NAMES = {"ankle_flex": "ankle_angle", "mtp_flex": "mtp_angle", "mtp": "mtp_angle",
                 "lumbar_pitch": "lumbar_extension", "lumbar_roll": "lumbar_bending",
                 "lumbar_yaw": "lumbar_rotation", "lower_torso_RZ": "pelvis_tilt",
                 "lower_torso_RX": "pelvis_list", "lower_torso_RY": "pelvis_rotation",
                 "lower_torso_TX": "pelvis_tx", "lower_torso_TY": "pelvis_ty",
                 "lower_torso_TZ": "pelvis_tz"}


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
                height_m: float | None = None, mass_kg: float | None = None,
                coordinate_map=None, angle_units: str = "header") -> Motion:
    """Read an OpenSim kinematics file into a canonical ``Motion``.

    ``coordinates`` lists the names the caller's model understands; any other column (except
    ``*_beta``, non-coordinate state paths and columns a map ignores) is an ``InputError`` naming
    it, with guesses and the way in (a coordinate map).

    ``coordinate_map``: a mapping or the path of a YAML/JSON file (``load_coordinate_map``) from the
    file's column names to kintwin's. A mapped column's value is kintwin's directly
    (``sign * value + offset``, knee flexion positive): ``convention`` does not apply to it. Columns
    in ``AUTO_NAMES`` (``hip_flex_r``, ``knee_flex_l``, ...) are renamed without a map, with a
    warning listing them.

    ``angle_units``: ``"header"`` (default) takes the header's ``inDegrees`` and checks it against
    the range of motion: an angle beyond 2*pi "radians" (``pelvis_rotation``, a heading, excepted)
    or a moving trial whose "degrees" all stay within +-pi is an ``InputError``.
    ``"degrees"``/``"radians"`` override the header and skip that check. Translations are metres.
    """
    if convention not in CONVENTIONS:
        raise InputError(f"convention must be one of {CONVENTIONS}, not {convention!r}")
    if angle_units not in ANGLE_UNITS:
        raise InputError(f"angle_units must be one of {ANGLE_UNITS}, not {angle_units!r}")
    if coordinate_map is None:
        cmap = {}
    elif isinstance(coordinate_map, Mapping):
        cmap = _parse_coordinate_map(coordinate_map, "coordinate map")
    else:
        cmap = load_coordinate_map(coordinate_map)
    if Path(path).suffix.lower() in (".trc", ".c3d"):
        raise InputError(f"{path}: marker trajectories, not joint angles",
                         advice="get the joint angles with `kintwin ik` first")
    table = read_table(path)
    from .grf import group_columns

    if group_columns(table.labels):
        raise InputError(f"{path}: ground reactions (force-plate columns such as "
                         f"{next(iter(group_columns(table.labels)))}_force_vx), not joint angles",
                         advice="give it as --grf")
    file_names, cols, full_path = _canonical_labels(table.labels)
    absent = [s for s in cmap if s not in file_names]
    if absent:
        warnings.warn(f"{path}: coordinate map entries for columns not in the file: {absent}",
                      stacklevel=2)
    names, sources, keep, entries, auto = [], [], [], [], []  # entries: MapEntry or None (as is)
    for name, col in zip(file_names, cols):
        entry = cmap.get(name)
        if entry is None and name not in coordinates and _auto_name(name):
            entry = MapEntry(_auto_name(name), 1.0, 0.0)
            auto.append(f"{name} -> {entry.name}")
        if (entry is None and _IGNORED.match(name)) or (entry is not None and entry.name is None):
            continue
        names.append(name if entry is None else entry.name)
        sources.append(name)
        keep.append(col)
        entries.append(entry)
    unknown = [n for n in names if n not in coordinates]
    if unknown:
        shown = unknown if len(unknown) <= 12 else unknown[:12] + [f"... {len(unknown) - 12} more"]
        raise InputError(f"{path}: unknown coordinate column(s) {shown}{_guesses(unknown)}",
                         advice=f"use --coordinate-map FILE (source_name: kintwin_name, or "
                                f"source_name: {{name: kintwin_name, sign: -1, offset_deg: 0}}, "
                                f"or source_name: null to ignore it); the kintwin names are "
                                f"{', '.join(coordinates)}")
    if not names:
        raise InputError(f"{path}: no coordinate columns found among {table.labels[:10]}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{path}: columns {[s for s, n in zip(sources, names) if n in twice]} "
                         f"all give {twice}",
                         advice="map the unwanted column to null in the coordinate map")
    if auto:
        warnings.warn(f"{path}: columns renamed by their usual meaning: {', '.join(auto)} "
                      "(a coordinate map overrides this)", stacklevel=2)
    values = table.data[:, keep].astype(float)

    rot = [j for j, n in enumerate(names) if not is_translation(n)]
    values[:, rot] = _angles_rad(values[:, rot], [names[j] for j in rot], table.in_degrees,
                                 angle_units, path)
    for j, e in enumerate(entries):
        if e is not None:
            values[:, j] = e.sign * values[:, j] + e.offset_si
    pelvis = [j for j, n in enumerate(names) if n in PELVIS_COORDINATES[:3]]
    if pelvis and len(values) > 1:  # a tool that wraps angles at +-180 deg (walking towards -X)
        values[:, pelvis] = np.unwrap(values[:, pelvis], axis=0)

    mapped = [j for j, e in enumerate(entries) if e is not None]
    knees = [j for j, n in enumerate(names) if n in LEGACY_NEGATED and j not in mapped]
    mapped_knees = [names[j] for j in mapped if names[j] in LEGACY_NEGATED]
    if convention == "legacy" and mapped_knees:
        raise InputError(f"{path}: convention 'legacy' negates the knee, but {mapped_knees} are "
                         "renamed columns, read with kintwin's sign (knee flexion positive)",
                         advice="give the knee sign: -1 in a coordinate map instead")
    if convention == "auto":
        if full_path or not knees:
            convention = "canonical"
            if not full_path and not mapped_knees:
                warnings.warn(f"{path}: no knee column to detect the convention; assuming canonical",
                              stacklevel=2)
        else:
            convention = "legacy" if np.median(values[:, knees]) < 0 else "canonical"
    if convention == "legacy":
        values[:, knees] *= -1  # convert_convention on the columns the convention applies to
    return Motion(time_s=table.time_s, names=names, values=values,
                  subject=_ik_subject(path, height_m, mass_kg),
                  source_file=str(path), source_convention=convention)


def _ik_subject(path: Path, height_m, mass_kg) -> Subject:
    """The trial's subject: ``height_m``/``mass_kg`` as given; for kinematics written by
    ``kintwin ik`` (its ``scales.json`` beside them) the segment scales the IK solved with, and
    its height and mass where not given: a model with other leg lengths would put the feet cm
    off the floor."""
    scales = Path(path).with_name("scales.json")
    try:
        data = json.loads(scales.read_text()) if scales.is_file() else None
    except (OSError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict) or not data.get("segment_scales") or "scaling" not in data:
        return Subject(height_m=height_m, mass_kg=mass_kg)
    return Subject(height_m=height_m if height_m is not None else data.get("height_m"),
                   mass_kg=mass_kg if mass_kg is not None else data.get("mass_kg"),
                   scales_file=str(scales))


def _angles_rad(angles: np.ndarray, names: list[str], in_degrees: bool | None, angle_units: str,
                path) -> np.ndarray:
    """Angle columns (T, k) in radians, by ``angle_units`` or the header, checked (read_motion)."""
    if angle_units != "header":
        in_degrees = angle_units == "degrees"
    elif in_degrees is None:
        in_degrees = bool(names) and np.nanmax(np.abs(angles)) > 2 * np.pi
        warnings.warn(f"{path}: header has no inDegrees; angles look like "
                      f"{'degrees' if in_degrees else 'radians'} from their magnitude", stacklevel=3)
    else:
        joints = [j for j, n in enumerate(names) if n != HEADING]
        raw = angles[:, joints]
        if not in_degrees and raw.size and np.abs(raw).max() > 2 * np.pi:
            j = joints[int(np.abs(raw).max(axis=0).argmax())]
            top = np.abs(angles[:, j]).max()
            raise InputError(f"{path}: the header says radians (inDegrees=no) but {names[j]} "
                             f"reaches {top:.0f} rad ({np.rad2deg(top):.0f} deg): the angles look "
                             "like degrees", advice="if they are degrees: --angle-units degrees")
        moving = int(np.sum(np.ptp(raw, axis=0) >= MOVING_RANGE_RAD)) if raw.size else 0
        if in_degrees and moving >= MOVING_COLUMNS and np.abs(raw).max() <= np.pi:
            raise InputError(f"{path}: the header says degrees (inDegrees=yes) but no joint angle "
                             f"exceeds {np.abs(raw).max():.2f} deg while {moving} of them range "
                             f"over {MOVING_RANGE_RAD} or more ({np.rad2deg(MOVING_RANGE_RAD):.0f} "
                             "deg if radians): the angles look like radians",
                             advice="if they are radians: --angle-units radians")
    return np.deg2rad(angles) if in_degrees else angles


def _auto_name(name: str) -> str | None:
    """kintwin's name for a column in ``AUTO_NAMES`` (``hip_flex_r`` -> ``hip_flexion_r``)."""
    base, side = name[:-2], name[-2:]
    return AUTO_NAMES[base] + side if side in ("_r", "_l") and base in AUTO_NAMES else None


def _guesses(unknown: list[str]) -> str:
    """'; guesses (check the sign): lumbar_pitch -> lumbar_extension?, ...' or ''."""
    out = []
    for n in unknown:
        base, side = (n[:-2], n[-2:]) if n[-2:] in ("_r", "_l") else (n, "")
        if base in GUESSED_NAMES:
            out.append(f"{n} -> {GUESSED_NAMES[base]}{side}?")
    if not out:
        return ""
    note = ("; kintwin's pelvis angles are a body-fixed Z-X-Y sequence (tilt, list, rotation)"
            if any(g.split(" -> ")[1].startswith("pelvis_") for g in out) else "")
    return f"; guesses (check the sign{note}): {', '.join(out)}"


class MapEntry(NamedTuple):
    """One coordinate map entry: kintwin's name (None: ignore the column), sign, offset (rad or m)."""

    name: str | None
    sign: float
    offset_si: float


def load_coordinate_map(path: str | Path) -> dict[str, MapEntry]:
    """Read a coordinate map from a YAML file (``.json``: JSON). One entry per file column::

        hip_flex_r: hip_flexion_r                   # rename
        lumbar_pitch: {name: lumbar_extension, sign: -1, offset_deg: 5.0}
        lower_torso_TY: {name: pelvis_ty, offset_m: 0.02}
        marker_error: null                          # ignore the column

    kintwin's value is ``sign * file_value + offset``, after the file's angles are converted to
    radians: ``offset_deg`` (degrees, rotations) or ``offset_m`` (metres, translations), in
    kintwin's convention (knee flexion positive). ``sign`` is 1 (default) or -1. Errors
    (``InputError``): unreadable file, unknown kintwin name, a name used twice, a bad sign, an
    offset of the wrong kind or unknown keys.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise InputError(f"cannot read the coordinate map {path}: {e.strerror}") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise InputError(f"{path}: not a valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}"
                         f" coordinate map: {e}".splitlines()[0]) from None
    return _parse_coordinate_map(raw, str(path))


def _parse_coordinate_map(raw, source: str) -> dict[str, MapEntry]:
    """Check and normalise a coordinate map given as a mapping (``load_coordinate_map``'s format)."""
    if not isinstance(raw, Mapping) or not raw:
        raise InputError(f"{source}: a coordinate map must be a non-empty mapping "
                         "source_name: kintwin_name")
    out: dict[str, MapEntry] = {}
    for src, spec in raw.items():
        where = f"{source}: entry {src!r}"
        if not isinstance(spec, Mapping):
            spec = {"name": spec}
        extra = set(spec) - {"name", "sign", "offset_deg", "offset_m"}
        if extra:
            raise InputError(f"{where}: unknown key(s) {sorted(extra)}; allowed: name, sign, "
                             "offset_deg (rotations), offset_m (translations)")
        name = spec.get("name")
        if name is None:
            out[str(src)] = MapEntry(None, 1.0, 0.0)
            continue
        if name not in ALL_COORDINATES:
            raise InputError(f"{where}: unknown kintwin coordinate {name!r}",
                             advice=f"the kintwin names are {', '.join(ALL_COORDINATES)}")
        sign = spec.get("sign", 1)
        if isinstance(sign, bool) or sign not in (1, -1):
            raise InputError(f"{where}: sign must be 1 or -1, not {sign!r}")
        wrong, unit = ("offset_deg", "m") if is_translation(name) else ("offset_m", "deg")
        if wrong in spec:
            raise InputError(f"{where}: {name} is {'a translation' if unit == 'm' else 'an angle'}"
                             f": give offset_{unit}, not {wrong}")
        offset = spec.get(f"offset_{unit}", 0.0)
        if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not np.isfinite(offset):
            raise InputError(f"{where}: offset_{unit} must be a number, not {offset!r}")
        out[str(src)] = MapEntry(name, float(sign),
                                 float(offset) if unit == "m" else float(np.deg2rad(offset)))
    targets = [e.name for e in out.values() if e.name is not None]
    twice = sorted({n for n in targets if targets.count(n) > 1})
    if twice:
        raise InputError(f"{source}: kintwin coordinate(s) {twice} given by several entries "
                         f"({[s for s, e in out.items() if e.name in twice]})")
    return out


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
