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

Files in ``out_dir``: ``checkpoint.npz`` (latest), ``final.npz``, ``train_log.csv``,
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
TRACKING_PPO_DEFAULTS = dict(num_steps=32, epochs=4, num_minibatches=4, learning_rate=3e-4,
                             init_std=0.3, entropy_coef=0.0, gamma=0.97)


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
    checkpoint_every: int = 20  #: iterations between checkpoints
    eval_every: int = 10  #: iterations between deterministic whole-trial evaluations (0: never)
    time_budget_s: float | None = None  #: stop (and checkpoint) after this wall-clock time
    progress: bool = True


# --------------------------------------------------------------------------- env
def make_env(model, motions, config: TrackingConfig, num_envs: int, num_threads: int = 2,
             subject: tuple[float, float] | None = None):
    from ..sim.cpu_backend import CpuTrackingEnv

    return CpuTrackingEnv(model, motions, num_envs=num_envs, config=config,
                          num_threads=num_threads, subject=subject)


def make_eval_env(train_env, num_threads: int = 2):
    """One env per trial, starting at frame 0, for deterministic whole-trial evaluations."""
    from ..sim.cpu_backend import CpuTrackingEnv

    cfg = dataclasses.replace(train_env.config, random_start=False, max_episode_steps=None)
    return CpuTrackingEnv(train_env.model, train_env.reference, num_envs=train_env.reference.n_trials,
                          config=cfg, num_threads=num_threads,
                          subject=tuple(train_env.subject[0]))


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
def _foot_loads_from_kinematics(model, qpos, qvel, qacc, sphere_z, sphere_xy, sphere_side,
                                threshold: float = 0.03):
    """Force-free estimate of the two foot loads (world frame) from the reference alone.

    The external wrench the body needs (root rows of the contact-free inverse dynamics) is put
    on the feet that are near the floor; in double support it is split along the line between
    the two feet so that its centre of pressure matches the one the wrench implies. Used only
    when ``kintwin.dynamics.contact_estimation`` is not available.
    """
    from ..dynamics.inverse_dynamics import (FootLoad, id_model, inverse_generalized_forces,
                                             root_wrench_world)

    m = id_model(model)
    qfrc = inverse_generalized_forces(m, qpos, qvel, qacc)
    force, moment_p = root_wrench_world(qpos, qfrc[:, :6])  # about the pelvis origin
    T = len(qpos)
    m_origin = moment_p + np.cross(qpos[:, 0:3], force)  # about the world origin
    fz = np.where(np.abs(force[:, 2]) > 1.0, force[:, 2], 1.0)
    cop = np.stack([-m_origin[:, 1] / fz, m_origin[:, 0] / fz, np.zeros(T)], axis=1)
    centres, near = [], []
    for side in (0, 1):
        sel = sphere_side == side
        h = sphere_z[:, sel]
        w = np.exp(-np.maximum(h - h.min(axis=1, keepdims=True), 0) / 0.01)
        xy = (sphere_xy[:, sel] * w[..., None]).sum(1) / w.sum(1)[:, None]
        centres.append(np.concatenate([xy, np.zeros((T, 1))], axis=1))
        near.append(h.min(axis=1))
    r, l = centres
    d = l - r
    s = np.clip(np.einsum("ti,ti->t", cop - r, d) / np.maximum(np.einsum("ti,ti->t", d, d), 1e-9),
                0, 1)  # 0: all on the right foot, 1: all on the left
    on_r, on_l = near[0] < threshold, near[1] < threshold
    s = np.where(on_r & ~on_l, 0.0, np.where(on_l & ~on_r, 1.0, s))
    s = np.where(~on_r & ~on_l, 0.5, s)
    loads = []
    for side, share, point in ((0, 1 - s, r), (1, s, l)):
        body = "calcn_r" if side == 0 else "calcn_l"
        loads.append(FootLoad(body=body, force=force * share[:, None], point=point,
                              torque=np.zeros((T, 3))))
    return loads


def reference_actions(env, trial: int, loads=None) -> np.ndarray:
    """(T-1, nu) normalised actions reproducing ``trial``'s reference by inverse dynamics.

    Joint motors: ID torque / gear; residuals: ID pelvis residual / (gear x residual scale);
    clipped to [-1, 1]. Ground reactions: ``loads`` (world-frame ``FootLoad``s at the control
    frames, e.g. from force plates) when given; otherwise the force-free estimate of
    ``kintwin.dynamics.contact_estimation`` when that module exists, else a simple estimate from
    the reference kinematics (:func:`_foot_loads_from_kinematics`).
    """
    import mujoco

    from ..dynamics.inverse_dynamics import solve_inverse_dynamics

    ref = env.reference
    tr = ref.trials[trial]
    model = env.model
    # accelerations consistent with the control-rate reference
    qacc = np.gradient(tr.qvel, 1.0 / tr.rate_hz, axis=0)
    if loads is None:
        loads = _estimated_loads(env, tr, qacc)
    sol = solve_inverse_dynamics(model, tr.qpos, tr.qvel, qacc, loads)
    n_m = env.n_motors
    act = np.zeros((tr.n_frames, model.nu))
    act[:, :n_m] = sol.tau[:, :n_m] / env.motor_gear
    if len(env.residual_ids):
        wrench = np.concatenate([sol.residual_force, sol.residual_moment], axis=1)
        act[:, env.residual_ids] = wrench / (env.residual_gear * env.config.residual_action_scale)
    del mujoco
    return np.clip(act[:-1], -1.0, 1.0)


def _estimated_loads(env, tr, qacc):
    try:
        from ..dynamics import contact_estimation as ce  # noqa: F401
    except ImportError:
        ce = None
    if ce is not None and hasattr(ce, "estimate_foot_loads"):
        return ce.estimate_foot_loads(env.model, tr.qpos, tr.qvel, qacc)
    import mujoco

    data = mujoco.MjData(env.model)
    sph = env.physics.spheres
    z = np.zeros((tr.n_frames, len(sph)))
    xy = np.zeros((tr.n_frames, len(sph), 2))
    for k in range(tr.n_frames):
        data.qpos[:] = tr.qpos[k]
        mujoco.mj_kinematics(env.model, data)
        z[k] = data.geom_xpos[sph, 2] - env.sphere_radius
        xy[k] = data.geom_xpos[sph, :2]
    return _foot_loads_from_kinematics(env.model, tr.qpos, tr.qvel, qacc, z, xy, env.sphere_side)


def bc_dataset(env, loads_per_trial=None) -> tuple[np.ndarray, np.ndarray]:
    """(observations, actions) over every trial of the env's reference."""
    obs, act = [], []
    for k in range(env.reference.n_trials):
        obs.append(env.reference_observations(k))
        act.append(reference_actions(env, k, None if loads_per_trial is None else loads_per_trial[k]))
    return np.concatenate(obs), np.concatenate(act)


def bc_warm_start(trainer: PPOTrainer, env, epochs: int = 200, learning_rate: float = 1e-3,
                  seed: int = 0, loads_per_trial=None) -> float:
    """Behaviour-clone the policy mean on inverse-dynamics actions; returns the final MSE."""
    from .bc import behavior_clone

    obs, act = bc_dataset(env, loads_per_trial)
    trainer.state, mse = behavior_clone(trainer.state, trainer.config, obs, act, epochs=epochs,
                                        batch_size=min(256, len(obs)), learning_rate=learning_rate,
                                        seed=seed)
    return mse


# --------------------------------------------------------------------------- logging
@dataclass
class _Log:
    path: Path
    fields: list[str] | None = None
    rows: list[dict] = field(default_factory=list)

    def append(self, row: dict) -> None:
        self.rows.append(row)
        new = self.fields is None
        if new:
            self.fields = list(row)
        with open(self.path, "a" if not new or self.path.exists() else "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new and f.tell() == 0:
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
def train(model, motions, out_dir: str | Path, tracking_config: TrackingConfig | None = None,
          ppo_config: PPOConfig | None = None, options: TrainOptions | None = None,
          resume: str | Path | None = None, subject: tuple[float, float] | None = None,
          callback=None, metadata: dict | None = None) -> dict[str, Any]:
    """Train a tracking policy (module doc); returns a summary dict (also in summary.json).

    ``callback(stats)`` (optional) is called after every iteration with the trainer's stats plus
    ``wall_s``; returning True stops training (like the trainer's own callback); raising
    ``KeyboardInterrupt`` stops it with a checkpoint.
    """
    from .checkpoint import load_checkpoint, load_trainer, save_trainer

    opt = options or TrainOptions()
    tcfg = tracking_config or TrackingConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = make_env(model, motions, tcfg, opt.num_envs, opt.num_threads, subject)
    eval_env = make_eval_env(env, opt.num_threads) if opt.eval_every else None
    info_meta = {"tracking_config": tcfg.to_dict(), "options": dataclasses.asdict(opt),
                 "trials": [t.name for t in env.reference.trials], "obs_size": env.obs_size,
                 "action_size": env.action_size, "nq": int(env.model.nq),
                 "subject": [float(v) for v in env.subject[0]], **(metadata or {})}
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
        for name in ("train_log.csv", "eval_log.csv"):
            (out / name).unlink(missing_ok=True)
        if opt.bc:
            bc_mse = bc_warm_start(trainer, env, opt.bc_epochs, opt.bc_learning_rate, opt.seed)
    (out / "config.json").write_text(json.dumps({"tracking": tcfg.to_dict(),
                                                  "ppo": trainer.config.to_dict(),
                                                  "train": dataclasses.asdict(opt)}, indent=2))
    train_log = _Log(out / "train_log.csv")
    eval_log = _Log(out / "eval_log.csv")
    if (out / "train_log.csv").exists():
        with open(out / "train_log.csv", newline="") as f:
            train_log.fields = next(csv.reader(f), None)
    if (out / "eval_log.csv").exists():
        with open(out / "eval_log.csv", newline="") as f:
            eval_log.fields = next(csv.reader(f), None)

    t_start = time.perf_counter()
    wall = lambda: wall_offset + time.perf_counter() - t_start  # noqa: E731
    ckpt_path = out / "checkpoint.npz"
    in_callback = [False]
    state = {"stopped": "steps", "last_eval": None}

    def meta_now():
        return {**info_meta, "wall_s": wall(), "bc_mse": bc_mse}

    def run_eval():
        ev = evaluate(trainer, eval_env)
        ev.update(iteration=float(trainer.state.iteration), env_steps=float(trainer.env_steps),
                  wall_s=wall())
        eval_log.append(ev)
        state["last_eval"] = ev
        return ev

    bar = None
    if opt.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(opt.total_steps), initial=int(trainer.env_steps), unit="step",
                   unit_scale=True, dynamic_ncols=True, desc="train")

    def on_iteration(stats):
        in_callback[0] = True
        try:
            stats = dict(stats, wall_s=wall())
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
            stop = False
            if callback is not None:
                stop = bool(callback(stats))
            if opt.time_budget_s is not None and time.perf_counter() - t_start >= opt.time_budget_s:
                state["stopped"] = "time budget"
                stop = True
            return stop
        finally:
            in_callback[0] = False

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
        if state["stopped"] == "steps" and trainer.env_steps < opt.total_steps:
            state["stopped"] = "callback"
        save_trainer(ckpt_path, trainer, env, meta_now())
        save_trainer(out / "final.npz", trainer, env, meta_now())
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
               "last_eval": state["last_eval"], "checkpoint": str(ckpt_path),
               "out_dir": str(out)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    env.close()
    if eval_env is not None:
        eval_env.close()
    summary["trainer"] = trainer
    return summary


__all__ = ["TrainOptions", "TRACKING_PPO_DEFAULTS", "default_ppo_config", "read_config_file",
           "split_overrides", "make_env", "make_eval_env", "evaluate", "reference_actions",
           "bc_dataset", "bc_warm_start", "plot_learning_curve", "train", "read_csv"]
