"""Distilling the whole-body controller into a policy (DAgger), so the twin runs with no
controller in the loop.

The teacher is ``control/wholebody.WholeBodyController`` in its own simulation
(``twin/controlled.prepare``: calibrated soles, its contact options, 250 Hz control). The student
is the PPO code's ``GaussianPolicy`` (its mean, run as a ``learn/policy.Policy``: the
:class:`DistilledPolicy` is one) on the tracking task's observation
(``sim/tracking.observation``) at the same 250 Hz, with K reference frames ahead
(``DISTILL_TRACKING.future_frames``: 4, 20, 48 and 100 ms). Its action is the controller's
output in actuator units: joint torque / peak torque of each motor, residual force / (m g) and
moment / (m g h) (the residual actuators' gears), so an action of 1 is the motor's peak torque.

Muscle-driven twin (``distill(..., muscles=MuscleDrive)``, ``kintwin train --distill --muscles``):
the teacher plans muscle activations and sends the excitations that reach them; the policy also
observes the activation state and its muscle actions are those excitations (``MUSCLE_ACTIONS``),
MuJoCo's activation dynamics doing the rest. The feed-forward of the muscles is static
optimization of the same kinematics-only inverse dynamics (``twin/controlled.feedforward_ctrl``:
activations, which are also the excitations that hold them), so the policy again learns the
feedback. Actions that were the planned mean activations instead (a smooth signal, turned into
excitations by inverting the activation dynamics) co-contracted: a muscle the teacher relaxes
has the label ``rho a0`` (its decay), and any error of the fit above it, amplified by
``1 / (1 - rho)`` (~10 for a relaxing muscle at 250 Hz), held the excitation up; alone on
subject01 the policy's mean activation was 0.21-0.26 against the controller's 0.11, with reserves
against it. As excitations (three runs: two seeds, 12 and 20 DAgger iterations): mean activation
0.12-0.13, activations vs OpenSim SO median r 0.79-0.84 (before 0.70-0.75), worst hip/knee/ankle
reserve 6.0-7.8 % (8.2-12.3), joint MAE 0.58-0.74 deg (0.62-0.69) (BENCHMARKS.md, issue 18).

The policy also observes what the reference asks for (``TrackingConfig.observe_feedforward``): the
feed-forward its action is added to and the kinematics-only contact estimate's load on each foot,
now and at the K frames ahead. A policy of one trial can learn them from the trial's phase; a
policy of many trials cannot. Measured (BENCHMARKS.md, issues 16 and 18): the held-out imitation
error over the walking library is 6-8 % lower with them, and DAgger over that library completes it
alone from iteration 3-4 (without: 0.89-0.93 at iteration 4); the muscle policy of subject01 tracks
better (0.59 against 0.66-0.68 deg). On a trial the library has not seen the closed loop mostly
gains: alone on subject01 (not in the library) two 60-rollout walking libraries gave 0.79 and 0.83
deg, 8.7 %BW of vertical GRF (without: 1.61-1.68 deg, 13.1-13.5 %BW), a 120-rollout one 3.88 deg;
later, with the committed code, seed 0 gave 3.26 deg (52 %BW) and seed 1, shipped, 0.88 deg (8.2
%BW); on one trial's torque policy they change nothing measurable.

DAgger (Ross et al. 2011): iteration 0 rolls out the teacher; iteration j > 0 rolls out the
student, the teacher acting instead at each control step with probability ``beta0 * beta_decay^j``.
Every visited state is labelled with the teacher's action, and so are ``augment_copies``
copies of it with the joints perturbed (labelled by the teacher alone, not simulated: more
labels of the feedback for the cost of the QP); the policy mean is re-fitted (MSE,
``learn/bc.behavior_clone``) on all labels so far. Rollouts start at random frames of the trials
with a small random perturbation of the joint angles and velocities (``start_noise_rad``,
``start_noise_rad_s``), so the labels cover the states a student that is slightly off visits.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from ..control.wholebody import WholeBodyConfig, WholeBodyController
from ..models.muscles import muscle_actuators
from ..models.build import GRAVITY
from ..sim import floor
from ..sim.ground_reaction import foot_sensor_slices
from ..sim.tracking import (FREE_QPOS, FREE_QVEL, TrackingConfig, contact_flags, obs_size, observation,
                            pose_error)
from .policy import Policy

DISTILL_TRACKING = TrackingConfig(control_rate_hz=250.0, substeps=2, future_frames=(1, 5, 12, 25),
                                  observe_foot_forces=True, observe_previous_controls=True,
                                  observe_feedforward=True)


@dataclass
class DistillConfig:
    iterations: int = 8
    rollouts_per_iteration: int = 40
    beta0: float = 1.0  #: probability that the teacher acts, iteration 0 (then x beta_decay)
    beta_decay: float = 0.75
    start_noise_rad: float = 0.02  #: joint-angle perturbation of rollout starts (rad, std)
    start_noise_rad_s: float = 0.2  #: joint-velocity perturbation (rad/s, std)
    #: noise added to the teacher's executed action (actuator units: 0.05 = 5 % of each motor's
    #: peak torque, std), labelled with its clean action (DART, Laskey et al. 2017)
    action_noise: float = 0.03
    #: states further than this from the reference (RMS joint angle error, rad; pelvis
    #: position error, m) are not labelled and the teacher takes over for the rest of the rollout
    max_joint_error_rad: float = 0.25
    max_pelvis_error_m: float = 0.12
    #: rollouts end after this long (s; None: at the trial's end), so long trials give many
    #: starts rather than a few long rollouts
    rollout_s: float | None = None
    #: labelled states also labelled as this many perturbed copies (joints perturbed by the
    #: start noise), with the teacher alone: no simulation of the copies
    augment_copies: int = 3
    epochs: int = 20  #: passes over the aggregated labels per iteration
    batch_size: int = 512
    learning_rate: float = 1e-3
    #: each fit's learning rate decays (cosine) to this fraction of ``learning_rate``: with a
    #: constant rate the policy alone tracked subject01 within 0.03-0.05 rad RMS, with the decay
    #: within 0.015 (joint MAE 1.23-1.43 -> 0.57-0.58 deg, bench_distill seeds 0 and 1)
    final_lr_fraction: float = 0.05
    policy_hidden: tuple[int, ...] = (512, 256)
    #: weigh each action dimension's squared error by the inverse of its labels' variance
    #: (``learn/bc.spread_weights``, where its measured effect is given)
    spread_weighted_fit: bool = True
    #: after each iteration the policy runs alone, deterministically, from this many perturbed
    #: random states of each trial (drawn once) and from its first frame to the trial's end
    #: (``evaluation_episodes``), scored on tracking and
    #: kinetics together (``learn.finetune.evaluate``: joint MAE, per-foot vertical GRF against
    #: the kinematics-only estimate, residual, the muscle twin's hip, knee and ankle reserves,
    #: completed fraction); the iteration that completes
    #: most, then scores best, is returned. Joint error alone (2 starts per trial) did not tell
    #: apart walking-library policies that stumbled through subject01 (46-52 %BW) and one that
    #: reached the controller's kinetics (8.7 %BW): each evaluated at 0.023-0.024 rad RMS
    #: (BENCHMARKS, issue 16)
    eval_starts: int = 4
    seed: int = 0
    #: processes that run the rollouts (1: this one); the labels do not depend on it
    workers: int = 1


#: the muscle-driven twin's distillation (``distill(..., muscles=...)`` without a config or a
#: teacher; ``default_config``, ``default_teacher``). Fits of 40 epochs instead of 20: alone on
#: subject01 (teacher 0.15, seeds 0-3) joint MAE 0.62-0.88 -> 0.59-0.60 deg, worst hip/knee/ankle
#: reserve 4.4-6.2 -> 3.8-4.4 %. A teacher whose hip, knee and ankle reserves
#: cost 0.15 per (N*m)^2 instead of the controller's 0.1 (the labels only; the twin's controller
#: keeps its own): the policy's worst reserve 4.4-6.2 % over five seeds against 5.3-8.1 % over two;
#: on the generated sample walk 5.0 against 6.5 % (BENCHMARKS.md, issue 18, "A learned muscle policy")
MUSCLE_EPOCHS = 40
MUSCLE_TEACHER_RESERVE_WEIGHT = 0.15
#: the teacher tracks the toes and subtalar joints of a trial that moves them
#: (``WholeBodyConfig.tight_when_moved``) at ``w_joint``, not ``w_joint_loose``. Loose, its labels
#: hardly correct a joint the student holds off the reference: the controller's own run keeps it on
#: the reference with little torque, but in the states the student visits the teacher accepts the
#: joint where it is (the generated sample walk, muscle twin: the policy's right toes 4 deg down
#: through stance, its labels asking the same). Measured on that walk (joint MAE of the policy
#: alone; BENCHMARKS.md, issues 16 and 18): torque twin, 3 seeds, loose 0.60-0.67 deg, toes tight
#: 0.58-0.61 (toes 1.0-1.5 deg against 2.0-3.6), toes and subtalar tight 0.55-0.58; muscle
#: twin, 3 seeds, toes tight 0.66-0.82 (mean 0.74), toes and subtalar tight 0.68-0.74 (mean 0.71;
#: subtalar 0.7-0.8 deg against 1.6-2.1). On a trial whose IK locks them (subject01) they stay
#: loose: its toes tracked tightly at 0 deg (one seed) the muscle policy stumbled (2.70 deg, 39 %BW)
TEACHER_TIGHT_WHEN_MOVED = ("mtp_angle", "subtalar_angle")
#: per (rad/s^2)^2: the torque twin's teacher tracks the lumbar joints at 10x ``w_joint``
#: (``WholeBodyConfig.w_joint_trunk``). The controller sways the trunk beyond the reference (the
#: QP gives up trunk accuracy before residual; its lumbar errors are 0.9-2.1 deg), and a student
#: copies that sway with lag; labelled tighter, the policy's are 0.15-0.35 deg (seed 0).
#: Torque twin, policy alone, 3 seeds each (BENCHMARKS.md, issue 16): subject01 joint MAE
#: 0.46-0.50 deg (mean 0.473; 3x ``w_joint``: 0.45-0.48, mean 0.467; ``w_joint``: 0.52-0.53),
#: per-foot vertical GRF 7.4-7.7 %BW (3x: 7.5-8.4), moments 0.191-0.198 N*m/kg (3x:
#: 0.190-0.208); sample walk 0.46-0.48 deg, below the controller's 0.49 (3x: 0.42-0.56;
#: ``w_joint``: 0.55-0.58). Over the walking library (3x: 3 seeds; 10x: 2) the sample walk gains
#: as well, but subject01's moments lose (0.21-0.26 N*m/kg against 0.19) and the library score is
#: worse: the shipped walking policy was distilled at ``w_joint``. The muscle teacher keeps
#: ``w_joint``: gait2392's lumped trunk muscles hold a tight trunk by co-contraction, and on
#: subject01 its policy lost at 3x (0.64 / 0.72 deg against 0.59 / 0.60)
TEACHER_TRUNK_WEIGHT = 1.0
#: Hz: DAgger's teacher tracks an unloaded foot's ankle, subtalar and toes with a PD
#: of this natural frequency instead of ``joint_hz`` (``WholeBodyConfig.swing_joint_hz``). At 4 Hz
#: the teacher's swing foot is held by ~12 N*m/rad (its 0.02 kg*m^2 about the ankle x w^2), so a
#: student whose torque is 1 N*m off holds the foot degrees off: the shipped walking policy's
#: left ankle sat 3-11 deg plantarflexed through subject01's swing. Labelled at 12 Hz the student
#: learns a swing foot that holds its reference. Torque twin, policy alone (BENCHMARKS.md,
#: issue 16, "The swing foot tracked tightly"): subject01 joint MAE 0.41-0.45 deg over 3 seeds
#: (4 Hz: 0.46-0.50), sample walk 0.44 (0.46-0.48); the kinetics within the seeds' spread.
#: Muscle twin (issue 18, "A learned muscle policy"), 3 seeds each: subject01 0.547-0.600 deg
#: (4 Hz: 0.589-0.603), worst hip/knee/ankle reserve 3.9-4.7 % (3.8-4.4), sample walk 0.64-0.74
#: (0.68-0.74)
TEACHER_SWING_HZ = 12.0


def default_config(muscles: bool = False, **settings) -> DistillConfig:
    """``DistillConfig(**settings)``, for the muscle-driven twin with ``MUSCLE_EPOCHS`` unless
    ``settings`` name the epochs."""
    if muscles:
        settings.setdefault("epochs", MUSCLE_EPOCHS)
    return DistillConfig(**settings)


def default_teacher(muscles: bool = False) -> WholeBodyConfig:
    """The controller DAgger labels with: the whole-body controller's defaults with the toes and
    subtalar joints of a trial that moves them tracked as tightly as the other joints
    (``TEACHER_TIGHT_WHEN_MOVED``) and the swing foot at ``TEACHER_SWING_HZ``; for the
    torque-driven twin with the trunk tracked at ``TEACHER_TRUNK_WEIGHT``, for the muscle-driven
    twin with ``MUSCLE_TEACHER_RESERVE_WEIGHT``."""
    settings = ({"w_reserve": MUSCLE_TEACHER_RESERVE_WEIGHT} if muscles
                else {"w_joint_trunk": TEACHER_TRUNK_WEIGHT})
    return WholeBodyConfig(tight_when_moved=TEACHER_TIGHT_WHEN_MOVED, swing_joint_hz=TEACHER_SWING_HZ,
                           **settings)


KIND = "distilled from the whole-body controller"  #: ``Policy.kind`` (and checkpoint "kind")
#: what a muscle policy's muscle actions are (checkpoint "muscle_actions"; module doc)
MUSCLE_ACTIONS = "excitation"


class PolicyDriver:
    """Drives a model with a policy: ``driver(data, i) -> ctrl`` (the inverse-dynamics
    feed-forward plus the policy's mean action, clipped to the actuators' range) at reference
    frame ``i``; the policy observes with its own ``tracking`` settings."""

    def __init__(self, policy: Policy, model, cref, subject):
        self.policy, self.tracking, self.cref, self.model = policy, policy.tracking, cref, model
        tracking = self.tracking
        ids, _, self.side = floor.contact_spheres(model)
        self.geoms = np.asarray(ids)
        self.radius = model.geom_size[self.geoms, 0]
        self.n = int(round(1.0 / (model.opt.timestep * tracking.control_rate_hz)))
        self.offsets = np.asarray(tracking.future_frames) * self.n
        self.subject = np.asarray([subject], float)
        self.bw_n = subject[1] * GRAVITY
        self.sensors = foot_sensor_slices(model)  # per foot: force, torque, point (world)
        if tracking.observe_foot_forces and len(self.sensors) != 2:
            raise ValueError("the policy observes the foot forces: the model needs foot sensors")
        want = (obs_size(model.nq - FREE_QPOS, tracking, model.na, model.nu), model.nu)
        if (policy.obs_size, policy.action_size) != want:
            from ..errors import InputError

            raise InputError(f"the policy was distilled for {policy.action_size} actuators and "
                             f"{policy.obs_size} observations; this model has {want[1]} and {want[0]}",
                             advice="distil a policy for this model (kintwin train --distill)")
        from ..twin.controlled import ctrl_limits

        self.lo, self.hi = ctrl_limits(model)
        if tracking.observe_feedforward:
            self.load_bw = cref.foot_load_n(model) / self.bw_n  # (Tc, 2) per prior row
        self.muscles = muscle_actuators(model)
        self.actadr = model.actuator_actadr[self.muscles]


    def observe(self, data, i: int, forward: bool = True) -> np.ndarray:
        """The tracking observation (1, obs) of the state in ``data`` at reference frame ``i``;
        ``forward=False`` when ``mj_forward`` already ran on this state (e.g. by the teacher)."""
        return self.observe_many([data], [i], forward)

    def observe_many(self, datas, frames, forward: bool = True) -> np.ndarray:
        """Observations (N, obs) of N simulations of this model, each at its reference frame."""
        if forward:
            for data in datas:  # sphere positions and foot forces of this state
                mujoco.mj_forward(self.model, data)
        last = len(self.cref.qpos) - 1
        k = np.minimum(np.asarray(frames)[:, None] + self.offsets, last)
        qpos = np.stack([d.qpos for d in datas])
        contact = contact_flags(np.stack([d.geom_xpos[self.geoms, 2] for d in datas]), self.radius,
                                self.side, self.tracking.contact_threshold_m)
        force = np.stack([np.stack([d.sensordata[self.sensors[s]] for s in ("r", "l")]) for d in datas])
        loaded = np.linalg.norm(force[..., 0:3], axis=-1, keepdims=True) > 0
        point = np.where(loaded, force[..., 6:9], qpos[:, None, :3])  # unloaded: at the pelvis
        force = np.concatenate([force[..., 0:3] / self.bw_n, point], axis=-1)
        return observation(self.tracking, qpos, np.stack([d.qvel for d in datas]), contact,
                           self.cref.qpos[k], self.cref.qvel[k], np.repeat(self.subject, len(datas), 0),
                           force if self.tracking.observe_foot_forces else None,
                           np.stack([d.act for d in datas]) if self.model.na else None,
                           np.stack([d.ctrl for d in datas]) if self.tracking.observe_previous_controls else None,
                           self._feedforward_obs(np.asarray(frames), k) if self.tracking.observe_feedforward else None)

    def _feedforward_obs(self, frames: np.ndarray, future: np.ndarray) -> np.ndarray:
        """(N, nu + 2 (K + 1)) the feed-forward controls at ``frames`` and the estimated foot
        loads / body weight at ``frames`` and the ``future`` (N, K) frames."""
        rows = self.cref.prior_index[np.concatenate([frames[:, None], future], axis=1)]
        return np.concatenate([self.cref.feedforward_ctrl[rows[:, 0]],
                               self.load_bw[rows].reshape(len(frames), -1)], axis=1)

    def feedforward(self, i: int) -> np.ndarray:
        """The reference's inverse-dynamics controls at frame ``i`` (``feedforward_ctrl``; for a
        muscle model the activations of static optimization of those torques)."""
        return self.cref.feedforward_ctrl[self.cref.prior_index[i]]

    def clip(self, ctrl: np.ndarray) -> np.ndarray:
        """Controls within the actuators' ranges ([-1, 1] motors, [0, 1] muscle excitations)."""
        return np.clip(ctrl, self.lo, self.hi)

    def act(self, data, obs: np.ndarray, i: int) -> np.ndarray:
        """Controls = feed-forward + the policy's mean feedback, clipped to the actuator range."""
        return self.controls(data, self.feedforward(i) + self.policy.mean_action(obs)[0])

    def controls(self, data, action: np.ndarray) -> np.ndarray:
        """The actuator controls of an action: clipped to the actuators' range. A fresh
        simulation starts its muscles at the activation their first excitation holds (as the
        controller starts them where its first plan needs them)."""
        ctrl = self.clip(action)
        if len(self.muscles) and data.time == 0.0:
            data.act[self.actadr] = ctrl[self.muscles]
        return ctrl

    def __call__(self, data, i: int) -> np.ndarray:
        return self.act(data, self.observe(data, i), i)


@dataclass(eq=False)
class DistilledPolicy(Policy):
    """A policy distilled from the whole-body controller, with what it needs to run: the
    controller's settings (its simulation: soles, contact options, control rate)."""

    tracking: TrackingConfig | None = DISTILL_TRACKING
    kind: str = KIND
    controller: WholeBodyConfig = field(default_factory=WholeBodyConfig)
    #: the muscle source (``.osim``) of a policy distilled on the muscle-driven twin, else None
    muscles: str | None = None
    #: the reserve motors' gear (N*m) it was distilled with: its reserve actions are in these units
    reserves_nm: float | None = None

    def driver(self, model, cref, subject) -> PolicyDriver:
        return PolicyDriver(self, model, cref, subject)

    def save(self, path, metadata: dict | None = None):
        """A ``learn/checkpoint`` file (kind "distilled") with the tracking and controller
        settings the policy needs."""
        from .checkpoint import save_checkpoint

        state, config = self.train_state()
        meta = {"kind": KIND, "tracking": self.tracking.to_dict(),
                "controller": dataclasses.asdict(self.controller), "muscles": self.muscles,
                "reserves_nm": self.reserves_nm,
                "muscle_actions": MUSCLE_ACTIONS if self.muscles is not None else None,
                **(metadata or {})}
        return save_checkpoint(path, state, config, meta)


def load_distilled(path, policy: Policy | None = None) -> DistilledPolicy:
    """A policy written by ``DistilledPolicy.save`` (``policy``: the file, already read by
    ``Policy.read``)."""
    from ..errors import InputError

    policy = policy or Policy.read(path)
    meta = policy.metadata
    if policy.kind != KIND:
        raise InputError(f"{path}: not a policy distilled from the whole-body controller")
    tracking = TrackingConfig.from_dict({**meta["tracking"],
                                         "future_frames": tuple(meta["tracking"]["future_frames"])})
    muscles = meta.get("muscles")
    if muscles is not None and meta.get("muscle_actions") != MUSCLE_ACTIONS:
        raise InputError(f"{path}: a muscle policy whose muscle actions are planned activations "
                         f"(distilled before they became excitations); this kintwin runs "
                         f"{MUSCLE_ACTIONS}s", advice="distil it again: kintwin train --distill --muscles")
    return DistilledPolicy(policy.weights, tracking, KIND, meta, Path(path),
                           WholeBodyConfig(**meta["controller"]), muscles, meta.get("reserves_nm"))


class _Dagger:
    """One rollout's driver: the teacher (with action noise) or the student acts; states near the
    reference are labelled with the teacher's clean action; past the limits the teacher takes over."""

    def __init__(self, teacher: WholeBodyController, student: PolicyDriver, beta: float, rng,
                 cfg: DistillConfig):
        self.teacher, self.student, self.beta, self.rng, self.cfg = teacher, student, beta, rng, cfg
        self.obs, self.labels, self.lost = [], [], False
        self.tracked = 0  # control steps labelled (without their perturbed copies)
        self.scratch = None

    def __call__(self, data, i: int) -> np.ndarray:
        label = self.teacher(data, i)
        ref = self.student.cref.qpos[i]
        if not self.lost:
            pelvis_m, joints_rad = pose_error(data.qpos, ref)
            self.lost = joints_rad > self.cfg.max_joint_error_rad or pelvis_m > self.cfg.max_pelvis_error_m
        if self.lost:
            return label
        obs = self.student.observe(data, i, forward=False)  # the teacher ran mj_forward
        self.obs.append(obs[0])
        self.labels.append(label - self.student.feedforward(i))
        self.tracked += 1
        if self.cfg.augment_copies and data.time > 0:
            self._augment(data, i)
        if self.beta >= 1.0 or self.rng.random() < self.beta:
            return self.student.clip(label + self.rng.normal(0, self.cfg.action_noise, label.shape))
        return self.student.act(data, obs, i)

    def _augment(self, data, i: int):
        """Label ``augment_copies`` perturbed copies of the state in ``data`` (not simulated);
        the teacher's own state (its last plan) is left as it was."""
        t, model = self.teacher, self.student.model
        if self.scratch is None:
            self.scratch = mujoco.MjData(model)
        s, nj = self.scratch, model.nq - FREE_QPOS
        for _ in range(self.cfg.augment_copies):
            mujoco.mj_copyData(s, model, data)
            s.qpos[FREE_QPOS:] += self.rng.normal(0, self.cfg.start_noise_rad, nj)
            s.qvel[FREE_QVEL:] += self.rng.normal(0, self.cfg.start_noise_rad_s, nj)
            with t.state_kept():
                label = t(s, i)
            self.obs.append(self.student.observe(s, i, forward=False)[0])
            self.labels.append(label - self.student.feedforward(i))


def imitation_loss(policy: Policy, obs: np.ndarray, labels: np.ndarray) -> float:
    """Mean squared difference (actuator units) of the policy mean from the (feedback) labels."""
    return float(np.mean((policy.mean_action(obs) - np.asarray(labels, np.float32)) ** 2))


@dataclass
class Teaching:
    """A trial in the teacher's simulation (``twin/controlled.prepare``) with its teacher."""

    model: object
    cref: object
    teacher: WholeBodyController
    subject: tuple[float, float]  # height m, mass kg
    joint_mask: np.ndarray  # (n hinges,) bool: the coordinates the trial measured


def teaching(trials, controller: WholeBodyConfig | None = None, muscles=None) -> list[Teaching]:
    """``Teaching`` of each ``(skeleton, motion)`` (``muscles``: a ``twin.controlled.MuscleDrive``
    for the muscle-driven twin)."""
    from ..twin.controlled import prepare

    wcfg = controller or default_teacher(muscles is not None)
    out = []
    for skeleton, motion in trials:
        model, cref, ref, _ = prepare(skeleton, motion, wcfg, muscles=muscles, feedforward=True)
        out.append(Teaching(model, cref, WholeBodyController(model, cref, skeleton.height_m, wcfg),
                            (skeleton.height_m, skeleton.mass_kg), np.asarray(ref.joint_mask, bool)))
    return out


def random_start(sim: Teaching, rng, noise_rad: float, noise_rad_s: float):
    """(frame, (joint angle offsets rad, joint velocity offsets rad/s)): a random control frame of
    the trial (at least 10 control steps before its end) and a normal perturbation of the joints
    (stds ``noise_rad``, ``noise_rad_s``), drawn from ``rng`` in that order."""
    n, nj = sim.teacher.substeps, sim.model.nq - FREE_QPOS
    last = len(sim.cref.qpos) - 1 - 10 * n
    frame = int(rng.integers(0, max(last, 1) // n)) * n
    return frame, (rng.normal(0, noise_rad, nj), rng.normal(0, noise_rad_s, nj))


def collect(sims: list[Teaching], policy: Policy, beta: float, cfg: DistillConfig, rng,
            rollouts: int, first: int = 0, pool: RolloutPool | None = None):
    """(observations, feedback labels, tracked fraction per rollout) of ``rollouts`` DAgger
    rollouts (trials in turn from ``first``) from random frames with perturbed starts. Each
    rollout draws from its own generator, seeded from ``rng``, so ``pool`` (rollouts in worker
    processes) returns exactly what this process would."""
    seeds = rng.integers(0, 2 ** 63 - 1, size=rollouts)
    tasks = [((first + r) % len(sims), int(seeds[r])) for r in range(rollouts)]
    if pool is None:
        results = [rollout(sims[k], policy, beta, cfg, seed) for k, seed in tasks]
    else:
        results = pool.map(policy, beta, cfg, tasks)
    obs = np.concatenate([r[0] for r in results])
    labels = np.concatenate([r[1] for r in results])
    return obs, labels, [r[2] for r in results]


def rollout(sim: Teaching, policy: Policy, beta: float, cfg: DistillConfig, seed: int):
    """(observations, feedback labels, tracked fraction) of one DAgger rollout of ``sim`` from a
    random frame with a perturbed start, drawn from ``np.random.default_rng(seed)``."""
    from ..twin.controlled import simulate

    rng = np.random.default_rng(seed)
    cref, n = sim.cref, sim.teacher.substeps
    student = PolicyDriver(policy, sim.model, cref, sim.subject)
    start, (dq, dv) = random_start(sim, rng, cfg.start_noise_rad, cfg.start_noise_rad_s)
    q0, v0 = cref.qpos[start].copy(), cref.qvel[start].copy()
    q0[FREE_QPOS:] += dq
    v0[FREE_QVEL:] += dv
    dag = _Dagger(sim.teacher, student, beta, rng, cfg)
    steps = (len(cref.qpos) - 1 - start) // n
    if cfg.rollout_s is not None:
        steps = min(steps, max(1, round(cfg.rollout_s * sim.teacher.config.control_rate_hz)))
    simulate(sim.model, cref, dag, n, start=start, qpos0=q0, qvel0=v0, max_steps=steps)
    return (np.asarray(dag.obs, np.float32).reshape(-1, student.policy.obs_size),
            np.asarray(dag.labels, np.float32).reshape(-1, student.policy.action_size),
            dag.tracked / steps)


_WORKER_SIMS: list[Teaching] = []  # a worker process's teachers (``RolloutPool``)


def _init_worker(trials, controller, muscles) -> None:
    from ..workers import one_blas_thread

    one_blas_thread()
    _WORKER_SIMS[:] = teaching(trials, controller, muscles)


def _worker_rollouts(policy, beta, cfg, tasks):
    return [rollout(_WORKER_SIMS[k], policy, beta, cfg, seed) for k, seed in tasks]


class RolloutPool:
    """``workers`` processes, each with its own teachers of the same trials (built once), that
    run ``collect``'s rollouts: DAgger's rollouts are independent and single-threaded (the
    teacher's QP runs in Python), so on N cores they take up to 1/N of the time (2 workers, 8
    rollouts of 1.5 s: 2.5 s against 3.1 s in one process; the first call, starting the workers,
    6.3 s; ``bench/distill_workers_speed.py``).
    The workers are spawned: a script that distils with ``workers > 1`` must guard its entry point
    (``if __name__ == "__main__":``)."""

    def __init__(self, trials, controller: WholeBodyConfig, muscles, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_init_worker,
                                            initargs=(list(trials), controller, muscles))

    def map(self, policy, beta, cfg, tasks):
        """The results of ``rollout`` for each (trial index, seed) task, in order."""
        futures = [self.executor.submit(_worker_rollouts, policy, beta, cfg, tasks[w::self.workers])
                   for w in range(self.workers)]  # the policy is sent once per worker
        out = [None] * len(tasks)
        for w, future in enumerate(futures):
            out[w::self.workers] = future.result()
        return out

    def close(self):
        self.executor.shutdown()


def _student(state) -> Policy:
    """The policy being distilled, from its training state."""
    return Policy.from_state(state, tracking=DISTILL_TRACKING, kind=KIND)


def evaluation_episodes(sims: list[Teaching], policy: Policy, per_trial: int):
    """(env, starts) of DAgger's evaluation (``DistillConfig.eval_starts``) for
    ``learn.finetune.evaluate``: ``per_trial`` episodes of each trial, from random frames and
    perturbations drawn from a fixed seed, the same for every run, so that runs compare; and one
    more from each trial's first frame, unperturbed, as the twin runs it (a muscle policy that
    scored well from the random starts stumbled through the whole trial from its start, 3.1 deg
    and 45 %BW: BENCHMARKS, issue 18)."""
    from .finetune import evaluation_starts
    from .finetune_env import ControlledTrackingEnv

    env = ControlledTrackingEnv(sims, policy, (per_trial + 1) * len(sims))
    frames, noises = evaluation_starts(env, 1000)
    for e in range(per_trial * len(sims), env.num_envs):  # env e runs trial e % len(sims)
        frames[e], noises[e] = 0, tuple(np.zeros_like(x) for x in noises[e])
    return env, (frames, noises)


def distill(trials, config: DistillConfig | None = None, controller: WholeBodyConfig | None = None,
            log=None, muscles=None) -> tuple[DistilledPolicy, list[dict]]:
    """DAgger over ``trials`` (a list of ``(skeleton, motion)``). Returns the policy of the
    iteration that, alone, tracks best (``DistillConfig.eval_starts``: completed fraction, then
    the evaluation score of tracking and kinetics) and
    one log row per iteration (teacher probability, tracked fraction of the rollouts, labels so
    far, the fit's MSE in actuator units, the evaluation, wall time). ``muscles``: a
    ``twin.controlled.MuscleDrive``: the teacher drives the muscle-driven twin and the policy
    outputs its excitations (and arm/neck, toe, reserve and residual controls), observing the
    muscles' activations as well."""
    from .bc import behavior_clone, spread_weights  # (training: JAX, imported only here)
    from .finetune import evaluate  # (finetune builds on this module)
    from .ppo import PPOConfig, init_train_state

    cfg = config or default_config(muscles is not None)
    # the teacher at 250 Hz for both twins (the muscle twin itself plans at 125 Hz): twice the
    # labels per rollout; distilled from the 125 Hz muscle teacher (subject01, one run) the policy
    # alone had 1.01 deg MAE, 17.6 % worst reserve, SO r 0.51 against 0.90, 12.1 %, 0.69
    rng = np.random.default_rng(cfg.seed)
    sims = teaching(trials, controller, muscles)
    wcfg = sims[0].teacher.config  # ``controller``, else ``default_teacher``'s
    model = sims[0].model
    pcfg = PPOConfig(policy_hidden=tuple(cfg.policy_hidden), seed=cfg.seed)
    state = init_train_state(pcfg, obs_size(model.nq - FREE_QPOS, DISTILL_TRACKING, model.na, model.nu),
                             model.nu)
    eval_env, eval_starts = evaluation_episodes(sims, _student(state), cfg.eval_starts)
    all_obs, all_labels, rows = [], [], []
    best, best_key = state, None
    pool = RolloutPool(trials, wcfg, muscles, cfg.workers) if cfg.workers > 1 else None
    t0 = time.perf_counter()
    try:
        for it in range(cfg.iterations):
            beta = cfg.beta0 * cfg.beta_decay ** it
            obs, labels, tracked = collect(sims, _student(state), beta, cfg, rng, cfg.rollouts_per_iteration,
                                           first=it * cfg.rollouts_per_iteration, pool=pool)
            all_obs.append(obs)
            all_labels.append(labels)
            obs, labels = np.concatenate(all_obs), np.concatenate(all_labels)
            state, mse = behavior_clone(state, pcfg, obs, labels, epochs=cfg.epochs, clip_targets=False,
                                        batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                        final_lr_fraction=cfg.final_lr_fraction,
                                        weights=spread_weights(labels) if cfg.spread_weighted_fit else None,
                                        seed=cfg.seed + it)
            ev = evaluate(eval_env, _student(state), eval_starts)
            key = (round(ev["completed_fraction"], 3), -ev["score"])
            if best_key is None or key > best_key:
                best, best_key = state, key
            rows.append({"iteration": it, "beta": beta, "tracked_fraction": float(np.mean(tracked)),
                         "labels": len(labels), "imitation_mse": mse,
                         **{f"eval_{k}": v for k, v in ev.items()}, "selected": key == best_key,
                         "wall_s": time.perf_counter() - t0})
            if log is not None:
                log(rows[-1])
    finally:
        if pool is not None:
            pool.close()
    return DistilledPolicy.from_state(best, tracking=DISTILL_TRACKING, controller=wcfg,
                           muscles=None if muscles is None else muscle_source_name(muscles.source),
                           reserves_nm=None if muscles is None else muscles.reserves_nm), rows


SHIPPED = "shipped"  #: ``DistilledPolicy.muscles`` of a policy distilled on the shipped muscles


def muscle_source_name(source) -> str:
    """How a distilled policy names its muscle source: "shipped", or the ``.osim``'s path."""
    from ..models.muscles import SHIPPED_MUSCLES

    return SHIPPED if Path(source).resolve() == SHIPPED_MUSCLES.resolve() else str(Path(source).resolve())


def muscle_drive(policy: DistilledPolicy):
    """The ``twin.controlled.MuscleDrive`` a muscle policy was distilled on (None: torque model)."""
    if policy.muscles is None:
        return None
    from ..models.muscles import SHIPPED_MUSCLES
    from ..twin.controlled import MuscleDrive

    return MuscleDrive(SHIPPED_MUSCLES if policy.muscles == SHIPPED else policy.muscles,
                       reserves_nm=policy.reserves_nm)


__all__ = ["DISTILL_TRACKING", "DistillConfig", "DistilledPolicy", "PolicyDriver", "Teaching",
           "collect", "default_config", "default_teacher", "evaluation_episodes", "rollout",
           "RolloutPool", "distill", "imitation_loss", "random_start", "load_distilled",
           "muscle_drive", "teaching"]
