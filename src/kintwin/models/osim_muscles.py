"""Read the muscles of an OpenSim ``.osim`` model, and evaluate their paths exactly as OpenSim does.

This module is the reader behind ``kintwin.models.muscles`` (which turns the muscles into MuJoCo
spatial tendons + muscle actuators on kintwin's own skeleton). It also serves as the reference
("oracle") for muscle-tendon lengths and moment arms of the ORIGINAL OpenSim model, evaluated with
the file's own joint kinematics (coordinate-dependent knee translations included), so the MuJoCo
approximation can be checked without OpenSim installed.

What is read (OpenSim 4.x files; every ``.osim`` in ``../shared/data`` is 4.x):

* Muscles: every force in ``ForceSet`` with a ``GeometryPath`` and ``max_isometric_force``
  (``Thelen2003Muscle``, ``Millard2012EquilibriumMuscle``, ``DeGrooteFregly2016Muscle``, ...):
  ``max_isometric_force`` (N), ``optimal_fiber_length`` and ``tendon_slack_length`` (m),
  ``pennation_angle_at_optimal`` (rad), ``max_contraction_velocity`` (optimal fibre lengths/s),
  activation/deactivation time constants and the Thelen curve shape parameters
  (``KshapeActive``, ``KshapePassive``, ``FmaxMuscleStrain``, ``Af``, ``Flen``; Thelen's defaults
  when absent). Muscles with ``appliesForce`` false are skipped.
* Path points: ``PathPoint`` (fixed in its body), ``ConditionalPathPoint`` (active only while one
  coordinate is inside ``range``) and ``MovingPathPoint`` (x/y/z location = functions of
  coordinates; gait2392 uses them for the quadriceps insertion to emulate the patella).
* Wrap objects: their names are recorded per muscle (``MuscleDef.wraps``) but wrapping is NOT
  evaluated (none of the gait2392/gait2354/Hamner files here uses any). See ``muscles.py`` for how
  the MuJoCo model treats them.
* Joint kinematics and OpenSim functions come from ``kintwin.models.osim`` (same parser as the
  skeleton importer: ``X_PB(q) = X_PF * X_FM(q) * inv(X_BM)``, body-fixed rotation sequence,
  SimmSpline evaluated as OpenSim does).

Conventions: coordinates in this module are in the FILE's convention (gait2392's knee flexion is
negative); ``OsimMuscleModel.legacy_knees`` names the knee coordinates to negate for kintwin's
canonical convention. Moment arm = ``-dL/dq`` (OpenSim's definition): positive when the muscle's
tension produces a positive generalized force on the coordinate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .osim import (_OsimFile, _floats, _function_element, _inv, _parse_function, _text, _tf,
                   _axis_angle)

#: Thelen 2003 defaults (OpenSim's ``Thelen2003Muscle``) used when a file does not give them.
THELEN_DEFAULTS = {"KshapeActive": 0.45, "KshapePassive": 5.0, "FmaxMuscleStrain": 0.6,
                   "Af": 0.25, "Flen": 1.4, "activation_time_constant": 0.015,
                   "deactivation_time_constant": 0.05, "max_contraction_velocity": 10.0}


@dataclass
class PathPointDef:
    """One point of a muscle path, in its body's frame (file units, m)."""

    name: str
    body: str
    kind: str  # "fixed", "conditional" or "moving"
    location: np.ndarray  # fixed location; for a moving point: its location at all coordinates 0
    coordinate: str | None = None  # conditional: the coordinate that switches it on
    range: tuple[float, float] | None = None  # conditional: active range (file units)
    moving: dict[int, tuple[str, object]] = field(default_factory=dict)  # axis -> (coord, function)

    def active(self, q: dict[str, float]) -> bool:
        if self.kind != "conditional":
            return True
        v = q.get(self.coordinate, 0.0)
        return self.range[0] <= v <= self.range[1]

    def location_at(self, q: dict[str, float]) -> np.ndarray:
        if self.kind != "moving":
            return self.location
        p = self.location.copy()
        for ax, (coord, fn) in self.moving.items():
            p[ax] = fn(q.get(coord, 0.0))
        return p

    @property
    def coordinates(self) -> list[str]:
        """Coordinates this point depends on (conditional or moving)."""
        if self.kind == "conditional":
            return [self.coordinate]
        return sorted({c for c, _ in self.moving.values()})


@dataclass
class MuscleDef:
    """A Hill-type muscle read from the file (parameters as stored, not yet scaled)."""

    name: str
    type: str
    max_isometric_force: float
    optimal_fiber_length: float
    tendon_slack_length: float
    pennation_angle: float
    max_contraction_velocity: float
    activation_time_constant: float
    deactivation_time_constant: float
    curve: dict[str, float]
    points: list[PathPointDef]
    wraps: list[str] = field(default_factory=list)

    @property
    def bodies(self) -> list[str]:
        return [p.body for p in self.points]


def _param(elem, tag: str, default: float | None = None) -> float:
    t = _text(elem, tag)
    if t is None:
        if default is None:
            raise ValueError(f"muscle {elem.get('name')!r} has no <{tag}>")
        return float(default)
    return float(t)


class OsimMuscleModel:
    """The muscles, joints and coordinates of one ``.osim`` file (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.file = _OsimFile(path)
        if not self.file.format4:
            raise ValueError(f"{path}: muscle import supports OpenSim 4.x files only "
                             f"(this is version {self.file.version}); open and save it in OpenSim 4")
        self.coordinates = {c.name: c for j in self.file.joints for c in j.coordinates}
        self.legacy_knees = {n for n, c in self.coordinates.items()
                             if n.startswith("knee_angle") and sum(c.range) < 0}
        self._by_child = {j.child: j for j in self.file.joints}
        self.root = next(j.child for j in self.file.joints if j.parent == "ground"
                         and j.type != "WeldJoint")
        self.skipped: dict[str, str] = {}
        self.muscles: list[MuscleDef] = []
        forces = self.file.model.find("ForceSet/objects")
        for e in (forces if forces is not None else []):
            if e.find("GeometryPath") is None or e.find("max_isometric_force") is None:
                continue
            applies = _text(e, "appliesForce")
            if applies is not None and applies.strip().lower() in ("false", "0"):
                self.skipped[e.get("name")] = "appliesForce is false"
                continue
            self.muscles.append(self._parse_muscle(e))
        if not self.muscles:
            raise ValueError(f"{path}: no muscles (ForceSet entries with a GeometryPath) found")

    # --- parsing ----------------------------------------------------------------------------------
    def _body_of(self, frame_path: str, where: str) -> tuple[str, np.ndarray]:
        body, X = self.file._resolve_frame(frame_path, {}, where)
        return body, X

    def _parse_point(self, p, muscle: str) -> PathPointDef:
        where = f"muscle {muscle!r} point {p.get('name')!r}"
        frame = _text(p, "socket_parent_frame") or _text(p, "body")
        if not frame:
            raise ValueError(f"{where}: no socket_parent_frame")
        body, X = self._body_of(frame, where)
        to_body = (lambda v: X[:3, :3] @ v + X[:3, 3])
        if p.tag == "MovingPathPoint":
            moving = {}
            loc = np.zeros(3)
            for ax, key in enumerate("xyz"):
                coord = _text(p, f"socket_{key}_coordinate")
                fe = p.find(f"{key}_location")
                if fe is None:
                    continue
                fn = _parse_function(_function_element(fe), where)
                cname = coord.rstrip("/").split("/")[-1] if coord else None
                if cname is None:
                    loc[ax] = fn(0.0)
                else:
                    moving[ax] = (cname, fn)
                    loc[ax] = fn(0.0)
            if not np.allclose(X, np.eye(4)):
                raise ValueError(f"{where}: moving path points on offset frames are not supported")
            return PathPointDef(p.get("name"), body, "moving", loc, moving=moving)
        loc = to_body(_floats(_text(p, "location"), 3, where))
        if p.tag == "ConditionalPathPoint":
            coord = (_text(p, "socket_coordinate") or _text(p, "coordinate") or "").rstrip("/").split("/")[-1]
            rng = _floats(_text(p, "range"), 2, where)
            return PathPointDef(p.get("name"), body, "conditional", loc, coordinate=coord,
                                range=(float(rng[0]), float(rng[1])))
        if p.tag != "PathPoint":
            raise ValueError(f"{where}: unsupported path point type {p.tag!r}")
        return PathPointDef(p.get("name"), body, "fixed", loc)

    def _parse_muscle(self, e) -> MuscleDef:
        name = e.get("name")
        pts = e.find("GeometryPath/PathPointSet/objects")
        points = [self._parse_point(p, name) for p in (pts if pts is not None else [])]
        if len(points) < 2:
            raise ValueError(f"muscle {name!r} has fewer than 2 path points")
        wraps = [_text(w, "wrap_object") for w in e.findall("GeometryPath/PathWrapSet/objects/PathWrap")]
        d = THELEN_DEFAULTS
        curve = {k: _param(e, k, d[k]) for k in ("KshapeActive", "KshapePassive", "FmaxMuscleStrain",
                                                 "Af", "Flen")}
        return MuscleDef(
            name=name, type=e.tag,
            max_isometric_force=_param(e, "max_isometric_force"),
            optimal_fiber_length=_param(e, "optimal_fiber_length"),
            tendon_slack_length=_param(e, "tendon_slack_length"),
            pennation_angle=_param(e, "pennation_angle_at_optimal", 0.0),
            max_contraction_velocity=_param(e, "max_contraction_velocity", d["max_contraction_velocity"]),
            activation_time_constant=_param(e, "activation_time_constant", d["activation_time_constant"]),
            deactivation_time_constant=_param(e, "deactivation_time_constant",
                                              d["deactivation_time_constant"]),
            curve=curve, points=points, wraps=[w for w in wraps if w])

    def muscle(self, name: str) -> MuscleDef:
        for m in self.muscles:
            if m.name == name:
                return m
        raise KeyError(f"{self.path}: no muscle {name!r}")

    # --- kinematics (exact OpenSim joint model) -----------------------------------------------------
    def _joint_transform(self, j, q: dict[str, float]) -> np.ndarray:
        """X_PB(q) of a joint: child body frame in the parent body frame."""
        R = np.eye(3)
        t = np.zeros(3)
        for ax in j.axes:
            x = q.get(ax.coordinates[0], 0.0) if ax.coordinates else 0.0
            v = ax.function(x)
            if ax.kind == "rotation":
                R = R @ _axis_angle(ax.axis / np.linalg.norm(ax.axis), v)
            else:
                t = t + ax.axis * v
        return j.X_parent_offset @ _tf(R, t) @ _inv(j.X_child_offset)

    def body_transform(self, body: str, q: dict[str, float], _cache=None) -> np.ndarray:
        """4x4 pose of ``body`` in the root (pelvis) frame at coordinates ``q`` (file convention)."""
        cache = {} if _cache is None else _cache
        if body in cache:
            return cache[body]
        if body == self.root:
            X = np.eye(4)
        else:
            j = self._by_child[body]
            X = self.body_transform(j.parent, q, cache) @ self._joint_transform(j, q)
        cache[body] = X
        return X

    def path_points(self, m: MuscleDef | str, q: dict[str, float],
                    active_at: dict[str, float] | None = None) -> np.ndarray:
        """(n, 3) active path points in the root frame (activity decided at ``active_at``, default q)."""
        m = self.muscle(m) if isinstance(m, str) else m
        cache: dict = {}
        out = []
        for p in m.points:
            if not p.active(q if active_at is None else active_at):
                continue
            X = self.body_transform(p.body, q, cache)
            out.append(X[:3, :3] @ p.location_at(q) + X[:3, 3])
        return np.array(out)

    def length(self, m: MuscleDef | str, q: dict[str, float],
               active_at: dict[str, float] | None = None) -> float:
        """Muscle-tendon length (m), straight segments between the active points (no wrapping)."""
        pts = self.path_points(m, q, active_at)
        return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())

    def moment_arm(self, m: MuscleDef | str, coordinate: str, q: dict[str, float],
                   h: float = 1e-4) -> float:
        """OpenSim moment arm ``-dL/dq`` (m) by central differences, file convention.

        The set of active conditional points is the one at ``q`` (as OpenSim's moment-arm solver
        sees it), so a point switching on or off inside the difference step does not spike it.
        """
        qp, qm = dict(q), dict(q)
        qp[coordinate] = q.get(coordinate, 0.0) + h
        qm[coordinate] = q.get(coordinate, 0.0) - h
        return -(self.length(m, qp, q) - self.length(m, qm, q)) / (2 * h)

    def chain(self, body: str) -> list[str]:
        """Bodies from ``body`` up to the root."""
        out = [body]
        while out[-1] != self.root:
            out.append(self._by_child[out[-1]].parent)
        return out

    def spanned_coordinates(self, m: MuscleDef | str) -> list[str]:
        """Coordinates of the joints the path crosses (between consecutive points' bodies)."""
        m = self.muscle(m) if isinstance(m, str) else m
        coords: list[str] = []
        for a, b in zip(m.bodies[:-1], m.bodies[1:]):
            ca, cb = self.chain(a), self.chain(b)
            common = next(x for x in ca if x in cb)
            for body in ca[:ca.index(common)] + cb[:cb.index(common)]:
                for c in self._by_child[body].coordinates:
                    if c.name not in coords:
                        coords.append(c.name)
        return coords

    def canonical_to_file(self, q: dict[str, float]) -> dict[str, float]:
        """Coordinates in kintwin's canonical convention -> the file's (legacy knees negated)."""
        return {k: (-v if k in self.legacy_knees else v) for k, v in q.items()}


def read_osim_muscles(path: str | Path) -> OsimMuscleModel:
    """Parse the muscles of an OpenSim 4.x model (see ``OsimMuscleModel``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OsimMuscleModel(path)
