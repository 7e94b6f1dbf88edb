"""Training a KinTwin tracking policy: env construction, BC warm start, PPO loop, logs, checkpoints.

:func:`train` is what ``kintwin train`` runs:

1. the tracking env (:class:`kintwin.sim.cpu_backend.CpuTrackingEnv`) on the subject's model and
   the trials;
2. a fresh :class:`~kintwin.learn.ppo.PPOTrainer`, or one restored from ``resume`` (a checkpoint
   written by this function: policy, optimiser, normalisers and, when saved at an iteration
   boundary, the running episodes, so a resumed run continues exactly);
3. optionally a behaviour-cloning warm start of the policy mean (fresh runs only): inverse
   dynamics of every reference trial (:func:`reference_actions`) turned into normalised actions,
   with the observations of the reference states (``CpuTrackingEnv.reference_observations``);
4. PPO until ``total_steps`` env steps (or ``time_budget_s``), with a tqdm bar (steps/s, return,
   tracking error), a CSV log of every iteration, periodic deterministic evaluations of whole
   trials, checkpoints every ``checkpoint_every`` iterations, at the end and on Ctrl-C, and a
   learning-curve PNG.

Files in ``out_dir``: ``checkpoint.npz`` (latest), ``final.npz``, ``best.npz`` (the policy of the
deterministic evaluation with the highest return over whole trials), ``train_log.csv``,
``eval_log.csv``, ``learning_curve.png``, ``config.json`` (tracking + PPO configs and options),
``summary.json``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..sim.tracking import TrackingConfig
from .ppo import PPOConfig, PPOTrainer

#: PPO defaults of the tracking task (fields not listed keep ``PPOConfig``'s defaults).
#: Small std and learning rate: after the BC warm start, larger values wreck the cloned policy in
#: the first updates (KL >> 1); torque noise of 0.15 x peak torque is already large.
TRACKING_PPO_DEFAULTS = dict(num_steps=32, epochs=4, num_minibatches=4, learning_rate=1e-4,
                             init_std=0.15, entropy_coef=0.0, gamma=0.97)


def default_ppo_config(**overrides) -> PPOConfig:
    return PPOConfig(**{**TRACKING_PPO_DEFAULTS, **overrides})


# --------------------------------------------------------------------------- configuration
def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON file of overrides: sections ``tracking``, ``ppo``, ``train``, or flat keys
    (each flat key goes to the config that has a field of that name)."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the config file must hold a mapping")
    return data


def split_overrides(data: dict[str, Any]) -> tuple[dict, dict, dict]:
    """(tracking, ppo, train) override dicts from a config mapping."""
    t_fields = {f.name for f in dataclasses.fields(TrackingConfig)}
    p_fields = {f.name for f in dataclasses.fields(PPOConfig)}
    o_fields = {f.name for f in dataclasses.fields(TrainOptions)}
    tr, pp, op = dict(data.get("tracking", {})), dict(data.get("ppo", {})), dict(data.get("train", {}))
    for k, v in data.items():
        if k in ("tracking", "ppo", "train"):
            continue
        if k in t_fields:
            tr[k] = v
        elif k in p_fields:
            pp[k] = v
        elif k in o_fields:
            op[k] = v
        else:
            raise ValueError(f"unknown config key {k!r} (not a TrackingConfig, PPOConfig or "
                             f"train option field)")
    for name, d, fields in (("tracking", tr, t_fields), ("ppo", pp, p_fields), ("train", op, o_fields)):
        bad = set(d) - fields
        if bad:
            raise ValueError(f"unknown {name} config fields: {sorted(bad)}")
    return tr, pp, op


@dataclass
class TrainOptions:
    """Options of a training run (besides the task and PPO configs)."""

    total_steps: int = 2_000_000
    num_envs: int = 64
    num_threads: int = 2
    seed: int = 0
    bc: bool = True  #: behaviour-cloning warm start from inverse dynamics (fresh runs)
    bc_epochs: int = 200
    bc_learning_rate: float = 1e-3
    bc_copies: int = 16  #: noisy copies of each reference state in the BC data (BCOptions)
    bc_joint_feedback_hz: float = 1.5  #: PD correction in the BC labels (BCOptions)
    bc_residual_feedback_hz: float = 1.5
    #: per-joint exploration std (``exploration_std``, e.g. 300 rad/s^2); None: uniform init_std.
    #: Off by default: std < ~0.05 on some joints made the first PPO updates explode (KL >> 1).
    explore_accel: float | None = None
    explore_min_std: float = 0.02
    residual_std: float | None = None  #: exploration std of the residuals (None: init_std)
    checkpoint_every: int = 20  #: iterations between checkpoints
    eval_every: int = 10  #: iterations between deterministic whole-trial evaluations (0: never)
    time_budget_s: float | None = None  #: stop (and checkpoint) after this wall-clock time
    progress: bool = True


# --------------------------------------------------------------------------- env
@dataclass
class TrialGroup:
    """Trials of one subject: the subject's torque model, the trials and (height m, mass kg)
    (None: from the first trial / the model)."""

    model: Any
    motions: list
    subject: tuple[float, float] | None = None


def _sub_envs(env) -> list:
    """The tracking envs behind ``env`` (one, or those of a ``ConcatEnv``)."""
    return list(getattr(env, "envs", [env]))


def make_env(groups: list[TrialGroup], config: TrackingConfig, num_envs: int, num_threads: int = 2):
    """The training env: one ``CpuTrackingEnv`` per subject group, the ``num_envs`` envs shared
    out in proportion to each group's reference frames (at least 2 each), joined by a
    ``ConcatEnv`` when there are several groups."""
    from ..sim.concat import ConcatEnv
    from ..sim.cpu_backend import CpuTrackingEnv
    from ..sim.reference import build_reference

    refs = [build_reference(g.model, list(g.motions), config.control_rate_hz, mirror=config.mirror,
                            filter_hz=config.reference_filter_hz, align_ground=config.align_ground)
            for g in groups]
    frames = np.array([r.n_frames for r in refs], float)
    counts = np.maximum(2, np.floor(num_envs * frames / frames.sum())).astype(int)
    counts[np.argmax(frames)] += max(0, num_envs - counts.sum())
    envs = [CpuTrackingEnv(g.model, r, num_envs=int(n), config=config, num_threads=num_threads,
                           subject=g.subject) for g, r, n in zip(groups, refs, counts)]
    return envs[0] if len(envs) == 1 else ConcatEnv(envs)


def make_eval_env(train_env, num_threads: int = 2):
    """One env per trial (of every subject), starting at frame 0, for deterministic whole-trial
    evaluations."""
    from ..sim.concat import ConcatEnv
    from ..sim.cpu_backend import CpuTrackingEnv

    envs = []
    for e in _sub_envs(train_env):
        cfg = dataclasses.replace(e.config, random_start=False, max_episode_steps=None)
        envs.append(CpuTrackingEnv(e.torque_model, e.reference, num_envs=e.reference.n_trials,
                                   config=cfg, num_threads=num_threads, subject=tuple(e.subject[0])))
    return envs[0] if len(envs) == 1 else ConcatEnv(envs)


# --------------------------------------------------------------------------- evaluation
def evaluate(trainer: PPOTrainer, env, trials=None, frames=None, seed: int = 0,
             max_steps: int = 100_000) -> dict[str, Any]:
    """Deterministic (mean-action) rollout of one episode per env from fixed start states.

    Default start states: env i at frame 0 of trial ``i % n_trials``. Returns per-episode means
    (then averaged over envs): return, length (steps), ``completed`` (fraction of episodes that
    reached the trial end without termination), ``coverage`` (fraction of the remaining trial
    frames tracked before the episode ended), joint-angle MAE (deg, measured coordinates),
    pelvis position error (cm), residual force (% body weight), max residual force (% BW),
    RMS joint torque (N*m).
    """
    if hasattr(env, "envs"):  # several subjects: every sub-env from its default start states
        parts = [(e.num_envs, evaluate(trainer, e, seed=seed, max_steps=max_steps)) for e in env.envs]
        n_all = sum(n for n, _ in parts)
        out = {k: sum(n * p[k] for n, p in parts) / n_all for k in parts[0][1]}
        out["residual_max_pct_bw"] = max(p["residual_max_pct_bw"] for _, p in parts)
        out["torque_rms_nm"] = float(np.sqrt(sum(n * p["torque_rms_nm"] ** 2 for n, p in parts) / n_all))
        return out
    n = env.num_envs
    ref = env.reference
    if trials is None:
        trials = np.arange(n) % ref.n_trials
    if frames is None:
        frames = np.zeros(n, np.int64)
    obs = env.reset_to(trials, frames, seed)
    start = np.asarray(frames).copy()
    span = ref.lengths[np.asarray(trials)] - 1 - start
    alive = np.ones(n, bool)
    sums = {k: np.zeros(n) for k in ("return", "joint_mae_deg", "pelvis_err_cm", "residual_pct_bw",
                                     "torque_sq")}
    res_max = np.zeros(n)
    length = np.zeros(n, np.int64)
    completed = np.zeros(n, bool)
    for _ in range(max_steps):
        a = np.asarray(trainer.act(obs, deterministic=True))
        obs, rew, done, info = env.step(a)
        w = alive.astype(float)
        sums["return"] += w * rew
        sums["joint_mae_deg"] += w * info["tracking_error"]
        sums["pelvis_err_cm"] += w * info["pelvis_error_cm"]
        sums["residual_pct_bw"] += w * info["residual_force_pct_bw"]
        sums["torque_sq"] += w * np.mean(info["joint_torque"] ** 2, axis=1)
        res_max = np.where(alive, np.maximum(res_max, info["residual_force_pct_bw"]), res_max)
        length += alive
        completed |= alive & done & info["truncated"]
        alive &= ~done
        if not alive.any():
            break
    L = np.maximum(length, 1)
    return {
        "return": float(np.mean(sums["return"])),
        "length": float(np.mean(length)),
        "completed": float(np.mean(completed)),
        "coverage": float(np.mean(length / np.maximum(span, 1))),
        "joint_mae_deg": float(np.mean(sums["joint_mae_deg"] / L)),
        "pelvis_err_cm": float(np.mean(sums["pelvis_err_cm"] / L)),
        "residual_pct_bw": float(np.mean(sums["residual_pct_bw"] / L)),
        "residual_max_pct_bw": float(np.max(res_max)),
        "torque_rms_nm": float(np.sqrt(np.mean(sums["torque_sq"] / L))),
    }


# --------------------------------------------------------------------------- BC warm start
@dataclass(frozen=True)
class BCOptions:
    """Behaviour-cloning data set: reference states plus noisy copies, labelled with the inverse
    dynamics (feed-forward) action plus a PD correction back to the reference.

    Why noise and feedback: a policy cloned on the reference states alone sees deviations it
    never saw (its observation normaliser has near-zero spread on the tracking-error inputs) and
    extrapolates wildly; cloned on perturbed states with a stabilising correction it starts as
    an inverse-dynamics feed-forward + low-gain PD tracking controller, which PPO then improves.

    Joint PD: ``kp = I w^2``, ``kd = 2 I w`` with ``I = 1 / dof_invweight0`` (the joint's
    effective inertia at the neutral pose, the smallest it can be, so the loop stays stable at
    the control rate) and ``w = 2 pi joint_feedback_hz``. Pelvis residual PD: the same with the
    total mass / the root's effective rotational inertia and ``residual_feedback_hz``
    (0 disables).
    """

    copies: int = 16  #: noisy copies per reference frame (plus the clean frame)
    joint_angle_std: float = 0.08  #: rad
    joint_velocity_std: float = 0.8  #: rad/s
    pelvis_position_std: float = 0.02  #: m
    pelvis_rotation_std: float = 0.04  #: rad
    pelvis_velocity_std: float = 0.15  #: m/s
    pelvis_angular_velocity_std: float = 0.4  #: rad/s
    joint_feedback_hz: float = 1.5
    residual_feedback_hz: float = 1.5
    seed: int = 0


def reference_actions(env, trial: int, loads=None) -> np.ndarray:
    """(T-1, nu) normalised actions that reproduce ``trial``'s reference by inverse dynamics
    (``kintwin.sim.feedforward``; ``loads``: world-frame ``FootLoad``s at the control frames, else
    contacts estimated from the kinematics), less the env's own feed-forward (so that the env
    applies the rest): joint motors from the ID torques, residuals from the ID pelvis residual
    / (gear x residual scale); clipped to [-1, 1]."""
    from ..sim.feedforward import reference_torques, torque_to_action

    ref = env.reference
    tr = ref.trials[trial]
    tau, wrench = reference_torques(env.torque_model, tr.qpos, tr.qvel, tr.rate_hz,
                                    float(env.subject[0, 0]), loads)
    n_m = env.n_motors
    act = np.zeros((tr.n_frames, env.action_size))
    act[:, :n_m] = torque_to_action(env.config, env.motor_gear, tau[:, :n_m], tr.qpos, tr.qvel)
    act[:, :n_m] -= env.ff_action[ref.offsets[trial]:ref.offsets[trial] + tr.n_frames]
    if len(env.residual_ids):
        act[:, env.residual_ids] = wrench / (env.residual_gear * env.config.residual_action_scale)
    return np.clip(act[:-1], -1.0, 1.0)


def _perturbed_states(env, qpos, qvel, bc: BCOptions, rng):
    """Noisy copies (copies x T, ...) of reference states (joint angles kept in range)."""
    from scipy.spatial.transform import Rotation

    n = bc.copies * len(qpos)
    qp = np.tile(qpos, (bc.copies, 1))
    qv = np.tile(qvel, (bc.copies, 1))
    nj = qp.shape[1] - 7
    qp[:, 7:] += rng.normal(0, bc.joint_angle_std, (n, nj))
    lim = env.model.jnt_range[1:]
    qp[:, 7:] = np.clip(qp[:, 7:], lim[:, 0], lim[:, 1])
    qp[:, 0:3] += rng.normal(0, bc.pelvis_position_std, (n, 3))
    rot = Rotation.from_rotvec(rng.normal(0, bc.pelvis_rotation_std, (n, 3))) * \
        Rotation.from_quat(np.roll(qp[:, 3:7], -1, axis=1))
    qp[:, 3:7] = np.roll(rot.as_quat(), 1, axis=1)
    qv[:, 6:] += rng.normal(0, bc.joint_velocity_std, (n, nj))
    qv[:, 0:3] += rng.normal(0, bc.pelvis_velocity_std, (n, 3))
    qv[:, 3:6] += rng.normal(0, bc.pelvis_angular_velocity_std, (n, 3))
    return qp, qv


def _feedback_actions(env, qpos, qvel, ref_qpos, ref_qvel, bc: BCOptions) -> np.ndarray:
    """PD correction (normalised actions) from states back to their reference states."""
    m = env.model
    out = np.zeros((len(qpos), m.nu))
    w = 2 * np.pi * bc.joint_feedback_hz
    inertia = 1.0 / m.dof_invweight0[6:]
    tau = inertia * (w * w * (ref_qpos[:, 7:] - qpos[:, 7:]) + 2 * w * (ref_qvel[:, 6:] - qvel[:, 6:]))
    if env.config.action_mode == "torque":  # the pd servo already pulls back to the reference
        out[:, : env.n_motors] = tau[:, : env.n_motors] / env.motor_gear
    if bc.residual_feedback_hz > 0 and len(env.residual_ids):
        from ..sim.tracking import residual_feedback

        # the pelvis servo at the BC frequency, less the env's own servo (the env adds that)
        wrench = sum(sign * residual_feedback(dataclasses.replace(env.config, residual_feedback_hz=hz),
                                              qpos, qvel, ref_qpos, ref_qvel, env.mass_kg,
                                              env.root_rot_inertia)
                     for sign, hz in ((1.0, bc.residual_feedback_hz),
                                      (-1.0, env.config.residual_feedback_hz)))
        out[:, env.residual_ids] = wrench / (env.residual_gear * env.config.residual_action_scale)
    return out


def bc_dataset(env, bc: BCOptions | None = None, loads_per_trial=None) -> tuple[np.ndarray, np.ndarray]:
    """(observations, actions) over every trial of the env's reference (see :class:`BCOptions`);
    every subject's trials for a ``ConcatEnv``."""
    import mujoco

    from ..sim import tracking

    if hasattr(env, "envs"):
        if loads_per_trial is not None:
            raise ValueError("loads_per_trial: one subject only")
        parts = [bc_dataset(e, bc) for e in env.envs]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    bc = bc or BCOptions()
    rng = np.random.default_rng(bc.seed)
    ref, cfg = env.reference, env.config
    data = mujoco.MjData(env.model)
    spheres = env.physics.spheres
    obs_all, act_all = [], []
    for k in range(ref.n_trials):
        ff = reference_actions(env, k, None if loads_per_trial is None else loads_per_trial[k])
        T = int(ref.lengths[k])
        rows = ref.rows(np.full(T - 1, k), np.arange(T - 1))
        copies = 1 + max(bc.copies, 0)
        qp, qv = _perturbed_states(env, ref.qpos[rows], ref.qvel[rows],
                                   dataclasses.replace(bc, copies=copies), rng)
        qp[: T - 1], qv[: T - 1] = ref.qpos[rows], ref.qvel[rows]  # first copy: the clean states
        nxt = rows + 1  # the feedback aims at the frame the step should reach
        rq, rv = np.tile(ref.qpos[nxt], (copies, 1)), np.tile(ref.qvel[nxt], (copies, 1))
        sphere_z = np.zeros((len(qp), len(spheres)))
        for i, q in enumerate(qp):
            data.qpos[:] = q
            mujoco.mj_kinematics(env.model, data)
            sphere_z[i] = data.geom_xpos[spheres, 2]
        contact = tracking.contact_flags(sphere_z, env.sphere_radius, env.sphere_side,
                                         cfg.contact_threshold_m)
        fut = ref.rows(np.full((T - 1, 1), k), np.arange(T - 1)[:, None] + np.asarray(cfg.future_frames))
        fut = np.tile(fut, (copies, 1))
        subject = np.tile(env.subject[:1], (len(qp), 1)) if cfg.include_subject else None
        obs_all.append(tracking.observation(cfg, qp, qv, contact, ref.qpos[fut], ref.qvel[fut], subject))
        act_all.append(np.clip(np.tile(ff, (copies, 1)) + _feedback_actions(env, qp, qv, rq, rv, bc),
                               -1.0, 1.0))
    return np.concatenate(obs_all), np.concatenate(act_all)


def rollout_observations(trainer: PPOTrainer, env, steps: int, seed: int = 0) -> np.ndarray:
    """(steps x num_envs, obs) observations visited by the trainer's current stochastic policy."""
    import jax
    import jax.numpy as jnp

    from .ppo import _policy_step

    key = jax.random.PRNGKey(seed)
    obs = env.reset(seed)
    out = []
    for _ in range(steps):
        _, a, key = _policy_step(trainer.state.policy, trainer.state.obs_norm,
                                 jnp.asarray(obs, jnp.float32), key)
        out.append(obs)
        obs = env.step(np.asarray(a))[0]
    return np.concatenate(out)


def bc_warm_start(trainer: PPOTrainer, env, epochs: int = 200, learning_rate: float = 1e-3,
                  seed: int = 0, bc: BCOptions | None = None, loads_per_trial=None,
                  prime_steps: int = 32, rounds: int = 2) -> float:
    """Behaviour-clone the policy mean on inverse-dynamics actions; returns the final MSE.

    The observation normaliser must match what PPO's first rollouts will see, not only the BC
    data: fitted on the (near-reference) BC states alone, its spread on the tracking-error
    inputs is tiny, the first rollouts then give inputs clipped at +-10, very large hidden
    activations, and the first PPO steps move the policy mean by many standard deviations
    (KL >> 1, ratio overflow). So the normaliser absorbs the BC data plus ``prime_steps`` x
    num_envs observations visited by the current policy, and this is repeated for ``rounds``
    rounds (fit, roll the cloned policy out, refit: the cloned policy's own state distribution).
    """
    import equinox as eqx

    from .bc import behavior_clone

    obs, act = bc_dataset(env, bc, loads_per_trial)
    mse = math.nan
    base = trainer.state.obs_norm
    visited = []
    for r in range(max(1, rounds)):
        if trainer.config.normalize_obs:
            norm = base.update(obs)
            if prime_steps > 0:
                visited.append(rollout_observations(trainer, env, prime_steps, seed + r))
                norm = norm.update(np.concatenate(visited))
            trainer.state = eqx.tree_at(lambda s: s.obs_norm, trainer.state, norm)
        trainer.state, mse = behavior_clone(
            trainer.state, trainer.config, obs, act, epochs=epochs if r == 0 else max(1, epochs // 2),
            batch_size=min(256, len(obs)), learning_rate=learning_rate, update_normalizer=False,
            seed=seed + r)
    return mse


def exploration_std(env, init_std: float, accel: float | None = 300.0, min_std: float = 0.02,
                    residual_std: float | None = None) -> np.ndarray:
    """Per-actuator initial exploration std (action units).

    With ``accel``: motor noise that gives about the same angular-acceleration noise
    (rad/s^2) at every joint, ``accel / (gear x dof_invweight0)``, clipped to
    ``[min_std, init_std]`` (peak torque is a poor unit: 0.1 of the wrist's or the ankle's gear
    shakes a free hand or foot far more than 0.1 of the hip's moves the leg); residuals get
    ``residual_std`` (default ``init_std``). Without ``accel``: ``init_std`` everywhere.
    """
    env = _sub_envs(env)[0]  # the same actuators in every subject's model
    std = np.full(env.action_size, float(init_std))
    if accel:
        peak = env.model.dof_invweight0[6:6 + env.n_motors] * env.motor_gear
        std[: env.n_motors] = np.clip(accel / peak, min_std, init_std)
    std[env.residual_ids] = init_std if residual_std is None else residual_std
    return std


def set_action_std(trainer: PPOTrainer, std: np.ndarray) -> None:
    import equinox as eqx
    import jax.numpy as jnp

    trainer.state = eqx.tree_at(lambda s: s.policy.log_std, trainer.state,
                                jnp.asarray(np.log(std), jnp.float32))


def _dynamics_available() -> bool:
    try:
        from ..dynamics import contact_estimation, inverse_dynamics  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- logging
@dataclass
class _Log:
    """Append-only CSV; the columns are those of the existing file or of the first row."""

    path: Path
    fields: list[str] | None = None
    rows: list[dict] = field(default_factory=list)

    def __post_init__(self):
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="") as f:
                self.fields = next(csv.reader(f), None)

    def append(self, row: dict) -> None:
        self.rows.append(row)
        new_file = self.fields is None
        if new_file:
            self.fields = list(row)
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new_file:
                w.writeheader()
            w.writerow({k: row.get(k, "") for k in self.fields})


def read_csv(path: str | Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()}
                for r in csv.DictReader(f)]


def plot_learning_curve(train_csv: str | Path, out_png: str | Path,
                        eval_csv: str | Path | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_csv(train_csv)
    ev = read_csv(eval_csv) if eval_csv and Path(eval_csv).exists() else []
    x = np.array([r["env_steps"] for r in rows]) / 1e6
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    panels = [("episode_return", "episode return (train, stochastic)", "return"),
              ("tracking_error", "joint angle MAE (train, deg)", "joint_mae_deg"),
              ("episode_length", "episode length (steps)", "length"),
              ("residual_force_pct_bw", "residual force (% BW)", "residual_pct_bw")]
    for ax, (key, title, ekey) in zip(axes.flat, panels):
        y = np.array([r.get(key, math.nan) for r in rows])
        ax.plot(x, y, lw=1, label="train")
        if ev:
            ax.plot(np.array([r["env_steps"] for r in ev]) / 1e6, [r.get(ekey, math.nan) for r in ev],
                    "o-", ms=3, lw=1, label="eval (deterministic)")
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("env steps (M)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


# --------------------------------------------------------------------------- training
def train(groups: list[TrialGroup], out_dir: str | Path, tracking_config: TrackingConfig | None = None,
          ppo_config: PPOConfig | None = None, options: TrainOptions | None = None,
          resume: str | Path | None = None, callback=None,
          metadata: dict | None = None) -> dict[str, Any]:
    """Train a tracking policy on the trials of one or several subjects (module doc); returns a
    summary dict (also in summary.json).

    ``callback(stats)`` (optional) is called after every iteration with the trainer's stats plus
    ``wall_s``; returning True stops training (like the trainer's own callback); raising
    ``KeyboardInterrupt`` stops it with a checkpoint.
    """
    from .checkpoint import load_checkpoint, load_trainer, save_trainer

    opt = options or TrainOptions()
    tcfg = tracking_config or TrackingConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = make_env(groups, tcfg, opt.num_envs, opt.num_threads)
    eval_env = make_eval_env(env, opt.num_threads) if opt.eval_every else None
    subs = _sub_envs(env)
    info_meta = {"tracking_config": tcfg.to_dict(), "options": dataclasses.asdict(opt),
                 "trials": [t.name for e in subs for t in e.reference.trials],
                 "obs_size": env.obs_size, "action_size": env.action_size,
                 "nq": int(subs[0].model.nq),
                 "subjects": [[float(v) for v in e.subject[0]] for e in subs], **(metadata or {})}
    wall_offset = 0.0
    bc_mse = None
    if resume:
        ckpt_meta = load_checkpoint(resume).metadata
        saved_t = ckpt_meta.get("tracking_config")
        if saved_t is not None and TrackingConfig.from_dict(saved_t) != tcfg:
            raise ValueError(f"{resume}: the checkpoint was trained with another tracking config; "
                             "pass the same --config")
        trainer, meta = load_trainer(resume, env)
        if (trainer.state.obs_size, trainer.state.action_size) != (env.obs_size, env.action_size):
            raise ValueError(f"{resume}: policy sizes do not match the env")
        wall_offset = float(meta.get("wall_s", 0.0))
        bc_mse = meta.get("bc_mse")
        # resume reads and appends to the existing logs
    else:
        pcfg = ppo_config or default_ppo_config(seed=opt.seed)
        if pcfg.schedule_env_steps is None:  # fixed horizon: resuming gives the same schedule
            pcfg = dataclasses.replace(pcfg, schedule_env_steps=int(opt.total_steps))
        trainer = PPOTrainer(pcfg, env.obs_size, env.action_size)
        if opt.explore_accel or opt.residual_std is not None:
            set_action_std(trainer, exploration_std(env, pcfg.init_std, opt.explore_accel,
                                                    opt.explore_min_std, opt.residual_std))
        for name in ("train_log.csv", "eval_log.csv"):
            (out / name).unlink(missing_ok=True)
        if opt.bc and not _dynamics_available():
            print("behaviour cloning skipped: kintwin.dynamics.inverse_dynamics is not available")
        elif opt.bc:
            bc = BCOptions(copies=opt.bc_copies, joint_feedback_hz=opt.bc_joint_feedback_hz,
                           residual_feedback_hz=opt.bc_residual_feedback_hz, seed=opt.seed)
            bc_mse = bc_warm_start(trainer, env, opt.bc_epochs, opt.bc_learning_rate, opt.seed, bc)
    (out / "config.json").write_text(json.dumps({"tracking": tcfg.to_dict(),
                                                  "ppo": trainer.config.to_dict(),
                                                  "train": dataclasses.asdict(opt)}, indent=2))
    train_log = _Log(out / "train_log.csv")
    eval_log = _Log(out / "eval_log.csv")

    t_start = time.perf_counter()
    wall = lambda: wall_offset + time.perf_counter() - t_start  # noqa: E731
    ckpt_path = out / "checkpoint.npz"
    in_callback = [False]
    state = {"stopped": "steps", "last_eval": None, "best_eval": None}

    def meta_now():
        return {**info_meta, "wall_s": wall(), "bc_mse": bc_mse}

    def run_eval():
        ev = evaluate(trainer, eval_env)
        ev.update(iteration=float(trainer.state.iteration), env_steps=float(trainer.env_steps),
                  wall_s=wall())
        eval_log.append(ev)
        state["last_eval"] = ev
        best = state["best_eval"]
        if best is None or ev["return"] > best["return"]:  # the policy that tracks whole trials best
            state["best_eval"] = ev
            save_trainer(out / "best.npz", trainer, None, {**meta_now(), "eval": ev})
        return ev

    bar = None
    if opt.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(opt.total_steps), initial=int(trainer.env_steps), unit="step",
                   unit_scale=True, dynamic_ncols=True, desc="train")

    last_good = [trainer.state]

    def on_iteration(stats):
        # While this runs, the trainer, the env and the rollout carry are consistent: a Ctrl-C
        # raised here (flag left set) is saved with the running episodes.
        in_callback[0] = True
        stats = dict(stats, wall_s=wall())
        if not all(math.isfinite(stats.get(k, 0.0)) for k in ("action_std", "grad_norm", "value_loss")):
            trainer.state = last_good[0]  # never save or continue from a diverged policy
            state["stopped"] = "diverged (non-finite update; restored the previous iteration)"
            print(f"training stopped: {state['stopped']} at iteration {int(stats['iteration'])}")
            in_callback[0] = False
            return True
        last_good[0] = trainer.state
        train_log.append(stats)
        it = int(stats["iteration"])
        if eval_env is not None and opt.eval_every and it % opt.eval_every == 0:
            ev = run_eval()
            stats.update({f"eval_{k}": v for k, v in ev.items()})
        if bar is not None:
            bar.update(int(stats["env_steps"]) - bar.n)
            bar.set_postfix_str(f"{stats['steps_per_s']:.0f} steps/s  "
                                f"ret {stats.get('episode_return', math.nan):.2f}  "
                                f"err {stats.get('tracking_error', math.nan):.1f} deg")
        if opt.checkpoint_every and it % opt.checkpoint_every == 0:
            save_trainer(ckpt_path, trainer, env, meta_now())
        stop = bool(callback(stats)) if callback is not None else False
        if opt.time_budget_s is not None and time.perf_counter() - t_start >= opt.time_budget_s:
            state["stopped"] = "time budget"
            stop = True
        in_callback[0] = False
        return stop

    if eval_env is not None and not resume:
        run_eval()  # the starting policy: the first point of the learning curve
    interrupted = False
    try:
        trainer.train(env, int(opt.total_steps), on_iteration)
    except KeyboardInterrupt:
        interrupted = True
        state["stopped"] = "interrupted"
        # only at an iteration boundary are the env and the rollout carry consistent
        save_trainer(ckpt_path, trainer, env if in_callback[0] else None, meta_now())
    finally:
        if bar is not None:
            bar.close()
    if not interrupted:
        if state["stopped"].startswith("diverged"):
            trainer.env_steps -= trainer.config.num_steps * env.num_envs
            save_trainer(ckpt_path, trainer, None, meta_now())  # env carry not consistent
        elif state["stopped"] == "steps" and trainer.env_steps < opt.total_steps:
            state["stopped"] = "callback"
        if not state["stopped"].startswith("diverged"):
            save_trainer(ckpt_path, trainer, env, meta_now())
        save_trainer(out / "final.npz", trainer, None if state["stopped"].startswith("diverged")
                     else env, meta_now())
        if eval_env is not None:
            run_eval()
    if train_log.rows or (out / "train_log.csv").exists():
        try:
            plot_learning_curve(out / "train_log.csv", out / "learning_curve.png",
                                out / "eval_log.csv")
        except Exception as e:  # a plot must never lose a training run
            print(f"learning curve not written: {e}")
    summary = {"env_steps": trainer.env_steps, "iterations": int(trainer.state.iteration),
               "wall_s": wall(), "stopped": state["stopped"], "bc_mse": bc_mse,
               "last_eval": state["last_eval"], "best_eval": state["best_eval"],
               "checkpoint": str(ckpt_path),
               "out_dir": str(out)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    env.close()
    if eval_env is not None:
        eval_env.close()
    summary["trainer"] = trainer
    return summary


__all__ = ["TrialGroup", "TrainOptions", "BCOptions", "exploration_std", "set_action_std", "TRACKING_PPO_DEFAULTS", "default_ppo_config", "read_config_file",
           "split_overrides", "make_env", "make_eval_env", "evaluate", "reference_actions",
           "bc_dataset", "bc_warm_start", "plot_learning_curve", "train", "read_csv"]
