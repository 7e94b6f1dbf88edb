"""Input checks for IK: marker names against the marker map, and length units against the subject.

``match_markers`` pairs a file's markers with a map (exact name, alias, then case-insensitive);
names the map does not know raise a ``ValueError`` that lists them (unless ``ignore_unknown``).
``vertical_rotation`` finds the file's vertical from the body: OpenSim files are Y up, but a lab
or a markerless tool may write Z up (or X up, or upside down); IK then fits the model lying on its
side with a small marker error, and everything after it (ID, the twin) is nonsense. The body's
feet-to-head direction, from marker pairs the model puts far apart vertically, says which file
axis is up; more than 45 deg from +Y, the markers are turned so that the nearest file axis to it
is up (a quarter or half turn), and IK says so.
``check_units`` compares distances between markers with the same distances on the subject-sized
model in its neutral pose: their median ratio is ~1 for right units (0.7-1.4 in practice, as the
pose varies), ~1000 for millimetres read as metres, ~0.001 for metres read as millimetres, ~100 /
~10 for centimetres. Anything outside 0.4-2.5 is reported with the likely cause.
"""

from __future__ import annotations

import numpy as np

from ..motion import frames
from ..motion.trc import Markers
from .markersets import MarkerMap


def match_markers(markers: Markers, mmap: MarkerMap, ignore_unknown: bool = False,
                  what: str = "marker file") -> tuple[list[str], np.ndarray, list[str]]:
    """(map names, positions (T, M, 3) in the MuJoCo world frame, unknown file names).

    ``markers`` must be in OpenSim's ground frame (Y up), as ``read_trc`` and
    ``read_c3d(..., to_opensim=True)`` return them.
    """
    names, cols, unknown, seen = [], [], [], {}
    for j, n in enumerate(markers.names):
        key = mmap.resolve(n)
        if key is None:
            unknown.append(n)
            continue
        if key in seen:
            raise ValueError(f"{what}: markers {markers.names[seen[key]]!r} and {n!r} both match "
                             f"{key!r} of marker set {mmap.name!r}")
        seen[key] = j
        names.append(key)
        cols.append(j)
    if not names:
        raise ValueError(
            f"{what}: none of its {len(markers.names)} markers is in marker set {mmap.name!r}: "
            f"unknown marker names {unknown[:25]}{' ...' if len(unknown) > 25 else ''}; the set "
            f"has {mmap.names[:12]}{' ...' if len(mmap) > 12 else ''}. Pick another --marker-set "
            "or give a --marker-map YAML")
    if unknown and not ignore_unknown:
        raise ValueError(
            f"{what}: {len(unknown)} marker name(s) not in marker set {mmap.name!r}: {unknown}. "
            f"Known names include {mmap.names[:12]}{' ...' if len(mmap) > 12 else ''}. Add them "
            "to a --marker-map YAML, or pass --ignore-unknown-markers to leave them out")
    pos = frames.osim_to_mujoco_vec(markers.positions_m[:, cols, :])
    return names, pos, unknown


def body_up(measured: np.ndarray, expected: np.ndarray, max_frames: int = 30,
            min_height_m: float = 0.4) -> np.ndarray | None:
    """Unit vector (3,) of the body's feet-to-head direction in the frame of ``measured``
    (T, M, 3, NaN gaps): the mean over frames of the marker pairs whose heights in the upright
    model ``expected`` (M, 3, MuJoCo world, Z up) differ by more than ``min_height_m``, each
    pointing from the lower marker to the upper one; None without such pairs."""
    T, M = measured.shape[:2]
    dz = expected[:, 2][:, None] - expected[:, 2][None]
    upper, lower = np.nonzero(dz > min_height_m)
    if not len(upper) or T == 0:
        return None
    acc = np.zeros(3)
    for t in np.unique(np.linspace(0, T - 1, min(T, max_frames)).astype(int)):
        v = measured[t, upper] - measured[t, lower]
        n = np.linalg.norm(v, axis=1)
        ok = np.isfinite(n) & (n > 0)
        acc += (v[ok] / n[ok, None]).sum(axis=0)
    norm = np.linalg.norm(acc)
    return acc / norm if norm > 0 else None


def vertical_rotation(measured: np.ndarray, expected: np.ndarray,
                      what: str = "marker file") -> tuple[np.ndarray | None, str | None]:
    """(rotation (3, 3) to apply to ``measured`` (MuJoCo world: ``p @ R.T``), note) when the
    body's feet-to-head direction (``body_up``) lies more than 45 deg from the vertical: a quarter
    or half turn taking the nearest signed axis of the file to the vertical (module doc); (None,
    None) when the file's vertical is right or cannot be told."""
    up = body_up(measured, expected)
    if up is None or up[2] >= np.cos(np.radians(45.0)):
        return None, None
    k = int(np.argmax(np.abs(up)))
    axis = np.zeros(3)
    axis[k] = np.sign(up[k])
    if k == 2:  # upside down: half a turn about the forward axis
        R = np.diag([1.0, -1.0, -1.0])
    else:  # a quarter turn about the horizontal axis perpendicular to it
        about = np.cross(axis, (0.0, 0.0, 1.0))
        about /= np.linalg.norm(about)
        K = np.array([[0, -about[2], about[1]], [about[2], 0, -about[0]], [-about[1], about[0], 0]])
        R = np.eye(3) + K + K @ K  # Rodrigues, 90 deg
    osim = frames.mujoco_to_osim_vec(axis)  # the file's (OpenSim ground) axis
    j = int(np.argmax(np.abs(osim)))
    file_axis = ("+" if osim[j] > 0 else "-") + "XYZ"[j]
    angle = np.degrees(np.arccos(np.clip(up[2], -1.0, 1.0)))
    note = (f"{what}: the body stands along the file's {file_axis} axis, not +Y (OpenSim's "
            f"vertical; feet-to-head direction {angle:.0f} deg from it): the markers were turned "
            f"so that {file_axis} is up (a file written Z-up or by a tool with another vertical)")
    return R, note


def distance_ratio(measured: np.ndarray, expected: np.ndarray, max_frames: int = 30) -> float:
    """Median over frames and marker pairs of measured / expected inter-marker distance.

    ``measured`` (T, M, 3) with NaN gaps; ``expected`` (M, 3) positions on the model. Pairs whose
    expected distance is under 5 cm are skipped (too sensitive to marker offsets).
    """
    T, M = measured.shape[:2]
    if M < 2 or T == 0:
        return float("nan")
    iu = np.triu_indices(M, 1)
    de = np.linalg.norm(expected[:, None] - expected[None], axis=-1)[iu]
    keep = de > 0.05
    if not keep.any():
        return float("nan")
    ratios = []
    for t in np.unique(np.linspace(0, T - 1, min(T, max_frames)).astype(int)):
        x = measured[t]
        dm = np.linalg.norm(x[:, None] - x[None], axis=-1)[iu]
        ok = keep & np.isfinite(dm)
        ratios.append(dm[ok] / de[ok])
    r = np.concatenate(ratios) if ratios else np.zeros(0)
    return float(np.median(r)) if len(r) else float("nan")


def check_units(measured: np.ndarray, expected: np.ndarray, height_m: float,
                what: str = "marker file", units_in_file: str | None = None) -> float:
    """Raise ``ValueError`` when marker distances disagree with the subject's size; return the ratio."""
    ratio = distance_ratio(measured, expected)
    if not np.isfinite(ratio) or 0.4 <= ratio <= 2.5:
        return ratio
    factor = 10.0 ** np.round(np.log10(ratio))
    units = f" (its header says {units_in_file!r})" if units_in_file else ""
    if factor >= 1000:
        hint = ("the coordinates look like MILLIMETRES labelled as metres: fix the file's units "
                "(Units mm)")
    elif factor >= 100:
        hint = "the coordinates look like CENTIMETRES labelled as metres"
    elif factor <= 1e-3:
        hint = "the coordinates look like METRES labelled as millimetres: fix the file's units (Units m)"
    elif factor <= 1e-2:
        hint = "the coordinates look like metres labelled as centimetres"
    else:
        hint = (f"check the subject height ({height_m} m) and the file's units; or the marker "
                "set does not match these markers")
    raise ValueError(
        f"{what}: wrong length units? distances between markers are {ratio:.3g} times those "
        f"of a {height_m:.2f} m model{units}; {hint}")
