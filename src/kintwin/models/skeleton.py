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
    """One hinge (or slide) degree of freedom of a body's joint.

    A COUPLED dof (``coupled_to`` set) is not a coordinate of its own: its value is the quartic
    ``polycoef`` (c0, ..., c4) of the value of the coordinate ``coupled_to`` (its master, a dof of
    any body), ``c0 + c1 x + c2 x^2 + c3 x^3 + c4 x^4``. ``build.py`` makes it a MuJoCo joint tied
    to the master by a joint equality constraint, with no motor and no limits; ``Motion`` sets it
    from the master and inverse dynamics folds its generalized force into the master's (see
    ``kintwin.models.coupling``). Example: the gait2392/Hamner knee, whose tibia translates along
    splines of the knee angle (``knee_angle_r_tx``, ``knee_angle_r_ty``). Use ``polycoef`` with
    c0 = 0 so that the all-zero pose satisfies the coupling.
    """

    name: str
    axis: np.ndarray  # unit vector in the child body frame
    range: tuple[float, float]  # rad (hinge) or m (slide)
    default: float = 0.0
    kind: str = "hinge"  # "hinge" or "slide"
    peak_torque_nm: float = 100.0  # actuator strength (N*m or N)
    coupled_to: str | None = None  # master coordinate of a coupled dof (None: an independent dof)
    polycoef: tuple[float, ...] | None = None  # (c0, c1, c2, c3, c4) of a coupled dof

    @property
    def coupled(self) -> bool:
        return self.coupled_to is not None

    def coupled_value(self, master: np.ndarray | float) -> np.ndarray | float:
        """Value of a coupled dof for values of its master coordinate."""
        if self.polycoef is None:
            raise ValueError(f"dof {self.name!r} is not coupled")
        return np.polynomial.polynomial.polyval(master, np.asarray(self.polycoef, float))


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
    #: per-body length scales relative to generic gait2392 when the model says them (an imported
    #: OpenSim model: its geometry scale factors); None: estimated (``muscles.skeleton_scales``)
    segment_scales: dict[str, float] | None = None

    @property
    def mass_kg(self) -> float:
        return float(sum(b.mass_kg for b in self.bodies))

    @property
    def dofs(self) -> list[Dof]:
        """Every joint dof (MuJoCo joint), coupled ones included, in tree order."""
        return [d for b in self.bodies for d in b.dofs]

    @property
    def coordinate_names(self) -> list[str]:
        """The independent coordinates (dofs that are not coupled), in tree order."""
        return [d.name for d in self.dofs if d.coupled_to is None]

    @property
    def coupled_dofs(self) -> list[Dof]:
        """Dofs that are functions of another coordinate (no motor, set from their master)."""
        return [d for d in self.dofs if d.coupled_to is not None]

    def body(self, name: str) -> Body:
        for b in self.bodies:
            if b.name == name:
                return b
        raise KeyError(f"no body named {name!r}; bodies: {[b.name for b in self.bodies]}")
