"""CPU back end of the tracking task: ``num_envs`` C MuJoCo simulations stepped from threads.

:class:`CpuTrackingEnv` implements :class:`kintwin.sim.interface.SnapshotVecEnv`. The split of
work is the one an MJX back end will reuse:

* physics (:class:`ThreadedPhysics`): set states, apply controls, advance ``substeps`` MuJoCo
  steps of every env with ``mujoco.rollout`` (C threads, GIL released), and return the new
  ``qpos``/``qvel``, tracked site positions, contact-sphere heights and the actuator forces
  averaged over the substeps as arrays.
* task (``tracking.py``): observation, reward and termination on those arrays, vectorised over
  envs; reference frames gathered from the flat :class:`~kintwin.sim.reference.ReferenceSet`.

Rollout vs a Python thread pool calling ``mj_step`` once per substep (needed there to average
the servo forces): with the forces recomputed from the substep states instead, rollout ran the
env ~1.6x faster (64 envs, 2 threads, 2-core machine, the other core busy); the thread pool
spent its time handing the GIL over between substeps. ``bench/bench_env_throughput.py`` measures
the env with the policy in the loop against bare ``mj_step``.

Episodes: reset puts an env in the reference state (qpos, qvel) of a random frame of a random
trial (reference state initialisation, frames drawn uniformly over all trials). A control step
moves the reference one frame on; the episode ends when the last frame of the trial is reached
(``truncated``), at ``max_episode_steps`` (``truncated``) or when tracking fails
(``tracking.terminated``). Done envs are reset inside ``step`` (auto-reset).

Action: (num_envs, 40) in [-1, 1] (clipped here): the controls of the 34 joint motors followed by
the 6 pelvis residuals (ctrl = action x ``residual_action_scale``; force/moment = ctrl x gear).
Motor actions are normalised torques (``torque`` mode: torque = action x peak torque) or servo
target offsets (``pd`` mode, ``actuation.py``), to which the env adds the inverse-dynamics
feed-forward of the current reference frame (``feedforward.py``) when
``TrackingConfig.feedforward == "id"``. ``info`` reports the applied joint torques (N*m) and
residual forces (N) / moments (N*m) of the step.
"""

from __future__ import annotations

import copy
import json

import mujoco
import numpy as np

from ..models.coordinates import RESIDUAL_ACTUATORS
from ..motion.motion import Motion
from . import tracking
from .floor import contact_spheres
from .reference import ReferenceSet, build_reference, site_ids
from .actuation import servo_model
from .feedforward import reference_torques, torque_to_action
from .tracking import TrackingConfig

_STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS  # what mujoco.rollout takes and returns


class ThreadedPhysics:
    """``n`` MuJoCo simulations of one model, stepped in parallel by ``mujoco.rollout``.

    The state of every simulation is a row of ``self.state`` (``mjSTATE_FULLPHYSICS``); a step
    rolls all rows out ``nstep`` physics steps under constant controls in C threads (no Python
    between substeps, the GIL released throughout; ~1.6x the rate of a Python thread pool calling
    ``mj_step`` per substep). The solver starts cold at every control step, so a result depends
    only on the state (exactly reproducible, snapshots are just the state rows).

    Applied actuator forces, averaged over the substeps: every actuator here is affine
    (``force = gain ctrl + b0 + b1 length + b2 velocity``, clipped to its force range): joint
    motors and servos (length = gear x joint angle) and the pelvis residuals (no bias), so the
    force MuJoCo applied in each substep is recomputed exactly from the substep's start state.
    """

    def __init__(self, model: mujoco.MjModel, n: int, sites: np.ndarray, spheres: np.ndarray,
                 num_threads: int = 2):
        from mujoco import rollout

        self.model = model
        self.n = n
        self.sites = np.asarray(sites, int)
        self.spheres = np.asarray(spheres, int)
        self.num_threads = max(1, min(int(num_threads), n))
        self._rollout = rollout.Rollout(nthread=self.num_threads)
        self._datas = [mujoco.MjData(model) for _ in range(self.num_threads)]
        self._scratch = mujoco.MjData(model)
        nq, nv = model.nq, model.nv
        self._q, self._v = slice(1, 1 + nq), slice(1 + nq, 1 + nq + nv)  # in a state row
        self.state = np.zeros((n, mujoco.mj_stateSize(model, _STATE_SPEC)))
        self.qpos = np.zeros((n, nq))
        self.qvel = np.zeros((n, nv))
        self.site_pos = np.zeros((n, len(self.sites), 3))
        self.sphere_z = np.zeros((n, len(self.spheres)))
        self.actuator_force = np.zeros((n, model.nu))  # mean over the substeps of the last step
        self.substep_states = np.zeros((n, 0, self.state.shape[1]))
        self.substep_sensordata = np.zeros((n, 0, model.nsensordata))
        self._affine_setup()
        self.set_state(range(n), np.tile(model.qpos0, (n, 1)), np.zeros((n, nv)))

    def _affine_setup(self) -> None:
        m = self.model
        if np.any(m.actuator_dyntype != mujoco.mjtDyn.mjDYN_NONE) or np.any(
                m.actuator_gaintype != mujoco.mjtGain.mjGAIN_FIXED) or np.any(
                (m.actuator_biastype != mujoco.mjtBias.mjBIAS_NONE)
                & (m.actuator_biastype != mujoco.mjtBias.mjBIAS_AFFINE)):
            raise ValueError("ThreadedPhysics needs affine actuators without activation dynamics")
        joint = m.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT
        bias = np.where((m.actuator_biastype == mujoco.mjtBias.mjBIAS_AFFINE)[:, None],
                        m.actuator_biasprm[:, :3], 0.0)
        if np.any(bias[~joint, 1:] != 0):
            raise ValueError("length-dependent bias on a non-joint actuator")
        jid = np.where(joint, m.actuator_trnid[:, 0], 0)
        self._gain, self._bias = m.actuator_gainprm[:, 0].copy(), bias
        self._gear = np.where(joint, m.actuator_gear[:, 0], 0.0)
        self._aq = m.jnt_qposadr[jid]
        self._av = m.jnt_dofadr[jid]
        lim = m.actuator_forcelimited.astype(bool)
        self._flo = np.where(lim, m.actuator_forcerange[:, 0], -np.inf)
        self._fhi = np.where(lim, m.actuator_forcerange[:, 1], np.inf)

    def _forces(self, states: np.ndarray, ctrl: np.ndarray) -> np.ndarray:
        """Actuator forces (n, k, nu) in states (n, k, nstate) under controls (n, nu)."""
        q = states[..., self._q][..., self._aq]
        v = states[..., self._v][..., self._av]
        f = (self._gain * ctrl[:, None, :] + self._bias[:, 0]
             + self._bias[:, 1] * self._gear * q + self._bias[:, 2] * self._gear * v)
        return np.clip(f, self._flo, self._fhi)

    def _update(self, idx) -> None:
        """qpos, qvel and positions of rows ``idx`` from their state."""
        m, d = self.model, self._scratch
        for i in idx:
            self.qpos[i] = self.state[i, self._q]
            self.qvel[i] = self.state[i, self._v]
            d.qpos[:] = self.qpos[i]
            mujoco.mj_kinematics(m, d)
            self.site_pos[i] = d.site_xpos[self.sites]
            self.sphere_z[i] = d.geom_xpos[self.spheres, 2]

    def step(self, ctrl: np.ndarray, nstep: int) -> None:
        """Advance every simulation ``nstep`` steps with constant ``ctrl`` (n, nu)."""
        ctrl = np.ascontiguousarray(ctrl, dtype=float)
        states, sensordata = self._rollout.rollout(self.model, self._datas, self.state,
                                                   np.repeat(ctrl[:, None, :], int(nstep), axis=1))
        starts = np.concatenate([self.state[:, None, :], states[:, :-1]], axis=1)
        self.actuator_force = self._forces(starts, ctrl).mean(axis=1)
        # kept through resets of the rows: the state after each substep (n, nstep, nstate) and
        # the sensors during each substep (n, nstep, nsensordata; e.g. the feet's contact wrenches)
        self.substep_states = states
        self.substep_sensordata = sensordata
        self.state = states[:, -1].copy()
        self._update(range(self.n))

    def set_state(self, idx, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Reset simulations ``idx`` to (qpos, qvel) rows (time 0, zero controls)."""
        d = self._scratch
        for i, qp, qv in zip(idx, qpos, qvel):
            mujoco.mj_resetData(self.model, d)
            d.qpos[:] = qp
            d.qvel[:] = qv
            mujoco.mj_getState(self.model, d, self.state[i], _STATE_SPEC)
        self._update(list(idx))

    def get_state(self) -> np.ndarray:
        return self.state.copy()

    def restore_state(self, state: np.ndarray) -> None:
        self.state = np.array(state, float)
        self._update(range(self.n))

    def close(self) -> None:
        if self._rollout is not None:
            self._rollout.close()
            self._rollout = None


def _body_rotational_inertia(model: mujoco.MjModel) -> np.ndarray:
    """(3, 3) rotational inertia of the whole body about the pelvis origin, pelvis frame, at the
    neutral pose: the root's rotational block of the joint-space inertia matrix."""
    d = mujoco.MjData(model)
    mujoco.mj_forward(model, d)
    M = np.zeros((model.nv, model.nv))
    mujoco.mj_fullM(model, d, M)
    return M[3:6, 3:6].copy()


class CpuTrackingEnv:
    """Batched motion-tracking environment on C MuJoCo (see module doc)."""

    def __init__(self, model: mujoco.MjModel, trials: list[Motion] | ReferenceSet,
                 num_envs: int = 64, config: TrackingConfig | None = None,
                 num_threads: int = 2, subject: tuple[float, float] | None = None):
        self.config = cfg = config or TrackingConfig()
        self.model = copy.deepcopy(model)
        self.model.opt.timestep = cfg.timestep
        # the model with joint motors: what every other env of the same task must be built from
        # (``self.model`` may hold servos instead, ``actuation.py``)
        self.torque_model = self.model
        if isinstance(trials, ReferenceSet):
            self.reference = trials
            if abs(trials.rate_hz - cfg.control_rate_hz) > 1e-9:
                raise ValueError(f"reference at {trials.rate_hz} Hz, control at "
                                 f"{cfg.control_rate_hz} Hz")
        else:
            self.reference = build_reference(self.model, list(trials), cfg.control_rate_hz,
                                             mirror=cfg.mirror, filter_hz=cfg.reference_filter_hz,
                                             align_ground=cfg.align_ground)
        ref = self.reference
        self.num_envs = int(num_envs)
        names = [mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_ACTUATOR, i)
                 for i in range(self.model.nu)]
        self.residual_ids = np.array([names.index(n) for n in RESIDUAL_ACTUATORS if n in names], int)
        self.n_motors = self.model.nu - len(self.residual_ids)
        if not np.array_equal(self.residual_ids, np.arange(self.n_motors, self.model.nu)):
            raise ValueError("residual actuators must come after the joint motors")
        self.action_size = self.model.nu
        self.action_scale = np.ones(self.model.nu)
        self.action_scale[self.residual_ids] = cfg.residual_action_scale
        gear = self.model.actuator_gear
        self.motor_gear = gear[: self.n_motors, 0].copy()
        self.residual_gear = np.abs(gear[self.residual_ids]).max(axis=1) if len(self.residual_ids) \
            else np.zeros(0)
        if cfg.action_mode == "pd":
            self.model = servo_model(self.model, self.n_motors, cfg.pd_kp_per_peak, cfg.pd_kd_s)
        self.body_weight_n = float(self.model.body_mass.sum() * np.linalg.norm(self.model.opt.gravity))
        if subject is None:
            t0 = ref.trials[0]
            subject = (t0.height_m or 1.75, float(self.model.body_mass.sum()))
        self.subject = np.tile(np.asarray(subject, float), (self.num_envs, 1))
        self.ff_action = self._feedforward_actions()  # (reference rows, n_motors)
        self.mass_kg = float(self.model.body_mass.sum())
        self.root_rot_inertia = _body_rotational_inertia(self.model)
        self.n_joints = self.model.nq - tracking.FREE_QPOS
        self.obs_size = tracking.obs_size(self.n_joints, cfg)
        spheres, _, self.sphere_side = contact_spheres(self.model)
        self.sphere_radius = self.model.geom_size[spheres, 0].copy()
        self.physics = ThreadedPhysics(self.model, self.num_envs, site_ids(self.model, ref.site_names),
                                       spheres, num_threads)
        self._future = np.asarray(cfg.future_frames, int)
        # start rows: every frame but the last of each trial
        self._starts = np.concatenate([ref.offsets[k] + np.arange(ref.lengths[k] - 1)
                                       for k in range(ref.n_trials)])
        self._trial_of_row = np.repeat(np.arange(ref.n_trials), ref.lengths)
        # episode state
        self.trial = np.zeros(self.num_envs, np.int64)
        self.frame = np.zeros(self.num_envs, np.int64)
        self.steps = np.zeros(self.num_envs, np.int64)
        self.prev_action = np.zeros((self.num_envs, self.action_size))
        self.first = np.ones(self.num_envs, bool)
        self.rng = np.random.default_rng(0)

    # ------------------------------------------------------------------ helpers
    def _feedforward_actions(self) -> np.ndarray:
        """Feed-forward motor actions of every reference row (zeros without feed-forward). The
        torques are computed once per reference set (cached on it) and converted here."""
        ref, cfg = self.reference, self.config
        out = np.zeros((ref.n_frames, self.n_motors))
        if cfg.feedforward == "none":
            return out
        if ref.feedforward_nm is None:
            h = float(self.subject[0, 0])
            ref.feedforward_nm = np.concatenate([
                reference_torques(self.torque_model, t.qpos, t.qvel, t.rate_hz, h)[0][:, : self.n_motors]
                for t in ref.trials])
        for k, t in enumerate(ref.trials):
            rows = slice(ref.offsets[k], ref.offsets[k] + t.n_frames)
            out[rows] = torque_to_action(cfg, self.motor_gear, ref.feedforward_nm[rows], t.qpos, t.qvel)
        return out

    def _sample_starts(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        ref = self.reference
        if self.config.random_start:
            rows = self._starts[self.rng.integers(0, len(self._starts), n)]
            trial = self._trial_of_row[rows]
            return trial, rows - ref.offsets[trial]
        return self.rng.integers(0, ref.n_trials, n), np.zeros(n, np.int64)

    def _reset_envs(self, idx: np.ndarray) -> None:
        if len(idx) == 0:
            return
        trial, frame = self._sample_starts(len(idx))
        self.trial[idx], self.frame[idx], self.steps[idx] = trial, frame, 0
        self.prev_action[idx] = 0.0
        self.first[idx] = True
        rows = self.reference.rows(trial, frame)
        self.physics.set_state(idx, self.reference.qpos[rows], self.reference.qvel[rows])

    def _observe(self, idx=slice(None)) -> np.ndarray:
        ref, ph, cfg = self.reference, self.physics, self.config
        trial, frame = self.trial[idx], self.frame[idx]
        rows = ref.rows(trial[:, None], frame[:, None] + self._future[None, :])
        contact = tracking.contact_flags(ph.sphere_z[idx], self.sphere_radius, self.sphere_side,
                                         cfg.contact_threshold_m)
        return tracking.observation(cfg, ph.qpos[idx], ph.qvel[idx], contact, ref.qpos[rows],
                                    ref.qvel[rows], self.subject[idx] if cfg.include_subject else None)

    # ------------------------------------------------------------------ VecEnv
    def reset(self, seed: int) -> np.ndarray:
        self.rng = np.random.default_rng(int(seed))
        self._reset_envs(np.arange(self.num_envs))
        return self._observe()

    def step(self, action):
        cfg, ref, ph = self.config, self.reference, self.physics
        a = np.clip(np.nan_to_num(np.asarray(action, np.float64)), -1.0, 1.0)
        if a.shape != (self.num_envs, self.action_size):
            raise ValueError(f"action shape {a.shape}, expected {(self.num_envs, self.action_size)}")
        ctrl = a * self.action_scale
        n_m = self.n_motors
        motor = a[:, :n_m] + self.ff_action[ref.rows(self.trial, self.frame)]
        if (cfg.residual_feedback_hz > 0 or cfg.residual_moment_feedback_hz) and len(self.residual_ids):  # pelvis servo, towards t + 1
            nxt = ref.rows(self.trial, self.frame + 1)
            wrench = tracking.residual_feedback(cfg, ph.qpos, ph.qvel, ref.qpos[nxt], ref.qvel[nxt],
                                                self.mass_kg, self.root_rot_inertia)
            scale = cfg.residual_action_scale
            ctrl[:, self.residual_ids] = np.clip(ctrl[:, self.residual_ids] + wrench / self.residual_gear,
                                                 -scale, scale)
        if cfg.action_mode == "pd":  # servo targets: the coming reference frame + offsets
            target = ref.qpos[ref.rows(self.trial, self.frame + 1), tracking.FREE_QPOS:]
            ctrl[:, :n_m] = target[:, :n_m] + cfg.pd_offset_rad * motor
        else:
            ctrl[:, :n_m] = np.clip(motor, -1.0, 1.0)
        ph.step(ctrl, cfg.substeps)
        self.frame += 1
        self.steps += 1
        rows = ref.rows(self.trial, self.frame)
        r_qpos, r_qvel = ref.qpos[rows], ref.qvel[rows]
        rew, terms = tracking.reward(cfg, ph.qpos, ph.qvel, ph.site_pos, r_qpos, r_qvel,
                                     ref.site_pos[rows], a, self.prev_action, self.first,
                                     self.n_motors, ctrl[:, self.residual_ids] / cfg.residual_action_scale)
        term = tracking.terminated(cfg, ph.qpos, r_qpos)
        at_end = self.frame >= ref.lengths[self.trial] - 1
        if cfg.max_episode_steps is not None:
            at_end |= self.steps >= cfg.max_episode_steps
        truncated = at_end & ~term
        done = term | truncated
        rew = np.where(np.isfinite(rew), rew, 0.0)

        # metrics of this step
        mask = ref.joint_mask[self.trial]
        dq = np.abs(ph.qpos[:, tracking.FREE_QPOS:] - r_qpos[:, tracking.FREE_QPOS:])
        joint_err = np.rad2deg((dq * mask).sum(1) / np.maximum(mask.sum(1), 1))
        pelvis_err = np.linalg.norm(ph.qpos[:, 0:3] - r_qpos[:, 0:3], axis=1)
        res_ctrl = ctrl[:, self.residual_ids]
        residual = res_ctrl * self.residual_gear
        res_force_pct = np.linalg.norm(residual[:, :3], axis=1) / self.body_weight_n * 100.0

        obs = self._observe()
        info = {
            "truncated": truncated,
            "terminated": term,
            "terminal_obs": obs.copy(),
            "tracking_error": joint_err,
            "pelvis_error_cm": pelvis_err * 100.0,
            "residual_force_pct_bw": res_force_pct,
            # joint torque = actuator force x gear (mean over the substeps; the servo's own force)
            "joint_torque": ph.actuator_force[:, : self.n_motors] * self.model.actuator_gear[: self.n_motors, 0],
            "residual_force": residual,
        }
        info.update({k: np.broadcast_to(v, (self.num_envs,)).astype(float) for k, v in terms.items()})
        self.prev_action = a
        self.first = np.zeros(self.num_envs, bool)
        ended = np.nonzero(done)[0]
        if len(ended):
            self._reset_envs(ended)
            obs[ended] = self._observe(ended)
        return obs, rew, done, info

    # ------------------------------------------------------------------ snapshots
    def get_state(self) -> dict[str, np.ndarray]:
        return {
            "physics": self.physics.get_state(),
            "trial": self.trial.copy(), "frame": self.frame.copy(), "steps": self.steps.copy(),
            "prev_action": self.prev_action.copy(), "first": self.first.copy(),
            "rng": np.asarray(json.dumps(self.rng.bit_generator.state)),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.physics.restore_state(np.asarray(state["physics"]))
        self.trial = np.asarray(state["trial"], np.int64).copy()
        self.frame = np.asarray(state["frame"], np.int64).copy()
        self.steps = np.asarray(state["steps"], np.int64).copy()
        self.prev_action = np.asarray(state["prev_action"], float).copy()
        self.first = np.asarray(state["first"], bool).copy()
        rng = np.random.default_rng()
        rng.bit_generator.state = json.loads(str(state["rng"]))
        self.rng = rng

    def observe(self) -> np.ndarray:
        """Observations of the current states (no step)."""
        return self._observe()

    def reset_to(self, trial, frame, seed: int = 0) -> np.ndarray:
        """Reset every env to the reference state of (trial[i], frame[i]) (e.g. for evaluation
        from fixed start states); later auto-resets draw from a generator seeded with ``seed``."""
        ref = self.reference
        trial = np.broadcast_to(np.asarray(trial, np.int64), (self.num_envs,)).copy()
        frame = np.broadcast_to(np.asarray(frame, np.int64), (self.num_envs,)).copy()
        if np.any(trial < 0) or np.any(trial >= ref.n_trials) or np.any(frame < 0) \
                or np.any(frame >= ref.lengths[trial] - 1):
            raise ValueError("reset_to: trial/frame out of range")
        self.rng = np.random.default_rng(int(seed))
        self.trial, self.frame = trial, frame
        self.steps[:] = 0
        self.prev_action[:] = 0.0
        self.first[:] = True
        rows = ref.rows(trial, frame)
        self.physics.set_state(np.arange(self.num_envs), ref.qpos[rows], ref.qvel[rows])
        return self._observe()

    def reference_observations(self, trial: int) -> np.ndarray:
        """(T-1, obs) observations with the state exactly on the reference at every frame but the
        last of ``trial`` (the inputs matching reference actions, e.g. for behaviour cloning)."""
        ref, cfg = self.reference, self.config
        T = int(ref.lengths[trial])
        frames = np.arange(T - 1)
        rows = ref.rows(np.full(T - 1, trial), frames)
        data = mujoco.MjData(self.model)
        sphere_z = np.zeros((T - 1, len(self.sphere_radius)))
        for k, r in enumerate(rows):
            data.qpos[:] = ref.qpos[r]
            mujoco.mj_kinematics(self.model, data)
            sphere_z[k] = data.geom_xpos[self.physics.spheres, 2]
        contact = tracking.contact_flags(sphere_z, self.sphere_radius, self.sphere_side,
                                         cfg.contact_threshold_m)
        fut = ref.rows(np.full((T - 1, 1), trial), frames[:, None] + self._future[None, :])
        subject = np.tile(self.subject[:1], (T - 1, 1)) if cfg.include_subject else None
        return tracking.observation(cfg, ref.qpos[rows], ref.qvel[rows], contact, ref.qpos[fut],
                                    ref.qvel[fut], subject)

    def close(self) -> None:
        self.physics.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


__all__ = ["CpuTrackingEnv", "ThreadedPhysics"]
