"""A plain description of a multibody skeleton, independent of where it came from.

Both the built-in anthropometric model (``anthropometry.py``) and an imported OpenSim model
(``osim.py``) produce a ``Skeleton``; ``build.py`` turns any ``Skeleton`` into a MuJoCo model.

Frames: every body frame is an OpenSim-style segment frame (X forward, Y along the segment
towards proximal, Z right at the neutral pose). Positions in metres, masses in kg, inertias in
kg*m^2 about the centre of mass in the body frame. The root body (first in the list) gets a free
joint; its placement in the world is given by the pelvis coordinates (see ``coordinates.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dof:
    """One hinge (or slide) degree of freedom of a body's joint."""

    name: str
    axis: np.ndarray  # unit vector in the child body frame
    range: tuple[float, float]  # rad (hinge) or m (slide)
    default: float = 0.0
    kind: str = "hinge"  # "hinge" or "slide"
    peak_torque_nm: float = 100.0  # actuator strength (N*m or N)


@dataclass
class Capsule:
    """A visual/inertial-shape capsule between two points of the body frame."""

    start: np.ndarray
    end: np.ndarray
    radius: float


@dataclass
class ContactSphere:
    """A foot contact sphere, centre in the body frame (m)."""

    name: str
    pos: np.ndarray
    radius: float


@dataclass
class Body:
    name: str
    parent: str | None
    pos_in_parent: np.ndarray  # body origin in the parent frame when all dofs are zero
    quat_in_parent: np.ndarray  # (w, x, y, z) body orientation in the parent frame at zero dofs
    joint_pos: np.ndarray  # joint centre in this body's frame
    dofs: list[Dof]  # applied in order, body-fixed (each axis rotates with the previous dofs)
    mass_kg: float
    com: np.ndarray  # centre of mass in the body frame
    inertia: np.ndarray  # (Ixx, Iyy, Izz, Ixy, Ixz, Iyz) about the COM, body frame
    capsules: list[Capsule] = field(default_factory=list)
    contacts: list[ContactSphere] = field(default_factory=list)
    sites: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Skeleton:
    name: str
    bodies: list[Body]  # parents before children; bodies[0] is the root (pelvis)
    height_m: float
    source: str = "kintwin anthropometric model"

    @property
    def mass_kg(self) -> float:
        return float(sum(b.mass_kg for b in self.bodies))

    @property
    def dofs(self) -> list[Dof]:
        return [d for b in self.bodies for d in b.dofs]

    @property
    def coordinate_names(self) -> list[str]:
        return [d.name for d in self.dofs]

    def body(self, name: str) -> Body:
        for b in self.bodies:
            if b.name == name:
                return b
        raise KeyError(f"no body named {name!r}; bodies: {[b.name for b in self.bodies]}")
