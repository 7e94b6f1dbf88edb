"""PPO fine-tuning of the distilled policy (``learn/finetune.py``) on subject01 walking, then the
fine-tuned policy alone against force plates and OpenSim ID, next to the distilled one.

Starts from ``bench/results/distill_subject01.npz`` (``bench_distill.py``), on its trial
(subject01 gait2354 IK 0.4-1.6 s, 1.803 m, 72.6 kg); plates and ``ID_inverse_dynamics.sto``
only score (``bench_distill.score_twin``). Writes ``bench/results/finetune_subject01.json``
(config, one log row per PPO iteration with the evaluation score and its figures, wall time to
each, the twins' figures), the learning curve ``finetune_subject01.png`` and the policy
``finetune_subject01.npz``.

    .venv/bin/python bench/bench_finetune.py [--minutes 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_controller_twin import REPO, trials  # noqa: E402
from bench_distill import score_twin  # noqa: E402

LOGGED = ("iteration", "env_steps", "wall_s", "eval_score", "eval_joint_mae_deg",
          "eval_grf_vertical_rmse_pct_bw", "eval_residual_force_pct_bw", "eval_completed_fraction",
          "approx_kl", "clip_fraction", "reward_mean", "explained_variance", "learning_rate",
          "joint_mae_deg", "grf_vertical_error_pct_bw", "residual_force_pct_bw", "steps_per_s", "anchor_kl")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = [r for r in rows if "eval_score" in r]
    t = [r["wall_s"] / 60 for r in ev]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].plot(t, [r["eval_score"] for r in ev], "k.-")
    ax[0].set(xlabel="wall time (min, 2 cores)", ylabel="evaluation score (lower is better)",
              title="8 deterministic episodes")
    for key, label, scale in (("eval_joint_mae_deg", "joint MAE / 1 deg", 1.0),
                              ("eval_grf_vertical_rmse_pct_bw", "vGRF RMSE / 10 %BW", 10.0),
                              ("eval_residual_force_pct_bw", "residual / 3 %BW", 3.0)):
        ax[1].plot(t, [r[key] / scale for r in ev], ".-", label=label)
    ax[1].set(xlabel="wall time (min, 2 cores)", title="score terms")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="fine-tuning time budget")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--anchor-kl", type=float, default=1.0,
                    help="FinetuneConfig.anchor_kl_coef: weight of the KL to the distilled policy")
    ap.add_argument("--policy", type=Path, default=REPO / "bench" / "results" / "distill_subject01.npz")
    ap.add_argument("--trial", default="subject01_walk",
                    help="bench_controller_twin's trial to fine-tune on (subject01_walk_gait2392: the "
                         "muscle policy's)")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench_finetune")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "finetune_subject01.json")
    ap.add_argument("--score-only", action="store_true",
                    help="score the policy already in --results' .npz (no fine-tuning)")
    args = ap.parse_args()

    from kintwin.learn.distill import load_distilled
    from kintwin.learn.finetune import FinetuneConfig, finetune
    from kintwin.models.subject import SubjectSpec, resolve_subject
    from kintwin.motion.kinematics_io import read_motion

    spec = trials(args.out)[args.trial]
    ckpt = args.results.with_suffix(".npz")
    if args.score_only:
        result = json.loads(args.results.read_text())
    else:
        skeleton = resolve_subject(SubjectSpec(spec["height"], spec["mass"]))
        cfg = FinetuneConfig(time_budget_s=60 * args.minutes, seed=args.seed, anchor_kl_coef=args.anchor_kl)
        t0 = time.perf_counter()
        policy, rows = finetune(load_distilled(args.policy), [(skeleton, read_motion(spec["trial"]))], cfg,
                                log=lambda r: print(json.dumps({k: r[k] for k in LOGGED + ("selected",) if k in r},
                                                               default=float), flush=True))
        wall = time.perf_counter() - t0
        policy.save(ckpt, {"command": " ".join(sys.argv), "trial": Path(spec["trial"]).name,
                           "started_from": str(args.policy.resolve().relative_to(REPO))})
        result = {"cpus": os.cpu_count(), "finetune_config": dataclasses.asdict(cfg), "finetune_wall_s": wall,
                  "started_from": str(args.policy.resolve().relative_to(REPO)),
                  "log": [{k: r[k] for k in LOGGED + ("selected",) if k in r} for r in rows],
                  "checkpoint": str(ckpt.resolve().relative_to(REPO))}
        args.results.write_text(json.dumps(result, indent=2, default=float) + "\n")  # before scoring
    plot(result["log"], args.results.with_suffix(".png"))
    for name, path in (("distilled_policy", args.policy), ("finetuned_policy", ckpt)):
        result[name] = score_twin(spec, args.out / name, "policy", path)
    args.results.write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
