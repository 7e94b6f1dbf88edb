"""Reference trajectories for motion tracking, precomputed at the control rate.

For every trial (a :class:`~kintwin.motion.motion.Motion`) this module computes, once, the arrays
the tracking task reads at every control step:

* ``qpos`` (T, nq) and ``qvel`` (T, nv): MuJoCo state of the reference (``Motion.to_qpos`` and
  ``Motion.velocities``: cubic-spline derivatives, free-root conventions of MuJoCo);
* ``site_pos`` (T, S, 3): world positions of the tracked body sites from forward kinematics
  (default: pelvis origin, heels, toes, hands, head -- see :data:`DEFAULT_SITES`);
* ``joint_mask`` (34,): which hinge coordinates the trial really contains (the others are held
  at the model's neutral pose by ``to_qpos``, e.g. the arms of a lower-body IK file); used to
  report tracking errors over measured coordinates only.

Control rate: the motion is resampled (cubic spline) to ``rate_hz`` before differentiation, so
frame ``t`` of the reference is the target of control step ``t``. The default is 50 Hz, i.e. a
2 ms MuJoCo step (``SimOptions.timestep``) x 10 physics substeps per control step: fast enough
for the ~100 ms features of gait (foot strike, push-off), slow enough that one policy
evaluation is amortised over 10 physics steps (the CPU back end is physics-bound).

Ground alignment (on by default): a trial's kinematics rarely put the MODEL's feet exactly on
the simulated floor (other foot geometry, marker-based floor level), and treadmill trials have
the feet sliding backwards at belt speed while the pelvis stays in place. Both are impossible to
reproduce on the static floor at z = 0, so the reference is corrected once:

* floor: the whole trial is shifted vertically so that the 5th percentile over frames of the
  lowest contact-sphere bottom is at z = 0; for a twin whose soles are calibrated
  (``toes_set_floor=False``, the controller twin) the lowest heel or metatarsal sphere: IK that
  holds ``mtp_angle`` at zero sinks the toe tip through the floor in push-off (27-28 mm on
  hamner_run, ``floor.sole_spheres``), which put the floor that much under the loaded forefoot,
  and ``floor.calibrate_soles`` raises such a toe on its own. A twin with rigid, uncalibrated
  feet (the learned policy of the first wave) keeps the toes: without them its toes sink in
  push-off (its figures on subject01 and hamner_run get worse: vertical GRF 39 -> 45 and
  90 -> 120 %BW);
* a tilted capture frame: an overground trial whose stances lie on a slope is first rotated
  so that they lie level (``floor.level_floor``);
* treadmill: the belt velocity is estimated as the median horizontal velocity of the lowest
  contact point over the frames where it is within 1.5 cm of the floor; if faster than
  0.2 m/s while the pelvis progresses at less than half of it (a treadmill keeps the body in
  place), ``-v_belt * t`` is added to the pelvis position (and ``-v_belt`` to its velocity),
  turning treadmill walking into the equivalent overground walking (stance feet at rest).

Left/right augmentation: with ``mirror=True`` each trial is also added mirrored in the sagittal
plane (``Motion.mirrored``), doubling the data and balancing the two sides.

All trials are also concatenated into flat arrays (:class:`ReferenceSet`, ``offsets`` /
``lengths``) so the environments can gather the frames of many envs with one fancy index
(``offset[trial] + frame``), in numpy and equally in JAX for an MJX back end.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import mujoco
import numpy as np

from ..motion.motion import Motion
from .floor import FloorTilt, contact_spheres, level_floor, sole_spheres, sphere_bottoms

#: Sites tracked by the body-position reward (must exist in the model).
DEFAULT_SITES = ("pelvis_origin", "heel_r", "toe_r", "heel_l", "toe_l", "hand_r", "hand_l", "head")

DEFAULT_RATE_HZ = 50.0


@dataclass
class TrialReference:
    """One trial at the control rate."""

    name: str
    rate_hz: float
    qpos: np.ndarray  # (T, nq)
    qvel: np.ndarray  # (T, nv)
    site_pos: np.ndarray  # (T, S, 3) world positions of the tracked sites
    joint_mask: np.ndarray  # (n_hinges,) bool, coordinates present in the source motion
    mirrored: bool = False
    height_m: float | None = None
    mass_kg: float | None = None
    floor_shift_m: float = 0.0  # subtracted from the source's vertical pelvis position
    belt_velocity: tuple[float, float] = (0.0, 0.0)  # removed treadmill velocity (world x, y)
    qacc: np.ndarray | None = None  # (T, nv) accelerations (spline second derivative)
    floor_tilt: FloorTilt = FloorTilt()  # the capture frame's tilt, levelled before the rest

    @property
    def n_frames(self) -> int:
        return int(self.qpos.shape[0])

    @property
    def duration_s(self) -> float:
        return (self.n_frames - 1) / self.rate_hz

    def aligned(self, model: mujoco.MjModel, motion: Motion,
                rate_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(time_s, qpos) of ``motion`` at ``rate_hz`` (default this reference's rate), not
        low-passed, aligned as this reference was (levelled, its floor at z = 0, a treadmill belt
        removed)."""
        m = self.floor_tilt.apply(motion)
        if m.n_frames > 1:
            m = m.resampled(rate_hz or self.rate_hz)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # coordinates the trial lacks are held at neutral
            qpos = m.to_qpos(model, warn=False)
        qpos[:, 2] -= self.floor_shift_m
        qpos[:, 0:2] -= np.outer(m.time_s - m.time_s[0], self.belt_velocity)
        return m.time_s, qpos


@dataclass
class ReferenceSet:
    """Trials of one model, concatenated for vectorised lookup."""

    trials: list[TrialReference]
    site_names: tuple[str, ...]
    joint_names: tuple[str, ...]
    rate_hz: float
    qpos: np.ndarray = field(init=False)  # (sum T, nq)
    qvel: np.ndarray = field(init=False)  # (sum T, nv)
    site_pos: np.ndarray = field(init=False)  # (sum T, S, 3)
    joint_mask: np.ndarray = field(init=False)  # (n_trials, n_hinges)
    offsets: np.ndarray = field(init=False)  # (n_trials,) first row of each trial
    lengths: np.ndarray = field(init=False)  # (n_trials,) frames per trial
    #: (sum T, n_motors) inverse-dynamics feed-forward torques (N*m), set by the env on first use
    feedforward_nm: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self):
        if not self.trials:
            raise ValueError("a reference set needs at least one trial")
        self.qpos = np.concatenate([t.qpos for t in self.trials])
        self.qvel = np.concatenate([t.qvel for t in self.trials])
        self.site_pos = np.concatenate([t.site_pos for t in self.trials])
        self.joint_mask = np.stack([t.joint_mask for t in self.trials])
        self.lengths = np.array([t.n_frames for t in self.trials], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    @property
    def n_frames(self) -> int:
        return int(self.lengths.sum())

    def rows(self, trial: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """Flat row index of (trial, frame), frames clamped to the trial's last frame."""
        trial = np.asarray(trial)
        frame = np.minimum(np.asarray(frame), self.lengths[trial] - 1)
        return self.offsets[trial] + frame


def hinge_names(model: mujoco.MjModel) -> tuple[str, ...]:
    """Names of every non-free joint in qpos order."""
    return tuple(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(model.njnt)
                 if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_FREE)


def site_ids(model: mujoco.MjModel, names) -> np.ndarray:
    ids = []
    for n in names:
        i = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, n)
        if i < 0:
            raise ValueError(f"model has no site {n!r}")
        ids.append(i)
    return np.asarray(ids, int)


def forward_site_positions(model: mujoco.MjModel, qpos: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """(T, S, 3) world positions of ``sites`` for each row of ``qpos`` (forward kinematics)."""
    data = mujoco.MjData(model)
    out = np.zeros((len(qpos), len(sites), 3))
    for k, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out[k] = data.site_xpos[sites]
    return out


def centre_of_mass(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """(T, 3) world position of the whole-body centre of mass for each row of ``qpos``."""
    data = mujoco.MjData(model)
    out = np.zeros((len(qpos), 3))
    for k, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        out[k] = data.subtree_com[0]
    return out


def ground_alignment(model: mujoco.MjModel, qpos: np.ndarray, rate_hz: float,
                     floor_percentile: float = 5.0, contact_band_m: float = 0.015,
                     min_belt_speed: float = 0.2, toes_set_floor: bool = True) -> tuple[float, np.ndarray]:
    """(floor height, belt velocity (2,)) of a reference (module doc; ``toes_set_floor``: whether
    the toe spheres count for the floor level); belt 0 below
    ``min_belt_speed`` or when the pelvis itself progresses at half the belt speed or more
    (overground: the stance feet of marker IK slide 0.2-0.25 m/s on osim_c3d_walking2 while the
    pelvis moves 1.7 m/s)."""
    spheres = (contact_spheres if toes_set_floor else sole_spheres)(model)[0]
    if len(spheres) == 0 or len(qpos) < 3:
        return 0.0, np.zeros(2)
    bottom = sphere_bottoms(model, qpos, spheres)
    lowest = bottom[:, :, 2].min(axis=1)
    floor = float(np.percentile(lowest, floor_percentile))
    vel = np.gradient(bottom[:, :, :2], 1.0 / rate_hz, axis=0)
    idx = bottom[:, :, 2].argmin(axis=1)
    on_floor = lowest < floor + contact_band_m
    if on_floor.sum() < 3:
        return floor, np.zeros(2)
    belt = np.median(vel[np.arange(len(qpos)), idx][on_floor], axis=0)
    duration = (len(qpos) - 1) / rate_hz
    progress = np.linalg.norm(qpos[-1, 0:2] - qpos[0, 0:2]) / duration  # pelvis, m/s
    if np.linalg.norm(belt) < min_belt_speed or progress > 0.5 * np.linalg.norm(belt):
        belt = np.zeros(2)
    return floor, belt


def trial_reference(model: mujoco.MjModel, motion: Motion, rate_hz: float = DEFAULT_RATE_HZ,
                    site_names=DEFAULT_SITES, name: str | None = None,
                    filter_hz: float | None = None, mirrored: bool = False,
                    align_ground: bool = True, toes_set_floor: bool = True) -> TrialReference:
    """The reference arrays of one motion at ``rate_hz`` (optionally low-passed first; levelling,
    ground alignment and treadmill removal as in the module doc when ``align_ground``; floor
    level without the toe spheres unless ``toes_set_floor``)."""
    if motion.n_frames < 2:
        raise ValueError("a reference trial needs at least two frames")
    m, tilt = level_floor(model, motion) if align_ground else (motion, FloorTilt(why="no ground alignment"))
    if filter_hz is not None:
        m = m.resampled(m.rate_hz).filtered(filter_hz)
    m = m.resampled(rate_hz)
    if m.n_frames < 3:
        raise ValueError(f"trial {name or motion.source_file} is too short: {m.n_frames} frames "
                         f"at {rate_hz} Hz (need >= 3)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qpos = m.to_qpos(model, warn=False)
    qvel, qacc = m.velocities(model)
    floor, belt = 0.0, np.zeros(2)
    if align_ground:
        floor, belt = ground_alignment(model, qpos, rate_hz, toes_set_floor=toes_set_floor)
        t = m.time_s - m.time_s[0]
        qpos[:, 2] -= floor
        qpos[:, 0:2] -= np.outer(t, belt)
        qvel[:, 0:2] -= belt
    joints = hinge_names(model)
    mask = np.array([j in m.names for j in joints], bool)
    subject = motion.subject
    return TrialReference(
        name=name or (motion.source_file or "trial") + (" (mirrored)" if mirrored else ""),
        rate_hz=float(rate_hz), qpos=qpos, qvel=qvel,
        site_pos=forward_site_positions(model, qpos, site_ids(model, site_names)),
        joint_mask=mask, mirrored=mirrored,
        height_m=subject.height_m if subject else None, mass_kg=subject.mass_kg if subject else None,
        floor_shift_m=float(floor), belt_velocity=(float(belt[0]), float(belt[1])), qacc=qacc,
        floor_tilt=tilt)


def build_reference(model: mujoco.MjModel, motions: list[Motion], rate_hz: float = DEFAULT_RATE_HZ,
                    mirror: bool = False, site_names=DEFAULT_SITES,
                    filter_hz: float | None = None, align_ground: bool = True) -> ReferenceSet:
    """Reference arrays of every motion (and of its mirror image when ``mirror``)."""
    if isinstance(motions, Motion):
        motions = [motions]
    trials = []
    for k, mot in enumerate(motions):
        base = mot.source_file or f"trial{k}"
        trials.append(trial_reference(model, mot, rate_hz, site_names, base, filter_hz,
                                      align_ground=align_ground))
        if mirror:
            trials.append(trial_reference(model, mot.mirrored(), rate_hz, site_names,
                                          base + " (mirrored)", filter_hz, mirrored=True,
                                          align_ground=align_ground))
    return ReferenceSet(trials, tuple(site_names), hinge_names(model), float(rate_hz))


__all__ = ["DEFAULT_SITES", "DEFAULT_RATE_HZ", "TrialReference", "ReferenceSet", "build_reference",
           "trial_reference", "ground_alignment", "hinge_names", "site_ids",
           "forward_site_positions"]
