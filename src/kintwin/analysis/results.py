"""One output layout for every dynamics estimator (inverse dynamics, contact estimation, twins).

``write_results(out_dir, results, metrics)`` writes:

* ``kinematics.mot``: the (filtered) coordinates used, degrees/metres, in the EXPORT convention.
* ``torques.sto``: joint moments, one ``<coordinate>_moment`` column per hinge coordinate (N*m),
  the generalized force along the coordinate, in the export convention (header ``convention=``).
* ``grf.mot`` + ``grf_loads.xml``: ground reactions per foot in OpenSim ground (Y up), OpenSim
  labels (``ground_*`` = right foot on calcn_r, ``1_ground_*`` = left foot on calcn_l) and the
  ExternalLoads file that applies them in OpenSim.
* ``residuals.sto``: the pelvis residual wrench: force (N) and moment (N*m) about the PELVIS
  ORIGIN, in OpenSim ground axes (X forward, Y up, Z right).
* ``metrics.json``: the figures of ``analysis.metrics`` plus method, subject and settings; the
  export convention in ``info["export_convention"]``.
* muscle models (``Results.muscles``): ``activations.sto`` (0-1 per muscle), ``muscle_forces.sto``
  (tension N) and ``reserves.sto`` (reserve torque N*m per muscle-driven coordinate).
* ``README.txt``: this description for whoever opens the folder.

The export convention is the trial's source convention (``Results.kinematics.source_convention``)
unless given: a legacy gait2354/gait2392/Hamner trial (knee flexion negative) gets legacy files
that match its OpenSim model and OpenSim's own ID output; the knee_angle columns are the only
ones that differ (``kinematics_io.convert_convention``). In memory ``Results`` is always canonical
(knee flexion positive). ``read_results(out_dir)`` reads it all back into canonical ``Results``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..motion.grf import GroundReactions, read_grf
from ..motion.motion import Motion
from ..motion.storage import read_table, write_table

TORQUE_SUFFIX = "_moment"
RESIDUAL_LABELS = ("residual_force_x", "residual_force_y", "residual_force_z",
                   "residual_moment_x", "residual_moment_y", "residual_moment_z")
CONVENTION_NOTES = {
    "canonical": "canonical: knee flexion positive (kintwin, Rajagopal 2016)",
    "legacy": "legacy: knee flexion negative (gait2354/gait2392/Hamner 2010); "
              "knee_angle values and moments have the opposite sign of kintwin's canonical ones"}
FILES = {"kinematics": "kinematics.mot", "torques": "torques.sto", "grf": "grf.mot",
         "loads": "grf_loads.xml", "residuals": "residuals.sto", "metrics": "metrics.json",
         "activations": "activations.sto", "muscle_forces": "muscle_forces.sto",
         "reserves": "reserves.sto"}


@dataclass
class MuscleActivity:
    """Muscles of a muscle-driven estimate, per frame: ``activation`` (T, m) 0-1, ``force_n``
    (T, m) tension along the tendon (N, positive = pulling), ``reserve_nm`` (T, r) the reserve
    motor torques (``reserve_<coordinate>``, N*m, canonical signs in memory)."""

    names: list[str]
    activation: np.ndarray
    force_n: np.ndarray
    reserve_names: list[str]
    reserve_nm: np.ndarray

    def write(self, out: Path, time_s: np.ndarray, method: str, convention: str) -> None:
        """The three tables; reserves in ``convention`` (as torques.sto)."""
        from ..models.coordinates import RESERVE_PREFIX
        from ..motion.kinematics_io import convert_convention

        write_table(out / FILES["activations"], self.names, time_s, self.activation,
                    name=f"{method} activations")
        write_table(out / FILES["muscle_forces"], self.names, time_s, self.force_n,
                    name=f"{method} muscle forces (N)")
        coords = [n[len(RESERVE_PREFIX):] for n in self.reserve_names]
        p = write_table(out / FILES["reserves"], self.reserve_names, time_s,
                        convert_convention(coords, self.reserve_nm, convention),
                        name=f"{method} reserves (N*m)")
        _add_header(p, {"units": "N*m", "convention": convention})


@dataclass
class Results:
    """What a dynamics estimator produces, in kintwin's conventions.

    ``torque_nm`` (T, n): generalized force of each coordinate in ``coordinate_names`` (N*m,
    canonical signs). ``grf``: per-foot ground reactions, OpenSim ground. ``residual_force_n`` /
    ``residual_moment_nm`` (T, 3): pelvis residual about the pelvis origin, OpenSim ground axes.
    """

    time_s: np.ndarray
    kinematics: Motion
    coordinate_names: list[str]
    torque_nm: np.ndarray
    grf: GroundReactions
    residual_force_n: np.ndarray
    residual_moment_nm: np.ndarray
    mass_kg: float
    height_m: float | None = None
    method: str = ""
    info: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    muscles: MuscleActivity | None = None

    def __post_init__(self):
        self.time_s = np.asarray(self.time_s, float)
        self.torque_nm = np.asarray(self.torque_nm, float)
        T = len(self.time_s)
        if self.torque_nm.shape != (T, len(self.coordinate_names)):
            raise ValueError(f"torque_nm shape {self.torque_nm.shape} does not match {T} frames x "
                             f"{len(self.coordinate_names)} coordinates")
        for name in ("residual_force_n", "residual_moment_nm"):
            v = np.asarray(getattr(self, name), float)
            if v.shape != (T, 3):
                raise ValueError(f"{name} must be ({T}, 3), not {v.shape}")
            setattr(self, name, v)

    @property
    def weight_n(self) -> float:
        from ..models.build import GRAVITY

        return self.mass_kg * GRAVITY

    def torque(self, name: str) -> np.ndarray:
        """(T,) moment of one coordinate (N*m, canonical sign)."""
        try:
            return self.torque_nm[:, self.coordinate_names.index(name)]
        except ValueError:
            raise KeyError(f"no torque for coordinate {name!r}") from None

    @property
    def torques(self) -> dict[str, np.ndarray]:
        return {n: self.torque_nm[:, j] for j, n in enumerate(self.coordinate_names)}


def _add_header(path: Path, entries: dict[str, str]) -> None:
    """Insert ``key=value`` lines after ``version=1`` (OpenSim and ``read_table`` accept them)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    i = lines.index("version=1") + 1
    lines[i:i] = [f"{k}={v}" for k, v in entries.items()]
    path.write_text("\n".join(lines), encoding="utf-8")


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, Path):
        return str(x)
    return x


README = """kintwin dynamics results ({method})

Sign convention of kinematics.mot, torques.sto (and a twin's reference_kinematics.mot): {note}.

kinematics.mot  coordinates used (after filtering), degrees / metres.
torques.sto     joint moments <coordinate>_moment in N*m: generalized force along each
                coordinate (a positive knee_angle moment acts to increase knee_angle).
grf.mot         ground reactions in OpenSim ground (X forward, Y up, Z right): force N,
                centre of pressure m, free torque N*m; ground_* = right foot, 1_ground_* = left.
grf_loads.xml   OpenSim ExternalLoads applying grf.mot to calcn_r / calcn_l.
residuals.sto   pelvis residual wrench about the pelvis origin, OpenSim ground axes (N, N*m):
                what the ground reactions cannot explain.
metrics.json    figures (defined in kintwin's README.md, "Metrics"), method and settings.
{muscles}"""
MUSCLE_README = """activations.sto    muscle activations (0-1), one column per muscle.
muscle_forces.sto  muscle tension along the tendon (N, rigid tendon).
reserves.sto       reserve torque per muscle-driven coordinate (N*m, signs as torques.sto): what
                   the muscles did not produce (included in torques.sto).
"""


def write_results(out_dir: str | Path, results: Results, metrics: dict | None = None,
                  convention: str | None = None) -> Path:
    """Write ``results`` (and ``metrics``, default ``results.metrics``) into ``out_dir``;
    ``kinematics.mot`` and ``torques.sto`` in ``convention`` (default: the trial's,
    ``results.kinematics.source_convention``)."""
    from ..motion.kinematics_io import convert_convention, write_motion

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = results.metrics if metrics is None else metrics
    convention = convention or results.kinematics.source_convention
    t = results.time_s

    write_motion(out / FILES["kinematics"], results.kinematics, convention=convention)

    p = write_table(out / FILES["torques"], [n + TORQUE_SUFFIX for n in results.coordinate_names],
                    t, convert_convention(results.coordinate_names, results.torque_nm, convention),
                    name="kintwin joint moments")
    _add_header(p, {"units": "N*m", "convention": convention,
                    "convention_note": CONVENTION_NOTES[convention],
                    "method": results.method})

    results.grf.write_mot(out / FILES["grf"])
    results.grf.write_external_loads_xml(out / FILES["loads"], out / FILES["grf"])

    p = write_table(out / FILES["residuals"], list(RESIDUAL_LABELS), t,
                    np.hstack([results.residual_force_n, results.residual_moment_nm]),
                    name="kintwin pelvis residuals")
    _add_header(p, {"units": "N and N*m", "frame": "opensim_ground", "point": "pelvis_origin"})

    doc = {"method": results.method,
           "subject": {"mass_kg": results.mass_kg, "height_m": results.height_m},
           "frames": int(len(t)), "time_range_s": [float(t[0]), float(t[-1])],
           "conventions": {"kinematics_and_torques": CONVENTION_NOTES[convention],
                           "grf": "OpenSim ground, Y up",
                           "residuals": "OpenSim ground axes, about the pelvis origin"},
           "info": {**results.info, "export_convention": convention}, "metrics": metrics}
    (out / FILES["metrics"]).write_text(json.dumps(_jsonable(doc), indent=2) + "\n")
    if results.muscles is not None:
        results.muscles.write(out, t, results.method, convention)
    (out / "README.txt").write_text(README.format(method=results.method or "unspecified",
                                                  note=CONVENTION_NOTES[convention],
                                                  muscles=MUSCLE_README if results.muscles else ""))
    return out


def read_results(out_dir: str | Path) -> Results:
    """Read a folder written by ``write_results``, in canonical signs (the files' convention is
    ``info["export_convention"]`` of metrics.json, canonical in folders older than it)."""
    from ..motion.kinematics_io import convert_convention, read_motion

    out = Path(out_dir)
    doc = json.loads((out / FILES["metrics"]).read_text())
    subj = doc.get("subject", {})
    conv = doc.get("info", {}).get("export_convention", "canonical")
    kin = read_motion(out / FILES["kinematics"], convention=conv,
                      height_m=subj.get("height_m"), mass_kg=subj.get("mass_kg"))
    tq = read_table(out / FILES["torques"])
    names = [lab[: -len(TORQUE_SUFFIX)] if lab.endswith(TORQUE_SUFFIX) else lab for lab in tq.labels]
    torque = convert_convention(names, tq.data, conv)
    grf = read_grf(out / FILES["grf"], loads_xml=out / FILES["loads"])
    res = read_table(out / FILES["residuals"])
    rw = np.column_stack([res.column(lab) for lab in RESIDUAL_LABELS])
    return Results(time_s=tq.time_s, kinematics=kin, coordinate_names=names, torque_nm=torque,
                   grf=grf, residual_force_n=rw[:, :3], residual_moment_nm=rw[:, 3:],
                   mass_kg=float(subj.get("mass_kg") or 0.0), height_m=subj.get("height_m"),
                   method=doc.get("method", ""), info=doc.get("info", {}),
                   metrics=doc.get("metrics", {}))

