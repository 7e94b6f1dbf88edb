"""The built-in torque model: structure, names, scaling, contact and settings."""

import json

import mujoco
import numpy as np
import pytest

from kintwin.cli import main
from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import build_model
from kintwin.models.coordinates import JOINT_COORDINATES, RESIDUAL_ACTUATORS


@pytest.fixture(scope="module")
def model():
    return build_model(default_skeleton(1.80, 72.6))


def test_dimensions_and_names(model):
    assert (model.nq, model.nv, model.nu) == (41, 40, 40)
    joints = [model.joint(i).name for i in range(model.njnt)]
    assert joints == ["root"] + list(JOINT_COORDINATES)
    actuators = [model.actuator(i).name for i in range(model.nu)]
    assert actuators == list(JOINT_COORDINATES) + list(RESIDUAL_ACTUATORS)
    assert len(JOINT_COORDINATES) == 34


@pytest.mark.parametrize("height,mass", [(1.50, 45.0), (1.80, 72.6), (1.95, 110.0)])
def test_total_mass_is_exact(height, mass):
    m = build_model(default_skeleton(height, mass))
    assert m.body_mass.sum() == pytest.approx(mass, rel=1e-12)


def test_inertia_scales_with_mass_and_length_squared():
    a = build_model(default_skeleton(1.80, 70.0))
    b = build_model(default_skeleton(1.80 * 1.1, 70.0 * 1.3))
    femur = a.body("femur_r").id
    ratio = b.body_inertia[femur] / a.body_inertia[femur]
    np.testing.assert_allclose(ratio, 1.3 * 1.1**2, rtol=1e-9)
    np.testing.assert_allclose(b.body_ipos[femur][1] / a.body_ipos[femur][1], 1.1, rtol=1e-9)


def test_segment_scale_changes_only_that_segment():
    base = default_skeleton(1.80, 72.6)
    longer = default_skeleton(1.80, 72.6, {"femur_r": 1.2})
    # the knee centre (tibia origin in the femur frame) moves with the femur scale
    np.testing.assert_allclose(longer.body("tibia_r").pos_in_parent,
                               base.body("tibia_r").pos_in_parent * 1.2, rtol=1e-12)
    np.testing.assert_allclose(longer.body("tibia_l").pos_in_parent, base.body("tibia_l").pos_in_parent)
    assert longer.mass_kg == pytest.approx(72.6, rel=1e-12)
    with pytest.raises(ValueError, match="unknown segment"):
        default_skeleton(1.80, 72.6, {"femurr": 1.1})


def test_units_are_checked():
    with pytest.raises(ValueError, match="metres"):
        default_skeleton(180.0, 72.6)
    with pytest.raises(ValueError, match="kilograms"):
        default_skeleton(1.8, 7260.0)


def test_only_feet_touch_the_floor(model):
    colliding = [model.geom(g).name for g in range(model.ngeom) if model.geom_contype[g]]
    assert colliding and all(n.split("_")[0] in ("heel", "meta1", "meta5", "toe") for n in colliding)
    floor = model.geom("floor").id
    assert model.geom_contype[floor] == 0 and model.geom_conaffinity[floor] == 1
    # contact spheres cannot collide with each other
    assert all(model.geom_conaffinity[model.geom(n).id] == 0 for n in colliding)


def test_neutral_pose_geometry(model):
    d = mujoco.MjData(model)
    mujoco.mj_kinematics(model, d)
    # Z up: head above pelvis above feet; right side at negative world y
    assert d.body("head").xpos[2] > d.body("pelvis").xpos[2] > d.body("calcn_r").xpos[2]
    assert d.body("femur_r").xpos[1] < 0 < d.body("femur_l").xpos[1]
    # pelvis-to-sole distance about 0.53 x height for an adult
    sole = min(d.geom_xpos[g][2] - model.geom_size[g][0] for g in range(model.ngeom)
               if model.geom_contype[g])
    assert 0.50 < (d.body("pelvis").xpos[2] - sole) / 1.80 < 0.56


def test_standing_model_settles_on_its_feet():
    """Joints held by PD torques, the pelvis kept upright by a horizontal force and a moment
    (no vertical help): the feet alone carry the body and the contact forces equal the weight."""
    m = build_model(default_skeleton(1.75, 70.0))
    d = mujoco.MjData(m)
    d.qpos[2] = 0.95
    gear = m.actuator_gear[:34, 0]
    pelvis = m.body("pelvis").id
    for _ in range(1000):  # 2 s
        d.ctrl[:34] = np.clip(-3.0 * d.qpos[7:] - 0.05 * d.qvel[6:], -1, 1)  # PD scaled by gear
        rot_err = np.zeros(3)
        mujoco.mju_subQuat(rot_err, d.qpos[3:7], m.qpos0[3:7])  # pelvis frame
        mat = d.xmat[pelvis].reshape(3, 3)
        d.xfrc_applied[pelvis] = np.r_[-1000.0 * d.qpos[0:2] - 100.0 * d.qvel[0:2], 0.0,
                                       mat @ (-300.0 * rot_err - 20.0 * d.qvel[3:6])]
        mujoco.mj_step(m, d)
    feet = 0.0
    for i in range(d.ncon):
        f = np.zeros(6)
        mujoco.mj_contactForce(m, d, i, f)
        feet += f[0] * d.contact[i].frame[2]  # normal force times the normal's z component
    touching = {m.geom(d.contact[i].geom[1]).name[-1] for i in range(d.ncon)}
    assert touching == {"r", "l"}
    assert feet == pytest.approx(m.body_mass.sum() * 9.81, rel=0.02)
    assert abs(d.qvel).max() < 0.05


def test_cli_model_info(capsys, tmp_path):
    assert main(["model", "--height", "1.80", "--mass", "72.6", "--info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["nq"] == 41 and info["nv"] == 40 and info["nu"] == 40
    assert info["mass_kg"] == pytest.approx(72.6)
    assert "knee_angle_r" in info["joint_names"] and "residual_fz" in info["actuator_names"]
    out = tmp_path / "model.xml"
    assert main(["model", "--height", "1.80", "--mass", "72.6", "--out", str(out)]) == 0
    reloaded = mujoco.MjModel.from_xml_path(str(out))
    assert reloaded.nq == 41 and reloaded.body_mass.sum() == pytest.approx(72.6, rel=1e-5)
