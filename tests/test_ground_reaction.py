"""Foot ground reactions from MuJoCo contacts."""

import mujoco
import numpy as np
import pytest

from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import build_model
from kintwin.motion import frames
from kintwin.sim.ground_reaction import foot_wrenches


def test_standing_reactions_balance_weight_and_cop_under_the_feet():
    m = build_model(default_skeleton(1.75, 70.0))
    d = mujoco.MjData(m)
    d.qpos[2] = 0.95
    pelvis = m.body("pelvis").id
    for _ in range(1000):
        d.ctrl[:34] = np.clip(-3.0 * d.qpos[7:] - 0.05 * d.qvel[6:], -1, 1)
        err = np.zeros(3)
        mujoco.mju_subQuat(err, d.qpos[3:7], m.qpos0[3:7])
        mat = d.xmat[pelvis].reshape(3, 3)
        d.xfrc_applied[pelvis] = np.r_[-1000.0 * d.qpos[0:2] - 100.0 * d.qvel[0:2], 0.0,
                                       mat @ (-300.0 * err - 20.0 * d.qvel[3:6])]
        mujoco.mj_step(m, d)
    w = foot_wrenches(m, d)
    weight = m.body_mass.sum() * 9.81
    assert w["r"][0][1] + w["l"][0][1] == pytest.approx(weight, rel=0.02)  # OpenSim Y is up
    for side in "rl":
        force, cop, moment = w[side]
        assert force[1] > 0.2 * weight  # both feet loaded
        heel = frames.mujoco_to_osim_vec(d.site(f"heel_{side}").xpos)
        toe = frames.mujoco_to_osim_vec(d.site(f"toe_{side}").xpos)
        assert heel[0] - 0.04 < cop[0] < toe[0] + 0.04  # along the foot
        assert abs(cop[2] - heel[2]) < 0.08  # under the foot, not between the feet
        assert abs(cop[1]) < 1e-12 and abs(moment[0]) < 1e-12 and abs(moment[2]) < 1e-12
