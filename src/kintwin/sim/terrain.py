"""Support above the floor the feet stand on: steps, boxes, platforms, as boxes on the floor.

A trial whose feet stand still at different heights (stairs, a step-up onto a box, a platform)
cannot be simulated on a level floor: the raised foot would hang in the air and return no ground
reaction. ``detect_terrain`` finds where the feet stand (a foot stands where its lowest heel or
metatarsal sphere slides slower than ``floor.STANCE_SPEED_MPS`` for ``floor.MIN_STANCE_S``, at any
height; median height per stance) and puts a box under every stance more than ``MIN_STEP_M``
above the floor (z = 0 after the reference's floor alignment): its top at
that stance's median height, its footprint the foot's spheres over the stance (their lowest
points' extent) widened by ``margin_m``. Boxes of about the same height that overlap are one box
(a step both feet stand on). A box never covers where a foot stands lower: where the margin would
reach over the toes of a foot on the floor (a step close ahead of it), the box is cut back on
that side (of the sides that keep the feet standing on it, the one that keeps the most of it).
A foot held still in the air (standing on one leg) looks the same to
the kinematics, so a box stays only where the trial cannot do without it: where the
kinematics-only contact estimate (``dynamics/contact_estimation``) on the floor alone needs
outside help at the pelvis while a foot stands on the box (``Terrain.needed``, in
``twin/controlled.prepare``; ``kintwin id`` without plates does the same,
``dynamics/contact_estimation.estimate_contacts``). Standing on the left leg with the right foot held 20 cm up
(``motion/sample_moves.one_leg_stand``) that estimate needs no help and gets no box; the same with
a box under the right foot would share the load between the feet (its regularisation spreads the
load where the moments allow). The twin's model gets them as MuJoCo box geoms of the
world body with the floor's contact settings (``add_to``); the sole calibration, the stance
detection and the kinematics-only contact estimate then measure heights above ``height_at``
instead of above z = 0, and the ground reactions put each foot's centre of pressure on the
support under it.

Support below the floor level (the trial's lowest stance is the floor) cannot happen after the
floor alignment except for a stance held for less than ~5 % of the trial; such a trial is refused
(``floor.NonLevelSupportError``).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

BOX_PREFIX = "terrain_"
#: a box is built where the floor alone leaves the estimate this much help to need (module doc): the
#: report's "check" levels of the residual force (5 %BW) and moment (1 %BW x height)
MIN_RESIDUAL_BW, MIN_RESIDUAL_BWH = 0.05, 0.01
#: a stance this much above the floor is a candidate for a box (6 cm before 2026-12-08: a 5 cm step
#: got none, and the twin needed 8.3 %BW of residual on it, against 2.7 with its box; the shared
#: trials' stances stand at most 1.3 cm above their floor)
MIN_STEP_M = 0.03


@dataclass(frozen=True)
class Box:
    """A block on the floor, MuJoCo world (m): x and y extent, top height."""

    x: tuple[float, float]
    y: tuple[float, float]
    top_m: float

    def contains(self, xy: np.ndarray) -> np.ndarray:
        return ((xy[..., 0] >= self.x[0]) & (xy[..., 0] <= self.x[1])
                & (xy[..., 1] >= self.y[0]) & (xy[..., 1] <= self.y[1]))


@dataclass(frozen=True)
class Terrain:
    """The floor (at ``floor_m``: z = 0 in the twin's aligned world) and the boxes on it."""

    boxes: tuple[Box, ...] = ()
    floor_m: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.boxes)

    def raised(self, dz_m: float) -> "Terrain":
        """The same support ``dz_m`` higher (floor and box tops)."""
        return Terrain(tuple(Box(b.x, b.y, b.top_m + dz_m) for b in self.boxes), self.floor_m + dz_m)

    def height_at(self, xy) -> np.ndarray:
        """(...) support height (m) under the horizontal points ``xy`` (..., 2): the highest box
        top covering each point, else the floor."""
        xy = np.asarray(xy, float)
        h = np.full(xy.shape[:-1], self.floor_m)
        for b in self.boxes:
            h = np.where(b.contains(xy), np.maximum(h, b.top_m), h)
        return h

    def above(self, points: np.ndarray) -> np.ndarray:
        """``points`` (..., 3) with z measured from the support under each point."""
        out = np.array(points, float)
        out[..., 2] -= self.height_at(out[..., :2])
        return out

    def add_to(self, spec: mujoco.MjSpec) -> None:
        """Add the boxes to ``spec``'s world body with the floor geom's contact settings (the
        floor at z = 0)."""
        if self.floor_m != 0.0:
            raise ValueError("add_to builds boxes on a floor at z = 0")
        floor = spec.geom("floor")
        for i, b in enumerate(self.boxes):
            spec.worldbody.add_geom(
                name=f"{BOX_PREFIX}{i}", type=mujoco.mjtGeom.mjGEOM_BOX,
                pos=[np.mean(b.x), np.mean(b.y), b.top_m / 2],
                size=[(b.x[1] - b.x[0]) / 2, (b.y[1] - b.y[0]) / 2, b.top_m / 2],
                contype=floor.contype, conaffinity=floor.conaffinity, condim=floor.condim,
                friction=floor.friction, solref=floor.solref, solimp=floor.solimp,
                rgba=[0.7, 0.7, 0.65, 1])

    @classmethod
    def from_model(cls, model: mujoco.MjModel) -> "Terrain":
        """The boxes ``add_to`` put into a compiled model."""
        boxes = []
        for g in range(model.ngeom):
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
            if name.startswith(BOX_PREFIX) and model.geom_bodyid[g] == 0:
                c, s = model.geom_pos[g], model.geom_size[g]
                boxes.append(Box((c[0] - s[0], c[0] + s[0]), (c[1] - s[1], c[1] + s[1]), c[2] + s[2]))
        return cls(tuple(boxes))

    def needed(self, floor_estimate, weight_n: float, height_m: float) -> "Terrain":
        """The boxes the kinematics cannot do without: where, while a contact point stands on
        the box (within 2 cm of its top, over it), ``floor_estimate`` (the kinematics-only contact
        estimate on the floor alone, ``dynamics/contact_estimation.ContactSolution``) needs a mean
        pelvis residual above ``MIN_RESIDUAL_BW`` (force) or ``MIN_RESIDUAL_BWH`` (moment, body
        weight x height)."""
        pos = np.asarray(floor_estimate.points_pos)
        force_bw = np.linalg.norm(floor_estimate.residual_force, axis=1) / weight_n
        moment_bwh = np.linalg.norm(floor_estimate.residual_moment, axis=1) / (weight_n * height_m)
        keep = []
        for b in self.boxes:
            on = (b.contains(pos[..., :2]) & (np.abs(pos[..., 2] - b.top_m) < 0.02)).any(axis=1)
            if on.any() and (np.mean(force_bw[on]) > MIN_RESIDUAL_BW
                             or np.mean(moment_bwh[on]) > MIN_RESIDUAL_BWH):
                keep.append(b)
        return Terrain(tuple(keep), self.floor_m)

    def to_dict(self) -> list[dict]:
        return [{"x_m": [round(v, 4) for v in b.x], "y_m": [round(v, 4) for v in b.y],
                 "top_m": round(b.top_m, 4)} for b in self.boxes]


LEVEL_FLOOR = Terrain()  #: the floor alone, at z = 0


def detect_terrain(model: mujoco.MjModel, qpos: np.ndarray, rate_hz: float, t0_s: float = 0.0,
                   level_tolerance_m: float = 0.06, margin_m: float = 0.03,
                   min_step_m: float = MIN_STEP_M) -> Terrain:
    """Boxes under the stances more than ``min_step_m`` above the floor (module doc); a stance
    more than ``level_tolerance_m`` below it is refused, and boxes within it of each other's
    height that overlap are one. ``t0_s``: the time of ``qpos[0]``, for the refusal's message."""
    from . import floor

    phases = floor.stance_phases(model, qpos, rate_hz)
    low = [p for p in phases if p.height_m < -level_tolerance_m]
    if low:
        desc = ", ".join(f"{p.side} foot {p.height_m * 100:+.1f} cm at {t0_s + p.start_s:.2f}-"
                         f"{t0_s + p.stop_s:.2f} s" for p in low)
        raise floor.NonLevelSupportError(
            f"the feet stand below the trial's floor level ({desc}): support lower than the "
            "floor the trial mostly stands on is not supported. Crop the trial to the part on "
            "and above one level")
    boxes: list[Box] = []
    stood: list[Box] = []  # each box's stances without the margin
    for p in sorted((p for p in phases if p.height_m > min_step_m), key=lambda p: p.height_m):
        new = Box((p.x[0] - margin_m, p.x[1] + margin_m), (p.y[0] - margin_m, p.y[1] + margin_m),
                  p.height_m)
        for k, b in enumerate(boxes):
            if _overlap(new, b) and abs(b.top_m - new.top_m) <= level_tolerance_m:
                boxes[k] = Box((min(b.x[0], new.x[0]), max(b.x[1], new.x[1])),
                               (min(b.y[0], new.y[0]), max(b.y[1], new.y[1])),
                               0.5 * (b.top_m + new.top_m))
                stood[k] = Box((min(stood[k].x[0], p.x[0]), max(stood[k].x[1], p.x[1])),
                               (min(stood[k].y[0], p.y[0]), max(stood[k].y[1], p.y[1])), 0.0)
                break
        else:
            boxes.append(new)
            stood.append(Box(p.x, p.y, 0.0))
    radius = float(model.geom_size[floor.contact_spheres(model)[0], 0].max())
    for k, b in enumerate(boxes):  # no box over where a foot stands lower (module doc)
        for p in phases:
            if p.height_m < b.top_m - min_step_m:
                b = _cut_clear(b, stood[k], Box(p.x, p.y, p.height_m), radius + 0.005)
        boxes[k] = b
    return Terrain(tuple(boxes))


def _overlap(a: Box, b: Box) -> bool:
    return a.x[0] <= b.x[1] and b.x[0] <= a.x[1] and a.y[0] <= b.y[1] and b.y[0] <= a.y[1]


def _cut_clear(box: Box, stood: Box, lower: Box, gap_m: float) -> Box:
    """``box`` cut back on one side to clear ``lower`` (the lowest points of a foot standing
    lower) by ``gap_m`` (the foot spheres' radius and more): the side that keeps the most of it,
    among those that keep ``stood`` (where feet stand on it) if any does."""
    x0, x1, y0, y1 = lower.x[0] - gap_m, lower.x[1] + gap_m, lower.y[0] - gap_m, lower.y[1] + gap_m
    if not _overlap(box, Box((x0, x1), (y0, y1), 0.0)):
        return box
    x, y = box.x, box.y
    cuts = [Box((x1, x[1]), y, box.top_m), Box((x[0], x0), y, box.top_m),
            Box(x, (y1, y[1]), box.top_m), Box(x, (y[0], y0), box.top_m)]
    cuts = [c for c in cuts if c.x[0] < c.x[1] and c.y[0] < c.y[1]]
    if not cuts:
        return box
    keep = [c for c in cuts if c.x[0] <= stood.x[0] and stood.x[1] <= c.x[1]
            and c.y[0] <= stood.y[0] and stood.y[1] <= c.y[1]] or cuts
    return max(keep, key=lambda c: (c.x[1] - c.x[0]) * (c.y[1] - c.y[0]))


__all__ = ["Box", "Terrain", "LEVEL_FLOOR", "detect_terrain", "BOX_PREFIX"]
