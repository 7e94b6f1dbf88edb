"""The MuJoCo model used for inverse kinematics: the subject's skeleton plus one site per marker.

``MarkerModel`` compiles a ``Skeleton`` with ``build_spec`` and adds a site ``marker:<name>`` on
the marker's body at its position. ``ScaleGeometry`` rescales a compiled model of the built-in
skeleton IN PLACE for a vector of segment-group scale factors (body offsets, joint centres and
marker sites), exactly as ``default_skeleton(..., segment_scales)`` would build it; scale fitting
uses it to avoid recompiling at every iteration (``tests/test_ik.py`` checks both agree).

Segment groups (``scale_groups``): one factor per body, except the foot (talus, calcaneus and
toes share ``foot_r``/``foot_l``) and the forearm (ulna and radius share ``forearm_r``/``_l``),
as OpenSim's example scale setups do.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from ..models.anthropometry import GENERIC_HEIGHT_M, default_skeleton
from ..models import coupling
from ..models.build import build_spec
from ..models.skeleton import Skeleton
from .markersets import MarkerMap

SITE_PREFIX = "marker:"


def scale_groups(skeleton: Skeleton) -> dict[str, list[str]]:
    """Segment group -> bodies sharing one length scale factor."""
    groups: dict[str, list[str]] = {}
    for b in skeleton.bodies:
        base, _, side = b.name.rpartition("_")
        if side in ("r", "l") and base in ("talus", "calcn", "toes"):
            g = f"foot_{side}"
        elif side in ("r", "l") and base in ("ulna", "radius"):
            g = f"forearm_{side}"
        else:
            g = b.name
        groups.setdefault(g, []).append(b.name)
    return groups


def subject_marker_positions(mmap: MarkerMap, segment_scales: dict[str, float],
                             default_scale: float) -> dict[str, np.ndarray]:
    """Marker positions in the subject's body frames (generic positions times the body scale)."""
    if mmap.scaled:
        return {n: m.pos.copy() for n, m in mmap.markers.items()}
    return {n: m.pos * float(segment_scales.get(m.body, default_scale))
            for n, m in mmap.markers.items()}


@dataclass
class HingeInfo:
    names: list[str]
    qadr: np.ndarray  # qpos addresses
    dadr: np.ndarray  # dof addresses
    lower: np.ndarray
    upper: np.ndarray
    body: np.ndarray  # body id of each joint


class MarkerModel:
    """A compiled skeleton with marker sites, and the bookkeeping IK needs."""

    def __init__(self, skeleton: Skeleton, marker_positions: dict[str, np.ndarray],
                 marker_bodies: dict[str, str]):
        body_names = {b.name for b in skeleton.bodies}
        missing = sorted({marker_bodies[n] for n in marker_positions} - body_names)
        if missing:
            raise ValueError(f"marker bodies {missing} are not in the model "
                             f"(bodies: {sorted(body_names)})")
        self.skeleton = skeleton
        spec = build_spec(skeleton)
        self.marker_names = list(marker_positions)
        for n in self.marker_names:
            spec.body(marker_bodies[n]).add_site(name=SITE_PREFIX + n,
                                                  pos=np.asarray(marker_positions[n], float),
                                                  size=[0.008, 0, 0], group=3,
                                                  rgba=[1.0, 0.2, 0.2, 1.0])
        self.spec = spec
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.site_ids = np.array([m.site(SITE_PREFIX + n).id for n in self.marker_names], int)
        self.marker_body_ids = m.site_bodyid[self.site_ids].copy()
        # coordinate joints only: coupled joints (imported knee translations) follow their master
        _, hinge = coupling.coordinate_joints(m)
        self.hinge = HingeInfo(
            names=[m.joint(j).name for j in hinge],
            qadr=m.jnt_qposadr[hinge].copy(), dadr=m.jnt_dofadr[hinge].copy(),
            lower=m.jnt_range[hinge, 0].copy(), upper=m.jnt_range[hinge, 1].copy(),
            body=m.jnt_bodyid[hinge].copy())

    @property
    def nv(self) -> int:
        return self.model.nv

    def neutral_qpos(self) -> np.ndarray:
        return self.model.qpos0.copy()

    def dof_observed(self, marker_mask: np.ndarray) -> np.ndarray:
        """(nv,) bool: dofs that move at least one marker of ``marker_mask`` (root dofs: True)."""
        m = self.model
        obs = np.zeros(m.nv, bool)
        obs[:6] = True
        anc = set()
        for b in self.marker_body_ids[np.asarray(marker_mask, bool)]:
            while b > 0:
                anc.add(int(b))
                b = m.body_parentid[b]
        for k, b in enumerate(self.hinge.body):
            if int(b) in anc:
                obs[self.hinge.dadr[k]] = True
        return obs

    def site_positions(self, qpos: np.ndarray) -> np.ndarray:
        """(M, 3) world positions of the marker sites for one qpos."""
        self.data.qpos[:] = qpos
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self.site_ids].copy()


class ScaleGeometry:
    """In-place rescaling of a compiled built-in model for per-group scale factors.

    Mirrors ``default_skeleton``: a body's offset in its parent scales with the PARENT's factor,
    its joint centre and its own sites with its own factor. Markers with ``scaled`` positions
    (already the subject's) are left alone.
    """

    def __init__(self, mm: MarkerModel, mmap: MarkerMap, mass_kg: float):
        generic = default_skeleton(GENERIC_HEIGHT_M, mass_kg)  # every factor 1: generic geometry
        self.groups = scale_groups(generic)
        self.group_names = list(self.groups)
        self.group_of = {b: g for g, bs in self.groups.items() for b in bs}
        m = mm.model
        self.body_rows = []  # (body id, generic pos, parent group index)
        self.joint_rows = []  # (joint id, generic joint pos, group index)
        gi = {g: i for i, g in enumerate(self.group_names)}
        for b in generic.bodies[1:]:
            bid = m.body(b.name).id
            self.body_rows.append((bid, b.pos_in_parent.copy(), gi[self.group_of[b.parent]]))
            for d in b.dofs:
                self.joint_rows.append((m.joint(d.name).id, b.joint_pos.copy(), gi[self.group_of[b.name]]))
        self.site_rows = []
        if not mmap.scaled:
            for k, n in enumerate(mm.marker_names):
                mk = mmap.markers[n]
                self.site_rows.append((mm.site_ids[k], mk.pos.copy(), gi[self.group_of[mk.body]]))
        # which markers each group moves (for observability of a factor)
        self.model = m

    @property
    def n(self) -> int:
        return len(self.group_names)

    def apply(self, s: np.ndarray) -> None:
        m = self.model
        for bid, p, g in self.body_rows:
            m.body_pos[bid] = p * s[g]
        for jid, p, g in self.joint_rows:
            m.jnt_pos[jid] = p * s[g]
        for sid, p, g in self.site_rows:
            m.site_pos[sid] = p * s[g]

    def segment_scales(self, s: np.ndarray) -> dict[str, float]:
        return {b: float(s[self.group_names.index(g)]) for b, g in self.group_of.items()}
