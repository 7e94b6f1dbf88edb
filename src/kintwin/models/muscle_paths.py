"""Fit MuJoCo muscle paths (fixed via points) to an OpenSim model's muscle-tendon lengths.

Why: MuJoCo spatial tendons run through points FIXED in their bodies, and kintwin's skeleton
freezes joint kinematics that OpenSim lets depend on a coordinate (gait2392's knee: the tibia
translates by about 1 cm with flexion). OpenSim's conditional path points (on/off with a
coordinate) and moving path points (location = functions of a coordinate: gait2392's quadriceps
insertion emulating the patella) cannot be expressed either. Taken literally, these give knee
moment arms 1-3 cm off (hamstrings, gastrocnemius, quadriceps).

What: for each muscle that crosses such a joint or has such points, the points next to the joint
crossing (and every conditional/moving point kept) are moved, by least squares, so that the MuJoCo
path length reproduces the file model's own length (OpenSim kinematics, ``osim_muscles``) over
sampled poses of the coordinates the muscle crosses (single-coordinate sweeps over gait ranges plus
random combinations), with a weak pull towards the original locations. Matching the length
curve over the range also matches its derivative, the moment arm. The residual misfit is reported.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from .skeleton import Skeleton

#: Canonical coordinate ranges (deg) the fit samples (gait and a margin); others use +-20 deg.
FIT_RANGES_DEG = {
    "hip_flexion": (-25, 75), "hip_adduction": (-20, 15), "hip_rotation": (-25, 25),
    "knee_angle": (0, 100), "ankle_angle": (-30, 25), "subtalar_angle": (-15, 15),
    "mtp_angle": (-15, 45), "lumbar_extension": (-30, 20), "lumbar_bending": (-15, 15),
    "lumbar_rotation": (-15, 15),
}


def fit_range(coordinate: str) -> tuple[float, float]:
    base = coordinate[:-2] if coordinate.endswith(("_r", "_l")) else coordinate
    lo, hi = FIT_RANGES_DEG.get(base, (-20.0, 20.0))
    return float(np.deg2rad(lo)), float(np.deg2rad(hi))


class SkeletonFK:
    """Forward kinematics of a ``Skeleton`` (as MuJoCo builds it) in numpy, batched over poses."""

    def __init__(self, skeleton: Skeleton):
        self.skeleton = skeleton
        self.bodies = skeleton.bodies

    @staticmethod
    def _rot(axis, angles):
        return Rotation.from_rotvec(np.outer(angles, axis)).as_matrix()  # (P, 3, 3)

    def transforms(self, poses: list[dict[str, float]]) -> dict[str, np.ndarray]:
        """{body: (P, 4, 4)} body frames in the root frame for each pose (canonical values)."""
        P = len(poses)
        out: dict[str, np.ndarray] = {}
        for b in self.bodies:
            X = np.tile(np.eye(4), (P, 1, 1))
            if b.parent is None:
                out[b.name] = X
                continue
            T = np.eye(4)
            T[:3, :3] = Rotation.from_quat(np.roll(b.quat_in_parent, -1)).as_matrix()
            T[:3, 3] = b.pos_in_parent
            X = out[b.parent] @ T
            for d in b.dofs:
                if d.coupled_to:  # a function of its master coordinate (e.g. knee translations)
                    ang = np.asarray(d.coupled_value(np.array([p.get(d.coupled_to, 0.0) for p in poses])))
                else:
                    ang = np.array([p.get(d.name, 0.0) for p in poses])
                J = np.tile(np.eye(4), (P, 1, 1))
                if d.kind == "hinge":
                    R = self._rot(np.asarray(d.axis, float), ang)
                    J[:, :3, :3] = R
                    J[:, :3, 3] = b.joint_pos - R @ b.joint_pos
                else:
                    J[:, :3, 3] = np.outer(ang, d.axis)
                X = X @ J
            out[b.name] = X
        return out


def sample_poses(coordinates: list[str], n_sweep: int = 9, n_random: int = 30,
                 seed: int = 0) -> list[dict[str, float]]:
    """Single-coordinate sweeps over ``fit_range`` plus random combinations (canonical values)."""
    poses = [{}]
    for c in coordinates:
        lo, hi = fit_range(c)
        poses += [{c: float(v)} for v in np.linspace(lo, hi, n_sweep)]
    if len(coordinates) > 1:
        rng = np.random.default_rng(seed)
        for _ in range(n_random):
            poses.append({c: float(rng.uniform(*fit_range(c))) for c in coordinates})
    return poses


def path_lengths(points: list[tuple[str, np.ndarray]], X: dict[str, np.ndarray]) -> np.ndarray:
    """(P,) lengths of a path of (body, location) points at the poses of ``X``."""
    world = [X[b][:, :3, :3] @ p + X[b][:, :3, 3] for b, p in points]
    return sum(np.linalg.norm(a - c, axis=1) for a, c in zip(world[:-1], world[1:]))


def fit_points(points: list[tuple[str, np.ndarray]], free: list[int], X: dict[str, np.ndarray],
               target: np.ndarray, reg_m: float = 0.02, max_shift_m: float = 0.05
               ) -> tuple[list[tuple[str, np.ndarray]], dict]:
    """Move the ``free`` points (indices) so the path length matches ``target`` (P,) at the poses.

    Least squares on length errors plus ``(shift / reg_m) * 1 mm`` per coordinate of each shift
    (a 2 cm move costs like a 1 mm length error), shifts bounded by ``max_shift_m``.
    """
    base = [p.copy() for _, p in points]
    n = len(free)

    def make(x):
        pts = [(b, p.copy()) for (b, _), p in zip(points, base)]
        for k, i in enumerate(free):
            pts[i] = (pts[i][0], base[i] + x[3 * k:3 * k + 3])
        return pts

    def resid(x):
        return np.r_[path_lengths(make(x), X) - target, x * (0.001 / reg_m)]

    before = path_lengths(points, X) - target
    if n == 0:
        return points, {"rms_before_mm": float(1000 * np.sqrt(np.mean(before ** 2))),
                        "rms_after_mm": float(1000 * np.sqrt(np.mean(before ** 2))), "moved_mm": []}
    sol = least_squares(resid, np.zeros(3 * n), bounds=(-max_shift_m, max_shift_m), x_scale=0.01)
    pts = make(sol.x)
    after = path_lengths(pts, X) - target
    return pts, {"rms_before_mm": float(1000 * np.sqrt(np.mean(before ** 2))),
                 "rms_after_mm": float(1000 * np.sqrt(np.mean(after ** 2))),
                 "moved_mm": [float(1000 * np.linalg.norm(sol.x[3 * k:3 * k + 3])) for k in range(n)]}
