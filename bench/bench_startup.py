"""Start-up benchmark: whole-process wall time of short ``kintwin`` commands (imports included).

Commands, each run as a fresh process (``subprocess``), one warm-up run then ``REPEATS`` timed
runs taken in turn (so a busy machine slows all of them alike); median, min and max reported:

* ``kintwin id`` on subject01's walk (``gait2354/subject01_walk1_ik.mot``, 73 frames, 72.6 kg,
  1.803 m from ``../shared/data/README.md``; estimated contacts); skipped when the data are absent;
* ``kintwin analyze --help`` and ``kintwin --help`` (building the parser imports every
  subcommand module, which must leave numpy, mujoco and scipy for when they run);
* OpenSim's InverseDynamicsTool on the same trial from ``subject01_Setup_InverseDynamics.xml``
  (GRF applied, 6 Hz filter) in a fresh Python, only when ``import opensim`` works in the
  interpreter given by ``--opensim-python`` (default this one; OpenSim is not a kintwin
  dependency: ``python -m venv /tmp/osim && /tmp/osim/bin/pip install opensim==4.6`` makes one).

Python caches compiled bytecode as it would for a user (``PYTHONDONTWRITEBYTECODE`` is dropped for
the children; ``PYTHONPYCACHEPREFIX`` keeps the cache in a temporary folder, out of the tree).

    .venv/bin/python bench/bench_startup.py [--opensim-python /tmp/osim/bin/python]
    # prints the JSON, writes bench/results/startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paths import DATA, REPO  # noqa: E402
OUT = REPO / "bench" / "results" / "startup.json"
KINTWIN = Path(sys.executable).with_name("kintwin")
REPEATS = 5
OPENSIM_ID = ("import sys, opensim\n"
              "sys.exit(0 if opensim.InverseDynamicsTool(sys.argv[1]).run() else 1)")


def _has_opensim(python: str, env: dict) -> bool:
    return subprocess.run([python, "-c", "import opensim"], env=env,
                          capture_output=True).returncode == 0


def _opensim_inputs(tmp: Path) -> Path:
    """A folder with the setup file's inputs side by side (its paths are relative; the loads
    file lives in experimental/); the tool writes its results there too."""
    walk = DATA / "osim_subject01_walk"
    folder = tmp / "opensim_id"
    folder.mkdir()
    for f in (walk / "gait2354" / "subject01_Setup_InverseDynamics.xml",
              walk / "gait2354" / "subject01_simbody.osim",
              walk / "gait2354" / "subject01_walk1_ik.mot",
              walk / "experimental" / "subject01_walk1_grf.xml",
              walk / "experimental" / "subject01_walk1_grf.mot"):
        (folder / f.name).symlink_to(f)
    return folder


def _commands(tmp: Path, env: dict, opensim_python: str) -> tuple[dict, dict]:
    """{name: (argv, cwd)} to time, and {name: why} for those skipped."""
    cmds = {"kintwin analyze --help": ([str(KINTWIN), "analyze", "--help"], None),
            "kintwin --help": ([str(KINTWIN), "--help"], None)}
    skipped = {}
    if (DATA / "README.md").is_file():
        trial = DATA / "osim_subject01_walk" / "gait2354" / "subject01_walk1_ik.mot"
        cmds["kintwin id (subject01 walk)"] = (
            [str(KINTWIN), "id", str(trial), "--height", "1.803", "--mass", "72.6",
             "--out", str(tmp / "kintwin_id")], None)
        if _has_opensim(opensim_python, env):
            cmds["opensim InverseDynamicsTool (subject01 walk)"] = (
                [opensim_python, "-c", OPENSIM_ID, "subject01_Setup_InverseDynamics.xml"],
                _opensim_inputs(tmp))
        else:
            skipped["opensim InverseDynamicsTool (subject01 walk)"] = (
                f"`import opensim` fails in {opensim_python}")
    else:
        skipped["kintwin id (subject01 walk)"] = f"shared data not found at {DATA}"
    return cmds, skipped


def _run(argv: list[str], cwd, env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensim-python", default=sys.executable,
                        help="a Python where `import opensim` works (default: this one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        cmds, skipped = _commands(tmp, env, args.opensim_python)
        load_before = os.getloadavg()[0]
        times = {name: [] for name in cmds}
        for i in range(REPEATS + 1):  # round 0: warm-up (bytecode, file cache)
            for name, (argv, cwd) in cmds.items():
                t = _run(argv, cwd, env)
                if i:
                    times[name].append(t)
        out = {
            "machine": {"python": platform.python_version(), "cpu": platform.processor() or
                        platform.machine(), "cores": os.cpu_count(),
                        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]},
            "repeats": REPEATS,
            "target": "kintwin id faster than OpenSim's ID tool on the same trial, whole process",
            "seconds": {name: {"median": round(statistics.median(ts), 3), "min": round(min(ts), 3),
                               "max": round(max(ts), 3), "runs": [round(t, 3) for t in ts]}
                        for name, ts in times.items()},
            "skipped": skipped,
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
