"""Foot ground reactions from the model's per-foot contact sensors."""

import mujoco
import numpy as np
import pytest

from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import SimOptions, build_model
from kintwin.motion import frames
from kintwin.sim.ground_reaction import foot_wrenches


def _stand(m, steps, push=lambda k: np.zeros(6)):
    """Stand the model on the floor with a pelvis servo (plus a push wrench at step k)."""
    d = mujoco.MjData(m)
    d.qpos[2] = 0.95
    pelvis = m.body("pelvis").id
    for k in range(steps):
        d.ctrl[:34] = np.clip(-3.0 * d.qpos[7:] - 0.05 * d.qvel[6:], -1, 1)
        err = np.zeros(3)
        mujoco.mju_subQuat(err, d.qpos[3:7], m.qpos0[3:7])
        mat = d.xmat[pelvis].reshape(3, 3)
        d.xfrc_applied[pelvis] = np.r_[-1000.0 * d.qpos[0:2] - 100.0 * d.qvel[0:2], 0.0,
                                       mat @ (-300.0 * err - 20.0 * d.qvel[3:6])] + push(k)
        mujoco.mj_step(m, d)
    mujoco.mj_forward(m, d)
    return d


def test_sensors_equal_the_sum_of_the_contact_forces():
    """Oracle: mj_contactForce of every foot-floor contact, summed per side by hand."""
    m = build_model(default_skeleton(1.75, 70.0), SimOptions(foot_sensors=True))
    d = _stand(m, 700, lambda k: np.r_[80.0 * np.sin(0.03 * k), 0, 0, 30.0, 15.0 * np.cos(0.05 * k), 0])
    w = foot_wrenches(m, d.sensordata)
    floor = m.geom("floor").id
    f6 = np.zeros(6)
    sums = {s: [np.zeros(3), np.zeros(3)] for s in "rl"}
    for i in range(d.ncon):
        c = d.contact[i]
        assert floor in c.geom  # only the feet touch, and only the floor
        other = c.geom[1] if c.geom[0] == floor else c.geom[0]
        side = m.geom(other).name[-1]
        mujoco.mj_contactForce(m, d, i, f6)
        f = (f6[:3] @ c.frame.reshape(3, 3)) * (1.0 if c.geom[1] == other else -1.0)
        sums[side][0] += f
        sums[side][1] += np.cross(c.pos, f)
    loaded = 0
    for side in "rl":
        f, mo = sums[side]
        np.testing.assert_allclose(w[side][0], frames.mujoco_to_osim_vec(f), atol=1e-9)
        if f[2] > 10.0:
            loaded += 1
            cop = np.array([-mo[1] / f[2], mo[0] / f[2], 0.0])
            np.testing.assert_allclose(w[side][1], frames.mujoco_to_osim_vec(cop), atol=1e-9)
            tz = mo[2] - (cop[0] * f[1] - cop[1] * f[0])
            assert w[side][2][1] == pytest.approx(tz, abs=1e-9)
    assert loaded == 2
    # the mean over readings is the reading of the mean force
    two = foot_wrenches(m, np.stack([d.sensordata, np.zeros_like(d.sensordata)]))
    np.testing.assert_allclose(two["r"][0], w["r"][0] / 2, atol=1e-12)


def test_standing_reactions_balance_weight_and_cop_under_the_feet():
    m = build_model(default_skeleton(1.75, 70.0), SimOptions(foot_sensors=True))
    d = _stand(m, 1000)
    w = foot_wrenches(m, d.sensordata)
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


def test_models_without_foot_sensors_are_refused_not_zero():
    m = build_model(default_skeleton(1.75, 70.0))
    with pytest.raises(ValueError, match="foot_sensors"):
        foot_wrenches(m, np.zeros(m.nsensordata))
