"""The environment of PPO fine-tuning of a distilled policy: the distilled policy's own simulation,
batched, with a reward that pays for what the twin reports.

The simulation is the one the policy was distilled in and runs in (``learn/distill.py``): each
trial prepared by ``twin/controlled.prepare`` (calibrated soles, the controller's contact, 2 ms
physics for the torque model), control at the policy's rate (250 Hz), the policy's observation
(``PolicyDriver.observe_many``, foot forces included) and its action: the feedback in actuator
units around the kinematics-only inverse dynamics' controls (an action of 0.01 on a motor is 1 %
of its peak torque; on a residual 1 % of m g, or of m g h for a moment). ``num_envs`` C MuJoCo
simulations are stepped in turn (the policy is evaluated once per control step for all of them);
:class:`ControlledTrackingEnv` follows the ``sim/interface.VecEnv`` protocol, so the PPO code
of ``learn/ppo.py`` drives it unchanged.

Episodes start at a random control frame of a random trial in the reference state, perturbed
(joint angles ``start_noise_rad``, velocities ``start_noise_rad_s``, std), and end at the trial's
end (truncated) or when tracking is lost (terminated): the pelvis more than
``max_pelvis_error_m`` from the reference, the RMS error of the measured joints above
``max_joint_error_rad``, or ``twin/controlled.lost_track``.

Reward per control step (:class:`FinetuneReward`): a weighted sum of ``exp(-(e / scale)^2)``
terms, weights summing to 1, minus a torque-rate penalty. The scales are tight, in physical
units, of the size of the twin's targets:

* joints: ``e`` the RMS angle error over the coordinates the trial measured (2 deg);
* pelvis position (2 cm) and orientation (2 deg);
* per-foot vertical ground force against the kinematics-only contact estimate (the controller's
  prior, ``cref.sphere_force_n``), RMS over the feet, in body weights (10 %BW);
* centre of pressure against the estimate's, per foot where both load it by more than 10 %BW
  (3 cm);
* the residual force, in body weights (3 %BW);
* penalty: ``w_torque_rate x mean((change of control / torque_rate_scale)^2)`` over the
  torque motors (5 % of peak torque per 4 ms step; not the residuals, not the muscles, whose
  activation dynamics smooth their excitations);
* penalty (muscle-driven twin): ``w_reserve x mean((reserve torque / reserve_scale_nm)^2)`` over
  the reserve motors (5 N*m: the controller's reserves are 2-4 % of the hip, knee and ankle
  moments, ~1-3 N*m; a distilled policy's were 10-30 %). A torque model has no reserves.

``info`` carries per env the step's reward terms and its joint error (deg, measured joints),
per-foot vertical GRF error vs the estimate (%BW, RMS over feet), residual force (%BW), the
COP error (m, 0 where not compared) and the mean |reserve torque| on the hip, knee and ankle
flexion (N*m, the reserves the twin's figure reports; 0 for a torque model).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from ..analysis.metrics import SAGITTAL
from ..models.coordinates import RESERVE_PREFIX
from ..models.muscles import muscle_actuators, reserve_actuators
from ..sim import floor
from ..motion.frames import osim_to_mujoco_vec
from ..sim.ground_reaction import foot_wrench_series
from ..sim.tracking import FREE_QPOS, FREE_QVEL, quat_angle
from ..twin.controlled import lost_track
from .distill import PolicyDriver, Teaching, random_start


@dataclass(frozen=True)
class FinetuneReward:
    """Reward, episodes and start states of fine-tuning (module doc)."""

    w_joint: float = 0.35
    joint_scale_rad: float = 0.035  #: RMS joint-angle error (measured coordinates) giving exp(-1)
    w_pelvis_pos: float = 0.10
    pelvis_pos_scale_m: float = 0.02
    w_pelvis_rot: float = 0.05
    pelvis_rot_scale_rad: float = 0.035
    w_grf: float = 0.25
    grf_scale_bw: float = 0.10  #: per-foot vertical GRF error vs the estimate, body weights
    w_cop: float = 0.05
    cop_scale_m: float = 0.03
    cop_min_load_bw: float = 0.10  #: COP compared where twin and estimate both load the foot so
    w_residual: float = 0.25
    residual_scale_bw: float = 0.03  #: residual force, body weights
    w_torque_rate: float = 0.02  #: penalty weight
    torque_rate_scale: float = 0.05  #: control change per control step (fraction of peak)
    w_reserve: float = 0.01  #: penalty weight (muscle models)
    reserve_scale_nm: float = 5.0  #: reserve torque, N*m
    max_joint_error_rad: float = 0.25
    max_pelvis_error_m: float = 0.12
    start_noise_rad: float = 0.02
    start_noise_rad_s: float = 0.2


def _foot_estimate(sim: Teaching) -> tuple[np.ndarray, np.ndarray]:
    """Per row of the contact prior: vertical force per foot (Tc, 2) N and its centre of pressure
    (Tc, 2, 2) world xy m (the force-weighted sphere bottoms at the reference state)."""
    cref, n = sim.cref, sim.teacher.substeps
    frames = np.arange(0, len(cref.qpos), n)[: len(cref.sphere_force_n)]
    bottoms = floor.sphere_bottoms(sim.model, cref.qpos[frames], cref.sphere_geoms)  # (Tc, S, 3)
    fz, side = np.maximum(cref.sphere_force_n[..., 2], 0.0), cref.sphere_sides(sim.model)
    force, cop = cref.foot_load_n(sim.model), np.zeros((len(fz), 2, 2))
    for s in (0, 1):
        cop[:, s] = (np.einsum("ts,tsk->tk", fz * (side == s), bottoms[..., :2])
                     / np.maximum(force[:, s], 1e-9)[:, None])
    return force, cop


class ControlledTrackingEnv:
    """``num_envs`` simulations of the distilled policy's twin (module doc); env ``e`` runs trial
    ``e % len(sims)``."""

    def __init__(self, sims: list[Teaching], policy, num_envs: int, reward: FinetuneReward | None = None,
                 seed: int = 0):
        if num_envs < 1:
            raise ValueError("num_envs must be >= 1")
        self.sims, self.cfg, self.num_envs = sims, reward or FinetuneReward(), int(num_envs)
        self.drivers = [PolicyDriver(policy, s.model, s.cref, s.subject) for s in sims]
        self.sim_of = np.arange(self.num_envs) % len(sims)
        self.datas = [mujoco.MjData(sims[k].model) for k in self.sim_of]
        model = sims[0].model
        self.obs_size, self.action_size = policy.obs_size, policy.action_size
        self.residuals = np.flatnonzero(model.actuator_trntype == mujoco.mjtTrn.mjTRN_SITE)
        self.reserves = reserve_actuators(model)
        self.sagittal_reserves = np.array([a for a in self.reserves
                                           if model.actuator(a).name[len(RESERVE_PREFIX):] in SAGITTAL], int)
        #: the torque motors (not the residuals; not the muscles, whose activation dynamics smooth
        #: their excitations: when the muscle actions were activations, inverting those dynamics
        #: made each excitation jump by 5-10x the exploration noise, and the rate penalty on them
        #: was -0.50 per step against +0.3-0.4 for all the tracking terms together)
        self.motors = np.setdiff1d(np.arange(model.nu), np.r_[self.residuals, muscle_actuators(model)])
        self.gear = np.abs(model.actuator_gear).max(axis=1)
        self.estimate = [_foot_estimate(s) for s in sims]
        self.substeps = sims[0].teacher.substeps
        if any(s.teacher.substeps != self.substeps for s in sims):
            raise ValueError("every trial must have the same control and physics rates")
        self.bw_n = np.array([self.drivers[k].bw_n for k in self.sim_of])  # per env
        self.last_frame = np.array([len(sims[k].cref.qpos) - 1 for k in self.sim_of])  # per env
        self.frame = np.zeros(self.num_envs, np.int64)
        self.prev_ctrl = np.zeros((self.num_envs, model.nu))
        self.first = np.ones(self.num_envs, bool)
        self.rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------ episodes
    def _start(self, e: int, frame: int | None = None, noise: tuple[np.ndarray, np.ndarray] | None = None):
        """Put env ``e`` at ``frame`` (default: a random control frame) of its trial, perturbed by
        ``noise`` (joint angle rad, joint velocity rad/s; default: drawn)."""
        sim, d = self.sims[self.sim_of[e]], self.datas[e]
        if frame is None:
            frame, noise = random_start(sim, self.rng, self.cfg.start_noise_rad, self.cfg.start_noise_rad_s)
        mujoco.mj_resetData(sim.model, d)
        d.qpos[:] = sim.cref.qpos[frame]
        d.qvel[:] = sim.cref.qvel[frame]
        d.qpos[FREE_QPOS:] += noise[0]
        d.qvel[FREE_QVEL:] += noise[1]
        self.frame[e], self.first[e] = frame, True

    def _observe(self, envs) -> np.ndarray:
        obs = np.zeros((len(envs), self.obs_size))
        envs = np.asarray(envs)
        for k, drv in enumerate(self.drivers):
            rows = np.flatnonzero(self.sim_of[envs] == k)
            if len(rows):
                obs[rows] = drv.observe_many([self.datas[e] for e in envs[rows]], self.frame[envs[rows]])
        return obs

    def reset(self, seed: int) -> np.ndarray:
        self.rng = np.random.default_rng(int(seed))
        for e in range(self.num_envs):
            self._start(e)
        return self._observe(np.arange(self.num_envs))

    def reset_to(self, frames, noise) -> np.ndarray:
        """Every env at the given physics frame of its trial with the given perturbations
        (``noise``: per env (joint angle offsets rad, joint velocity offsets rad/s))."""
        for e in range(self.num_envs):
            self._start(e, int(frames[e]), noise[e])
        return self._observe(np.arange(self.num_envs))

    # ------------------------------------------------------------------ step
    def step(self, action):
        a = np.nan_to_num(np.asarray(action, np.float64))
        if a.shape != (self.num_envs, self.action_size):
            raise ValueError(f"action shape {a.shape}, expected {(self.num_envs, self.action_size)}")
        cfg, N = self.cfg, self.num_envs
        ctrl = np.zeros((N, self.action_size))
        n = self.substeps
        sens = np.zeros((N, n, self.sims[0].model.nsensordata))
        for e in range(N):  # the physics
            sim, drv, d = self.sims[self.sim_of[e]], self.drivers[self.sim_of[e]], self.datas[e]
            sim.cref.refresh_paths(d, n)  # envs of one model in turn (linear_paths)
            ctrl[e] = drv.controls(d, drv.feedforward(self.frame[e]) + a[e])
            d.ctrl[:] = ctrl[e]
            for s in range(n):
                mujoco.mj_step(sim.model, d)
                sens[e, s] = d.sensordata
        self.frame += n
        qpos = np.stack([d.qpos for d in self.datas])
        errs = {k: np.zeros(N) for k in ("joint_rms_rad", "joint_mae_deg", "grf_bw", "cop_m")}
        foot_n = np.zeros((N, 2, 3))  # the floor on each foot (world frame), mean over the step
        ref = np.zeros_like(qpos)
        term = np.zeros(N, bool)
        bw = self.bw_n
        for k, sim in enumerate(self.sims):  # the errors, per trial
            rows = np.flatnonzero(self.sim_of == k)
            if not len(rows):
                continue
            i = self.frame[rows]
            ref[rows] = sim.cref.qpos[i]
            dq = (qpos[rows, FREE_QPOS:] - ref[rows, FREE_QPOS:])[:, sim.joint_mask]
            errs["joint_rms_rad"][rows] = np.sqrt(np.mean(dq ** 2, axis=1))
            errs["joint_mae_deg"][rows] = np.rad2deg(np.mean(np.abs(dq), axis=1))
            wrench = foot_wrench_series(sim.model, sens[rows])  # the twin's ground reactions
            cop = np.zeros((len(rows), 2, 3))
            for f, side in enumerate(("r", "l")):  # OpenSim frame -> MuJoCo world
                foot_n[rows, f], cop[:, f] = (osim_to_mujoco_vec(x) for x in wrench[side][:2])
            est_f, est_cop = (x[sim.cref.prior_index[i]] for x in self.estimate[k])
            fz = foot_n[rows, :, 2]
            errs["grf_bw"][rows] = np.sqrt(np.mean(((fz - est_f) / bw[rows, None]) ** 2, axis=1))
            both = (np.minimum(fz, est_f) > cfg.cop_min_load_bw * bw[rows, None]).astype(float)
            d2 = np.sum((cop[..., :2] - est_cop) ** 2, axis=-1)
            errs["cop_m"][rows] = np.sqrt((d2 * both).sum(1) / np.maximum(both.sum(1), 1))
            term[rows] = [lost_track(self.datas[e], sim.cref.qpos[self.frame[e]]) for e in rows]
        pelvis_m = np.linalg.norm(qpos[:, :3] - ref[:, :3], axis=1)
        rot_rad = quat_angle(qpos[:, 3:7], ref[:, 3:7])
        residual_bw = np.linalg.norm(ctrl[:, self.residuals[:3]] * self.gear[self.residuals[:3]], axis=1) / bw
        term |= (errs["joint_rms_rad"] > cfg.max_joint_error_rad) | (pelvis_m > cfg.max_pelvis_error_m)
        done = term | (self.frame + n > self.last_frame)
        terms = {
            "r_joint": cfg.w_joint * np.exp(-(errs["joint_rms_rad"] / cfg.joint_scale_rad) ** 2),
            "r_pelvis_pos": cfg.w_pelvis_pos * np.exp(-(pelvis_m / cfg.pelvis_pos_scale_m) ** 2),
            "r_pelvis_rot": cfg.w_pelvis_rot * np.exp(-(rot_rad / cfg.pelvis_rot_scale_rad) ** 2),
            "r_grf": cfg.w_grf * np.exp(-(errs["grf_bw"] / cfg.grf_scale_bw) ** 2),
            "r_cop": cfg.w_cop * np.exp(-(errs["cop_m"] / cfg.cop_scale_m) ** 2),
            "r_residual": cfg.w_residual * np.exp(-(residual_bw / cfg.residual_scale_bw) ** 2),
        }
        rate = (ctrl[:, self.motors] - self.prev_ctrl[:, self.motors]) / cfg.torque_rate_scale
        terms["p_torque_rate"] = np.where(self.first, 0.0, -cfg.w_torque_rate * np.mean(rate ** 2, axis=1))
        reserve_nm = ctrl[:, self.reserves] * self.gear[self.reserves]
        terms["p_reserve"] = (-cfg.w_reserve * np.mean((reserve_nm / cfg.reserve_scale_nm) ** 2, axis=1)
                              if len(self.reserves) else np.zeros(N))
        reward = sum(terms.values())
        self.prev_ctrl, self.first = ctrl, np.zeros(N, bool)
        obs = self._observe(np.arange(N))
        info = {"truncated": done & ~term, "terminated": term, "terminal_obs": obs.copy(),
                "joint_mae_deg": errs["joint_mae_deg"], "pelvis_error_cm": 100 * pelvis_m,
                "grf_vertical_error_pct_bw": 100 * errs["grf_bw"], "cop_error_m": errs["cop_m"],
                "residual_force_pct_bw": 100 * residual_bw, "foot_force_n": foot_n,
                "sagittal_reserve_nm": (np.abs(ctrl[:, self.sagittal_reserves] * self.gear[self.sagittal_reserves])
                                        .mean(axis=1) if len(self.sagittal_reserves) else np.zeros(N)),
                **terms}
        ended = np.flatnonzero(done)
        for e in ended:
            self._start(e)
        if len(ended):
            obs[ended] = self._observe(ended)
        return obs, np.where(np.isfinite(reward), reward, 0.0), done, info

    def close(self) -> None:
        pass


__all__ = ["ControlledTrackingEnv", "FinetuneReward"]
