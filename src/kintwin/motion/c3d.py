"""C3D files (via ``ezc3d``): markers and force plates.

Everything is returned in the C3D *lab* frame by default, exactly as OpenSim's
``C3DFileAdapter`` does (its reference outputs ``std_walking2_*`` in the shared data are in the lab
frame, Z up, mm). OpenSim's scripting utilities (``osimC3D.rotateData('x', -90)``) then rotate a
Z-up lab by -90 deg about X to get OpenSim's Y-up ground: ``(x, y, z)_lab -> (x, z, -y)``. That is
``Z_UP_TO_OPENSIM``; pass ``rotation=Z_UP_TO_OPENSIM`` (or ``to_opensim=True``) to apply it. It
keeps lab +X as OpenSim +X, so the subject should walk along lab +X (compose with
``rotation_y(180)`` when walking along -X).

Force-plate quantities come from ezc3d's ``extract_forceplat_data`` (analog channels, calibration
matrix, corners and origin, as OpenSim computes them): per plate the ground reaction force on the
subject (N), the centre of pressure on the plate surface (m), the free vertical moment about the
COP (N*m) and the moment about the plate surface centre (N*m), all in the lab frame at the
analog rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from .trc import Markers, unit_scale


def rotation_x(degrees: float) -> np.ndarray:
    """3x3 rotation by ``degrees`` about X (right-handed)."""
    c, s = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_y(degrees: float) -> np.ndarray:
    """3x3 rotation by ``degrees`` about Y (right-handed)."""
    c, s = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


#: Z-up lab (X forward, Y left) -> OpenSim ground (X forward, Y up, Z right).
Z_UP_TO_OPENSIM = np.round(rotation_x(-90.0))


@dataclass
class ForcePlates:
    """Force-plate data, plates first: arrays are (P, T, 3) except ``corners_m`` (P, 4, 3).

    ``force_n``: ground reaction force on the subject (N). ``cop_m``: centre of pressure (m; not
    meaningful when the plate is unloaded). ``free_moment_nm``: free moment about the COP, normal
    to the plate (N*m). ``moment_nm``: moment about the centre of the plate surface (N*m).
    ``frame`` is ``"lab"`` or ``"opensim"`` (Y up) after a rotation to OpenSim.
    """

    time_s: np.ndarray
    rate_hz: float
    force_n: np.ndarray
    cop_m: np.ndarray
    free_moment_nm: np.ndarray
    moment_nm: np.ndarray
    corners_m: np.ndarray
    frame: str = "lab"
    units_in_file: dict[str, str] = field(default_factory=dict)

    @property
    def n_plates(self) -> int:
        return self.force_n.shape[0]

    @property
    def centre_m(self) -> np.ndarray:
        """(P, 3) centre of each plate's surface (mean of its corners)."""
        return self.corners_m.mean(axis=1)

    def rotated(self, rotation: np.ndarray, frame: str = "rotated") -> "ForcePlates":
        """All vectors re-expressed by the 3x3 ``rotation`` (v_new = R @ v_old)."""
        r = np.asarray(rotation, dtype=float).T
        return replace(self, force_n=self.force_n @ r, cop_m=self.cop_m @ r,
                       free_moment_nm=self.free_moment_nm @ r, moment_nm=self.moment_nm @ r,
                       corners_m=self.corners_m @ r, frame=frame)


def _param(params: dict, group: str, name: str, default=None):
    try:
        return params[group][name]["value"]
    except KeyError:
        return default


def _moment_scale(units: str, source: Path) -> float:
    u = units.strip().lower().replace("*", "").replace(".", "").replace(" ", "")
    if u in ("nmm",):
        return 1e-3
    if u in ("nm",):
        return 1.0
    raise InputError(f"{source}: unknown force-plate moment units {units!r} (expected Nmm or Nm)")


def _opensim_rotation(params: dict, path: Path) -> np.ndarray:
    """OpenSim rotation for this lab, from POINT:Y_SCREEN (the lab's vertical axis)."""
    up = (_param(params, "POINT", "Y_SCREEN", ["+Z"]) or ["+Z"])[0].strip().upper()
    if up == "+Z":
        return Z_UP_TO_OPENSIM
    if up == "+Y":
        return np.eye(3)
    raise InputError(f"{path}: POINT:Y_SCREEN={up!r}: pass an explicit rotation to reach Y up")


def read_c3d(path: str | Path, rotation: np.ndarray | None = None,
             to_opensim: bool = False) -> tuple[Markers, ForcePlates]:
    """Read markers (m) and force plates (N, m, N*m) from a C3D file.

    Default frame: the C3D lab frame. ``rotation`` (3x3) re-expresses everything; ``to_opensim``
    picks OpenSim's usual rotation from the lab's vertical axis (``Z_UP_TO_OPENSIM`` when
    POINT:Y_SCREEN is +Z, identity when it is +Y). Time starts at the header's first frame
    divided by the rate (0 for most files). A file without force plates gives zero plates. An
    empty or non-C3D file raises ``InputError`` with ezc3d's reason.
    """
    import ezc3d  # imported here so the rest of the package does not need it

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        c3d = ezc3d.c3d(str(path), extract_forceplat_data=True)
    except (OSError, RuntimeError, ValueError) as e:  # what ezc3d raises for empty/foreign files
        raise InputError(f"{path}: not a readable C3D file ({e})") from None
    params, data, header = c3d["parameters"], c3d["data"], c3d["header"]

    rate = float(header["points"]["frame_rate"])
    t0 = header["points"]["first_frame"] / rate
    units = (_param(params, "POINT", "UNITS", ["mm"]) or ["mm"])[0]
    pts = data["points"][:3] * unit_scale(units, path)  # (3, M, T)
    names = [str(n).strip() for n in _param(params, "POINT", "LABELS", [])][: pts.shape[1]]
    markers = Markers(time_s=t0 + np.arange(pts.shape[2]) / rate, names=names,
                      positions_m=pts.transpose(2, 1, 0).copy(), rate_hz=rate,
                      units_in_file=units)

    analog_rate = float(header["analogs"]["frame_rate"] or rate)
    plates = data.get("platform", [])
    n_samples = data["analogs"].shape[-1]
    stack = {k: [] for k in ("force", "cop", "free", "moment", "corners")}
    file_units = {}
    for pl in plates:
        ls = unit_scale(pl["unit_position"], path)
        ms = _moment_scale(pl["unit_moment"], path)
        if pl["unit_force"].strip() != "N":
            raise InputError(f"{path}: unknown force units {pl['unit_force']!r} (expected N)")
        stack["force"].append(pl["force"].T)
        stack["cop"].append(pl["center_of_pressure"].T * ls)
        stack["free"].append(pl["Tz"].T * ms)
        stack["moment"].append(pl["moment"].T * ms)
        stack["corners"].append(pl["corners"].T * ls)
        file_units = {"force": pl["unit_force"], "moment": pl["unit_moment"],
                      "position": pl["unit_position"]}
    empty = np.zeros((0, n_samples, 3))
    fp = ForcePlates(
        time_s=t0 + np.arange(n_samples) / analog_rate, rate_hz=analog_rate,
        force_n=np.array(stack["force"]) if plates else empty,
        cop_m=np.array(stack["cop"]) if plates else empty,
        free_moment_nm=np.array(stack["free"]) if plates else empty,
        moment_nm=np.array(stack["moment"]) if plates else empty,
        corners_m=np.array(stack["corners"]) if plates else np.zeros((0, 4, 3)),
        units_in_file=file_units)

    if to_opensim:
        if rotation is not None:
            raise ValueError("give either rotation or to_opensim, not both")
        rotation = _opensim_rotation(params, path)
        return markers.rotated(rotation), fp.rotated(rotation, frame="opensim")
    if rotation is not None:
        return markers.rotated(rotation), fp.rotated(rotation)
    return markers, fp
