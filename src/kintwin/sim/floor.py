"""The floor the feet stand on: sole calibration, stance detection, clearance, level support.

A reference trial rarely puts the MODEL's feet on the simulated floor: the model's contact spheres
(``models/feet.py``) are not the subject's shod feet, IK places each foot a few mm off, and the two
feet disagree (subject01 walk: after the trial's global floor alignment the right foot's lowest
sphere stays 8-14 mm above the floor through loaded stance, the left heel never comes within 5 mm).
The tracking controller then either lands late (flight phases in walking, impacts) or pushes the
stance foot through the floor. Millimetres matter: the total vertical ground force is
m (g + z''_COM).

**Sole calibration** (``calibrate_soles``): every contact sphere is moved, in its body frame, so
that its lowest point while its foot stands touches the floor (z = 0, after the reference's global
floor alignment, ``sim/reference.py``), or reaches ``depth_m`` into it: a soft contact carries a
load by sinking, so a stance foot of the simulation sits that much lower than a rigid one would,
and the spheres are made that much bigger in effect for the loaded foot to sit where the
reference's is. A foot stands, here, where its lowest sphere is within 5 cm of the floor and
slides slower than ``CALIBRATION_SPEED_MPS`` for ``MIN_STANCE_S``, or for any time at the
trial's first or last frame (a stance the trial cuts short). The move is along the world vertical
at the frames where the sphere is lowest, expressed in the sphere's body frame, and at most
``max_offset_m``. A sphere
that never comes within ``near_floor_m`` of the floor relative to its own foot's lowest sphere
(e.g. the heel of a forefoot runner) is not brought down on its own: it moves with its foot's
lowest sphere, keeping the foot's shape. Symmetrically, a toe sphere that sinks more than
``near_floor_m`` below its foot's lowest heel or metatarsal sphere does not set the foot's
level; it is calibrated on its own (raised until its lowest point touches the floor): IK that
holds ``mtp_angle`` at zero sinks the toe tip through the floor in push-off where the real toes
bend (``sole_spheres``). Letting that toe set the foot's level raised the whole foot with it
(hamner_run: toes 20 mm under the forefoot, which then stayed 20-30 mm above the floor through
loaded stance; subject01 through our marker IK: stance feet 17-18 mm up); leaving the toe sunk
instead makes it scuff the floor in swing (subject01 through our IK lost balance).
The reference's spheres then never go below the floor while they stand, and each one that carries
load touches it, so the simulated feet land when the reference's do.
**Trials cut short.** A foot that never stands in the trial (a trial cut to one stance: the other
foot swings throughout) has no level of its own: its spheres take the other foot's moves,
mirrored. And a sphere that gets no level of its own (mirrored, or moved with its foot's lowest
sphere) is never lowered to within ``NO_STANCE_CLEARANCE_M`` (5 mm) of the floor anywhere in the
trial: that would put a swinging foot on the floor. Before (the lowest point over the whole trial
for every sphere), subject01 cut to 0.8-1.2 s lowered the swinging left foot onto the floor
(vertical GRF RMSE 49 %BW, r 0.37; now 2.2 %BW, r 0.999) and cut to 0.9-1.3 s lowered the left
foot 7-16 mm, which carried 43-96 %BW from 220 ms before its heel strike (57 %BW, r 0.0; now
14.4, r 0.951); trials where both feet stand are calibrated as before
(``bench/controller_twin_windows.py``, BENCHMARKS.md).
**The filter's undershoot.** The reference is low-passed at 6 Hz, and the low-pass of a foot
that stops or leaves abruptly rings: on the generated countermovement jump the filtered heel dips
9.3 mm below the floor 50 ms before take-off and 4.2 mm after landing, the unfiltered one 0.3 mm.
Taken as the heel's level, that dip left the quietly standing feet 8 mm above the loaded depth
and the twin sank onto the floor with its residual (7.2 %BW over the jump). With the unfiltered
trial given (``unfiltered_qpos``), a sphere's level is never below its lowest standing point
there: the jump's residual 4.9 %BW; walks, whose unfiltered IK dips as low as the filtered one,
are calibrated as before (``bench/generated_moves_twin.py``, ``bench_controller_twin.py``).
The calibrated geometry is applied to an ``MjSpec`` before compiling (moving ``geom_pos`` of a
compiled model would leave MuJoCo's collision bounding volumes behind and miss contacts).

**Stance** (``kinematic_stance``): a foot is in stance where its lowest contact sphere is within
``STANCE_HEIGHT_M`` of the floor and slides slower than ``STANCE_SPEED_MPS`` (treadmill belt
removed by the reference alignment), for at least ``MIN_STANCE_S``.

**Stance clearance** (``stance_clearance``): over each foot's stance frames, the height of its
lowest sphere above the floor (mm): median and 95th percentile of the absolute value, and the
median sliding speed (m/s). Tolerance after calibration: median within
``CLEARANCE_MEDIAN_TOLERANCE_MM`` (2 mm), 95th percentile within ``CLEARANCE_P95_TOLERANCE_MM``
(10 mm: four spheres roll a foot from heel to toe less smoothly than a sole, so at the hand-overs
between them the lowest one is a few mm up), sliding median within ``SLIDE_TOLERANCE_MPS``
(0.1 m/s: the lowest point of a sphere rolling with the foot moves at the foot's angular
velocity times the radius, ~0.05 m/s for the heel in walking).

**Level support** (``check_level_support``): a foot is stationary on SOMETHING where its lowest
sphere slides slower than ``STANCE_SPEED_MPS`` for ``MIN_STANCE_S``, whatever its height. If the
heights of those stationary phases (median per phase; heel and metatarsal spheres, not the toes)
spread over more than ``level_tolerance_m``
(6 cm), the trial stands on non-level support (stairs, a box, a drop-jump platform). The
whole-body controller twin and the kinematics-only contact estimate (``kintwin id``) build that
support (``sim/terrain.py``, from ``stance_phases``); a trained policy, which only knows a level
floor, refuses it (``NonLevelSupportError``) instead of returning zero ground reactions for the
feet above z = 0.
The tolerance sits between
what marker IK does on a level floor and the lowest real support: a Plug-in-Gait trial without a
static trial (``osim_c3d_walking2``, IK from 32 markers) puts the stance foot's lowest point
3.6 cm apart between steps on level ground (4.4 cm unfiltered; OpenSim IK of subject01 and
hamner_run: 0.9-1.1 cm), while stair risers and curbs are 10-20 cm.
**Tilted floor** (``level_floor``): a capture frame whose vertical is not the true vertical
(markerless captures set it from a calibration board; a board a degree off the floor tilts the
whole trial) puts an overground walk's stances on a slope: over a 2.4 m walk, 1 deg is 4 cm, so
the feet float above the floor at one end and sink at the other (``osim_c3d_walking2`` pitched
by 1 deg: the controller twin's vertical GRF error 16.9 -> 42 %BW; by 2 deg it fell). The slope is
measured on the stances: the median lowest heel or metatarsal point of each stance where the foot
stands still (``STANCE_SPEED_MPS``; a treadmill's stance feet move with the belt, so a treadmill
trial has none), fitted by a plane with one height per foot (IK places the two feet a few mm
apart), along each horizontal direction in which the stances spread over at least
``MIN_TILT_SPAN_M``: along the walk, not across it (the feet are only ~0.2 m apart, so a
sideways roll is not measurable from them and is left as it is). A slope measured at least
``MIN_TILT_T`` standard errors from zero that raises or lowers the floor by at least
``LEVEL_TOLERANCE_M`` over the stances, with the stances within ``MAX_TILT_FIT_RMS_M`` of the
plane and at most ``MAX_LEVELLED_TILT_DEG``, is taken as a tilt of the capture frame: the
whole trial is rotated (``Motion.world_rotated``) so that the plane is level; everything after it
(floor, soles, support, outputs) is in that levelled frame. A steeper slope is not levelled (a
ramp is real: gravity stays the capture frame's; stairs are steps, ``sim/terrain.py``), nor is
one that is not planar.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import mujoco
import numpy as np

from ..errors import RefusedError
from ..motion.filtering import true_runs
from .terrain import LEVEL_FLOOR, Terrain

STANCE_HEIGHT_M = 0.02
STANCE_SPEED_MPS = 0.3
MIN_STANCE_S = 0.05
CLEARANCE_MEDIAN_TOLERANCE_MM = 2.0
CLEARANCE_P95_TOLERANCE_MM = 10.0
SLIDE_TOLERANCE_MPS = 0.1  # the lowest point of a rolling sphere moves: omega x radius
#: a foot stands, for the sole calibration, where its lowest sphere is within 5 cm of the floor and
#: slides slower than this (lenient: the 6 Hz reference's heel still moves ~0.5 m/s at touchdown in
#: running) for MIN_STANCE_S; a swinging foot moves 2-8 m/s
CALIBRATION_SPEED_MPS = 1.0
NO_STANCE_CLEARANCE_M = 0.005
#: tilted floor (module doc): the stances must spread over this along a direction to measure its slope
MIN_TILT_SPAN_M = 1.0
#: a slope this many standard errors from zero, raising the floor by LEVEL_TOLERANCE_M or more
#: over the stances, with the stances within MAX_TILT_FIT_RMS_M of a plane, is levelled up to
#: MAX_LEVELLED_TILT_DEG. Our marker IK of a lab walk (``osim_c3d_walking2``, no static trial)
#: rises 14 mm over 3.1 m (0.26 deg); levelled, the controller twin's vertical GRF error against
#: its plates grew from 18.0 +- 1.0 to 23.2 +- 2.5 %BW (5 runs each): IK drift of that size is
#: left alone
MIN_TILT_T = 3.0
LEVEL_TOLERANCE_M = 0.02
MAX_TILT_FIT_RMS_M = 0.02
MAX_LEVELLED_TILT_DEG = 5.0
TILT_RATE_HZ = 100.0
TILT_CUTOFF_HZ = 6.0


class NonLevelSupportError(RefusedError):
    """The trial's feet stand on support at different heights (stairs, boxes, platforms)."""


def contact_spheres(model: mujoco.MjModel) -> tuple[list[int], list[str], np.ndarray]:
    """Colliding foot spheres: geom ids, names and side (0 right, 1 left) from the name suffix
    (empty for a model without feet)."""
    ids, names, side = [], [], []
    for g in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
        if (model.geom_contype[g] and model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE
                and name.endswith(("_r", "_l"))):
            ids.append(g)
            names.append(name)
            side.append(0 if name.endswith("_r") else 1)
    return ids, names, np.asarray(side, int)


def sole_spheres(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """The heel and metatarsal spheres (geom ids, side): ``contact_spheres`` without the toes,
    which sink through the floor in push-off when IK holds ``mtp_angle`` at zero (walking2:
    43-62 mm, hamner_run: 27-28 mm)."""
    geoms, names, side = contact_spheres(model)
    keep = np.array([not n.startswith("toe") for n in names], bool)
    return np.asarray(geoms, int)[keep], side[keep]


def sphere_bottoms(model: mujoco.MjModel, qpos: np.ndarray, geoms=None) -> np.ndarray:
    """(T, S, 3) world position of each contact sphere's lowest point along ``qpos`` (T, nq)."""
    geoms = contact_spheres(model)[0] if geoms is None else list(geoms)
    data = mujoco.MjData(model)
    out = np.empty((len(qpos), len(geoms), 3))
    for k, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out[k] = data.geom_xpos[geoms]
    out[:, :, 2] -= model.geom_size[geoms, 0]
    return out


def lowest_foot_points(model: mujoco.MjModel, motion) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(time_s, {side: (T, 3)}): the lowest point of each foot's heel and metatarsal spheres
    (``sole_spheres``) along the trial ``motion`` (its own frame, no floor alignment), in OpenSim
    ground (m): where a foot standing on a force plate presses on it."""
    from ..motion.frames import mujoco_to_osim_vec

    geoms, side = sole_spheres(model)
    bottoms = sphere_bottoms(model, motion.to_qpos(model, warn=False), geoms)
    out = {}
    for k, s in enumerate(("r", "l")):
        if np.any(side == k):
            foot = bottoms[:, side == k]
            out[s] = mujoco_to_osim_vec(foot[np.arange(len(foot)), foot[:, :, 2].argmin(axis=1)])
    return motion.time_s, out


@dataclass
class SoleCalibration:
    """How far each contact sphere was moved (``offset_m``, m, positive = lowered) and along which
    unit direction of its body frame (``direction``)."""

    names: list[str]
    offset_m: np.ndarray
    direction: np.ndarray
    #: sides ("r", "l") whose foot never stands in the trial: their spheres took the other foot's
    #: moves, mirrored (module doc)
    from_other_foot: tuple[str, ...] = ()

    def apply(self, spec: mujoco.MjSpec) -> None:
        """Move the spheres of ``spec`` (compile it afterwards)."""
        for name, off, d in zip(self.names, self.offset_m, self.direction):
            g = spec.geom(name)
            g.pos = np.asarray(g.pos, float) + off * d

    def to_dict(self) -> dict:
        return {n: round(float(o) * 1000, 2) for n, o in zip(self.names, self.offset_m)}


def calibrate_soles(model: mujoco.MjModel, qpos: np.ndarray, rate_hz: float, max_offset_m: float = 0.03,
                    near_floor_m: float = 0.015, depth_m: float = 0.0,
                    terrain: Terrain = LEVEL_FLOOR, unfiltered_qpos: np.ndarray | None = None) -> SoleCalibration:
    """Per-sphere moves that put each sphere's lowest point while its foot stands in ``qpos``
    (at ``rate_hz``) ``depth_m`` below the floor (module doc; ``depth_m``: how far a loaded
    contact sinks into the floor; heights above ``terrain``'s support: ``sim/terrain.py``;
    ``unfiltered_qpos``: the same frames before the low-pass, whose standing level is a floor for
    each sphere's: "The filter's undershoot" in the module doc)."""
    geoms, names, side = contact_spheres(model)
    toe = ~np.isin(geoms, sole_spheres(model)[0])
    bottoms = terrain.above(sphere_bottoms(model, qpos, geoms))
    z = bottoms[:, :, 2]
    standing = _standing(bottoms, side, rate_hz, max_offset_m + STANCE_HEIGHT_M, CALIBRATION_SPEED_MPS,
                         cut_by_edges=True)
    def standing_low(z):
        return np.array([z[standing[side[i]], i].min() if standing[side[i]].any() else np.nan
                         for i in range(len(geoms))])

    low = standing_low(z)
    if unfiltered_qpos is not None:  # the low-pass's undershoot does not set the level
        low = np.fmax(low, standing_low(terrain.above(sphere_bottoms(model, unfiltered_qpos, geoms))[:, :, 2]))
    offset = low.copy()
    own = ~np.isnan(low)  # spheres whose own standing level sets their move
    for s in (0, 1):
        idx = np.flatnonzero(side == s)
        if not len(idx) or np.isnan(low[idx]).all():
            continue
        sole = idx[~toe[idx]]
        sole_low = low[sole].min() if len(sole) else -np.inf
        sunk = idx[toe[idx] & (low[idx] < sole_low - near_floor_m)]  # locked-toe artefact
        foot_low = low[np.setdiff1d(idx, sunk)].min()
        far = idx[low[idx] > foot_low + near_floor_m]
        offset[far] = foot_low  # keeps its height above the foot's lowest sphere
        own[far] = False
    offset = np.clip(offset + depth_m, -max_offset_m, max_offset_m)
    data = mujoco.MjData(model)
    direction = np.zeros((len(geoms), 3))
    n_low = max(3, len(qpos) // 50)
    down = np.array([0.0, 0.0, -1.0])
    for i, g in enumerate(geoms):
        if np.isnan(offset[i]):
            continue
        body = model.geom_bodyid[g]
        acc = np.zeros(3)
        frames = np.flatnonzero(standing[side[i]])
        for k in frames[np.argsort(z[frames, i])[:n_low]]:
            data.qpos[:] = qpos[k]
            mujoco.mj_kinematics(model, data)
            acc += data.xmat[body].reshape(3, 3).T @ down
        direction[i] = acc / np.linalg.norm(acc)
    index = {n: i for i, n in enumerate(names)}
    for i in np.flatnonzero(np.isnan(offset)):  # a foot that never stands: the other foot's moves
        j = index.get(names[i][:-1] + ("l" if names[i].endswith("_r") else "r"))
        if j is None or np.isnan(offset[j]):
            offset[i], direction[i] = 0.0, (0.0, -1.0, 0.0)
        else:
            offset[i], direction[i] = offset[j], direction[j] * (1.0, 1.0, -1.0)
    # a sphere that never stands on its own is not lowered to within NO_STANCE_CLEARANCE_M of the
    # floor anywhere in the trial: that would be evidence of a contact the trial does not show
    offset[~own] = np.minimum(offset[~own], z[:, ~own].min(axis=0) - NO_STANCE_CLEARANCE_M)
    offset = np.clip(offset, -max_offset_m, max_offset_m)
    return SoleCalibration(names, offset, direction,
                           tuple(n for s, n in ((0, "r"), (1, "l")) if not standing[s].any()))


def _standing(bottoms: np.ndarray, side: np.ndarray, rate_hz: float, band_m: float,
              speed_mps: float, cut_by_edges: bool = False) -> list[np.ndarray]:
    """Per side (0 right, 1 left): (T,) bool frames where the foot stands: its lowest sphere within
    ``band_m`` of the floor and sliding slower than ``speed_mps``, for ``MIN_STANCE_S`` (any length
    at the trial's first or last frame when ``cut_by_edges``: a stance the trial cuts short)."""
    min_len = max(2, int(round(MIN_STANCE_S * rate_hz)))
    out = []
    for s in (0, 1):
        mask = np.zeros(len(bottoms), bool)
        if np.any(side == s):
            z, speed = _foot_lowest(bottoms, side, s, rate_hz)
            for a, b in true_runs((z < band_m) & (speed < speed_mps), 2 if cut_by_edges else min_len):
                if b - a >= min_len or a == 0 or b == len(z):
                    mask[a:b] = True
        out.append(mask)
    return out


def _foot_lowest(bottoms: np.ndarray, side: np.ndarray, s: int, rate_hz: float):
    """Height (T,) and horizontal speed (T,) of a foot's lowest sphere."""
    idx = np.flatnonzero(side == s)
    sub = bottoms[:, idx]
    k = sub[:, :, 2].argmin(axis=1)
    T = np.arange(len(sub))
    z = sub[T, k, 2]
    v = np.gradient(sub[:, :, :2], 1.0 / rate_hz, axis=0)
    return z, np.linalg.norm(v[T, k], axis=1)


def kinematic_stance(model: mujoco.MjModel, qpos: np.ndarray, rate_hz: float,
                     terrain: Terrain = LEVEL_FLOOR) -> dict[str, np.ndarray]:
    """Per side ("r", "l"): (T,) bool stance frames from the kinematics (module doc; heights
    above ``terrain``'s support)."""
    geoms, _, side = contact_spheres(model)
    standing = _standing(terrain.above(sphere_bottoms(model, qpos, geoms)), side, rate_hz,
                         STANCE_HEIGHT_M, STANCE_SPEED_MPS)
    return {name: standing[s] for s, name in ((0, "r"), (1, "l")) if np.any(side == s)}


def stance_clearance(model: mujoco.MjModel, qpos: np.ndarray, rate_hz: float,
                     depth_m: float = 0.0, terrain: Terrain = LEVEL_FLOOR) -> dict:
    """Per side: stance frames, |height + depth_m| of the lowest sphere in stance (median, 95th
    percentile, mm: the distance from where a loaded contact sits, ``depth_m`` into the floor, or
    into ``terrain``'s support) and its median sliding speed (m/s); None where a foot
    has no stance."""
    geoms, _, side = contact_spheres(model)
    bottoms = terrain.above(sphere_bottoms(model, qpos, geoms))
    bottoms[:, :, 2] += depth_m
    stance = kinematic_stance(model, qpos, rate_hz, terrain)
    out = {}
    for s, name in ((0, "r"), (1, "l")):
        if name not in stance:
            continue
        z, speed = _foot_lowest(bottoms, side, s, rate_hz)
        m = stance[name]
        if not m.any():
            out[name] = None
            continue
        out[name] = {"stance_frames": int(m.sum()),
                     "clearance_median_mm": float(np.median(np.abs(z[m])) * 1000),
                     "clearance_p95_mm": float(np.percentile(np.abs(z[m]), 95) * 1000),
                     "slide_median_mps": float(np.median(speed[m]))}
    return out


@dataclass(frozen=True)
class StancePhase:
    """Where a foot stood still: side ("right"/"left"), times from ``qpos[0]`` (s), the median
    height of its lowest heel or metatarsal sphere (m) and the horizontal extent of all its
    spheres' lowest points (x, y world, m)."""

    side: str
    start_s: float
    stop_s: float
    height_m: float
    x: tuple[float, float]
    y: tuple[float, float]


def stance_phases(model: mujoco.MjModel, qpos: np.ndarray, rate_hz: float) -> list[StancePhase]:
    """Every stretch of at least ``MIN_STANCE_S`` where a foot's lowest heel or metatarsal sphere
    slides slower than ``STANCE_SPEED_MPS``, at any height (toes do not set the height:
    ``sole_spheres``)."""
    geoms, names, side_all = contact_spheres(model)
    sole = np.isin(geoms, sole_spheres(model)[0])
    bottoms = sphere_bottoms(model, qpos, geoms)
    standing = _standing(bottoms[:, sole], side_all[sole], rate_hz, np.inf, STANCE_SPEED_MPS)
    phases = []
    for s, name in ((0, "right"), (1, "left")):
        if not np.any(side_all[sole] == s):
            continue
        z = _foot_lowest(bottoms[:, sole], side_all[sole], s, rate_hz)[0]
        foot = bottoms[:, side_all == s]
        for a, b in true_runs(standing[s]):
            xy = foot[a:b, :, :2].reshape(-1, 2)
            phases.append(StancePhase(name, a / rate_hz, b / rate_hz, float(np.median(z[a:b])),
                                      (float(xy[:, 0].min()), float(xy[:, 0].max())),
                                      (float(xy[:, 1].min()), float(xy[:, 1].max()))))
    return sorted(phases, key=lambda p: p.start_s)


def check_level_support(model: mujoco.MjModel, qpos: np.ndarray, rate_hz: float,
                        level_tolerance_m: float = 0.06, t0_s: float = 0.0) -> None:
    """Raise ``NonLevelSupportError`` when the stationary phases of the feet lie at heights that
    spread over more than ``level_tolerance_m`` (module doc); ``t0_s``: the time of ``qpos[0]``
    (the message gives the trial's own times). The toe spheres do not count (``sole_spheres``).
    For what needs one level floor (a trained policy); the whole-body controller twin and
    ``kintwin id`` build the support instead (``sim/terrain.py``)."""
    phases = stance_phases(model, qpos, rate_hz)
    if len(phases) < 2:
        return
    heights = np.array([p.height_m for p in phases])
    if np.ptp(heights) > level_tolerance_m:
        desc = ", ".join(f"{p.side} foot {(p.height_m - heights.min()) * 100:+.1f} cm at "
                         f"{t0_s + p.start_s:.2f}-{t0_s + p.stop_s:.2f} s" for p in phases)
        raise NonLevelSupportError(
            f"the feet stand still at heights {np.ptp(heights) * 100:.1f} cm apart ({desc}; heights "
            "relative to the lowest support): non-level support (stairs, a box, a platform) is not "
            "supported by a trained policy, which knows one level floor. The whole-body controller "
            "twin (kintwin analyze --controller qp) builds the support the feet stand on; or crop "
            "the trial to the part on level ground")


@dataclass(frozen=True)
class FloorTilt:
    """The slope of a trial's stances and whether it was levelled (module doc, "Tilted floor"):
    ``tilt_deg`` the measured slope (0 where not measurable), ``quat_wxyz`` / ``about_m`` the
    rotation (MuJoCo world) that levels it, identity where not levelled, ``why`` in words."""

    levelled: bool = False
    why: str = "not measured"
    tilt_deg: float = 0.0
    quat_wxyz: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    about_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    stances: int = 0
    span_m: float = 0.0
    fit_rms_mm: float = 0.0

    def apply(self, motion):
        """``motion`` (a ``Motion``) in the levelled frame (unchanged where not levelled)."""
        if not self.levelled:
            return motion
        return motion.world_rotated(np.array(self.quat_wxyz), np.array(self.about_m))

    def to_dict(self) -> dict:
        return {"levelled": self.levelled, "why": self.why, "tilt_deg": round(self.tilt_deg, 3),
                "stances": self.stances, "span_m": round(self.span_m, 3),
                "fit_rms_mm": round(self.fit_rms_mm, 2)}


def floor_tilt(model: mujoco.MjModel, qpos: np.ndarray, rate_hz: float) -> FloorTilt:
    """The slope of the stances of ``qpos`` (T, nq) at ``rate_hz`` and the rotation that levels
    it (module doc, "Tilted floor")."""
    geoms, side = sole_spheres(model)
    bottoms = sphere_bottoms(model, qpos, geoms)
    standing = _standing(bottoms, side, rate_hz, np.inf, STANCE_SPEED_MPS)
    rows = []
    for s in (0, 1):
        if not np.any(side == s):
            continue
        foot = bottoms[:, side == s]
        low = foot[np.arange(len(foot)), foot[:, :, 2].argmin(axis=1)]
        rows += [(s, *np.median(low[a:b], axis=0)) for a, b in true_runs(standing[s])]
    if len(rows) < 3:
        return FloorTilt(why=f"{len(rows)} stance(s) where the feet stand still: too few to measure a slope",
                         stances=len(rows))
    P = np.array(rows)
    xy = P[:, 1:3] - P[:, 1:3].mean(axis=0)
    V = np.linalg.eigh(xy.T @ xy)[1]
    proj = xy @ V
    spans = np.ptp(proj, axis=0)
    keep = np.flatnonzero(spans >= MIN_TILT_SPAN_M)
    base = dict(stances=len(P), span_m=float(spans.max()))
    if not len(keep):
        return FloorTilt(why=f"the stances spread over {spans.max():.2f} m: too little to measure a "
                             f"slope (needs {MIN_TILT_SPAN_M:g} m)", **base)
    X = np.column_stack([proj[:, keep], P[:, 0] == 0, P[:, 0] == 1]).astype(float)
    X = X[:, np.abs(X).sum(axis=0) > 0]
    coef = np.linalg.lstsq(X, P[:, 3], rcond=None)[0]
    resid = P[:, 3] - X @ coef
    dof = len(P) - X.shape[1]
    if dof < 1:
        return FloorTilt(why=f"{len(P)} stances: too few to measure a slope", **base)
    rms = float(np.sqrt(np.mean(resid ** 2)))
    se = np.sqrt((resid ** 2).sum() / dof * np.diag(np.linalg.pinv(X.T @ X))[:len(keep)])
    slope = np.where(np.abs(coef[:len(keep)]) >= MIN_TILT_T * np.maximum(se, 1e-12), coef[:len(keep)], 0.0)
    grad = V[:, keep] @ slope
    tilt = float(np.degrees(np.arctan(np.linalg.norm(grad))))
    base.update(tilt_deg=tilt, fit_rms_mm=1000 * rms)
    rise = float(np.max(np.abs(slope) * spans[keep]))
    if rise < LEVEL_TOLERANCE_M:
        return FloorTilt(why=f"level: the stances rise {1000 * rise:.1f} mm over {spans.max():.2f} m", **base)
    if rms > MAX_TILT_FIT_RMS_M:
        return FloorTilt(why=f"the stances lie {1000 * rms:.0f} mm (RMS) from a plane: not a tilted floor, "
                             "left as it is", **base)
    if tilt > MAX_LEVELLED_TILT_DEG:
        return FloorTilt(why=f"a slope of {tilt:.1f} deg, over {MAX_LEVELLED_TILT_DEG:g} deg: taken as real "
                             "(a ramp), not levelled", **base)
    normal = np.array([-grad[0], -grad[1], 1.0]) / np.sqrt(1.0 + grad @ grad)
    axis = np.cross(normal, (0.0, 0.0, 1.0))
    angle = np.arcsin(min(1.0, float(np.linalg.norm(axis))))
    quat = (np.cos(angle / 2), *(np.sin(angle / 2) * axis / np.linalg.norm(axis)))
    about = (*P[:, 1:3].mean(axis=0), float(P[:, 3].mean()))
    return FloorTilt(True, f"the stances slope {tilt:.2f} deg over {spans.max():.2f} m: the capture frame "
                           "is taken as tilted and the trial levelled", quat_wxyz=tuple(map(float, quat)),
                     about_m=tuple(map(float, about)), **base)


def level_floor(model: mujoco.MjModel, motion):
    """(``motion`` levelled, ``FloorTilt``): the trial (a ``Motion``) rotated so that its
    stances lie level, where they slope (module doc, "Tilted floor"); measured on a copy
    low-passed at ``TILT_CUTOFF_HZ`` at ``TILT_RATE_HZ``."""
    if motion.n_frames < 3 or motion.time_s[-1] - motion.time_s[0] < 1.0:
        return motion, FloorTilt(why="shorter than 1 s: no slope measured")
    m = motion.resampled(TILT_RATE_HZ)
    try:
        m = m.filtered(TILT_CUTOFF_HZ)
    except ValueError:  # too few frames for the filter: measured unfiltered
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coordinates the trial lacks are held at neutral
        qpos = m.to_qpos(model, warn=False)
    tilt = floor_tilt(model, qpos, TILT_RATE_HZ)
    return tilt.apply(motion), tilt

__all__ = ["NonLevelSupportError", "SoleCalibration", "calibrate_soles", "sphere_bottoms",
           "sole_spheres", "lowest_foot_points", "kinematic_stance", "stance_clearance",
           "check_level_support", "contact_spheres", "stance_phases", "StancePhase",
           "FloorTilt", "floor_tilt", "level_floor",
           "CLEARANCE_MEDIAN_TOLERANCE_MM", "CLEARANCE_P95_TOLERANCE_MM", "SLIDE_TOLERANCE_MPS"]
