"""Ground reaction forces per foot, in OpenSim ground (Y up, X forward, Z right).

Per side ``"r"``/``"l"``: ``force_n`` (T, 3) N, the force of the ground on the foot; ``cop_m``
(T, 3) m, the centre of pressure; ``torque_nm`` (T, 3) N*m, the free moment about the COP (vertical
for force plates). This is what OpenSim's ``ExternalForce`` applies with ``force_identifier``,
``point_identifier`` and ``torque_identifier`` expressed in ground.

Reading ``.c3d`` files: the force plates (``motion/c3d.py``, rotated to OpenSim ground as ``kintwin
ik`` rotates the markers), each plate to one foot: ``foot_of`` by plate number (``{"1": "r"}``)
or, from the trial's kinematics, the foot nearest the plate's centre of pressure while it is
loaded (``assign_plates``). With the kinematics, the reactions are also cut to the stretch where
every foot standing on the floor stands on a plate (``plate_coverage``): a foot beside the plates
carries load no plate measures, and scoring it against zero would be wrong.

Reading ``.mot`` files: columns are grouped into plates by their label pattern (``ground_force_vx``,
``ground_force_px``, ``ground_torque_x``; ``1_ground_...``, ``r_ground_...``, ``ground_force_1_vx``,
``ground_force1_vx``, ``calcn_r_force_vx``, ``ground_moment_1_mx``, ...). Which plate pushes which
foot comes from an ExternalLoads ``.xml``, an explicit ``foot_of`` mapping, or labels that name the
side (``calcn_r``, ``ground_force_l``); never from a guess. Several plates on one foot are combined
into one wrench (same total force and moment, COP on the loaded plates' plane).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .filtering import true_runs
from .storage import read_table, write_table

SIDES = ("r", "l")
#: OpenSim's usual label prefix for each foot when writing (as in the OpenSim example data).
OPENSIM_PREFIX = {"r": "ground", "l": "1_ground"}
DEFAULT_BODIES = {"r": "calcn_r", "l": "calcn_l"}

_PATTERNS = {
    "force": re.compile(r"^(?P<a>.*?)force(?P<b>.*?)v(?P<ax>[xyz])$", re.IGNORECASE),
    "point": re.compile(r"^(?P<a>.*?)force(?P<b>.*?)p(?P<ax>[xyz])$", re.IGNORECASE),
    "torque": re.compile(r"^(?P<a>.*?)(?:torque|moment)(?P<b>.*?)m?(?P<ax>[xyz])$",
                         re.IGNORECASE),
}
_AXES = "xyz"


@dataclass
class GroundReactions:
    """Per-foot GRF in OpenSim ground: dicts keyed by side ``"r"``/``"l"`` of (T, 3) arrays."""

    time_s: np.ndarray
    force_n: dict[str, np.ndarray] = field(default_factory=dict)
    cop_m: dict[str, np.ndarray] = field(default_factory=dict)
    torque_nm: dict[str, np.ndarray] = field(default_factory=dict)
    #: set when the reactions were cut to where the plates measure every foot on the floor
    #: (``plate_coverage``): they then cover only part of the trial, on purpose
    cut_to_plates: bool = False

    @property
    def sides(self) -> tuple[str, ...]:
        return tuple(s for s in SIDES if s in self.force_n)

    def vertical_n(self, side: str) -> np.ndarray:
        """(T,) vertical (Y) ground reaction force on foot ``side`` in N."""
        if side not in self.force_n:
            raise KeyError(f"no ground reaction for side {side!r} (have {self.sides})")
        return self.force_n[side][:, 1]

    def resample(self, time_s: np.ndarray) -> "GroundReactions":
        """Linear interpolation at ``time_s`` (must lie inside the recorded time span)."""
        time_s = np.asarray(time_s, dtype=float)
        lo, hi = self.time_s[0], self.time_s[-1]
        tol = 1e-9 * max(1.0, abs(hi))
        if time_s.min() < lo - tol or time_s.max() > hi + tol:
            raise ValueError(f"resample times [{time_s.min()}, {time_s.max()}] s fall outside "
                             f"the data [{lo}, {hi}] s")

        def interp(x):
            return np.column_stack([np.interp(time_s, self.time_s, x[:, k]) for k in range(3)])

        return GroundReactions(time_s=time_s.copy(),
                               force_n={s: interp(v) for s, v in self.force_n.items()},
                               cop_m={s: interp(v) for s, v in self.cop_m.items()},
                               torque_nm={s: interp(v) for s, v in self.torque_nm.items()})

    def sliced(self, t0: float, t1: float) -> "GroundReactions":
        """The samples at ``t0 <= time <= t1``."""
        k = (self.time_s >= t0) & (self.time_s <= t1)
        return GroundReactions(time_s=self.time_s[k].copy(),
                               force_n={s: v[k] for s, v in self.force_n.items()},
                               cop_m={s: v[k] for s, v in self.cop_m.items()},
                               torque_nm={s: v[k] for s, v in self.torque_nm.items()})

    def _columns(self) -> tuple[list[str], np.ndarray]:
        labels, cols = [], []
        for s in self.sides:
            p = OPENSIM_PREFIX[s]
            labels += [f"{p}_force_v{a}" for a in _AXES] + [f"{p}_force_p{a}" for a in _AXES]
            cols += [self.force_n[s], self.cop_m[s]]
        for s in self.sides:
            labels += [f"{OPENSIM_PREFIX[s]}_torque_{a}" for a in _AXES]
            cols.append(self.torque_nm[s])
        return labels, np.hstack(cols)

    def write_mot(self, path: str | Path) -> Path:
        """Write an OpenSim GRF ``.mot``: ``ground_*`` = right foot, ``1_ground_*`` = left foot."""
        labels, data = self._columns()
        return write_table(path, labels, self.time_s, data, in_degrees=False)

    def write_external_loads_xml(self, path: str | Path, mot_path: str | Path,
                                 bodies: dict[str, str] | None = None) -> Path:
        """Write the OpenSim ExternalLoads ``.xml`` that applies ``write_mot``'s file.

        ``bodies`` maps side to the body the force is applied to (default ``calcn_r``/``calcn_l``).
        The data file is referenced relative to the xml's folder when possible.
        """
        path, bodies = Path(path), {**DEFAULT_BODIES, **(bodies or {})}
        try:
            datafile = os.path.relpath(Path(mot_path).resolve(), path.resolve().parent)
        except ValueError:  # different drives (Windows)
            datafile = str(Path(mot_path).resolve())
        doc = ET.Element("OpenSimDocument", Version="40000")
        loads = ET.SubElement(doc, "ExternalLoads", name="externalloads")
        objects = ET.SubElement(loads, "objects")
        for s in self.sides:
            p = OPENSIM_PREFIX[s]
            ef = ET.SubElement(objects, "ExternalForce", name={"r": "right", "l": "left"}[s])
            for tag, text in (("applied_to_body", bodies[s]),
                              ("force_expressed_in_body", "ground"),
                              ("point_expressed_in_body", "ground"),
                              ("force_identifier", f"{p}_force_v"),
                              ("point_identifier", f"{p}_force_p"),
                              ("torque_identifier", f"{p}_torque_"),
                              ("data_source_name", Path(mot_path).name)):
                ET.SubElement(ef, tag).text = text
        ET.SubElement(loads, "groups")
        ET.SubElement(loads, "datafile").text = datafile
        ET.indent(doc, space="\t")
        ET.ElementTree(doc).write(path, encoding="UTF-8", xml_declaration=True)
        return path


# --- combining wrenches ------------------------------------------------------------------------
def combine_wrenches(forces, cops, torques, min_vertical_n: float = 1e-6):
    """One equivalent (force, COP, free torque) for several ground wrenches on the same foot.

    Keeps the total force and the total moment about the origin; the COP lies on the plane
    y = h, h the loaded plates' surface height weighted by |Fy|, and the torque is vertical.
    Where the total |Fy| <= ``min_vertical_n`` the COP is the mean of the inputs' COPs.
    """
    if len(forces) == 1:
        return forces[0], cops[0], torques[0]
    F = np.sum(forces, axis=0)
    M = np.sum([np.cross(p, f) + t for f, p, t in zip(forces, cops, torques)], axis=0)
    w = np.abs([f[:, 1] for f in forces])
    heights = np.array([p[:, 1] for p in cops])
    wsum = w.sum(axis=0)
    safe = np.where(wsum > 0, wsum, 1.0)
    h = np.where(wsum > 0, (w * heights).sum(axis=0) / safe, heights.mean(axis=0))
    fallback = np.where(wsum[:, None] > 0, np.einsum("kt,ktj->tj", w, np.array(cops)) /
                        safe[:, None], np.mean(cops, axis=0))
    fy = F[:, 1]
    ok = np.abs(fy) > min_vertical_n
    fy_safe = np.where(ok, fy, 1.0)
    cop = fallback.copy()
    cop[ok, 0] = ((M[:, 2] + h * F[:, 0]) / fy_safe)[ok]
    cop[ok, 1] = h[ok]
    cop[ok, 2] = ((h * F[:, 2] - M[:, 0]) / fy_safe)[ok]
    torque = np.sum(torques, axis=0)
    ty = M[:, 1] - (cop[:, 2] * F[:, 0] - cop[:, 0] * F[:, 2])
    torque[ok] = 0.0
    torque[ok, 1] = ty[ok]
    return F, cop, torque


# --- reading -----------------------------------------------------------------------------------
def _group_key(match: re.Match) -> str:
    return re.sub(r"_+", "_", f"{match['a']}_{match['b']}").strip("_")


def group_columns(labels: list[str]) -> dict[str, dict[str, list[str]]]:
    """Plate groups found in ``labels``: ``{key: {"force"|"point"|"torque": [lx, ly, lz]}}``.

    The key is the label with the force/torque word and axis removed (``ground_force_vx`` ->
    ``ground``, ``1_ground_torque_z`` -> ``1_ground``, ``calcn_r_force_vx`` -> ``calcn_r``).
    Labels that match no pattern (e.g. coordinate columns) are ignored.
    """
    found: dict[str, dict[str, dict[str, str]]] = {}
    for lab in labels:
        for kind, pat in _PATTERNS.items():
            m = pat.match(lab)
            if m:
                found.setdefault(_group_key(m), {}).setdefault(kind, {})[m["ax"].lower()] = lab
                break
    groups = {}
    for key, kinds in found.items():
        if "force" not in kinds:
            continue
        groups[key] = {kind: [axes.get(a) for a in _AXES] for kind, axes in kinds.items()}
    return groups


def _side_of_key(key: str) -> str | None:
    tokens = {t.lower() for t in key.split("_")}
    r, l = bool(tokens & {"r", "right"}), bool(tokens & {"l", "left"})
    return "r" if r and not l else "l" if l and not r else None


def _side_of_body(body: str, source) -> str:
    b = body.strip().lower()
    if b.endswith(("_r", "right")):
        return "r"
    if b.endswith(("_l", "left")):
        return "l"
    raise ValueError(f"{source}: cannot tell the foot side of body {body!r} (expected *_r / *_l)")


def read_external_loads(xml_path: str | Path) -> list[dict[str, str]]:
    """Enabled ExternalForce entries of an OpenSim 3.3/4.x ExternalLoads file.

    Each entry has ``name``, ``side``, ``body``, ``force``, ``point``, ``torque`` (identifier
    prefixes; ``point``/``torque`` may be ``""``) and the ``*_expressed_in_body`` values.
    Malformed XML (with the line and column of the error) or a document without
    ``<ExternalLoads>`` raises ``InputError``.
    """
    xml_path = Path(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:  # its message names the line and column
        raise InputError(f"{xml_path}: malformed XML ({e}): not a readable ExternalLoads "
                         "file") from None
    loads = root if root.tag == "ExternalLoads" else (
        root.find("ExternalLoads") if root.tag == "OpenSimDocument" else None)
    if loads is None:
        raise InputError(f"{xml_path}: not an OpenSim ExternalLoads file (root element "
                         f"<{root.tag}>; expected <OpenSimDocument> holding <ExternalLoads>)")
    entries = []
    for ef in loads.iter("ExternalForce"):
        def text(tag, default=""):
            value = ef.findtext(tag)
            return default if value is None else value.strip()

        if text("isDisabled", "false").lower() == "true":
            continue
        if text("appliesForce", "true").lower() == "false":
            continue
        body = text("applied_to_body")
        entries.append({"name": ef.get("name", ""), "body": body,
                        "side": _side_of_body(body, xml_path),
                        "force": text("force_identifier"), "point": text("point_identifier"),
                        "torque": text("torque_identifier"),
                        "force_expressed_in_body": text("force_expressed_in_body", "ground"),
                        "point_expressed_in_body": text("point_expressed_in_body", "ground")})
    if not entries:
        raise InputError(f"{xml_path}: no enabled ExternalForce elements")
    return entries


def _columns_for(prefix: str, labels: list[str], what: str, source) -> list[str]:
    cols = [prefix + a for a in _AXES]
    missing = [c for c in cols if c not in labels]
    if missing:
        raise ValueError(f"{source}: {what} identifier {prefix!r} needs columns {missing} "
                         "that are not in the file")
    return cols


def _groups_from_xml(xml_path, labels, source) -> list[tuple[str, dict[str, list[str]]]]:
    out = []
    for e in read_external_loads(xml_path):
        for key in ("force_expressed_in_body", "point_expressed_in_body"):
            if e[key].lower() != "ground":
                raise ValueError(f"{xml_path}: ExternalForce {e['name']!r} has {key}="
                                 f"{e[key]!r}; only 'ground' is supported")
        if not e["force"] or not e["point"]:
            raise ValueError(f"{xml_path}: ExternalForce {e['name']!r} needs force_identifier "
                             "and point_identifier")
        cols = {"force": _columns_for(e["force"], labels, "force", source),
                "point": _columns_for(e["point"], labels, "point", source)}
        if e["torque"]:
            cols["torque"] = _columns_for(e["torque"], labels, "torque", source)
        out.append((e["side"], cols))
    return out


def read_grf(path: str | Path, loads_xml: str | Path | None = None,
             foot_of: dict[str, str] | None = None, feet=None) -> GroundReactions:
    """Read a GRF ``.mot``/``.sto`` (OpenSim ground, N, m, N*m) or the force plates of a ``.c3d``
    into per-foot reactions.

    ``.c3d``: ``foot_of`` maps plate numbers (from 1) to sides; without it ``feet``, a function
    returning ``(time_s, {side: (T, 3) lowest point of the foot in OpenSim ground})`` of the
    trial, assigns each plate to the foot on it (``assign_plates``), and with it the reactions are
    cut to where the plates see every foot on the floor (``plate_coverage``).

    Foot assignment: from ``loads_xml`` (an ExternalLoads file: ``applied_to_body`` calcn_r/
    calcn_l and the identifiers) when given; else from ``foot_of``, mapping plate-group keys
    (see ``group_columns``) to sides, e.g. ``{"ground": "r", "1_ground": "l"}``; else from labels
    that name the side. Otherwise a ``ValueError`` asks for one of the two. The header's
    ``inDegrees`` is ignored (GRF files wrongly say yes).
    """
    if loads_xml is not None and foot_of is not None:
        raise ValueError("give either loads_xml or foot_of, not both")
    if Path(path).suffix.lower() == ".c3d":
        return _read_c3d_plates(path, foot_of, feet)
    table = read_table(path, allow_nonfinite=True)  # NaN centres of pressure: _unloaded_cop
    labels = table.labels
    if loads_xml is not None:
        assigned = _groups_from_xml(loads_xml, labels, path)
    else:
        groups = group_columns(labels)
        if not groups:
            raise ValueError(f"{path}: no ground reaction columns (e.g. ground_force_vx) found")
        if foot_of is None:
            sides = {k: _side_of_key(k) for k in groups}
            if None in sides.values() or len(set(sides.values())) != len(sides):
                raise ValueError(
                    f"{path}: cannot tell which foot each force plate pushes: plate groups "
                    f"{sorted(groups)}. Pass loads_xml=<ExternalLoads .xml> or foot_of, e.g. "
                    f"foot_of={{{', '.join(f'{k!r}: ...' for k in sorted(groups))}}} with 'r'/'l'")
            foot_of = sides
        unknown = [k for k in foot_of if k not in groups]
        bad = [v for v in foot_of.values() if v not in SIDES]
        if unknown or bad:
            raise ValueError(f"{path}: foot_of has unknown plate group(s) {unknown} or side(s) "
                             f"{bad}; groups in the file: {sorted(groups)}, sides 'r'/'l'")
        assigned = [(side, groups[key]) for key, side in foot_of.items()]
        for side, cols in assigned:
            for kind, axes in cols.items():
                if None in axes:
                    raise ValueError(f"{path}: incomplete {kind} columns {axes} (need x, y, z)")
            if "point" not in cols:
                raise ValueError(f"{path}: force columns {cols['force']} have no matching "
                                 "point (COP) columns")

    _unloaded_cop(table, [cols for _, cols in assigned], path)

    def block(cols):
        return np.column_stack([table.column(c) for c in cols])

    grf = GroundReactions(time_s=table.time_s)
    for side in SIDES:
        mine = [cols for s, cols in assigned if s == side]
        if not mine:
            continue
        zeros = np.zeros((len(table.time_s), 3))
        f, p, t = combine_wrenches([block(c["force"]) for c in mine],
                                   [block(c["point"]) for c in mine],
                                   [block(c["torque"]) if "torque" in c else zeros for c in mine])
        grf.force_n[side], grf.cop_m[side], grf.torque_nm[side] = f, p, t
    check_vertical(grf, path)
    return grf


def _unloaded_cop(table, groups, path, min_vertical_n: float = 20.0) -> None:
    """Many exporters write NaN for a plate's centre of pressure where nothing loads it: those
    cells become 0 (a point where no force acts does not matter), in ``table`` itself. Any other
    NaN/inf (a force or a torque, or a centre of pressure under load) is an ``InputError``."""
    data = table.data
    cop_ok = np.zeros(data.shape, bool)
    for cols in groups:
        force = np.column_stack([table.column(c) for c in cols["force"]])
        unloaded = ~(np.abs(np.nan_to_num(force[:, 1], nan=0.0)) > min_vertical_n)
        for c in cols["point"]:
            cop_ok[:, table.labels.index(c)] = unloaded
    bad = ~np.isfinite(data)
    if (bad & ~cop_ok).any():
        rows = np.flatnonzero((bad & ~cop_ok).any(axis=1))
        names = [table.labels[c] for c in np.flatnonzero((bad & ~cop_ok).any(axis=0))]
        raise InputError(f"{path}: NaN/inf values in {len(rows)} row(s) (data rows "
                         f"{(rows[:10] + 1).tolist()}{'...' if len(rows) > 10 else ''}) in column(s) "
                         f"{names} (only a centre of pressure may be NaN, where its plate is unloaded)")
    data[bad & cop_ok] = 0.0


#: a foot's ground reaction points up within its friction cone: the vertical (Y) is at least this
#: share of its magnitude (cos 60 deg) in most loaded samples
MIN_VERTICAL_SHARE = 0.5


def check_vertical(grf: GroundReactions, source) -> None:
    """An ``InputError`` when the loaded samples (> 50 N) of the ground reactions do not point up
    along Y: a file whose vertical is another axis (a Z-up lab's plates: kintwin id returned 139
    %BW of residual with exit 0 on one) or that holds the force on the plate instead of on the
    foot (pointing down)."""
    forces = [grf.force_n[s] for s in grf.sides]
    if not forces:
        return
    f = np.concatenate(forces)
    mag = np.linalg.norm(f, axis=1)
    loaded = mag > 50.0
    if loaded.sum() < 5:
        return
    share = np.median(f[loaded] / mag[loaded, None], axis=0)
    if share[1] >= MIN_VERTICAL_SHARE:
        return
    axis = int(np.argmax(np.abs(share)))
    if axis == 1:  # along Y, but down
        raise InputError(f"{source}: the ground reactions point down (median vertical share "
                         f"{share[1]:.2f}): the force on the plate, not on the foot?",
                         advice="negate the force columns (kintwin expects the reaction on the foot, "
                                "Y up, as OpenSim)")
    raise InputError(f"{source}: the ground reactions do not point up along Y (OpenSim's vertical): "
                     f"most of the load is along {'-' if share[axis] < 0 else '+'}{'XYZ'[axis]} (median shares "
                     f"x {share[0]:.2f}, y {share[1]:.2f}, z {share[2]:.2f})",
                     advice="write the ground reactions in OpenSim's ground frame (Y up), as the "
                            "kinematics")


def check_feet(grf: GroundReactions, feet, source, min_vertical_n: float = 50.0) -> None:
    """An ``InputError`` when a foot's ground reaction acts where the OTHER foot stands: its
    centre of pressure, over the loaded samples (> ``min_vertical_n``), nearer (median,
    horizontally) to the other foot's lowest point than to its own and more than 10 cm from its
    own; or where neither foot stands (more than 0.5 m from both: millimetres, another frame) (``feet``: ``(time_s, {side: (T, 3) lowest foot points, OpenSim ground})`` as
    ``read_grf`` takes it). Feet swapped in an ExternalLoads file left the residual unchanged
    (the whole body's equations do not see which foot is pushed) and the joint moments wrong,
    silently."""
    t, points = feet()
    for side in grf.sides:
        other = "l" if side == "r" else "r"
        if side not in points or other not in points:
            continue
        f = grf.force_n[side]
        loaded = (f[:, 1] > min_vertical_n) & (grf.time_s >= t[0]) & (grf.time_s <= t[-1])
        if loaded.sum() < 5:
            continue
        ts, cop = grf.time_s[loaded], grf.cop_m[side][loaded]

        def dist(s):
            at = np.column_stack([np.interp(ts, t, points[s][:, k]) for k in range(3)])
            return float(np.median(np.linalg.norm((cop - at)[:, [0, 2]], axis=1)))

        own, theirs = dist(side), dist(other)
        name = {"r": "right", "l": "left"}
        if min(own, theirs) > 0.5:
            raise InputError(f"{source}: the {name[side]} foot's centre of pressure lies {own:.3g} m "
                             f"from that foot and {theirs:.3g} m from the other: not in metres "
                             "(millimetres?) or not in the kinematics' frame",
                             advice="give the centre of pressure in m, in the kinematics' ground frame")
        if theirs < own and own > 0.10:
            raise InputError(f"{source}: the {name[side]} foot's ground reaction acts where the "
                             f"{name[other]} foot stands (its centre of pressure {100 * theirs:.0f} cm "
                             f"from the {name[other]} foot, {100 * own:.0f} cm from the {name[side]}): "
                             "are the feet swapped in the loads file (applied_to_body)?",
                             advice="apply each plate's force to the foot that stands on it")


def _read_c3d_plates(path, foot_of, feet) -> GroundReactions:
    from .c3d import read_c3d

    plates = read_c3d(path, to_opensim=True)[1]
    if not plates.n_plates:
        raise InputError(f"{path}: the C3D file has no force plates")
    track = feet() if feet is not None else None  # (time_s, {side: lowest foot points})
    if foot_of is not None:
        numbers = {str(i + 1) for i in range(plates.n_plates)}
        if set(foot_of) - numbers:
            raise InputError(f"{path}: --foot-of names plate(s) {sorted(set(foot_of) - numbers)}; the "
                             f"file has plates {sorted(numbers, key=int)} (e.g. --foot-of 1=r,2=l)")
        assignment = {int(k) - 1: side for k, side in foot_of.items()}
    elif track is not None:
        assignment = assign_plates(plates, *track, source=path)
    else:
        raise InputError(f"{path}: which foot is on which force plate? Give --foot-of, e.g. "
                         f"--foot-of {','.join(f'{i + 1}=r' for i in range(plates.n_plates))}")
    grf = from_force_plates(plates, assignment)
    check_vertical(grf, path)
    span = plate_coverage(plates, *track) if track is not None else None
    if span is not None:
        print(f"force plates: every foot on the floor stands on a plate only at {span[0]:.2f}-"
              f"{span[1]:.2f} s: the measured ground reactions are used there")
        grf = grf.sliced(*span)
        grf.cut_to_plates = True
    return grf


def plate_coverage(plates, time_s: np.ndarray, feet: dict[str, np.ndarray],
                   floor_band_m: float = 0.05, still_mps: float = 1.0,
                   plate_margin_m: float = 0.05, guard_s: float = 0.1) -> tuple[float, float] | None:
    """The longest stretch ``(t0, t1)`` (s) of ``time_s`` in which no foot stands on the floor
    beside the plates, or None when there is no such foot at any time. A foot stands on the floor
    where its lowest point (``feet[side]`` (T, 3), OpenSim ground) is within ``floor_band_m`` of its
    own lowest heights (5th percentile: the kinematics' floor, which may sit cm from the plates'
    surface) and moves slower than ``still_mps`` (lenient: a foot rolling off its toes or coming
    down on its heel counts; when in doubt a stretch is left out rather than scored against a
    plate that does not see the foot); beside the plates where it is outside every plate's
    rectangle widened by ``plate_margin_m``. Each stretch beside the plates is widened by
    ``guard_s`` on both sides: kinematic foot contact is uncertain by that much (marker IK
    without a static trial lifted walking2's right foot 60-100 ms before its load left the floor)."""
    t = np.asarray(time_s, float)
    lo = plates.corners_m[:, :, [0, 2]].min(axis=1) - plate_margin_m  # (P, 2)
    hi = plates.corners_m[:, :, [0, 2]].max(axis=1) + plate_margin_m
    beside = np.zeros(len(t), bool)
    for f in feet.values():
        xz = f[:, [0, 2]]
        speed = np.linalg.norm(np.gradient(xz, t, axis=0), axis=1)
        on_floor = (f[:, 1] - np.percentile(f[:, 1], 5) < floor_band_m) & (speed < still_mps)
        over = np.any(np.all((xz[:, None] >= lo[None]) & (xz[:, None] <= hi[None]), axis=2), axis=1)
        beside |= on_floor & ~over
    if not beside.any():
        return None
    guard = int(np.ceil(guard_s / np.median(np.diff(t)))) if len(t) > 1 else 0
    beside = np.convolve(beside, np.ones(2 * guard + 1), mode="same") > 0
    runs = true_runs(~beside)
    if not runs:
        raise InputError("force plates: at every frame some foot stands on the floor beside the "
                         "plates: no stretch where the plates measure every foot")
    a, b = max(runs, key=lambda r: r[1] - r[0])
    return float(t[a]), float(t[b - 1])


def assign_plates(plates, time_s: np.ndarray, feet: dict[str, np.ndarray],
                  min_vertical_n: float = 20.0, max_distance_m: float = 0.25,
                  source="force plates") -> dict[int, str]:
    """{plate index: side} for every plate loaded while the kinematics exist: the foot whose
    lowest point (``feet[side]`` (T, 3) at ``time_s``, OpenSim ground) is nearest, horizontally, to the
    plate's centre of pressure over each loaded stretch (> ``min_vertical_n``). A plate whose
    stretches go to different feet, or whose COP is more than ``max_distance_m`` from either
    foot, is an ``InputError`` that asks for ``--foot-of``. Prints which plate went to which foot."""
    t = np.asarray(time_s, float)
    out, notes = {}, []
    for i in range(plates.n_plates):
        loaded = plates.force_n[i, :, 1] > min_vertical_n
        loaded &= (plates.time_s >= t[0]) & (plates.time_s <= t[-1])
        sides = set()
        for a, b in true_runs(loaded):
            ts, cop = plates.time_s[a:b], plates.cop_m[i, a:b]
            dist = {s: float(np.median(np.linalg.norm(
                (cop - np.column_stack([np.interp(ts, t, f[:, k]) for k in range(3)]))[:, [0, 2]],
                axis=1))) for s, f in feet.items()}
            side = min(dist, key=dist.get)
            if dist[side] > max_distance_m:
                raise InputError(f"{source}: plate {i + 1} is loaded at {ts[0]:.2f}-{ts[-1]:.2f} s with "
                                 f"no foot of the kinematics on it (nearest {100 * dist[side]:.0f} cm): "
                                 "check that the kinematics and the plates share the lab frame and "
                                 "clock, or give --foot-of")
            sides.add(side)
            notes.append(f"plate {i + 1} at {ts[0]:.2f}-{ts[-1]:.2f} s: {side} foot "
                         f"({100 * dist[side]:.0f} cm from its lowest point)")
        if len(sides) > 1:
            raise InputError(f"{source}: plate {i + 1} is stepped on by both feet; give --foot-of "
                             "(one plate, one foot) or a GRF .mot split per foot")
        if sides:
            out[i] = sides.pop()
    if not out:
        raise InputError(f"{source}: no force plate is loaded while the kinematics exist "
                         f"({t[0]:.2f}-{t[-1]:.2f} s)")
    print("force plates: " + "; ".join(notes))
    return out


def from_force_plates(plates, assignment: dict[int, str],
                      min_vertical_n: float = 20.0) -> GroundReactions:
    """Per-foot reactions from C3D force plates already rotated to OpenSim ground (Y up).

    ``assignment`` maps 0-based plate index to ``"r"``/``"l"`` (several plates per foot are
    combined). Samples with plate vertical force below ``min_vertical_n`` are zeroed (force and
    torque) with the COP put at the plate centre, as unloaded-plate COPs are noise.
    """
    corners = plates.corners_m
    for i, side in assignment.items():
        if not 0 <= i < plates.n_plates:
            raise ValueError(f"plate index {i} out of range (0..{plates.n_plates - 1})")
        if side not in SIDES:
            raise ValueError(f"plate {i}: side must be 'r' or 'l', not {side!r}")
        size = np.ptp(corners[i], axis=0)
        if not (size[1] <= 1e-3 * max(size[0], size[2]) and min(size[0], size[2]) > 0):
            raise ValueError(f"plate {i} does not lie in a horizontal plane of a Y-up frame "
                             f"(corner extents {size} m): rotate to OpenSim first, e.g. "
                             "read_c3d(path, to_opensim=True)")
    grf = GroundReactions(time_s=plates.time_s.copy())
    for side in SIDES:
        idx = [i for i, s in assignment.items() if s == side]
        if not idx:
            continue
        fs, ps, ts = [], [], []
        for i in idx:
            loaded = plates.force_n[i, :, 1] >= min_vertical_n
            fs.append(np.where(loaded[:, None], plates.force_n[i], 0.0))
            ts.append(np.where(loaded[:, None], plates.free_moment_nm[i], 0.0))
            ps.append(np.where(loaded[:, None], plates.cop_m[i], plates.centre_m[i]))
        grf.force_n[side], grf.cop_m[side], grf.torque_nm[side] = combine_wrenches(fs, ps, ts)
    return grf
