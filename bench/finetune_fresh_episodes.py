"""PPO fine-tuning checked on episodes its selection never saw: the distilled policy
(bench/results/distill_subject01.npz) and the fine-tuned one (bench/results/finetune_subject01.npz),
each from two sets of 16 other random perturbed starts on subject01 (``learn/finetune.evaluate``).
Writes bench/results/finetune_fresh_episodes.json.

    .venv/bin/python bench/finetune_fresh_episodes.py [--finetuned FILE --results FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_controller_twin import REPO, trials  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    results = REPO / "bench" / "results"
    ap.add_argument("--finetuned", type=Path, default=results / "finetune_subject01.npz")
    ap.add_argument("--results", type=Path, default=results / "finetune_fresh_episodes.json")
    args = ap.parse_args()
    from kintwin.learn.distill import load_distilled, teaching
    from kintwin.learn.finetune import FinetuneConfig, evaluate, evaluation_starts
    from kintwin.learn.finetune_env import ControlledTrackingEnv
    from kintwin.models.subject import SubjectSpec, resolve_subject
    from kintwin.motion.kinematics_io import read_motion

    spec = trials(REPO / "runs" / "snr")["subject01_walk"]
    skeleton = resolve_subject(SubjectSpec(spec["height"], spec["mass"]))
    policies = {"distilled": load_distilled(results / "distill_subject01.npz"),
                "finetuned": load_distilled(args.finetuned)}
    sims = teaching([(skeleton, read_motion(spec["trial"]))], policies["distilled"].controller)
    out = {}
    for seed in (7, 8):
        env = ControlledTrackingEnv(sims, policies["distilled"], 16, FinetuneConfig().reward, seed)
        starts = evaluation_starts(env, seed + 5000)
        for name, policy in policies.items():
            out[f"{name} seed {seed}"] = {k: round(v, 3) for k, v in evaluate(env, policy, starts).items()}
            print(name, seed, out[f"{name} seed {seed}"], flush=True)
    args.results.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
