"""Shared test helpers.

Real gait data live outside the repository in ``../shared/data`` (relative to the repo root; see
its README.md). They are never copied into the repo: tests that need them skip when absent.
Set ``KINTWIN_SHARED_DATA`` to use another location.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KINTWIN_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_data_path() -> Path:
    """The shared real-data folder, or ``pytest.skip`` with the reason when it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"../shared/data not found: {SHARED_DATA} is absent, so the tests on real "
                    "OpenSim gait data are skipped (the data are never copied into the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when the folder is absent."""
    return shared_data_path()


#: One-coordinate poses (canonical, rad) at which muscle moment arms are compared with a file's.
MOMENT_ARM_POSES = {"hip_flexion_r": [math.radians(a) for a in (-10, 10, 30)],
                    "knee_angle_r": [math.radians(a) for a in (5, 30, 60)],
                    "ankle_angle_r": [math.radians(a) for a in (-20, 0, 15)]}


def muscle_moment_arms(model, q: dict[str, float]) -> dict[tuple[str, str], float]:
    """{(muscle, joint): moment arm (m)} = -dL/dq of a MuJoCo muscle model at the pose ``q``
    (canonical coordinates; the others at 0)."""
    import mujoco
    import numpy as np

    from kintwin.models.muscles import muscle_actuators

    d = mujoco.MjData(model)
    for c, v in q.items():
        d.qpos[model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, c)]] = v
    mujoco.mj_forward(model, d)
    J = np.zeros((model.nu, model.nv))
    mujoco.mju_sparse2dense(J, d.actuator_moment, d.moment_rownnz, d.moment_rowadr, d.moment_colind)
    out = {}
    for a in muscle_actuators(model):
        mname = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, a)
        for j in range(1, model.njnt):
            out[(mname, mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j))] = \
                -J[a, model.jnt_dofadr[j]]
    return out


def moment_arm_misfits(om, model, info, cases) -> tuple[int, list[str]]:
    """Right-side muscle moment arms of a MuJoCo muscle model (``model``, ``info``) against an
    ``.osim`` file's own paths (``om.moment_arm``) at one-coordinate poses ``cases``
    ({coordinate: canonical angles (rad)}): (samples compared, the samples off by more than both
    1 cm and 20 %, described)."""
    import numpy as np

    n, bad = 0, []
    for coord, angles in cases.items():
        sign = -1.0 if coord in om.legacy_knees else 1.0
        for ang in angles:
            arms = muscle_moment_arms(model, {coord: ang})
            q = om.canonical_to_file({coord: ang})
            for mp in info.muscles:
                if not mp.name.endswith("_r") or coord not in mp.coordinates:
                    continue
                ref = sign * om.moment_arm(mp.name, coord, q)
                err = abs(arms[(mp.name, coord)] - ref)
                n += 1
                if err > 0.01 and err > 0.2 * abs(ref):
                    bad.append(f"{mp.name} {coord} {np.rad2deg(ang):.0f} deg: "
                               f"{100 * arms[(mp.name, coord)]:.2f} vs {100 * ref:.2f} cm")
    return n, bad
