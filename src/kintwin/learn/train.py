"""A training run of a tracking policy: what ``kintwin train`` runs.

:func:`train` reads top to bottom:

1. the envs: the training env (:func:`make_env`: one ``CpuTrackingEnv`` per subject, joined by a
   ``ConcatEnv``) and, for the periodic deterministic evaluations (:func:`evaluate`), one env
   per trial starting at its first frame (:func:`make_eval_env`);
2. the trainer: restored from ``resume`` (a checkpoint written by this function: policy,
   optimiser, normalisers and, when saved at an iteration boundary, the running episodes, so a
   resumed run continues exactly), or a fresh :class:`~kintwin.learn.ppo.PPOTrainer` with the
   configured exploration std (:func:`exploration_std`) and, unless ``bc=False``, the
   behaviour-cloning warm start of its mean (:func:`kintwin.learn.bc.bc_warm_start`);
3. the loop: one PPO iteration at a time (:meth:`PPOTrainer.iterate`), each one logged
   (``train_log.csv``, a tqdm bar), a deterministic evaluation of whole trials every
   ``eval_every`` iterations, a checkpoint every ``checkpoint_every``, until a stop reason
   (:data:`STOP_REASONS`): :data:`STEPS_REACHED` (``total_steps`` env steps), :data:`EARLY_STOP`
   (the caller's callback asked), :data:`TIME_BUDGET` (``time_budget_s`` of this call),
   :data:`INTERRUPTED` (Ctrl-C) or :data:`DIVERGED` (a non-finite update: the previous
   iteration's policy is kept);
4. the end: the checkpoints (the running episodes with them when they match the trainer), a
   last evaluation and ``final.npz`` (not when interrupted), the learning curve, and the summary
   with the stop reason (returned, in ``summary.json`` and in the checkpoints' metadata).

Files in ``out_dir``: ``checkpoint.npz`` (latest), ``final.npz``, ``best.npz`` (the policy of the
deterministic evaluation with the highest return over whole trials), ``train_log.csv``,
``eval_log.csv``, ``learning_curve.png``, ``config.json`` (tracking + PPO configs and options),
``summary.json``. Options and config files: ``learn/train_config.py``; the logs and the figure:
``learn/train_log.py``; the warm start's data: ``learn/bc.py``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..sim.tracking import TrackingConfig
from .ppo import PPOConfig, PPOTrainer
from .train_config import TrainOptions, default_ppo_config
from .train_log import CsvLog, plot_learning_curve

#: Why a training run stopped (``summary["stopped"]``), in the order they are checked after an
#: iteration (a non-finite update first; ``INTERRUPTED`` whenever Ctrl-C comes).
DIVERGED = "diverged"  #: a non-finite update: the previous iteration's policy is kept and saved
STEPS_REACHED = "steps reached"  #: ``total_steps`` env steps trained
EARLY_STOP = "early stop"  #: the caller's ``callback`` returned True
TIME_BUDGET = "time budget"  #: ``time_budget_s`` of wall-clock time spent in this call
INTERRUPTED = "interrupted"  #: KeyboardInterrupt (Ctrl-C); the checkpoint is written
STOP_REASONS = (DIVERGED, STEPS_REACHED, EARLY_STOP, TIME_BUDGET, INTERRUPTED)
#: the stop reasons that leave the policy unfinished (``kintwin train`` exits 3 with the command
#: that resumes the run)
UNFINISHED = (INTERRUPTED, DIVERGED)


# --------------------------------------------------------------------------- the envs
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


# --------------------------------------------------------------------------- exploration
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
    """Set the policy's exploration std (per actuator, action units)."""
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


# --------------------------------------------------------------------------- the trainer
def _resumed_trainer(path, env, tracking: TrackingConfig) -> tuple[PPOTrainer, dict]:
    """The trainer of a checkpoint written by :func:`train` (and the running episodes of ``env``
    when they were saved), with the checkpoint's metadata."""
    from .checkpoint import load_checkpoint, load_trainer

    saved_t = load_checkpoint(path).metadata.get("tracking_config")
    if saved_t is not None and TrackingConfig.from_dict(saved_t) != tracking:
        raise ValueError(f"{path}: the checkpoint was trained with another tracking config; "
                         "pass the same --config")
    trainer, meta = load_trainer(path, env)
    if (trainer.state.obs_size, trainer.state.action_size) != (env.obs_size, env.action_size):
        raise ValueError(f"{path}: policy sizes do not match the env")
    return trainer, meta


def _fresh_trainer(env, config: PPOConfig, opt: TrainOptions) -> tuple[PPOTrainer, float | None]:
    """A new trainer with the configured exploration std and, with ``opt.bc``, the
    behaviour-cloning warm start of its mean (which leaves the std as it is); returns it and the
    warm start's final MSE (None: no warm start)."""
    if config.schedule_env_steps is None:  # a fixed horizon: resuming gives the same schedule
        config = dataclasses.replace(config, schedule_env_steps=int(opt.total_steps))
    trainer = PPOTrainer(config, env.obs_size, env.action_size)
    if opt.explore_accel or opt.residual_std is not None:
        set_action_std(trainer, exploration_std(env, config.init_std, opt.explore_accel,
                                                opt.explore_min_std, opt.residual_std))
    if not opt.bc:
        return trainer, None
    if not _dynamics_available():
        print("behaviour cloning skipped: kintwin.dynamics.inverse_dynamics is not available")
        return trainer, None
    from .bc import BCOptions, bc_warm_start

    bc = BCOptions(copies=opt.bc_copies, joint_feedback_hz=opt.bc_joint_feedback_hz,
                   residual_feedback_hz=opt.bc_residual_feedback_hz, seed=opt.seed)
    return trainer, bc_warm_start(trainer, env, opt.bc_epochs, opt.bc_learning_rate, opt.seed, bc)


# --------------------------------------------------------------------------- the run's records
class _Records:
    """A run's wall clock, logs, evaluations and checkpoints (what :func:`train` writes)."""

    def __init__(self, out: Path, trainer: PPOTrainer, env, eval_env, opt: TrainOptions,
                 meta: dict, wall_offset: float):
        self.out, self.trainer, self.env, self.eval_env, self.opt = out, trainer, env, eval_env, opt
        self.meta, self.wall_offset = meta, wall_offset
        self.t_start = time.perf_counter()
        self.train_log = CsvLog(out / "train_log.csv")  # a resumed run appends to its logs
        self.eval_log = CsvLog(out / "eval_log.csv")
        self.last_eval = self.best_eval = None
        self.bar = None
        if opt.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=int(opt.total_steps), initial=int(trainer.env_steps), unit="step",
                            unit_scale=True, dynamic_ncols=True, desc="train")

    def elapsed(self) -> float:
        """Seconds of this call."""
        return time.perf_counter() - self.t_start

    def wall(self) -> float:
        """Seconds of the whole run (resumed parts included)."""
        return self.wall_offset + self.elapsed()

    def save(self, name: str, with_env: bool, **meta) -> Path:
        """The trainer to ``out/name``; with ``with_env`` the running episodes too (only where the
        env and the trainer's rollout carry match the trainer's state)."""
        from .checkpoint import save_trainer

        return save_trainer(self.out / name, self.trainer, self.env if with_env else None,
                            {**self.meta, "wall_s": self.wall(), **meta})

    def evaluate(self) -> dict:
        """A deterministic evaluation of whole trials, logged; ``best.npz`` when it is the best."""
        ev = evaluate(self.trainer, self.eval_env)
        ev.update(iteration=float(self.trainer.state.iteration),
                  env_steps=float(self.trainer.env_steps), wall_s=self.wall())
        self.eval_log.append(ev)
        self.last_eval = ev
        if self.best_eval is None or ev["return"] > self.best_eval["return"]:
            self.best_eval = ev  # the policy that tracks whole trials best
            self.save("best.npz", False, eval=ev)
        return ev

    def iteration(self, stats: dict) -> None:
        """An iteration's records: its log row, the evaluation every ``eval_every`` iterations
        (added to ``stats`` as ``eval_*``), the progress bar, the checkpoint every
        ``checkpoint_every`` iterations."""
        opt = self.opt
        self.train_log.append(dict(stats))
        it = int(stats["iteration"])
        if self.eval_env is not None and opt.eval_every and it % opt.eval_every == 0:
            stats.update({f"eval_{k}": v for k, v in self.evaluate().items()})
        if self.bar is not None:
            self.bar.update(int(stats["env_steps"]) - self.bar.n)
            self.bar.set_postfix_str(f"{stats['steps_per_s']:.0f} steps/s  "
                                     f"ret {stats.get('episode_return', math.nan):.2f}  "
                                     f"err {stats.get('tracking_error', math.nan):.1f} deg")
        if opt.checkpoint_every and it % opt.checkpoint_every == 0:
            self.save("checkpoint.npz", True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _finite(stats: dict) -> bool:
    return all(math.isfinite(stats.get(k, 0.0)) for k in ("action_std", "grad_norm", "value_loss"))


# --------------------------------------------------------------------------- training
def train(groups: list[TrialGroup], out_dir: str | Path, tracking_config: TrackingConfig | None = None,
          ppo_config: PPOConfig | None = None, options: TrainOptions | None = None,
          resume: str | Path | None = None, callback=None,
          metadata: dict | None = None) -> dict[str, Any]:
    """Train a tracking policy on the trials of one or several subjects (module doc); returns a
    summary dict (also in summary.json, without ``trainer``): ``stopped`` (the stop reason, one
    of :data:`STOP_REASONS`), ``env_steps``, ``iterations``, ``wall_s``, ``bc_mse``,
    ``last_eval``, ``best_eval``, ``checkpoint``, ``out_dir`` and ``trainer``.

    ``callback(stats)`` (optional) is called after every iteration with the trainer's stats plus
    ``wall_s`` (and ``eval_*`` after an evaluation); returning True stops training
    (:data:`EARLY_STOP`); raising ``KeyboardInterrupt`` stops it with a checkpoint
    (:data:`INTERRUPTED`).
    """
    opt = options or TrainOptions()
    tcfg = tracking_config or TrackingConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # 1. the envs
    env = make_env(groups, tcfg, opt.num_envs, opt.num_threads)
    eval_env = make_eval_env(env, opt.num_threads) if opt.eval_every else None
    subs = _sub_envs(env)

    # 2. the trainer
    if resume:
        trainer, saved = _resumed_trainer(resume, env, tcfg)
        wall_offset, bc_mse = float(saved.get("wall_s", 0.0)), saved.get("bc_mse")
    else:
        for name in ("train_log.csv", "eval_log.csv"):  # a resumed run appends to them
            (out / name).unlink(missing_ok=True)
        trainer, bc_mse = _fresh_trainer(env, ppo_config or default_ppo_config(seed=opt.seed), opt)
        wall_offset = 0.0
    (out / "config.json").write_text(json.dumps({"tracking": tcfg.to_dict(),
                                                  "ppo": trainer.config.to_dict(),
                                                  "train": dataclasses.asdict(opt)}, indent=2))
    meta = {"tracking_config": tcfg.to_dict(), "options": dataclasses.asdict(opt),
            "trials": [t.name for e in subs for t in e.reference.trials],
            "obs_size": env.obs_size, "action_size": env.action_size, "nq": int(subs[0].model.nq),
            "subjects": [[float(v) for v in e.subject[0]] for e in subs], **(metadata or {}),
            "bc_mse": bc_mse}
    rec = _Records(out, trainer, env, eval_env, opt, meta, wall_offset)
    if eval_env is not None and not resume:
        rec.evaluate()  # the starting policy: the first point of the learning curve

    # 3. the loop, one PPO iteration at a time until a stop reason
    stop = STEPS_REACHED if trainer.env_steps >= opt.total_steps else None
    at_boundary = True  # the env and the rollout carry match the trainer's state
    last_good = trainer.state
    batch = trainer.config.num_steps * env.num_envs
    try:
        while stop is None:
            at_boundary = False
            stats = trainer.iterate(env, int(opt.total_steps))
            if not _finite(stats):  # never save or continue from a diverged policy
                trainer.state, trainer.env_steps = last_good, trainer.env_steps - batch
                stop = DIVERGED
                print(f"training stopped: {DIVERGED} (a non-finite update at iteration "
                      f"{int(stats['iteration'])}; the previous iteration's policy is kept)")
                break
            at_boundary = True
            last_good = trainer.state
            stats["wall_s"] = rec.wall()
            rec.iteration(stats)
            asked = bool(callback(stats)) if callback is not None else False
            if trainer.env_steps >= opt.total_steps:
                stop = STEPS_REACHED
            elif asked:
                stop = EARLY_STOP
            elif opt.time_budget_s is not None and rec.elapsed() >= opt.time_budget_s:
                stop = TIME_BUDGET
    except KeyboardInterrupt:
        stop = INTERRUPTED
    finally:
        rec.close()

    # 4. the end
    rec.save("checkpoint.npz", at_boundary, stopped=stop)
    if stop != INTERRUPTED:
        rec.save("final.npz", at_boundary, stopped=stop)
        if eval_env is not None:
            rec.evaluate()
    if (out / "train_log.csv").exists():
        try:
            plot_learning_curve(out / "train_log.csv", out / "learning_curve.png",
                                out / "eval_log.csv")
        except Exception as e:  # a plot must never lose a training run
            print(f"learning curve not written: {e}")
    summary = {"env_steps": trainer.env_steps, "iterations": int(trainer.state.iteration),
               "wall_s": rec.wall(), "stopped": stop, "bc_mse": bc_mse,
               "last_eval": rec.last_eval, "best_eval": rec.best_eval,
               "checkpoint": str(out / "checkpoint.npz"), "out_dir": str(out)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    env.close()
    if eval_env is not None:
        eval_env.close()
    summary["trainer"] = trainer
    return summary


__all__ = ["DIVERGED", "EARLY_STOP", "INTERRUPTED", "STEPS_REACHED", "STOP_REASONS", "TIME_BUDGET",
           "UNFINISHED", "TrialGroup", "evaluate", "exploration_std", "make_env", "make_eval_env",
           "set_action_std", "train"]
