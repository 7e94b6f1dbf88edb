"""Where a distilled policy leaves its teacher on a trial: the policy drives the trial (as
``kintwin analyze --controller policy`` does, from its first frame) and at each of its control
steps the teacher (the whole-body controller it was distilled from) is asked what it would do in
that state, without stepping it. Prints, per control step, the actuators whose policy action
differs most from the teacher's (actions in each motor's range, -1..1), the largest entries of the
policy's normalised observation (in standard deviations of its training states; the policy clips
them at 10), and at the end the per-actuator RMS difference.

    .venv/bin/python bench/policy_vs_teacher.py TRIAL.mot --height 1.75 --mass 70 [--policy P] [--steps 15]

Used on walking2 through our IK (BENCHMARKS.md, issue 16, "Why the walking policies lose
walking2"); the trial's own .mot, no plates; the body as analyze builds it (with the segment
scales ``kintwin ik`` wrote beside the kinematics, if any).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mujoco
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_controller_twin import REPO  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trial", type=Path)
    ap.add_argument("--height", type=float, required=True, help="m")
    ap.add_argument("--mass", type=float, required=True, help="kg")
    ap.add_argument("--policy", type=Path, default=REPO / "src" / "kintwin" / "data" / "policy_walk.npz")
    ap.add_argument("--steps", type=int, default=15, help="control steps to run")
    args = ap.parse_args()

    from kintwin.learn.distill import load_distilled, teaching
    from kintwin.models.subject import SubjectSpec, resolve_subject
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.twin.controlled import simulate

    policy = load_distilled(args.policy)
    motion = read_motion(args.trial)
    skeleton = resolve_subject(SubjectSpec(args.height, args.mass), motion.subject)  # as analyze
    sim = teaching([(skeleton, motion)], policy.controller)[0]
    driver = policy.driver(sim.model, sim.cref, sim.subject)
    names = [mujoco.mj_id2name(sim.model, mujoco.mjtObj.mjOBJ_ACTUATOR, a) for a in range(sim.model.nu)]
    norm = policy.obs_norm
    diffs = []

    def drive(data, i):
        with sim.teacher.state_kept():
            label = sim.teacher(data, i)
        obs = driver.observe(data, i)
        act = driver.act(data, obs, i)
        z = (obs[0] - np.asarray(norm.mean)) / np.asarray(norm.std)
        top, big = np.argsort(-np.abs(act - label))[:5], np.argsort(-np.abs(z))[:4]
        print(f"frame {i}: " + "  ".join(f"{names[j]} {act[j]:+.2f} (teacher {label[j]:+.2f})" for j in top)
              + f" | observation {', '.join(f'[{k}] {z[k]:+.1f}' for k in big)} sd", flush=True)
        diffs.append(act - label)
        return act

    run = simulate(sim.model, sim.cref, drive, sim.teacher.substeps, max_steps=args.steps)
    rms = np.sqrt(np.mean(np.square(diffs), axis=0))
    print("completed" if run.completed else f"lost at frame {run.stopped_at}",
          "| RMS policy - teacher:", ", ".join(f"{names[j]} {rms[j]:.2f}" for j in np.argsort(-rms)[:8]))


if __name__ == "__main__":
    main()
