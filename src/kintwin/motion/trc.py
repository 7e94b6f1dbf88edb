"""Marker trajectories and the OpenSim ``.trc`` format.

Positions are metres in the lab frame of the source (OpenSim ``.trc`` files: Y up, X forward,
Z right; raw C3D labs are often Z up, see ``c3d.py``). Missing samples (marker gaps) are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError

#: Length units accepted in files, as metres per unit.
UNIT_SCALE = {"mm": 1e-3, "millimeters": 1e-3, "cm": 1e-2, "centimeters": 1e-2,
              "m": 1.0, "meters": 1.0}


def unit_scale(units: str, source: str | Path = "") -> float:
    """Metres per ``units`` (mm, cm, m); ``InputError`` (a ``ValueError``) for anything else."""
    try:
        return UNIT_SCALE[units.strip().lower()]
    except KeyError:
        raise InputError(f"{source}: unknown length units {units!r} "
                         f"(expected one of {sorted(UNIT_SCALE)})") from None


@dataclass
class Markers:
    """Marker trajectories: ``positions_m`` (T, M, 3) metres, NaN in gaps; ``time_s`` (T,) s.

    ``rate_hz`` is the nominal sampling rate; ``units_in_file`` the length unit the source used.
    """

    time_s: np.ndarray
    names: list[str]
    positions_m: np.ndarray
    rate_hz: float
    units_in_file: str = "m"

    def marker(self, name: str) -> np.ndarray:
        """(T, 3) trajectory of one marker (KeyError if absent)."""
        try:
            return self.positions_m[:, self.names.index(name)]
        except ValueError:
            raise KeyError(f"no marker {name!r}") from None

    def rotated(self, rotation: np.ndarray) -> "Markers":
        """Positions re-expressed by the 3x3 ``rotation`` (p_new = R @ p_old)."""
        rotation = np.asarray(rotation, dtype=float)
        return replace(self, positions_m=self.positions_m @ rotation.T)


def _cells(line: str) -> list[str]:
    """Tab-separated cells (empty cells kept) or whitespace-separated when there are no tabs."""
    line = line.rstrip("\r\n")
    return [c.strip() for c in line.split("\t")] if "\t" in line else line.split()


def read_trc(path: str | Path) -> Markers:
    """Read an OpenSim/Motion Analysis ``.trc`` file, converting mm/cm/m to metres.

    Header fields are paired with their values by order after dropping empty cells (repeated
    tabs) on both lines. In data rows, empty cells and ``NaN`` mean a gap (NaN). Raises
    ``InputError`` (a ``ValueError``) naming the file for a header whose names and values do not
    pair up, unknown units, a marker count that disagrees with ``NumMarkers``, rows with too many
    values, fewer or more rows than ``NumFrames``, unreadable numbers and time that is not
    strictly increasing.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise InputError(f"{path}: not a .trc file (first line should start with PathFileType)")
    # header: field names (line 2) and values (line 3), paired by name order; empty cells
    # (repeated tabs) are dropped on both lines, as OpenSim does
    keys = [c for c in _cells(lines[1]) if c]
    values = [c for c in _cells(lines[2]) if c]
    if len(keys) != len(values):
        raise InputError(f"{path}: the header names {len(keys)} fields ({' '.join(keys)}) but "
                         f"its values line has {len(values)} values ({' '.join(values)})")
    meta = dict(zip(keys, values))
    for key in ("DataRate", "NumFrames", "NumMarkers", "Units"):
        if key not in meta:
            raise InputError(f"{path}: header has no {key}")
    units = meta["Units"]
    scale = unit_scale(units, path)
    try:
        rate_hz = float(meta["DataRate"])
        n_frames, n_markers = int(float(meta["NumFrames"])), int(float(meta["NumMarkers"]))
    except ValueError:
        raise InputError(f"{path}: header values DataRate={meta['DataRate']!r}, NumFrames="
                         f"{meta['NumFrames']!r}, NumMarkers={meta['NumMarkers']!r} are not all "
                         "numbers") from None

    names = [c for c in _cells(lines[3]) if c][2:]  # after Frame# and Time
    if len(names) != n_markers:
        raise InputError(f"{path}: NumMarkers={n_markers} but the name row has {len(names)} names")
    ncol = 2 + 3 * n_markers
    rows = [ln for ln in lines[5:] if ln.strip()]
    if len(rows) != n_frames:
        what = "truncated file" if len(rows) < n_frames else "extra rows"
        raise InputError(f"{path}: {what}: NumFrames={n_frames} but found {len(rows)} data rows")
    table = np.full((len(rows), ncol), np.nan)
    for r, line in enumerate(rows):
        cells = _cells(line)
        while len(cells) > ncol and not cells[-1]:
            cells.pop()
        if len(cells) > ncol or len(cells) < 2:
            raise InputError(f"{path}: data row {r + 1} has {len(cells)} values, expected {ncol}")
        for c, cell in enumerate(cells):
            if cell:
                try:
                    table[r, c] = float(cell)
                except ValueError:
                    raise InputError(f"{path}: data row {r + 1}, column {c + 1}: cannot read "
                                     f"{cell!r} as a number") from None
    time_s = table[:, 1]
    if not np.all(np.isfinite(time_s)) or np.any(np.diff(time_s) <= 0):
        raise InputError(f"{path}: Time column is missing values or not strictly increasing")
    positions = table[:, 2:].reshape(len(rows), n_markers, 3) * scale
    return Markers(time_s=time_s, names=names, positions_m=positions, rate_hz=rate_hz,
                   units_in_file=units)


def write_trc(path: str | Path, markers: Markers, units: str = "mm") -> Path:
    """Write ``markers`` as an OpenSim 4 ``.trc`` (tab separated, %.10g, gaps as ``NaN``)."""
    path = Path(path)
    scale = unit_scale(units, path)
    pos = np.asarray(markers.positions_m, dtype=float)
    n_frames, n_markers = pos.shape[:2]
    if pos.shape != (len(markers.time_s), len(markers.names), 3):
        raise ValueError(f"{path}: positions shape {pos.shape} does not match "
                         f"({len(markers.time_s)} times, {len(markers.names)} markers, 3)")
    rate = f"{markers.rate_hz:.10g}"
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
        "OrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t{n_frames}\t{n_markers}\t{units}\t{rate}\t1\t{n_frames}",
        "\t".join(["Frame#", "Time"] + [f"{n}\t\t" for n in markers.names]).rstrip("\t"),
        "\t".join(["", ""] + [f"{a}{i + 1}" for i in range(n_markers) for a in "XYZ"]),
        "",
    ]
    flat = pos.reshape(n_frames, 3 * n_markers) / scale
    for f in range(n_frames):
        vals = "\t".join("NaN" if not np.isfinite(v) else f"{v:.10g}" for v in flat[f])
        lines.append(f"{f + 1}\t{markers.time_s[f]:.10g}\t{vals}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
