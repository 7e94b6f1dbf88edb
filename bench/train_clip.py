"""Train a tracking policy on one clip of ``../shared/data`` for a wall-clock budget (issue 4).

Clips (``--trial``), each on the built-in model scaled to the subject:

* ``subject01``: ``osim_subject01_walk/gait2354/subject01_walk1_ik.mot`` (0.4-1.6 s, 60 Hz IK;
  treadmill, made overground by the reference's ground alignment), 1.803 m / 72.6 kg;
* ``hamner_run``: ``hamner_run/IK/subject02_running_ik.mot``, 0.7-1.7 s (around the force-plate
  window), 1.83 m / 65.9 kg.

Training: ``kintwin.learn.train.train`` with ``--config`` (default: the shipped policy's,
``bench/configs/shipped_policy.yaml``), deterministic whole-clip evaluations every
``eval_every`` iterations, the first one before any training.

Figures written (``--out``, default ``runs/<trial>``; summary also to
``bench/results/train_<trial>.json``):

* ``learning_curve.png`` (train return / tracking error / episode length / residuals vs steps),
* ``eval_curve.png``: the deterministic whole-clip metrics vs wall-clock time,
* ``tracking.png``: simulated vs reference sagittal leg angles and pelvis height of the final
  policy over the clip,
* in the summary: whether/when the whole clip was first completed without early termination,
  the best and final joint-angle MAE (deg), pelvis position error (cm), mean residual force
  (% body weight), and the wall-clock time to first reach each threshold (MAE 2 and 5 deg,
  pelvis 3 and 5 cm, residual 10 and 5 % BW, all with the clip completed).

    .venv/bin/python bench/train_clip.py --trial subject01 --budget-min 15 > bench/results/train_subject01.log 2>&1
    .venv/bin/python bench/train_clip.py --trial hamner_run --budget-min 15 > bench/results/train_hamner_run.log 2>&1
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from paths import DATA, REPO  # noqa: E402
TRIALS = {  # path, time span (s), height (m), mass (kg)
    "subject01": (DATA / "osim_subject01_walk" / "gait2354" / "subject01_walk1_ik.mot", None, 1.803, 72.6),
    "hamner_run": (DATA / "hamner_run" / "IK" / "subject02_running_ik.mot", (0.7, 1.7), 1.83, 65.9),
}

THRESHOLDS = {"joint_mae_deg": (5.0, 2.0), "pelvis_err_cm": (5.0, 3.0), "residual_pct_bw": (10.0, 5.0)}


def time_to_targets(evals: list[dict]) -> dict:
    out = {"completed_first_wall_s": None, "completed_first_env_steps": None}
    for e in evals:
        if e["completed"] >= 1.0:
            out["completed_first_wall_s"] = e["wall_s"]
            out["completed_first_env_steps"] = e["env_steps"]
            break
    for key, levels in THRESHOLDS.items():
        for lv in levels:
            hit = next((e for e in evals if e["completed"] >= 1.0 and e[key] <= lv), None)
            out[f"{key}<={lv:g}_wall_s"] = None if hit is None else hit["wall_s"]
    return out


def plot_eval_curve(evals: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([e["wall_s"] for e in evals]) / 60
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, (k, label) in zip(axes.flat, [("coverage", "fraction of the clip tracked (1 = completed)"),
                                          ("joint_mae_deg", "joint angle MAE (deg)"),
                                          ("pelvis_err_cm", "pelvis position error (cm)"),
                                          ("residual_pct_bw", "mean residual force (% BW)")]):
        ax.plot(t, [e[k] for e in evals], "o-", ms=3)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("wall-clock time (min)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title}, deterministic policy, whole clip")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_tracking(trainer, env, path: Path) -> dict:
    """Roll the final policy over the clip from frame 0; plot sim vs reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = env.reference
    obs = env.reset_to(0, 0)
    T = int(ref.lengths[0])
    q_sim, q_ref, z_sim, z_ref = [], [], [], []
    for _ in range(T - 1):
        obs, _, done, info = env.step(np.asarray(trainer.act(obs, deterministic=True)))
        if done[0]:
            break
        row = ref.rows(env.trial, env.frame)[0]
        q_sim.append(env.physics.qpos[0, 7:].copy())
        q_ref.append(ref.qpos[row, 7:])
        z_sim.append(env.physics.qpos[0, 2])
        z_ref.append(ref.qpos[row, 2])
    names = list(ref.joint_names)
    t = np.arange(1, len(q_sim) + 1) / ref.rate_hz
    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    for ax, n in zip(axes.flat, ["hip_flexion_r", "knee_angle_r", "ankle_angle_r", "hip_adduction_r",
                                 "hip_flexion_l", "knee_angle_l", "ankle_angle_l"]):
        j = names.index(n)
        ax.plot(t, np.rad2deg([q[j] for q in q_ref]), "k--", label="reference")
        ax.plot(t, np.rad2deg([q[j] for q in q_sim]), "C0", label="simulation")
        ax.set_title(n, fontsize=10)
        ax.set_xlabel("time (s)")
    axes.flat[-1].plot(t, z_ref, "k--", t, z_sim, "C0")
    axes.flat[-1].set_title("pelvis height (m)", fontsize=10)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return {"tracked_frames": len(q_sim), "clip_frames": T - 1}


def _clean(x):
    """JSON-safe copy: NaN -> None, numpy scalars -> float."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-min", type=float, default=30.0, help="wall-clock training budget (min)")
    ap.add_argument("--trial", choices=sorted(TRIALS), default="subject01")
    ap.add_argument("--out", type=Path, default=None, help="default runs/<trial>")
    ap.add_argument("--envs", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--resume", type=Path, default=None)
    ap.add_argument("--config", type=Path, default=REPO / "bench" / "configs" / "shipped_policy.yaml",
                    help="YAML/JSON overrides (as kintwin train; default: the shipped policy's)")
    ap.add_argument("--results", type=Path, default=None,
                    help="default bench/results/train_<trial>.json")
    args = ap.parse_args()
    CLIP, span, HEIGHT_M, MASS_KG = TRIALS[args.trial]
    args.out = args.out or REPO / "runs" / args.trial
    args.results = args.results or REPO / "bench" / "results" / f"train_{args.trial}.json"
    if not CLIP.is_file():
        sys.exit(f"{args.trial} clip not found: {CLIP} (set KINTWIN_SHARED_DATA)")

    from kintwin.learn.train import TrialGroup, make_env, make_eval_env, train
    from kintwin.learn.train_config import (TrainOptions, default_ppo_config, read_config_file,
                                            split_overrides)
    from kintwin.learn.train_log import read_csv
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import build_model
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.sim.tracking import TrackingConfig

    t_over, p_over, o_over = ({}, {}, {})
    if args.config:
        t_over, p_over, o_over = split_overrides(read_config_file(args.config))
    motion = read_motion(CLIP)
    if span:
        motion = motion.slice_time(*span)
    model = build_model(default_skeleton(HEIGHT_M, MASS_KG))
    opts = TrainOptions(**{**dict(total_steps=10**9, num_envs=args.envs, num_threads=args.threads,
                                  eval_every=args.eval_every, checkpoint_every=25,
                                  time_budget_s=60 * args.budget_min, progress=True), **o_over})
    tcfg = TrackingConfig.from_dict(t_over) if t_over else TrackingConfig()
    pcfg = default_ppo_config(**{"schedule_env_steps": 10_000_000, **p_over})
    t0 = time.time()
    summary = train([TrialGroup(model, [motion], (HEIGHT_M, float(model.body_mass.sum())))],
                    args.out, tcfg, pcfg, opts, resume=args.resume, metadata={"clip": str(CLIP)})
    trainer = summary.pop("trainer")

    evals = read_csv(args.out / "eval_log.csv")
    plot_eval_curve(evals, args.out / "eval_curve.png", args.trial)
    eval_env = make_eval_env(make_env([TrialGroup(model, [motion], (HEIGHT_M, float(model.body_mass.sum())))],
                                      tcfg, 2, 1), 1)
    track = plot_tracking(trainer, eval_env, args.out / "tracking.png")
    best = {k: min((e[k] for e in evals if e["completed"] >= 1.0), default=None)
            for k in THRESHOLDS}
    final = evals[-1] if evals else {}
    result = {
        "trial": args.trial, "clip": str(CLIP), "span_s": span, "height_m": HEIGHT_M, "mass_kg": MASS_KG,
        "budget_min": args.budget_min, "wall_s": summary["wall_s"], "env_steps": summary["env_steps"],
        "iterations": summary["iterations"], "stopped": summary["stopped"], "bc_mse": summary["bc_mse"],
        "env_steps_per_s": summary["env_steps"] / max(summary["wall_s"], 1e-9),
        "final_eval": final, "best_completed": best, "ever_completed": any(e["completed"] >= 1 for e in evals),
        "best_coverage": max((e["coverage"] for e in evals), default=None),
        **time_to_targets(evals), "final_tracking": track,
        "figures": [str(args.out / n) for n in ("learning_curve.png", "eval_curve.png", "tracking.png")],
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t0)),
    }
    result = _clean(result)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
