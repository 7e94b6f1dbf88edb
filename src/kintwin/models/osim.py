"""Bring your own OpenSim model: read a (scaled) ``.osim`` file into a ``Skeleton``.

``load_osim(path)`` reads OpenSim 3.3 files (``Body`` elements with a nested ``Joint``:
``parent_body``, ``location_in_parent``, ``orientation_in_parent``, ``location``, ``orientation``)
and OpenSim 4.x files (``BodySet`` + ``JointSet``, joints connecting ``PhysicalOffsetFrame``\\ s
through ``socket_parent_frame``/``socket_child_frame``) with ``xml.etree`` only; OpenSim itself is
not needed. ``import_osim(path)`` returns the same skeleton with a report of what was approximated.

What is taken exactly from the file
-----------------------------------
* Every body's mass, centre of mass and inertia (Ixx Iyy Izz Ixy Ixz Iyz about the COM, body frame).
* Joint geometry. OpenSim moves a child body B relative to its parent P as
  ``X_PB(q) = X_PF * X_FM(q) * inv(X_BM)``: ``X_PF`` the parent offset frame, ``X_BM`` the child
  offset frame (orientations are body-fixed X-Y-Z Euler angles in rad), and for a CustomJoint
  ``X_FM = [R1(s1) R2(s2) R3(s3), t1 a4 + t2 a5 + t3 a6]``: the three rotations are applied in order,
  body-fixed (each axis rotates with the previous rotations, the product is formed on the right as
  in Simbody's ``MobilizedBody::FunctionBased``), and the translations are along the axes of the
  parent offset frame F (not rotated). kintwin's ``Body`` stores ``X_PB`` at zero coordinates, the
  joint centre (the child offset translation) and the dof axes in the child body frame, and MuJoCo
  applies the dofs body-fixed in the same order, so the kinematics are identical:
  constant rotations met between coordinate rotations are moved in front of them by conjugating
  the earlier axes, translational coordinates (slide joints) come first.
* Joint types: CustomJoint, PinJoint (rotation about the joint frame's Z), UniversalJoint (X then
  the new Y), GimbalJoint (body-fixed X-Y-Z), SliderJoint (translation along X), WeldJoint (no dof).
  The ground joint (a 6-dof CustomJoint, or a FreeJoint with a warning) becomes kintwin's free root.
  Any other joint type, or a function type not listed below, raises ``ValueError`` naming the joint.
* Transform functions: ``LinearFunction`` (slope +-1, intercept 0 of the axis's own coordinate: a
  dof; anything else is evaluated), ``Constant``, ``MultiplierFunction``, ``SimmSpline`` (the
  Forsythe-Malcolm-Moler spline with linear extrapolation, as OpenSim evaluates it),
  ``NaturalCubicSpline``, ``PiecewiseLinearFunction``, ``PolynomialFunction``.

What is approximated (reported in ``OsimImport``)
-------------------------------------------------
* Coordinate-dependent joint translations and rotations other than the dof itself, e.g. the
  gait2392/Hamner/gait2354 knee whose tibia origin follows SimmSplines of the knee angle (and the
  Rajagopal knee's coupled rotations), are evaluated at ONE fixed knee angle, ``knee_flexion_deg``
  = 20 deg of flexion by default (the built-in model makes the same choice), and folded into the
  fixed joint placement. Other coordinates that drive such functions are evaluated at their default
  value. Rotations stay exact; the tibia origin (and every body below it, rigidly) is displaced.
  Measured against OpenSim 4.6's own kinematics (``bench/osim_fk_check.py``): subject01 walking
  (gait2354/gait2392, knee 0-70 deg) max 13.6 mm, RMS 5.9 mm; Hamner subject02 running (knee
  9-112 deg) max 24 mm, RMS 10.9 mm; every body proximal to the knees (pelvis, femurs, torso, arms)
  agrees to < 1e-9 mm. For fast running, ``knee_flexion_deg=40`` lowers the RMS to about 9 mm.
* Locked coordinates get no dof: the joint is fixed at the coordinate's default value (reported in
  ``OsimImport.locked``). A motion that still has such a column must drop it before ``to_qpos``.
* Coordinates coupled by a ``CoordinateCouplerConstraint`` (Rajagopal's ``knee_angle_r_beta``)
  get no dof; they are fixed at the coupler function of the fixed values of their independent
  coordinates (20 deg for a knee). Other constraints are ignored with a warning.
* Canonical sign convention: a knee coordinate (``knee_angle_r/l``) whose range is mostly negative
  (legacy gait2392/gait2354/Hamner) has its axis, range and default negated so that knee flexion is
  positive, as everywhere in kintwin (readers of legacy ``.mot`` files negate the knee column).
* Foot contact spheres and sites are not in ``.osim`` files: kintwin's standard spheres
  (``feet.py``, shared with the built-in model: heel and two metatarsal heads on ``calcn_*``, one
  under the toes on ``toes_*``) and the sites ``heel_*``, ``toe_*`` are placed in the gait2392
  calcn/toes frames scaled by the length of the model's calcn->toes joint offset relative to the
  generic one (0.1788 m), as the built-in model scales them with the foot; ``hand_*`` (hands scaled
  by the radius->hand offset), ``head`` (on the torso when the model has no head body, scaled by the
  torso's geometry scale factor) and ``pelvis_origin`` as in the built-in model.
* Motors: peak torques from the built-in table (``anthropometry.PEAK_TORQUE_NM``) scaled by the
  model's mass; coordinates missing from the table get 100 N*m (hinge) or 1000 N (slide) at 75 kg.
* ``Skeleton.height_m`` (it only sets the residual moment gear) is the ``height_m`` argument when
  given, else estimated from the geometry: the height of the pelvis origin above the sole at the
  default pose (all coordinates zero, foot spheres on the floor) plus the built-in generic model's
  pelvis-to-vertex distance scaled by the torso's geometry scale factor (the leg ratio without
  one). Hamner's generic model -> 1.80 m (its nominal height); the scaled subject01 models
  (stated 1.803 m, femurs scaled x1.15) -> 1.93 m; Hamner subject02 (stated 1.83 m) -> 1.96 m.
* Ground joints: a constant translation in the pelvis joint (the planar gait10dof18musc model puts
  the pelvis at Z = 0.02 m) cannot be held by a free root; it is reported in ``notes`` and the
  motion's ``pelvis_t*`` columns (0 when absent) place the pelvis. Bodies welded to ground are
  dropped. An inertia violating the triangle inequality (which MuJoCo rejects; e.g. the toes of
  gait2392's ``SO_model_..._StaticOp.osim``) gets its two smaller principal moments raised just
  enough, with a warning.
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from . import feet
from .anthropometry import GENERIC_HEIGHT_M, default_skeleton, peak_torque_nm
from .skeleton import Body, Capsule, ContactSphere, Dof, Skeleton

KNEE_COORDINATES = ("knee_angle_r", "knee_angle_l")
DEFAULT_KNEE_FLEXION_DEG = 20.0

# gait2392 generic geometry used to place contacts/sites (same numbers as anthropometry.py).
_GENERIC_CALCN_TO_TOES = np.array([0.1788, -0.002, 0.00108])
_GENERIC_RADIUS_TO_HAND = np.array([-0.008797, -0.235841, 0.01361])

_SUPPORTED_JOINTS = ("CustomJoint", "PinJoint", "WeldJoint", "UniversalJoint", "GimbalJoint",
                     "SliderJoint", "FreeJoint")
_SUPPORTED_FUNCTIONS = ("Constant", "LinearFunction", "MultiplierFunction", "SimmSpline",
                        "NaturalCubicSpline", "PiecewiseLinearFunction", "PolynomialFunction")


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
@dataclass
class OsimImport:
    """A skeleton read from an ``.osim`` file and what the import did to it."""

    skeleton: Skeleton
    path: str
    version: int  # the OpenSimDocument Version (30000 = 3.x, 40000 = 4.x)
    locked: dict[str, float] = field(default_factory=dict)  # coordinate -> fixed value (file units)
    coupled: dict[str, float] = field(default_factory=dict)  # dependent coordinate -> fixed value
    folded: list[str] = field(default_factory=list)  # coordinate-dependent axes fixed at one value
    flipped: list[str] = field(default_factory=list)  # legacy knees negated to flexion-positive
    notes: list[str] = field(default_factory=list)
    #: coupled dof -> its quartic fit: master, kind, polycoef, fit range and errors (m or rad)
    couplings: dict[str, dict] = field(default_factory=dict)

    def summary(self) -> str:
        sk = self.skeleton
        nc = len(sk.coupled_dofs)
        lines = [f"{self.path}: OpenSim {self.version // 10000}.x, {len(sk.bodies)} bodies, "
                 f"{len(sk.coordinate_names)} joint coordinates"
                 + (f" (+{nc} coupled dofs)" if nc else "")
                 + f", {sk.mass_kg:.2f} kg, height ~{sk.height_m:.2f} m"]
        if self.locked:
            lines.append("locked (no dof): " + ", ".join(f"{k}={v:.4g}" for k, v in self.locked.items()))
        if self.coupled:
            lines.append("coupled (no dof): " + ", ".join(f"{k}={v:.4g}" for k, v in self.coupled.items()))
        if self.flipped:
            lines.append("negated to flexion-positive: " + ", ".join(self.flipped))
        lines += [f"approximation: {f}" for f in self.folded]
        for name, c in self.couplings.items():
            u = "mm" if c["kind"] == "translation" else "mrad"
            lines.append(f"coupled dof {name} = quartic of {c['master']} ({c['function']}), fit over "
                         f"[{c['fit_range'][0]:.3f}, {c['fit_range'][1]:.3f}]: max error "
                         f"{1000 * c['max_error']:.3f} {u}, rms {1000 * c['rms_error']:.3f} {u}, "
                         f"max slope error {1000 * c['max_slope_error']:.2f} {u}/unit")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Small XML and geometry helpers
# ------------------------------------------------------------------------------------------------
def _floats(text: str | None, n: int | None = None, what: str = "") -> np.ndarray:
    vals = np.array([float(t) for t in (text or "").split()], float)
    if n is not None and len(vals) != n:
        raise ValueError(f"expected {n} numbers for {what}, got {text!r}")
    return vals


def _text(elem: ET.Element, tag: str, default: str | None = None) -> str | None:
    e = elem.find(tag)
    return default if e is None or e.text is None else e.text.strip()


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() == "true"


def _rot_xyz(angles: np.ndarray) -> np.ndarray:
    """OpenSim orientation: body-fixed X-Y-Z Euler angles (rad) -> rotation matrix."""
    return Rotation.from_euler("XYZ", angles).as_matrix()


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    return Rotation.from_rotvec(np.asarray(axis, float) * angle).as_matrix()


def _tf(R: np.ndarray | None = None, p: np.ndarray | None = None) -> np.ndarray:
    X = np.eye(4)
    if R is not None:
        X[:3, :3] = R
    if p is not None:
        X[:3, 3] = p
    return X


def _inv(X: np.ndarray) -> np.ndarray:
    R, p = X[:3, :3], X[:3, 3]
    return _tf(R.T, -R.T @ p)


def _quat_wxyz(R: np.ndarray) -> np.ndarray:
    q = Rotation.from_matrix(R).as_quat()  # x, y, z, w
    q = np.array([q[3], q[0], q[1], q[2]])
    return q if q[0] >= 0 else -q


def _unit(v: np.ndarray, where: str) -> np.ndarray:
    v = np.asarray(v, float)
    n = np.linalg.norm(v)
    if n < 1e-12:
        raise ValueError(f"{where}: zero-length axis")
    return v / n


# ------------------------------------------------------------------------------------------------
# OpenSim functions
# ------------------------------------------------------------------------------------------------
class _Function:
    """An OpenSim ``Function`` of one variable."""

    kind = "function"

    def __call__(self, x: float) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def identity_sign(self) -> int:
        """+1 if f(x) = x, -1 if f(x) = -x, else 0."""
        return 0

    @property
    def constant(self) -> bool:
        return False


class _Constant(_Function):
    kind = "Constant"

    def __init__(self, value: float):
        self.value = float(value)

    def __call__(self, x):
        return self.value

    @property
    def constant(self):
        return True


class _Linear(_Function):
    kind = "LinearFunction"

    def __init__(self, slope: float, intercept: float):
        self.slope, self.intercept = float(slope), float(intercept)

    def __call__(self, x):
        return self.slope * x + self.intercept

    @property
    def identity_sign(self):
        if self.intercept == 0.0 and abs(self.slope) == 1.0:
            return int(self.slope)
        return 0

    @property
    def constant(self):
        return self.slope == 0.0


class _Multiplier(_Function):
    kind = "MultiplierFunction"

    def __init__(self, inner: _Function, scale: float):
        self.inner, self.scale = inner, float(scale)

    def __call__(self, x):
        return self.scale * self.inner(x)

    @property
    def identity_sign(self):
        s = self.inner.identity_sign
        return int(s * self.scale) if s and abs(self.scale) == 1.0 else 0

    @property
    def constant(self):
        return self.inner.constant


class _Polynomial(_Function):
    kind = "PolynomialFunction"

    def __init__(self, coefficients: np.ndarray):  # highest power first (as OpenSim)
        self.c = np.asarray(coefficients, float)

    def __call__(self, x):
        return float(np.polyval(self.c, x))

    @property
    def identity_sign(self):
        c = np.trim_zeros(self.c, "f")
        if len(c) == 2 and c[1] == 0.0 and abs(c[0]) == 1.0:
            return int(c[0])
        return 0

    @property
    def constant(self):
        return len(np.trim_zeros(self.c, "f")) <= 1


class _PiecewiseLinear(_Function):
    kind = "PiecewiseLinearFunction"

    def __init__(self, x, y):
        self.x, self.y = np.asarray(x, float), np.asarray(y, float)

    def __call__(self, x):
        xs, ys = self.x, self.y
        if len(xs) == 1:
            return float(ys[0])
        if x < xs[0]:
            return float(ys[0] + (x - xs[0]) * (ys[1] - ys[0]) / (xs[1] - xs[0]))
        if x > xs[-1]:
            return float(ys[-1] + (x - xs[-1]) * (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]))
        return float(np.interp(x, xs, ys))


class _CubicSpline(_Function):
    """Interpolating cubic spline with linear extrapolation beyond the end knots.

    ``ends="fmm"``: OpenSim's ``SimmSpline`` (Forsythe, Malcolm & Moler 1977: the third derivative at
    each end equals that of the cubic through the four end points; 3 points: a parabola, 2: a line).
    ``ends="natural"``: zero second derivative at the ends (``NaturalCubicSpline``).
    """

    def __init__(self, x, y, ends: str, kind: str):
        self.kind = kind
        x, y = np.asarray(x, float), np.asarray(y, float)
        if len(x) != len(y) or len(x) < 2 or np.any(np.diff(x) <= 0):
            raise ValueError(f"{kind}: needs >= 2 points with increasing x, got x={x.tolist()}")
        n = len(x)
        h = np.diff(x)
        s = np.diff(y) / h
        M = np.zeros(n)  # second derivatives at the knots
        if n >= 3:
            A = np.zeros((n, n))
            r = np.zeros(n)
            for i in range(1, n - 1):
                A[i, i - 1], A[i, i], A[i, i + 1] = h[i - 1], 2 * (h[i - 1] + h[i]), h[i]
                r[i] = 6 * (s[i] - s[i - 1])
            if ends == "natural":
                A[0, 0] = A[-1, -1] = 1.0
            elif ends == "fmm":
                # (M1 - M0)/h0 = 6 f[x0..x3]; (M_{n-1} - M_{n-2})/h_{n-2} = 6 f[x_{n-4}..x_{n-1}]
                A[0, 0], A[0, 1] = -1.0 / h[0], 1.0 / h[0]
                A[-1, -2], A[-1, -1] = -1.0 / h[-1], 1.0 / h[-1]
                if n > 3:
                    r[0] = 6 * self._third_divided_difference(x[:4], y[:4])
                    r[-1] = 6 * self._third_divided_difference(x[-4:], y[-4:])
            else:  # pragma: no cover
                raise ValueError(ends)
            M = np.linalg.solve(A, r)
        self.x, self.y, self.h, self.s, self.M = x, y, h, s, M

    @staticmethod
    def _third_divided_difference(x, y):
        d1 = np.diff(y) / np.diff(x)
        d2 = np.diff(d1) / (x[2:] - x[:-2])
        return (d2[1] - d2[0]) / (x[3] - x[0])

    def _slope(self, end: int) -> float:
        h, s, M = self.h, self.s, self.M
        if end == 0:
            return float(s[0] - h[0] * (2 * M[0] + M[1]) / 6)
        return float(s[-1] + h[-1] * (M[-2] + 2 * M[-1]) / 6)

    def __call__(self, xq):
        x, y, h, M = self.x, self.y, self.h, self.M
        if xq <= x[0]:
            return float(y[0] + (xq - x[0]) * self._slope(0))
        if xq >= x[-1]:
            return float(y[-1] + (xq - x[-1]) * self._slope(-1))
        i = int(np.clip(np.searchsorted(x, xq) - 1, 0, len(x) - 2))
        a, b = x[i + 1] - xq, xq - x[i]
        return float((M[i] * a ** 3 + M[i + 1] * b ** 3) / (6 * h[i])
                     + (y[i] / h[i] - M[i] * h[i] / 6) * a + (y[i + 1] / h[i] - M[i + 1] * h[i] / 6) * b)


def _function_element(parent: ET.Element) -> ET.Element | None:
    """The function element of a TransformAxis / MultiplierFunction / coupler (3.3 or 4.x layout)."""
    for child in parent:
        if child.tag in ("coordinates", "axis", "scale", "name"):
            continue
        if child.tag == "function" or child.tag == "coupled_coordinates_function":
            inner = [c for c in child]
            return inner[0] if inner else None
        named = child.get("name") in ("function", "coupled_coordinates_function")
        if named or child.tag in _SUPPORTED_FUNCTIONS or child.tag.endswith(("Function", "Spline")):
            return child
    return None


def _parse_function(elem: ET.Element | None, where: str) -> _Function:
    if elem is None:
        raise ValueError(f"{where}: no transform function")
    tag = elem.tag
    if tag == "Constant":
        return _Constant(float(_text(elem, "value", "0")))
    if tag == "LinearFunction":
        c = _floats(_text(elem, "coefficients", "1 0"))
        if len(c) != 2:
            raise ValueError(f"{where}: LinearFunction needs 2 coefficients, got {c.tolist()}")
        return _Linear(c[0], c[1])
    if tag == "MultiplierFunction":
        inner = elem.find("function")
        inner_elem = inner[0] if inner is not None and len(inner) else None
        return _Multiplier(_parse_function(inner_elem, where), float(_text(elem, "scale", "1")))
    if tag in ("SimmSpline", "NaturalCubicSpline"):
        return _CubicSpline(_floats(_text(elem, "x")), _floats(_text(elem, "y")),
                            "fmm" if tag == "SimmSpline" else "natural", tag)
    if tag == "PiecewiseLinearFunction":
        return _PiecewiseLinear(_floats(_text(elem, "x")), _floats(_text(elem, "y")))
    if tag == "PolynomialFunction":
        return _Polynomial(_floats(_text(elem, "coefficients", "0")))
    raise ValueError(f"{where}: unsupported OpenSim function type {tag!r}; supported: "
                     f"{', '.join(_SUPPORTED_FUNCTIONS)}")


# ------------------------------------------------------------------------------------------------
# Intermediate description of the file
# ------------------------------------------------------------------------------------------------
@dataclass
class _Coordinate:
    name: str
    default: float
    range: tuple[float, float]
    locked: bool
    kind: str  # "rotational" / "translational" (from the joint axis that uses it)


@dataclass
class _Axis:
    kind: str  # "rotation" or "translation"
    axis: np.ndarray  # in the joint frame
    coordinates: list[str]
    function: _Function
    slot: int = 0  # CustomJoint: 1-3 for rotation1-3 / translation1-3


@dataclass
class _Joint:
    name: str
    type: str
    parent: str  # body name, or "ground"
    child: str
    X_parent_offset: np.ndarray  # 4x4: joint parent frame F in the parent body frame
    X_child_offset: np.ndarray  # 4x4: joint child frame M in the child body frame
    coordinates: list[_Coordinate]
    axes: list[_Axis]  # rotations (in order) then translations


@dataclass
class _BodyData:
    name: str
    mass: float
    com: np.ndarray
    inertia: np.ndarray


def _parse_coordinates(elems, joint: str) -> list[_Coordinate]:
    out = []
    for c in elems:
        rng = _floats(_text(c, "range", "-3.14159 3.14159"), 2, f"range of {c.get('name')} in {joint}")
        out.append(_Coordinate(name=c.get("name"), default=float(_text(c, "default_value", "0")),
                               range=(float(rng[0]), float(rng[1])), locked=_bool(_text(c, "locked")),
                               kind="rotational"))
    return out


def _joint_axes(jtype: str, jelem: ET.Element, coords: list[_Coordinate], name: str) -> list[_Axis]:
    """The joint's motion as ordered rotation axes then translation axes (joint-frame vectors)."""
    ident = lambda: _Linear(1.0, 0.0)  # noqa: E731
    names = [c.name for c in coords]

    def need(n):
        if len(names) != n:
            raise ValueError(f"joint {name!r} ({jtype}) should have {n} coordinate(s), has {names}")

    ex, ey, ez = np.eye(3)
    if jtype == "WeldJoint":
        need(0)
        return []
    if jtype == "PinJoint":
        need(1)
        return [_Axis("rotation", ez, [names[0]], ident())]
    if jtype == "SliderJoint":
        need(1)
        return [_Axis("translation", ex, [names[0]], ident())]
    if jtype == "UniversalJoint":
        need(2)
        return [_Axis("rotation", ex, [names[0]], ident()), _Axis("rotation", ey, [names[1]], ident())]
    if jtype == "GimbalJoint":
        need(3)
        return [_Axis("rotation", a, [n], ident()) for a, n in zip((ex, ey, ez), names)]
    if jtype == "FreeJoint":
        need(6)
        return ([_Axis("rotation", a, [n], ident()) for a, n in zip((ex, ey, ez), names[:3])]
                + [_Axis("translation", a, [n], ident()) for a, n in zip((ex, ey, ez), names[3:])])
    if jtype != "CustomJoint":
        raise ValueError(f"joint {name!r} has unsupported type {jtype!r}; supported: "
                         f"{', '.join(_SUPPORTED_JOINTS)}")
    st = jelem.find("SpatialTransform")
    if st is None:
        raise ValueError(f"CustomJoint {name!r} has no SpatialTransform")
    by_name = {ta.get("name"): ta for ta in st.iter("TransformAxis")}
    axes = []
    for key in ("rotation1", "rotation2", "rotation3", "translation1", "translation2", "translation3"):
        ta = by_name.get(key)
        if ta is None:
            continue
        where = f"joint {name!r} ({jtype}) {key}"
        cnames = (_text(ta, "coordinates", "") or "").split()
        if len(cnames) > 1:
            raise ValueError(f"{where}: functions of several coordinates {cnames} are not supported")
        fn = _parse_function(_function_element(ta), where)
        axes.append(_Axis("rotation" if key.startswith("rot") else "translation",
                          _floats(_text(ta, "axis"), 3, where), cnames, fn, int(key[-1])))
    return axes


class _OsimFile:
    """Bodies, joints and constraints of one .osim file, format-independent."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        try:
            tree = ET.parse(self.path)
        except ET.ParseError as e:
            raise ValueError(f"{self.path}: not a valid XML/.osim file ({e})") from None
        doc = tree.getroot()
        self.version = int(doc.get("Version", "0") or 0)
        model = doc.find("Model") if doc.tag == "OpenSimDocument" else doc
        if model is None or model.tag != "Model":
            raise ValueError(f"{self.path}: no <Model> element: not an OpenSim model file")
        self.name = model.get("name") or Path(self.path).stem
        self.model = model
        bodyset = model.find("BodySet/objects")
        if bodyset is None:
            raise ValueError(f"{self.path}: model has no BodySet")
        self.bodies: dict[str, _BodyData] = {}
        self.joints: list[_Joint] = []
        self._body_elems = {}
        jointset = model.find("JointSet/objects")
        self.format4 = jointset is not None and len(jointset) > 0
        for b in bodyset.findall("Body"):
            name = b.get("name")
            self._body_elems[name] = b
            if name == "ground":  # OpenSim 3.x lists ground as a body
                continue
            self.bodies[name] = self._parse_body(b)
            if not self.format4:
                jw = b.find("Joint")
                if jw is not None:
                    for j in jw:
                        self.joints.append(self._parse_joint_33(j, name))
        if self.format4:
            for j in jointset:
                self.joints.append(self._parse_joint_4(j))
        self.constraints = model.find("ConstraintSet/objects")

    def _parse_body(self, b: ET.Element) -> _BodyData:
        name = b.get("name")
        mass = float(_text(b, "mass", "0"))
        com = _floats(_text(b, "mass_center", "0 0 0"), 3, f"mass_center of {name}")
        if b.find("inertia") is not None:
            inertia = _floats(_text(b, "inertia"), 6, f"inertia of {name}")
        else:  # OpenSim 3.x
            inertia = np.array([float(_text(b, f"inertia_{k}", "0"))
                                for k in ("xx", "yy", "zz", "xy", "xz", "yz")])
        return _BodyData(name, mass, com, inertia)

    @staticmethod
    def balance_inertia(bd: _BodyData) -> str | None:
        """Make an inertia that violates the triangle inequality physical; describe the change."""
        I = bd.inertia
        M = np.array([[I[0], I[3], I[4]], [I[3], I[1], I[5]], [I[4], I[5], I[2]]])
        e, V = np.linalg.eigh(M)  # ascending
        deficit = e[2] - (e[0] + e[1])
        if deficit <= 1e-9 * max(e[2], 1e-12):
            return None
        e2 = e + np.array([deficit / 2, deficit / 2, 0.0])
        M2 = V @ np.diag(e2) @ V.T
        bd.inertia = np.array([M2[0, 0], M2[1, 1], M2[2, 2], M2[0, 1], M2[0, 2], M2[1, 2]])
        return (f"body {bd.name!r}: inertia {I.tolist()} violates the triangle inequality "
                f"(principal {e.tolist()}); the two smaller principal moments were raised by "
                f"{deficit / 2:.3g} kg*m^2 each")

    # --- OpenSim 3.x: the joint is inside the child body --------------------------------------
    def _parse_joint_33(self, j: ET.Element, child: str) -> _Joint:
        name, jtype = j.get("name") or f"{child}_joint", j.tag
        if _bool(_text(j, "reverse")):
            raise ValueError(f"joint {name!r} ({jtype}) is reversed (<reverse>true</reverse>): not supported")
        parent = _text(j, "parent_body")
        if not parent:
            raise ValueError(f"joint {name!r} ({jtype}) has no parent_body")
        Xp = _tf(_rot_xyz(_floats(_text(j, "orientation_in_parent", "0 0 0"), 3, name)),
                 _floats(_text(j, "location_in_parent", "0 0 0"), 3, name))
        Xc = _tf(_rot_xyz(_floats(_text(j, "orientation", "0 0 0"), 3, name)),
                 _floats(_text(j, "location", "0 0 0"), 3, name))
        coords = _parse_coordinates(j.findall("CoordinateSet/objects/Coordinate"), name)
        axes = _joint_axes(jtype, j, coords, name)
        return _Joint(name, jtype, parent, child, Xp, Xc, coords, axes)

    # --- OpenSim 4.x: joints connect offset frames ---------------------------------------------
    def _resolve_frame(self, path: str, frames: dict[str, ET.Element], joint: str,
                       depth: int = 0) -> tuple[str, np.ndarray]:
        """(body name or 'ground', 4x4 frame in that body) of a socket path."""
        if depth > 10:
            raise ValueError(f"joint {joint!r}: offset frames nest too deeply at {path!r}")
        last = path.rstrip("/").split("/")[-1]
        if last in frames:
            f = frames[last]
            body, X = self._resolve_frame(_text(f, "socket_parent", ""), frames, joint, depth + 1)
            Xo = _tf(_rot_xyz(_floats(_text(f, "orientation", "0 0 0"), 3, last)),
                     _floats(_text(f, "translation", "0 0 0"), 3, last))
            return body, X @ Xo
        if last == "ground" or last in self.bodies:
            return last, np.eye(4)
        # a PhysicalOffsetFrame owned by a body (<components>) or the model
        for owner_name, owner in list(self._body_elems.items()) + [("ground", self.model.find("Ground"))]:
            if owner is None:
                continue
            for f in owner.iter("PhysicalOffsetFrame"):
                if f.get("name") == last:
                    sp = _text(f, "socket_parent", "..")
                    base = owner_name if sp in ("..", "") else None
                    if base is not None:
                        Xo = _tf(_rot_xyz(_floats(_text(f, "orientation", "0 0 0"), 3, last)),
                                 _floats(_text(f, "translation", "0 0 0"), 3, last))
                        return base, Xo
                    body, X = self._resolve_frame(sp, frames, joint, depth + 1)
                    Xo = _tf(_rot_xyz(_floats(_text(f, "orientation", "0 0 0"), 3, last)),
                             _floats(_text(f, "translation", "0 0 0"), 3, last))
                    return body, X @ Xo
        raise ValueError(f"joint {joint!r}: cannot resolve frame {path!r}")

    def _parse_joint_4(self, j: ET.Element) -> _Joint:
        name, jtype = j.get("name"), j.tag
        frames = {f.get("name"): f for f in j.findall("frames/PhysicalOffsetFrame")}
        pp, cp = _text(j, "socket_parent_frame"), _text(j, "socket_child_frame")
        if not pp or not cp:
            raise ValueError(f"joint {name!r} ({jtype}) lacks socket_parent_frame/socket_child_frame")
        parent, Xp = self._resolve_frame(pp, frames, name)
        child, Xc = self._resolve_frame(cp, frames, name)
        coords = _parse_coordinates(j.findall("coordinates/Coordinate"), name)
        axes = _joint_axes(jtype, j, coords, name)
        return _Joint(name, jtype, parent, child, Xp, Xc, coords, axes)

    # --- constraints ------------------------------------------------------------------------------
    def couplers(self) -> tuple[list[tuple[str, list[str], _Function]], list[str]]:
        """Enforced CoordinateCouplerConstraints (dependent, independents, function); other constraints."""
        out, others = [], []
        if self.constraints is None:
            return out, others
        for c in self.constraints:
            enforced = _text(c, "isEnforced")
            disabled = _text(c, "isDisabled")
            active = (_bool(enforced) if enforced is not None else True) and not _bool(disabled)
            if not active:
                continue
            if c.tag != "CoordinateCouplerConstraint":
                others.append(f"{c.tag} {c.get('name')!r}")
                continue
            where = f"CoordinateCouplerConstraint {c.get('name')!r}"
            dep = _text(c, "dependent_coordinate_name")
            ind = (_text(c, "independent_coordinate_names", "") or "").split()
            if not dep or len(ind) != 1:
                raise ValueError(f"{where}: needs one dependent and one independent coordinate")
            fe = None
            for child in c:
                if child.tag == "coupled_coordinates_function":
                    fe = child[0] if len(child) else None
                elif child.get("name") == "coupled_coordinates_function":
                    fe = child
            out.append((dep, ind, _parse_function(fe, where)))
        return out, others


# ------------------------------------------------------------------------------------------------
# Skeleton construction
# ------------------------------------------------------------------------------------------------
def _is_legacy_knee(c: _Coordinate) -> bool:
    lo, hi = c.range
    return c.name in KNEE_COORDINATES and (lo + hi) < 0


def _check_root(j: _Joint, notes: list[str]) -> None:
    """The ground joint must be kintwin's pelvis convention: Z-X-Y body-fixed, translations in ground."""
    if not np.allclose(j.X_parent_offset, np.eye(4), atol=1e-12) or \
            not np.allclose(j.X_child_offset, np.eye(4), atol=1e-12):
        raise ValueError(f"ground joint {j.name!r}: offset frames must be identity for a free root "
                         f"(parent offset {j.X_parent_offset[:3, 3]}, "
                         f"child offset {j.X_child_offset[:3, 3]})")
    if j.type == "FreeJoint":
        warnings.warn(f"ground joint {j.name!r} is a FreeJoint (X-Y-Z angles): kintwin's pelvis "
                      "coordinates are Z-X-Y (tilt, list, rotation); convert motions accordingly",
                      stacklevel=3)
        notes.append(f"ground FreeJoint {j.name!r}: X-Y-Z angles differ from kintwin's Z-X-Y pelvis")
        return
    if j.type != "CustomJoint":
        raise ValueError(f"ground joint {j.name!r} is a {j.type}; the root must be a 6-dof "
                         "CustomJoint (pelvis tilt Z, list X, rotation Y, translations X Y Z) or a FreeJoint")
    rots = [a for a in j.axes if a.kind == "rotation"]
    trans = [a for a in j.axes if a.kind == "translation"]
    want = (np.array([0, 0, 1.0]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    got = [tuple(np.round(a.axis, 6)) for a in rots]
    if len(rots) != 3 or not all(np.allclose(_unit(a.axis, j.name), w) for a, w in zip(rots, want)):
        raise ValueError(f"ground joint {j.name!r}: rotation axes {got} are not kintwin's pelvis "
                         "sequence Z (tilt), X (list), Y (rotation), body-fixed")
    if len(trans) != 3 or not all(np.allclose(_unit(a.axis, j.name), w)
                                  for a, w in zip(trans, np.eye(3))):
        raise ValueError(f"ground joint {j.name!r}: translation axes must be ground X, Y, Z")
    for a in j.axes:
        if a.function.identity_sign == 1 and a.coordinates:
            continue
        if a.function.constant:
            v = a.function(0.0)
            if v != 0.0:
                if a.kind == "rotation":
                    raise ValueError(f"ground joint {j.name!r}: constant pelvis rotation {v} about "
                                     f"{a.axis.tolist()} is not supported")
                notes.append(f"ground joint {j.name!r} has a constant translation {v:g} m along "
                             f"{a.axis.tolist()}; kintwin's free root takes the pelvis position "
                             "from the motion (a missing pelvis_t* column means 0)")
            continue
        raise ValueError(f"ground joint {j.name!r}: {a.kind} about {a.axis.tolist()} uses a "
                         f"{a.function.kind} of {a.coordinates}; only identity or constant allowed")


def _fit_coupling(fn: _Function, master: _Coordinate, n: int = 401) -> tuple[np.ndarray, dict]:
    """Least-squares quartic ``p(x)`` of ``fn`` over the master coordinate's range, in kintwin's
    canonical units of the master (a legacy knee's flexion is positive: ``fn(-x)``)."""
    legacy = _is_legacy_knee(master)
    lo, hi = master.range
    if legacy:
        lo, hi = -hi, -lo
    x = np.linspace(lo, hi, n)
    sign = -1.0 if legacy else 1.0
    y = np.array([fn(sign * v) for v in x])
    c = np.polynomial.polynomial.polyfit(x, y, 4)
    err = np.polynomial.polynomial.polyval(x, c) - y
    h = 1e-6 * max(1.0, hi - lo)
    dy = np.array([(fn(sign * (v + h)) - fn(sign * (v - h))) / (2 * h) for v in x])
    derr = np.polynomial.polynomial.polyval(x, np.polynomial.polynomial.polyder(c)) - dy
    return c, {"fit_range": (float(lo), float(hi)), "max_error": float(np.abs(err).max()),
               "rms_error": float(np.sqrt(np.mean(err ** 2))),
               "max_slope_error": float(np.abs(derr).max()),
               "rms_slope_error": float(np.sqrt(np.mean(derr ** 2)))}


def _coupled_name(coord: str, kind: str, slot: int, body: str, used: set[str]) -> str:
    suffix = f"t{'xyz'[slot - 1]}" if kind == "translation" else f"r{slot}"
    name = f"{coord}_{suffix}"
    if name in used:
        name = f"{coord}_{body}_{suffix}"
    k = 2
    while name in used:
        name, k = f"{coord}_{body}_{suffix}{k}", k + 1
    used.add(name)
    return name


def _body_from_joint(j: _Joint, bd: _BodyData, fixed: dict[str, float], dof_coords: set[str],
                     mass_kg: float, report: OsimImport, exact: bool = False,
                     all_coords: dict[str, _Coordinate] | None = None,
                     used_names: set[str] | None = None) -> Body:
    """kintwin Body for the child of a non-root joint.

    ``exact``: a non-constant, non-identity function of a dof coordinate becomes a COUPLED dof (a
    quartic of that coordinate, slide or hinge along the function's axis) instead of being frozen
    at the coordinate's ``fixed`` value. Its fitted constant term joins the fixed placement, so the
    coupled dof is 0 when its master is 0.
    """
    coords = {c.name: c for c in j.coordinates}
    all_coords = all_coords if all_coords is not None else coords
    used_names = used_names if used_names is not None else set(dof_coords)
    seen_dofs: set[str] = set()
    p0 = np.zeros(3)
    # (dof name, direction in F, coupling or None); coupling = (master, polycoef)
    slides: list[tuple[str, np.ndarray, tuple | None]] = []
    Cprod = np.eye(3)
    hinges: list[list] = []  # [dof name, axis (moved in front of later constants), coupling]
    for k, a in enumerate(j.axes):
        where = f"joint {j.name!r} ({j.type}) {a.kind} {k + 1}"
        ax = _unit(a.axis, where)
        coupling = None
        if not a.coordinates:
            val, sign = a.function(0.0), 0
            if not a.function.constant:
                raise ValueError(f"{where}: {a.function.kind} without a coordinate")
        else:
            c = a.coordinates[0]
            sign = a.function.identity_sign if c in dof_coords and c not in seen_dofs else 0
            if sign:
                seen_dofs.add(c)
                ax = ax * sign
                val = None
            elif exact and not a.function.constant and c in dof_coords:
                poly, fit = _fit_coupling(a.function, all_coords[c])
                name = _coupled_name(c, a.kind, a.slot or k + 1, bd.name, used_names)
                val = float(poly[0])  # the constant part joins the fixed placement
                coupling = (name, c, (0.0,) + tuple(float(v) for v in poly[1:]))
                report.couplings[name] = {
                    "master": c, "joint": j.name, "kind": a.kind, "axis": np.round(a.axis, 6).tolist(),
                    "function": a.function.kind, "polycoef": [float(v) for v in poly], **fit}
            else:
                if c not in fixed:
                    raise ValueError(f"{where}: coordinate {c!r} is not defined by the model")
                val = a.function(fixed[c])
                if not a.function.constant and c in dof_coords:
                    report.folded.append(
                        f"joint {j.name!r} {a.kind} along {np.round(a.axis, 4).tolist()} = "
                        f"{a.function.kind}({c}) frozen at {c}={fixed[c]:+.4f}: "
                        f"{val:+.5f} {'rad' if a.kind == 'rotation' else 'm'}")
        if a.kind == "translation":
            if val is None:
                slides.append((a.coordinates[0], ax, None))
            else:
                p0 = p0 + ax * val
                if coupling is not None:
                    slides.append((coupling[0], ax, coupling[1:]))
        else:
            if val is None:
                hinges.append([a.coordinates[0], ax, None])
            elif val != 0.0:
                C = _axis_angle(ax, val)
                for h in hinges:  # D(a) C = C D(C^T a)
                    h[1] = C.T @ h[1]
                Cprod = Cprod @ C
            if coupling is not None:  # D(ax, p(x)) = D(ax, c0) D(ax, p(x) - c0)
                hinges.append([coupling[0], ax, coupling[1:]])
    missing = [c for c in coords if c in dof_coords and c not in seen_dofs]
    if missing:
        raise ValueError(f"joint {j.name!r} ({j.type}): coordinate(s) {missing} do not map to a joint axis")

    X_MB = _inv(j.X_child_offset)
    X0 = j.X_parent_offset @ _tf(Cprod, p0) @ X_MB  # body in parent at zero coordinates
    R_BM, t_BM = j.X_child_offset[:3, :3], j.X_child_offset[:3, 3]

    def coupled_dof(name, axis, kind, coupling):
        master, poly = coupling
        x = np.linspace(*report.couplings[name]["fit_range"], 201)
        v = np.polynomial.polynomial.polyval(x, poly)
        return Dof(name=name, axis=axis, range=(float(v.min()), float(v.max())), default=0.0,
                   kind=kind, peak_torque_nm=0.0, coupled_to=master, polycoef=poly)

    dofs = []
    for cname, d, coupling in slides:
        axis = _unit(R_BM @ Cprod.T @ d, cname)
        if coupling is not None:
            dofs.append(coupled_dof(cname, axis, "slide", coupling))
            continue
        c = coords[cname]
        dofs.append(Dof(name=cname, axis=axis, range=c.range,
                        default=c.default, kind="slide",
                        peak_torque_nm=peak_torque_nm(cname, mass_kg, default=1000.0)))
    for cname, a, coupling in hinges:
        if coupling is not None:
            dofs.append(coupled_dof(cname, _unit(R_BM @ a, cname), "hinge", coupling))
            continue
        c = coords[cname]
        axis, rng, default = _unit(R_BM @ a, cname), c.range, c.default
        if _is_legacy_knee(c):
            axis, rng, default = -axis, (-c.range[1], -c.range[0]), -c.default
            report.flipped.append(cname)
        dofs.append(Dof(name=cname, axis=axis, range=(float(rng[0]), float(rng[1])), default=default,
                        kind="hinge", peak_torque_nm=peak_torque_nm(cname, mass_kg, default=100.0)))
    return Body(name=bd.name, parent=j.parent, pos_in_parent=X0[:3, 3].copy(),
                quat_in_parent=_quat_wxyz(X0[:3, :3]), joint_pos=t_BM.copy(), dofs=dofs,
                mass_kg=bd.mass, com=bd.com.copy(), inertia=bd.inertia.copy())


def _zero_pose(skel: Skeleton) -> dict[str, np.ndarray]:
    """4x4 pose of every body in the root frame with all dofs at zero."""
    X = {}
    for b in skel.bodies:
        Xb = _tf(Rotation.from_quat(np.roll(b.quat_in_parent, -1)).as_matrix(), b.pos_in_parent)
        X[b.name] = Xb if b.parent is None else X[b.parent] @ Xb
    return X


def _sole_below_root(skel: Skeleton) -> float | None:
    """Height of the root origin above the lowest contact sphere bottom at the zero pose (m)."""
    X = _zero_pose(skel)
    lows = [(X[b.name][:3, :3] @ c.pos + X[b.name][:3, 3])[1] - c.radius
            for b in skel.bodies for c in b.contacts]
    return -min(lows) if lows else None


_GENERIC_CACHE: dict = {}


def _generic_pelvis_to_vertex() -> tuple[float, float]:
    """(sole->pelvis origin, pelvis origin->vertex) of the built-in model at 1.80 m."""
    if "legs" not in _GENERIC_CACHE:
        legs = _sole_below_root(_builtin_generic())
        _GENERIC_CACHE["legs"], _GENERIC_CACHE["trunk"] = legs, GENERIC_HEIGHT_M - legs
    return _GENERIC_CACHE["legs"], _GENERIC_CACHE["trunk"]


def _builtin_generic() -> Skeleton:
    if "skeleton" not in _GENERIC_CACHE:
        _GENERIC_CACHE["skeleton"] = default_skeleton(GENERIC_HEIGHT_M, 75.0)
    return _GENERIC_CACHE["skeleton"]


def _add_contacts_and_sites(skel: Skeleton, scales: dict[str, float], report: OsimImport) -> None:
    """kintwin's standard foot spheres and sites (``feet.py``; hands and head as the built-in model)."""
    by = {b.name: b for b in skel.bodies}
    ref = _builtin_generic()
    for side in ("r", "l"):
        calcn, toes = by.get(f"calcn_{side}"), by.get(f"toes_{side}")
        if calcn is None:
            report.notes.append(f"no body calcn_{side}: no foot contact spheres on that side")
            continue
        has_toes = toes is not None and toes.parent == calcn.name
        if has_toes:
            toes_pos = toes.pos_in_parent
        else:
            toes_pos = feet.mirrored(_GENERIC_CALCN_TO_TOES, side) * scales.get(calcn.name, 1.0)
        s = float(np.linalg.norm(toes_pos) / np.linalg.norm(_GENERIC_CALCN_TO_TOES))
        calcn.contacts += [ContactSphere(f"{n}_{side}", feet.mirrored(p, side) * s, r * s)
                           for n, p, r in feet.CALCN_SPHERES]
        calcn.sites[f"heel_{side}"] = feet.mirrored(feet.HEEL_SITE, side) * s
        calcn.capsules.append(Capsule(np.array([0.02, 0.01, 0]) * s, np.array([0.17, 0.0, 0.0]) * s,
                                      0.035 * s))
        # toes welded into calcn (or absent): the toe sphere goes where it would be on the toes
        host, base = (toes, np.zeros(3)) if has_toes else (calcn, toes_pos)
        host.contacts += [ContactSphere(f"{n}_{side}", base + feet.mirrored(p, side) * s, r * s)
                          for n, p, r in feet.TOES_SPHERES]
        host.sites[f"toe_{side}"] = base + feet.mirrored(feet.TOE_SITE, side) * s
        host.capsules.append(Capsule(base, base + np.array([0.055, -0.005, 0.0]) * s, 0.02 * s))
        hand = by.get(f"hand_{side}")
        if hand is not None:
            sh = float(np.linalg.norm(hand.pos_in_parent) / np.linalg.norm(_GENERIC_RADIUS_TO_HAND)) \
                if hand.parent and hand.parent.startswith("radius") else scales.get(hand.name, 1.0)
            hand.sites[f"hand_{side}"] = ref.body(f"hand_{side}").sites[f"hand_{side}"] * sh
            hand.capsules.append(Capsule(np.array([0, -0.02, 0]) * sh, np.array([0, -0.09, 0]) * sh,
                                         0.03 * sh))
    head, ref_head = by.get("head"), ref.body("head")
    if head is not None:
        head.sites["head"] = ref_head.sites["head"] * scales.get("head", scales.get("torso", 1.0))
    elif "torso" in by:  # gait2392/Hamner: the torso body includes the head
        st = scales.get("torso", 1.0)
        R = Rotation.from_quat(np.roll(ref_head.quat_in_parent, -1)).as_matrix()
        by["torso"].sites["head"] = (ref_head.pos_in_parent + R @ ref_head.sites["head"]) * st
        for c in ref_head.capsules:
            by["torso"].capsules.append(Capsule((ref_head.pos_in_parent + R @ c.start) * st,
                                                (ref_head.pos_in_parent + R @ c.end) * st, c.radius * st))
    else:
        report.notes.append("no head or torso body: no 'head' site")
    skel.bodies[0].sites.setdefault("pelvis_origin", np.zeros(3))
    # Visual capsules (group 1, no contact): from each body's joint centre to its children's.
    children: dict[str, list[Body]] = {}
    for b in skel.bodies:
        if b.parent:
            children.setdefault(b.parent, []).append(b)
    radius = {"femur": 0.06, "tibia": 0.045, "humerus": 0.04, "ulna": 0.03, "radius": 0.025,
              "pelvis": 0.07, "torso": 0.13}
    for b in skel.bodies:
        r = next((v for k, v in radius.items() if b.name.startswith(k)), None)
        if r is None:
            continue
        for k in children.get(b.name, []):
            R = Rotation.from_quat(np.roll(k.quat_in_parent, -1)).as_matrix()
            b.capsules.append(Capsule(b.joint_pos.copy(), k.pos_in_parent + R @ k.joint_pos, r))


def import_osim(path: str | Path, knee_flexion_deg: float = DEFAULT_KNEE_FLEXION_DEG,
                height_m: float | None = None, exact_knee: bool = True) -> OsimImport:
    """Read an OpenSim 3.3/4.x model into a ``Skeleton`` plus a report of the approximations.

    ``exact_knee`` (default True): joint translations/rotations that are functions of a coordinate
    (the knee's tibia translations) become coupled dofs, quartics of that coordinate enforced by
    MuJoCo joint equality constraints (see the module docstring); False freezes them at
    ``knee_flexion_deg`` (the knee flexion, positive, degrees; other coordinates at their default),
    a model with fewer dofs and no equality constraints. ``knee_flexion_deg`` also sets the knee
    value of ``CoordinateCouplerConstraint`` dependants in both modes. ``height_m``: the subject's
    height, if known (else estimated from the model; it only sets the residual gear).
    """
    f = _OsimFile(path)
    report = OsimImport(skeleton=None, path=str(path), version=f.version)  # type: ignore[arg-type]

    # Tree: one joint per child body, one body attached to ground.
    by_child: dict[str, _Joint] = {}
    for j in f.joints:
        if j.child == "ground":
            raise ValueError(f"joint {j.name!r}: ground as the child frame (reversed joint) is not supported")
        if j.child not in f.bodies:
            raise ValueError(f"joint {j.name!r}: child body {j.child!r} not in the BodySet")
        if j.parent != "ground" and j.parent not in f.bodies:
            raise ValueError(f"joint {j.name!r}: parent body {j.parent!r} not in the BodySet")
        if j.child in by_child:
            raise ValueError(f"body {j.child!r} has two joints ({by_child[j.child].name!r}, {j.name!r}): "
                             "closed kinematic loops are not supported")
        by_child[j.child] = j
    unattached = [b for b in f.bodies if b not in by_child]
    if unattached:
        raise ValueError(f"bodies without a joint: {unattached}")
    grounded = [j for j in f.joints if j.parent == "ground"]
    movable = [j for j in grounded if j.type != "WeldJoint"]
    if len(movable) != 1:
        raise ValueError(f"expected exactly one body moving relative to ground (the pelvis), found "
                         f"{[(j.name, j.type) for j in movable]}")
    root_joint = movable[0]
    kids: dict[str, list[str]] = {}
    for j in f.joints:
        kids.setdefault(j.parent, []).append(j.child)
    order: list[str] = []
    stack = [root_joint.child]
    while stack:
        b = stack.pop()
        order.append(b)
        stack.extend(reversed(kids.get(b, [])))
    dropped = [b for b in f.bodies if b not in order]
    if dropped:
        report.notes.append(f"bodies welded to ground (not part of the skeleton) dropped: {dropped}")
    _check_root(root_joint, report.notes)

    # Which coordinates become dofs, and the fixed value of every other coordinate.
    all_coords = {c.name: c for j in f.joints for c in j.coordinates}
    couplers, other_constraints = f.couplers()
    if other_constraints:
        warnings.warn(f"{path}: constraints ignored: {other_constraints}", stacklevel=2)
        report.notes.append(f"constraints ignored: {other_constraints}")
    dependent = {dep for dep, _, _ in couplers}
    fixed: dict[str, float] = {}
    for c in all_coords.values():
        if c.name in KNEE_COORDINATES:
            sign = -1.0 if _is_legacy_knee(c) else 1.0
            fixed[c.name] = sign * math.radians(knee_flexion_deg)
        else:
            fixed[c.name] = c.default
    for c in all_coords.values():
        if c.locked:
            fixed[c.name] = c.default
            report.locked[c.name] = c.default
    for dep, ind, fn in couplers:
        if ind[0] not in fixed:
            raise ValueError(f"coupler of {dep!r}: independent coordinate {ind[0]!r} not in the model")
        fixed[dep] = fn(fixed[ind[0]])
        report.coupled[dep] = fixed[dep]
    dof_coords = set()
    for j in f.joints:
        if j is root_joint or j.child not in order:
            continue
        for c in j.coordinates:
            if c.locked or c.name in dependent:
                continue
            if any(a.coordinates == [c.name] and a.function.identity_sign for a in j.axes):
                dof_coords.add(c.name)
            else:
                report.notes.append(f"coordinate {c.name!r} of joint {j.name!r} only drives non-identity "
                                    f"functions: fixed at {fixed[c.name]:.4g}")

    # Bodies.
    mass = sum(f.bodies[b].mass for b in order)
    for name in order:
        fix = _OsimFile.balance_inertia(f.bodies[name])
        if fix:
            warnings.warn(f"{path}: {fix}", stacklevel=2)
            report.notes.append(fix)
    bodies = []
    used = set(all_coords)
    for name in order:
        bd = f.bodies[name]
        if name == root_joint.child:
            bodies.append(Body(name=name, parent=None, pos_in_parent=np.zeros(3),
                               quat_in_parent=np.array([1.0, 0, 0, 0]), joint_pos=np.zeros(3), dofs=[],
                               mass_kg=bd.mass, com=bd.com.copy(), inertia=bd.inertia.copy()))
        else:
            bodies.append(_body_from_joint(by_child[name], bd, fixed, dof_coords, mass, report,
                                           exact=exact_knee, all_coords=all_coords, used_names=used))
    skel = Skeleton(name=f.name, bodies=bodies, height_m=GENERIC_HEIGHT_M,
                    source=f"OpenSim model {Path(path).name}")
    scales = osim_segment_scales(path)
    skel.segment_scales = scales or None
    _add_contacts_and_sites(skel, scales, report)
    legs = _sole_below_root(skel)
    gen_legs, gen_trunk = _generic_pelvis_to_vertex()
    if height_m is not None:
        skel.height_m = float(height_m)
    elif legs is not None:
        s_trunk = scales.get("torso", legs / gen_legs)
        skel.height_m = float(legs + gen_trunk * s_trunk)
        report.notes.append(f"height estimated from the model geometry: {skel.height_m:.3f} m "
                            f"(sole to pelvis origin {legs:.3f} m)")
    else:
        report.notes.append("no foot contacts: height set to the generic 1.80 m")
    report.skeleton = skel
    return report


def load_osim(path: str | Path, knee_flexion_deg: float = DEFAULT_KNEE_FLEXION_DEG,
              height_m: float | None = None, exact_knee: bool = True) -> Skeleton:
    """The ``Skeleton`` of an OpenSim 3.3/4.x ``.osim`` model (see ``import_osim`` for the report)."""
    return import_osim(path, knee_flexion_deg=knee_flexion_deg, height_m=height_m,
                       exact_knee=exact_knee).skeleton


def osim_segment_scales(path: str | Path, generic: str | Path | None = None) -> dict[str, float]:
    """Per-body scale factors from the bodies' geometry ``scale_factors`` (mean of X, Y, Z).

    OpenSim's Scale tool multiplies each body's mesh scale factors by the body's scale, so for
    models whose generic meshes are drawn at scale 1 (gait2392, gait2354, Hamner's legs/trunk) these
    are the segment scales relative to the generic model, the form ``default_skeleton`` accepts.
    Pass the ``generic`` model to divide out generic mesh scales that are not 1 (e.g. Hamner's hands
    at 0.85). Bodies without geometry are left out; the keys are the file's body names.
    """
    f = _OsimFile(path)
    out = {}
    for name, b in f._body_elems.items():
        if name == "ground":
            continue
        cand = [g.find("scale_factors") for g in b.findall("attached_geometry/*")]  # 4.x
        vo = b.find("VisibleObject")  # 3.x: the object's own scale, then its geometry's
        if vo is not None:
            own = vo.find("scale_factors")
            geoms = [g.find("scale_factors") for g in vo.iter("DisplayGeometry")]
            if own is not None and not np.allclose(_floats(own.text), 1.0):
                cand = [own] + cand
            cand += geoms + ([own] if own is not None else [])
        cand = [c for c in cand if c is not None and c.text and len(c.text.split()) == 3]
        if cand:
            out[name] = float(np.mean(_floats(cand[0].text)))
    if generic is not None:
        gen = osim_segment_scales(generic)
        out = {k: v / gen[k] for k, v in out.items() if k in gen and gen[k] > 0}
    return out
