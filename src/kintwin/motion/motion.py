"""The ``Motion`` type: generalized coordinates over time in kintwin's canonical convention.

Canonical convention (see ``kintwin.models.coordinates``): OpenSim short coordinate names, SI
units (rad, m), knee flexion positive, pelvis angles as OpenSim's body-fixed Z-X-Y sequence and
pelvis translations in OpenSim ground (Y up). Conversion to MuJoCo ``qpos``/``qvel``/``qacc``
(free root: world position, quaternion; world linear velocity, pelvis-frame angular velocity) is
exact up to floating point. Coupled joints of a model (``kintwin.models.coupling``: e.g. the
imported gait2392 knee's tibia translations) are not coordinates of a motion: ``to_qpos`` and
``velocities`` set them from their master coordinate (the polynomial and its chain rule), and
``from_qpos`` leaves them out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import mujoco
import numpy as np

from ..models import coupling
from ..models.coordinates import PELVIS_COORDINATES, TRANSLATIONS, mirror_name
from . import frames
from .spline import CubicSpline


@dataclass
class Subject:
    height_m: float | None = None
    mass_kg: float | None = None
    #: segment scales the kinematics were solved with (``kintwin ik``'s scales.json beside them)
    scales_file: str | None = None


@dataclass
class Motion:
    time_s: np.ndarray  # (T,)
    names: list[str]  # coordinate names, canonical
    values: np.ndarray  # (T, n) rad or m
    subject: Subject = field(default_factory=Subject)
    source_file: str | None = None
    source_convention: str = "canonical"  # "canonical" (knee flexion +) or "legacy" (gait2392, knee -)

    def __post_init__(self):
        self.time_s = np.asarray(self.time_s, float)
        self.values = np.asarray(self.values, float)
        if self.values.shape != (len(self.time_s), len(self.names)):
            raise ValueError(f"values shape {self.values.shape} does not match "
                             f"{len(self.time_s)} frames x {len(self.names)} coordinates")
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            raise ValueError(f"duplicate coordinates: {dup}")
        if len(self.time_s) > 1 and np.any(np.diff(self.time_s) <= 0):
            raise ValueError("time must be strictly increasing")
        if not np.all(np.isfinite(self.values)):
            rows = np.unique(np.nonzero(~np.isfinite(self.values))[0])
            raise ValueError(f"motion has NaN/inf values in {len(rows)} frame(s), first at "
                             f"t={self.time_s[rows[0]]:.4f} s")

    # --- basic access -------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return len(self.time_s)

    @property
    def rate_hz(self) -> float:
        return float((self.n_frames - 1) / (self.time_s[-1] - self.time_s[0]))

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise KeyError(f"motion has no coordinate {name!r}") from None

    def slice_time(self, start_s: float, stop_s: float) -> "Motion":
        keep = (self.time_s >= start_s - 1e-9) & (self.time_s <= stop_s + 1e-9)
        return replace(self, time_s=self.time_s[keep], values=self.values[keep])

    def mirrored(self) -> "Motion":
        """Left/right mirror image (sagittal plane): swaps sides, negates out-of-plane motion."""
        flip = {"pelvis_list", "pelvis_rotation", "pelvis_tz", "lumbar_bending", "lumbar_rotation",
                "neck_bending", "neck_rotation"}
        idx = [self.names.index(mirror_name(n)) for n in self.names]
        vals = self.values[:, idx].copy()
        for j, n in enumerate(self.names):
            if n in flip:
                vals[:, j] *= -1
        return replace(self, values=vals)

    def world_rotated(self, quat_wxyz: np.ndarray, about: np.ndarray) -> "Motion":
        """The motion seen in a world frame rotated by ``quat_wxyz`` (MuJoCo world, Z up) about
        the point ``about`` (MuJoCo world, m): the pelvis position and orientation move, the
        joints do not. The pelvis angles stay continuous, on the branch of their first frame."""
        tilt, lst, rot, tx, ty, tz = (self._get_or_zero(n) for n in PELVIS_COORDINATES)
        q = frames.quat_mul(np.broadcast_to(np.asarray(quat_wxyz, float), (self.n_frames, 4)),
                            frames.pelvis_quat_mujoco(tilt, lst, rot))
        old = np.stack([tilt, lst, rot], axis=-1)
        ang = np.unwrap(frames.pelvis_angles_from_quat(q), axis=0)  # continuous in time
        ang += 2 * np.pi * np.round((old[0] - ang[0]) / (2 * np.pi))  # the first frame's branch
        R = frames._quat_matrix(np.asarray(quat_wxyz, float))
        p = frames.osim_to_mujoco_vec(np.stack([tx, ty, tz], axis=-1)) - about
        trans = frames.mujoco_to_osim_vec(p @ R.T + about)
        new = dict(zip(PELVIS_COORDINATES, [*ang.T, *trans.T]))
        names = list(self.names) + [n for n in PELVIS_COORDINATES if n not in self.names]
        values = np.stack([new[n] if n in new else self.values[:, self.names.index(n)] for n in names],
                          axis=1)
        return replace(self, names=names, values=values)

    # --- spline-based resampling and derivatives ----------------------------------------------
    def _spline(self) -> CubicSpline:
        return CubicSpline(self.time_s, self.values)

    def resampled(self, rate_hz: float) -> "Motion":
        t = np.arange(self.time_s[0], self.time_s[-1] + 1e-9, 1.0 / rate_hz)
        return replace(self, time_s=t, values=self._spline()(t))

    def filtered(self, cutoff_hz: float, order: int = 4) -> "Motion":
        """Zero-lag Butterworth low-pass of every coordinate (uniform sampling required)."""
        from .filtering import lowpass

        dt = np.diff(self.time_s)
        if np.ptp(dt) > 1e-6 * dt.mean():
            raise ValueError("filtering needs uniformly sampled frames: resample first")
        return replace(self, values=lowpass(self.values, self.rate_hz, cutoff_hz, order=order))

    # --- MuJoCo state --------------------------------------------------------------------------
    def _model_columns(self, model: mujoco.MjModel) -> tuple[list[int], list[int], list[str]]:
        """Map motion columns to hinge/slide qpos addresses (coordinate joints only, not coupled
        ones); report model coordinates missing."""
        qadr, cols, missing = [], [], []
        _, joints = coupling.coordinate_joints(model)
        for j in joints:
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
            if name in self.names:
                qadr.append(model.jnt_qposadr[j])
                cols.append(self.names.index(name))
            else:
                missing.append(name)
        return qadr, cols, missing

    def missing_coordinates(self, model: mujoco.MjModel) -> list[str]:
        """The model's coordinates (the pelvis's six, then its joints') this motion lacks."""
        return [n for n in PELVIS_COORDINATES if n not in self.names] + self._model_columns(model)[2]

    def check_model(self, model: mujoco.MjModel) -> list[str]:
        """Motion coordinates the model does not have (e.g. locked in an imported model)."""
        joints = {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(model.njnt)}
        return [n for n in self.names if n not in joints and n not in PELVIS_COORDINATES]

    def to_qpos(self, model: mujoco.MjModel, warn: bool = True) -> np.ndarray:
        """(T, nq) MuJoCo positions. Coordinates the motion lacks stay at the model's neutral pose."""
        qadr, cols, missing = self._model_columns(model)
        if warn and missing:
            warnings.warn(f"motion lacks {len(missing)} model coordinate(s), held at neutral: {missing}",
                          stacklevel=2)
        extra = self.check_model(model)
        if warn and extra:
            warnings.warn(f"model has no coordinate(s) {extra} (locked or absent): ignored",
                          stacklevel=2)
        return self._qpos(model, qadr, cols)

    def _qpos(self, model: mujoco.MjModel, qadr=None, cols=None) -> np.ndarray:
        if qadr is None:
            qadr, cols, _ = self._model_columns(model)
        qpos = np.tile(model.qpos0, (self.n_frames, 1))
        qpos[:, qadr] = self.values[:, cols]
        tilt, lst, rot, tx, ty, tz = (self._get_or_zero(n) for n in PELVIS_COORDINATES)
        qpos[:, 0:3] = frames.osim_to_mujoco_vec(np.stack([tx, ty, tz], axis=-1))
        qpos[:, 3:7] = frames.pelvis_quat_mujoco(tilt, lst, rot)
        return coupling.couple_qpos(model, qpos)

    def velocities(self, model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
        """(qvel, qacc), each (T, nv), from cubic-spline derivatives of the coordinates.

        Consistent with MuJoCo: root linear velocity/acceleration in the world frame, root angular
        velocity in the pelvis frame and its time derivative.
        """
        qadr, cols, _ = self._model_columns(model)
        spl = self._spline()
        d1, d2 = spl(self.time_s, 1), spl(self.time_s, 2)
        dofadr = [model.jnt_dofadr[list(model.jnt_qposadr).index(a)] for a in qadr]
        qvel = np.zeros((self.n_frames, model.nv))
        qacc = np.zeros((self.n_frames, model.nv))
        qvel[:, dofadr] = d1[:, cols]
        qacc[:, dofadr] = d2[:, cols]
        pick = lambda a, n: (a[:, self.names.index(n)] if n in self.names else np.zeros(len(a)))
        trans = PELVIS_COORDINATES[3:]
        qvel[:, 0:3] = frames.osim_to_mujoco_vec(np.stack([pick(d1, n) for n in trans], -1))
        qacc[:, 0:3] = frames.osim_to_mujoco_vec(np.stack([pick(d2, n) for n in trans], -1))

        rots = PELVIS_COORDINATES[:3]

        def omega(t):
            v, dv = spl(t), spl(t, 1)
            ang = np.stack([v[:, self.names.index(n)] if n in self.names else 0 * t for n in rots], -1)
            rate = np.stack([dv[:, self.names.index(n)] if n in self.names else 0 * t for n in rots], -1)
            return frames.body_angular_velocity(ang, rate)

        h = 1e-5
        qvel[:, 3:6] = omega(self.time_s)
        qacc[:, 3:6] = (omega(self.time_s + h) - omega(self.time_s - h)) / (2 * h)
        if model.neq:
            coupling.couple_qvel_qacc(model, self._qpos(model, qadr, cols), qvel, qacc)
        return qvel, qacc

    @classmethod
    def from_qpos(cls, model: mujoco.MjModel, time_s: np.ndarray, qpos: np.ndarray,
                  **kwargs) -> "Motion":
        """Coordinates of every model joint from MuJoCo positions (pelvis angles unwrapped).
        Coupled joints (functions of another coordinate) are not coordinates: left out."""
        names, joints = coupling.coordinate_joints(model)
        cols = [model.jnt_qposadr[j] for j in joints]
        ang = np.unwrap(frames.pelvis_angles_from_quat(qpos[:, 3:7]), axis=0)
        trans = frames.mujoco_to_osim_vec(qpos[:, 0:3])
        values = np.concatenate([ang, trans, qpos[:, cols]], axis=1)
        return cls(time_s=time_s, names=list(PELVIS_COORDINATES) + names, values=values, **kwargs)

    def _get_or_zero(self, name: str) -> np.ndarray:
        return self[name] if name in self.names else np.zeros(self.n_frames)

    def reordered(self, names: list[str]) -> "Motion":
        """The motion with exactly these coordinates, in this order (absent ones are zero)."""
        vals = np.stack([self._get_or_zero(n) for n in names], axis=1)
        return replace(self, names=list(names), values=vals)


def is_translation(name: str) -> bool:
    return name in TRANSLATIONS or name.endswith(("_tx", "_ty", "_tz"))
