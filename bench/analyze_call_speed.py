"""Wall time of whole ``kintwin`` calls as a user runs them: reading the shipped walking policy
in a fresh process (``twin.runner.load_policy``, its imports included), and ``kintwin analyze``
in a fresh process on the generated sample walk (3.3 s, the whole-body controller) and on
hamner_run's plate window (0.70-1.43 s, ``--controller policy``: the shipped running policy), each
the best of ``--repeats`` runs, and whether the process imported JAX. And a batch as a user runs
one, ``--controller policy --workers 2``: six generated walks of one subject (cycles of 1.0-1.25
s, 4 s each), and subject01's two files where ../shared/data is present; each batch's seconds of
movement over its wall time is its real-time factor. Run it at two commits to compare them (an
older commit: a ``git worktree`` of it with this script copied in and
``PYTHONPATH=<worktree>/src``).

    .venv/bin/python bench/analyze_call_speed.py    # bench/results/analyze_call_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paths import DATA, REPO

PROBE = """import sys, time
t = time.perf_counter()
from kintwin.cli import main
rc = main({argv!r})
print("RESULT", rc, time.perf_counter() - t, "jax" in sys.modules)
"""


def timed_call(argv: list[str]) -> dict:
    """One fresh interpreter running ``kintwin argv``: exit code, wall s (interpreter start
    included), in-process s (import of kintwin.cli to the end), and whether JAX was imported."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True,
                         text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    wall = time.perf_counter() - t
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    if not line:
        raise SystemExit(f"kintwin {argv[0]} failed:\n{out.stderr[-2000:]}")
    _, rc, inside, jax = line[-1].split()
    return {"rc": int(rc), "wall_s": round(wall, 3), "in_process_s": round(float(inside), 3),
            "jax_imported": jax == "True"}


def first_load(path: Path) -> float:
    """Seconds of a fresh process's first ``kintwin.twin.runner.load_policy(path)``, the import of
    what it needs included, as each worker process of ``kintwin analyze --controller policy``
    pays it."""
    code = ("import time\nt = time.perf_counter()\nfrom kintwin.twin.runner import load_policy\n"
            f"load_policy({str(path)!r})\nprint(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--results", type=Path,
                    default=REPO / "bench" / "results" / "analyze_call_speed.json")
    args = ap.parse_args()
    from kintwin.motion.kinematics_io import read_motion, write_motion
    from kintwin.motion.sample import sample_walk

    policy = REPO / "src" / "kintwin" / "data" / "policy_walk.npz"
    loads = [first_load(policy) for _ in range(args.repeats)]
    result = {"cpus": os.cpu_count(), "repeats": args.repeats,
              "load_policy_walk_s": round(min(loads), 3)}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        walk = write_motion(folder / "sample_walk.mot", sample_walk(duration_s=3.3))
        calls = {"analyze_sample_walk_controller": ["analyze", str(walk), "--height", "1.75",
                                                    "--mass", "70"]}
        run_ik = DATA / "hamner_run" / "IK" / "subject02_running_ik.mot"
        if run_ik.is_file():
            window = write_motion(folder / "hamner_run_0.70-1.43.mot",
                                  read_motion(run_ik).slice_time(0.70, 1.43), convention="legacy")
            calls["analyze_hamner_run_policy"] = ["analyze", str(window), "--height", "1.83",
                                                  "--mass", "65.9", "--controller", "policy"]
        batch = ["--controller", "policy", "--workers", "2"]
        walks = folder / "walks"
        walks.mkdir()
        movement_s = {"analyze_batch_generated_walks": 0.0}
        for k, cycle_s in enumerate((1.0, 1.05, 1.1, 1.15, 1.2, 1.25)):
            walk = sample_walk(duration_s=4.0, cycle_s=cycle_s)
            write_motion(walks / f"walk{k}.mot", walk)
            movement_s["analyze_batch_generated_walks"] += walk.time_s[-1] - walk.time_s[0]
        calls["analyze_batch_generated_walks"] = ["analyze", str(walks), "--height", "1.75",
                                                  "--mass", "70"] + batch
        s01 = [DATA / "osim_subject01_walk" / model / "subject01_walk1_ik.mot"
               for model in ("gait2354", "gait2392")]
        if all(f.is_file() for f in s01):
            movement_s["analyze_batch_subject01"] = sum(
                float(m.time_s[-1] - m.time_s[0]) for m in map(read_motion, s01))
            calls["analyze_batch_subject01"] = (["analyze"] + [str(f) for f in s01]
                                                + ["--height", "1.803", "--mass", "72.6"] + batch)
        for name, argv in calls.items():
            runs = [timed_call(argv + ["--out", str(folder / f"{name}_{k}")])
                    for k in range(args.repeats)]
            best = min(runs, key=lambda r: r["wall_s"])
            result[name] = {**best, "wall_s_all": [r["wall_s"] for r in runs]}
            if name in movement_s:
                result[name]["movement_s"] = round(movement_s[name], 3)
                result[name]["x_real_time"] = round(movement_s[name] / best["wall_s"], 2)
            print(name, json.dumps(result[name]), flush=True)
    print(f"load_policy (policy_walk.npz, imports included): {result['load_policy_walk_s']} s")
    args.results.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
