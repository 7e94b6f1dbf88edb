"""Importing OpenSim models (``kintwin.models.osim``): inertial data, kinematics, errors, conventions.

Two kinds of checks:

* Synthetic models written here in both OpenSim 3.3 and 4.x layouts (no data needed): every joint
  type kintwin supports, offset frames with orientations, constant rotations between coordinate
  rotations, a slide, a locked and a coupled coordinate, and a spline knee. Body poses of the MuJoCo
  model are compared with forward kinematics computed here from the joint definitions.
* The real scaled models in ``../shared/data`` (skipped when absent): masses/COMs/inertias equal the
  file's; body origins along subject01's IK trial equal an independent OpenSim-semantics forward
  kinematics computed from the XML with numpy/scipy (SimmSplines evaluated as OpenSim does, see
  ``test_simmspline_matches_opensim``): within 1 mm with the exact (coupled, quartic) knee, exactly
  proximal to the knees and within the measured frozen-knee approximation distal to them with
  ``exact_knee=False``.
* Coupled dofs (``Dof.coupled_to``): equality constraints, no motors, ``Motion`` conversions that
  satisfy the constraints, and a forward simulation that keeps them.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import build_model
from kintwin.models.osim import _CubicSpline, import_osim, load_osim, osim_segment_scales
from kintwin.motion.frames import mujoco_to_osim_vec
from kintwin.motion.motion import Motion

MODELS = {
    "gait2354": "osim_subject01_walk/gait2354/subject01_simbody.osim",
    "gait2392": "osim_subject01_walk/gait2392/subject01_simbody.osim",
    "hamner_subject02": "hamner_run/models/subject02_scaled.osim",
    "planar": "osim_subject01_walk/gait10dof18musc_planar/subject01.osim",
}
IK_2354 = "osim_subject01_walk/gait2354/subject01_walk1_ik.mot"
KNEE_FOLD = -math.radians(20.0)  # legacy sign: 20 deg of flexion

# ---------------------------------------------------------------------------------------------
# A synthetic model, written in both file layouts
# ---------------------------------------------------------------------------------------------
# Functions: ("lin", slope, intercept) | ("const", v) | ("spline", x, y) | ("mult", scale, inner)
_KX = [-2.0944, -1.2, -0.6, KNEE_FOLD, 0.0, 0.17, 2.0944]  # a knot exactly at the fold angle
SPL_X = ("spline", _KX, [-0.003, 0.004, 0.002, -0.001, -0.003, -0.005, -0.005])
SPL_Y = ("spline", _KX, [-0.4226, -0.4082, -0.399, -0.3976, -0.3966, -0.3953, -0.396])
SPL_R = ("spline", _KX, [0.08, 0.05, 0.02, 0.01, 0.0, 0.0, -0.01])
EX, EY, EZ = (1, 0, 0), (0, 1, 0), (0, 0, 1)


def _c(name, lo, hi, default=0.0, locked=False):
    return {"name": name, "range": (lo, hi), "default": default, "locked": locked}


def _custom(r1, r2, r3, t1, t2, t3):
    return [("rotation1",) + r1, ("rotation2",) + r2, ("rotation3",) + r3,
            ("translation1",) + t1, ("translation2",) + t2, ("translation3",) + t3]


ZERO = ("const", 0.0)
SYN_BODIES = ["pelvis", "femur_r", "tibia_r", "patella_r", "talus_r", "calcn_r", "toes_r", "torso",
              "hand_r", "head"]
SYN_JOINTS = [
    dict(name="ground_pelvis", type="CustomJoint", parent="ground", child="pelvis",
         p=((0, 0, 0), (0, 0, 0)), c=((0, 0, 0), (0, 0, 0)),
         coords=[_c("pelvis_tilt", -1.57, 1.57), _c("pelvis_list", -1.57, 1.57),
                 _c("pelvis_rotation", -1.57, 1.57), _c("pelvis_tx", -5, 5), _c("pelvis_ty", -1, 2),
                 _c("pelvis_tz", -3, 3)],
         axes=_custom((EZ, "pelvis_tilt", ("lin", 1, 0)), (EX, "pelvis_list", ("lin", 1, 0)),
                      (EY, "pelvis_rotation", ("lin", 1, 0)), (EX, "pelvis_tx", ("lin", 1, 0)),
                      (EY, "pelvis_ty", ("lin", 1, 0)), (EZ, "pelvis_tz", ("lin", 1, 0)))),
    # constant rotation between two coordinate rotations, a negated-identity rotation about a
    # non-unit oblique axis, a slide, a constant translation through a MultiplierFunction
    dict(name="hip_r", type="CustomJoint", parent="pelvis", child="femur_r",
         p=((-0.07, -0.066, 0.083), (0.1, -0.2, 0.3)), c=((0.01, 0.02, -0.03), (-0.2, 0.1, 0.05)),
         coords=[_c("hip_flexion_r", -2, 2), _c("hip_rotation_r", -1, 1), _c("hip_slide_r", -0.05, 0.05)],
         axes=_custom((EZ, "hip_flexion_r", ("lin", 1, 0)), (EX, None, ("const", 0.3)),
                      ((0.3, 1.0, 0.2), "hip_rotation_r", ("lin", -1, 0)),
                      (EX, None, ("mult", 2.0, ("const", 0.005))), (EY, "hip_slide_r", ("lin", 1, 0)),
                      (EZ, None, ZERO))),
    # the legacy spline knee (flexion negative) with a knee-driven rotation as in Rajagopal
    dict(name="knee_r", type="CustomJoint", parent="femur_r", child="tibia_r",
         p=((0, 0, 0), (0, 0, 0.05)), c=((0, 0.01, 0), (0, 0, 0)),
         coords=[_c("knee_angle_r", -2.0944, 0.1745)],
         axes=_custom((EZ, "knee_angle_r", ("lin", 1, 0)), (EX, "knee_angle_r", SPL_R), (EY, None, ZERO),
                      (EX, "knee_angle_r", ("mult", 1.1, SPL_X)), (EY, "knee_angle_r", SPL_Y),
                      (EZ, None, ZERO))),
    dict(name="patellofemoral_r", type="PinJoint", parent="tibia_r", child="patella_r",
         p=((0.05, -0.02, 0), (0, 0, 0)), c=((0, 0, 0), (0, 0, 0)),
         coords=[_c("knee_angle_r_beta", -2.0944, 0.1745)]),
    dict(name="ankle_r", type="PinJoint", parent="tibia_r", child="talus_r",
         p=((0, -0.43, 0), (0.2, 0.3, -0.1)), c=((0, 0, 0), (0.2, 0.3, -0.1)),
         coords=[_c("ankle_angle_r", -1, 1)]),
    dict(name="subtalar_r", type="UniversalJoint", parent="talus_r", child="calcn_r",
         p=((-0.05, -0.04, 0.008), (-0.3, 0.1, 0.4)), c=((0.01, 0, 0), (0.1, 0, 0)),
         coords=[_c("subtalar_angle_r", -0.5, 0.5), _c("subtalar_b_r", -0.5, 0.5)]),
    dict(name="mtp_r", type="PinJoint", parent="calcn_r", child="toes_r",
         p=((0.18, -0.002, 0.001), (0, 0, 0)), c=((0, 0, 0), (0, 0, 0)),
         coords=[_c("mtp_angle_r", -1, 1, default=0.2, locked=True)]),
    dict(name="back", type="GimbalJoint", parent="pelvis", child="torso",
         p=((-0.1, 0.08, 0), (0, 0, 0.1)), c=((0, 0, 0), (0, 0, 0)),
         coords=[_c("lumbar_extension", -1, 1), _c("lumbar_bending", -1, 1), _c("lumbar_rotation", -1, 1)]),
    dict(name="hand_slider_r", type="SliderJoint", parent="torso", child="hand_r",
         p=((0.0, 0.4, 0.2), (0.3, 0.2, 0.1)), c=((0, 0.05, 0), (0, 0.5, 0)),
         coords=[_c("hand_slide_r", -0.1, 0.1)]),
    dict(name="neck", type="WeldJoint", parent="torso", child="head",
         p=((0, 0.5, 0), (0.1, 0, 0)), c=((0, -0.05, 0), (0, 0, 0.2)), coords=[]),
]
COUPLER = ("knee_angle_r_beta", "knee_angle_r", ("lin", 0.5, 0.01))


def _syn_inertial(i):
    rng = np.random.default_rng(i)
    d = rng.uniform(0.06, 0.1, 3)  # principal-ish moments that satisfy the triangle inequality
    return (float(rng.uniform(0.5, 10)), rng.uniform(-0.05, 0.05, 3),
            np.r_[d, 0.005 * rng.uniform(-1, 1, 3)])


def _v(x):
    return " ".join(repr(float(a)) for a in x)


def _fn_xml(fn, name="function", fmt=4):
    nm = f' name="{name}"' if fmt == 4 else ""
    if fn[0] == "lin":
        return f"<LinearFunction{nm}><coefficients>{fn[1]} {fn[2]}</coefficients></LinearFunction>"
    if fn[0] == "const":
        return f"<Constant{nm}><value>{fn[1]!r}</value></Constant>"
    if fn[0] == "spline":
        return f"<SimmSpline{nm}><x>{_v(fn[1])}</x><y>{_v(fn[2])}</y></SimmSpline>"
    if fn[0] == "mult":
        return (f"<MultiplierFunction{nm}><function>{_fn_xml(fn[2], 'inner', fmt)}</function>"
                f"<scale>{fn[1]}</scale></MultiplierFunction>")
    if fn[0] == "raw":
        return fn[1]
    raise AssertionError(fn)


def _axis_xml(ax, fmt):
    name, axis, coord, fn = ax
    f = _fn_xml(fn, fmt=fmt)
    if fmt == 3:
        f = f"<function>{f}</function>"
    return (f'<TransformAxis name="{name}"><coordinates>{coord or ""}</coordinates>'
            f"<axis>{_v(axis)}</axis>{f}</TransformAxis>")


def _coords_xml(j):
    return "".join(f'<Coordinate name="{c["name"]}"><default_value>{c["default"]}</default_value>'
                   f'<range>{_v(c["range"])}</range><clamped>false</clamped>'
                   f'<locked>{str(c["locked"]).lower()}</locked></Coordinate>' for c in j["coords"])


def synthetic_osim(fmt=4, joints=SYN_JOINTS, coupler=COUPLER, root_rotation_axes=None) -> str:
    """The synthetic model as an OpenSim 4.x (fmt=4) or 3.3 (fmt=3) document."""
    joints = [dict(j) for j in joints]
    if root_rotation_axes is not None:
        ax = list(joints[0]["axes"])
        for k, a in enumerate(root_rotation_axes):
            ax[k] = (ax[k][0], a) + ax[k][2:]
        joints[0]["axes"] = ax
    by_child = {j["child"]: j for j in joints}
    cpl = ""
    if coupler:
        dep, ind, fn = coupler
        active = "<isEnforced>true</isEnforced>" if fmt == 4 else "<isDisabled>false</isDisabled>"
        cpl = (f'<CoordinateCouplerConstraint name="cpl">{active}'
               f"<coupled_coordinates_function>{_fn_xml(fn, fmt=3)}</coupled_coordinates_function>"
               f"<independent_coordinate_names>{ind}</independent_coordinate_names>"
               f"<dependent_coordinate_name>{dep}</dependent_coordinate_name>"
               f"</CoordinateCouplerConstraint>")
    bodies = []
    for i, b in enumerate(SYN_BODIES):
        m, com, I = _syn_inertial(i)
        if fmt == 4:
            inert = f"<inertia>{_v(I)}</inertia>"
            geom = (f'<attached_geometry><Mesh name="{b}_geom"><scale_factors>1.1 1.1 1.1</scale_factors>'
                    f"<mesh_file>{b}.vtp</mesh_file></Mesh></attached_geometry>")
            joint = ""
        else:
            inert = "".join(f"<inertia_{k}>{float(v)!r}</inertia_{k}>" for k, v in
                            zip(("xx", "yy", "zz", "xy", "xz", "yz"), I))
            geom = "<VisibleObject><scale_factors>1.1 1.1 1.1</scale_factors></VisibleObject>"
            j = by_child[b]
            st = ("<SpatialTransform>" + "".join(_axis_xml(a, 3) for a in j["axes"]) + "</SpatialTransform>"
                  if j["type"] == "CustomJoint" else "")
            joint = (f'<Joint><{j["type"]} name="{j["name"]}"><parent_body>{j["parent"]}</parent_body>'
                     f'<location_in_parent>{_v(j["p"][0])}</location_in_parent>'
                     f'<orientation_in_parent>{_v(j["p"][1])}</orientation_in_parent>'
                     f'<location>{_v(j["c"][0])}</location><orientation>{_v(j["c"][1])}</orientation>'
                     f'<CoordinateSet><objects>{_coords_xml(j)}</objects></CoordinateSet>'
                     f'<reverse>false</reverse>{st}</{j["type"]}></Joint>')
        bodies.append(f'<Body name="{b}"><mass>{m!r}</mass><mass_center>{_v(com)}</mass_center>'
                      f"{inert}{geom}{joint}</Body>")
    if fmt == 3:
        ground = '<Body name="ground"><mass>0</mass><mass_center>0 0 0</mass_center><Joint /></Body>'
        return (f'<?xml version="1.0"?><OpenSimDocument Version="30000"><Model name="synthetic">'
                f'<BodySet><objects>{ground}{"".join(bodies)}</objects></BodySet>'
                f"<ConstraintSet><objects>{cpl}</objects></ConstraintSet></Model></OpenSimDocument>")
    js = []
    for j in joints:
        ppath = "/ground" if j["parent"] == "ground" else f'/bodyset/{j["parent"]}'
        frames = (f'<PhysicalOffsetFrame name="{j["parent"]}_offset"><socket_parent>{ppath}</socket_parent>'
                  f'<translation>{_v(j["p"][0])}</translation><orientation>{_v(j["p"][1])}</orientation>'
                  f"</PhysicalOffsetFrame>"
                  f'<PhysicalOffsetFrame name="{j["child"]}_offset"><socket_parent>/bodyset/{j["child"]}'
                  f'</socket_parent><translation>{_v(j["c"][0])}</translation>'
                  f'<orientation>{_v(j["c"][1])}</orientation></PhysicalOffsetFrame>')
        st = ("<SpatialTransform>" + "".join(_axis_xml(a, 4) for a in j["axes"]) + "</SpatialTransform>"
              if j["type"] == "CustomJoint" else "")
        js.append(f'<{j["type"]} name="{j["name"]}"><socket_parent_frame>{j["parent"]}_offset'
                  f'</socket_parent_frame><socket_child_frame>{j["child"]}_offset</socket_child_frame>'
                  f'<coordinates>{_coords_xml(j)}</coordinates><frames>{frames}</frames>{st}</{j["type"]}>')
    return (f'<?xml version="1.0"?><OpenSimDocument Version="40000"><Model name="synthetic">'
            f'<Ground name="ground" /><BodySet name="bodyset"><objects>{"".join(bodies)}</objects></BodySet>'
            f'<JointSet name="jointset"><objects>{"".join(js)}</objects></JointSet>'
            f'<ConstraintSet name="constraintset"><objects>{cpl}</objects></ConstraintSet>'
            f"</Model></OpenSimDocument>")


# ---------------------------------------------------------------------------------------------
# Reference forward kinematics from OpenSim's joint definitions (independent of kintwin.osim)
# ---------------------------------------------------------------------------------------------
def _tf(R=None, p=None):
    X = np.eye(4)
    if R is not None:
        X[:3, :3] = R
    if p is not None:
        X[:3, 3] = p
    return X


def _offset(t, e):
    return _tf(Rotation.from_euler("XYZ", e).as_matrix(), t)


def _fn_eval(fn, x):
    if fn[0] == "lin":
        return fn[1] * x + fn[2]
    if fn[0] == "const":
        return fn[1]
    if fn[0] == "spline":  # OpenSim's SimmSpline (values checked against OpenSim 4.6 below)
        return _CubicSpline(fn[1], fn[2], "fmm", "SimmSpline")(x)
    if fn[0] == "mult":
        return fn[1] * _fn_eval(fn[2], x)
    raise AssertionError(fn)


def _mobilizer(jtype, axes, q):
    """X_FM: OpenSim/Simbody joint transform (rotations body-fixed in order, translations in F)."""
    R, p = np.eye(3), np.zeros(3)
    if jtype == "CustomJoint":
        for name, axis, coord, fn in axes:
            v = _fn_eval(fn, q.get(coord, 0.0))
            a = np.asarray(axis, float) / np.linalg.norm(axis)
            if name.startswith("rotation"):
                R = R @ Rotation.from_rotvec(a * v).as_matrix()
            else:
                p = p + a * v
    elif jtype == "PinJoint":
        R = Rotation.from_rotvec([0, 0, q[0]]).as_matrix()
    elif jtype == "UniversalJoint":
        R = Rotation.from_euler("XY", q[:2]).as_matrix()
    elif jtype == "GimbalJoint":
        R = Rotation.from_euler("XYZ", q[:3]).as_matrix()
    elif jtype == "SliderJoint":
        p = np.array([q[0], 0, 0])
    return _tf(R, p)


def reference_fk(joints, values):
    """Body poses (4x4) in OpenSim ground for coordinate values (file convention, radians/m)."""
    X = {"ground": np.eye(4)}
    for j in joints:
        names = [c["name"] for c in j["coords"]]
        q = values if j["type"] == "CustomJoint" else [values[n] for n in names]
        X_FM = _mobilizer(j["type"], j.get("axes"), q)
        X[j["child"]] = X[j["parent"]] @ _offset(*j["p"]) @ X_FM @ np.linalg.inv(_offset(*j["c"]))
    return X


def _mujoco_poses(model, qpos):
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_kinematics(model, data)
    R90 = Rotation.from_euler("x", 90, degrees=True).as_matrix()
    out = {}
    for b in range(1, model.nbody):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b)
        out[name] = _tf(R90.T @ data.xmat[b].reshape(3, 3), mujoco_to_osim_vec(data.xpos[b]))
    return out


def _write(tmp_path, text, name="m.osim"):
    p = tmp_path / name
    p.write_text(text)
    return p


# ---------------------------------------------------------------------------------------------
# Synthetic-model tests (always run)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    d = tmp_path_factory.mktemp("osim")
    p4, p3 = d / "syn4.osim", d / "syn3.osim"
    p4.write_text(synthetic_osim(4))
    p3.write_text(synthetic_osim(3))
    return p4, p3


def test_synthetic_structure_locked_coupled_and_flipped_knee(syn):
    imp = import_osim(syn[0], exact_knee=False)
    sk = imp.skeleton
    assert [b.name for b in sk.bodies] == ["pelvis", "femur_r", "tibia_r", "patella_r", "talus_r",
                                           "calcn_r", "toes_r", "torso", "hand_r", "head"]
    assert sk.coordinate_names == ["hip_slide_r", "hip_flexion_r", "hip_rotation_r", "knee_angle_r",
                                   "ankle_angle_r", "subtalar_angle_r", "subtalar_b_r",
                                   "lumbar_extension", "lumbar_bending", "lumbar_rotation", "hand_slide_r"]
    assert imp.locked == {"mtp_angle_r": 0.2}
    assert imp.coupled == pytest.approx({"knee_angle_r_beta": 0.5 * KNEE_FOLD + 0.01})
    assert imp.flipped == ["knee_angle_r"]
    knee = next(d for d in sk.dofs if d.name == "knee_angle_r")
    assert knee.range == pytest.approx((-0.1745, 2.0944))
    # the knee-driven rotation about X (0.01 rad at the frozen angle) follows the knee rotation:
    # moved in front of it, it tilts the knee axis in the tibia frame; the legacy sign is negated
    np.testing.assert_allclose(knee.axis, -Rotation.from_rotvec([0.01, 0, 0]).inv().apply([0, 0, 1]),
                               atol=1e-12)
    kinds = {d.name: d.kind for d in sk.dofs}
    assert kinds["hip_slide_r"] == kinds["hand_slide_r"] == "slide"
    assert len(imp.folded) == 3  # knee rotation about X and the two knee translations
    assert not sk.coupled_dofs and not imp.couplings
    assert sk.mass_kg == pytest.approx(sum(_syn_inertial(i)[0] for i in range(len(SYN_BODIES))), rel=1e-14)


def test_synthetic_exact_knee_has_coupled_dofs(syn):
    """Default import: the knee's spline translations and spline rotation become coupled dofs
    (quartics of the canonical knee angle), with no motor, tied by joint equality constraints."""
    imp = import_osim(syn[0])
    sk = imp.skeleton
    assert sk.coordinate_names == ["hip_slide_r", "hip_flexion_r", "hip_rotation_r", "knee_angle_r",
                                   "ankle_angle_r", "subtalar_angle_r", "subtalar_b_r",
                                   "lumbar_extension", "lumbar_bending", "lumbar_rotation", "hand_slide_r"]
    tibia = sk.body("tibia_r")
    assert [(d.name, d.kind, d.coupled_to) for d in tibia.dofs] == [
        ("knee_angle_r_tx", "slide", "knee_angle_r"), ("knee_angle_r_ty", "slide", "knee_angle_r"),
        ("knee_angle_r", "hinge", None), ("knee_angle_r_r2", "hinge", "knee_angle_r")]
    assert imp.folded == [] and set(imp.couplings) == {"knee_angle_r_tx", "knee_angle_r_ty",
                                                        "knee_angle_r_r2"}
    # the zero pose satisfies the couplings; the quartic is fitted over the canonical knee range
    for d in sk.coupled_dofs:
        assert d.polycoef[0] == 0.0 and len(d.polycoef) == 5
        fit = imp.couplings[d.name]
        assert fit["fit_range"] == pytest.approx((-0.1745, 2.0944))
    # quartic of the canonical (flexion-positive) angle x: value = f(-x) - c0, f the file's function
    spl_x = lambda x: 1.1 * _CubicSpline(SPL_X[1], SPL_X[2], "fmm", "x")(x)  # noqa: E731
    tx = next(d for d in sk.coupled_dofs if d.name == "knee_angle_r_tx")
    c0 = imp.couplings["knee_angle_r_tx"]["polycoef"][0]
    xs = np.linspace(-0.17, 2.09, 50)
    err = [tx.coupled_value(x) + c0 - spl_x(-x) for x in xs]
    assert np.abs(err).max() <= imp.couplings["knee_angle_r_tx"]["max_error"] + 1e-12
    assert "coupled dof knee_angle_r_tx = quartic of knee_angle_r" in imp.summary()
    model = build_model(sk)
    assert model.neq == 3
    for e in range(model.neq):
        assert model.eq_type[e] == mujoco.mjtEq.mjEQ_JOINT
        j1, j2 = model.eq_obj1id[e], model.eq_obj2id[e]
        assert model.joint(j2).name == "knee_angle_r"
        d = next(x for x in sk.coupled_dofs if x.name == model.joint(j1).name)
        np.testing.assert_array_equal(model.eq_data[e, :5], d.polycoef)
        assert not model.jnt_limited[j1]
    actuators = [model.actuator(i).name for i in range(model.nu)]
    assert actuators == sk.coordinate_names + ["residual_fx", "residual_fy", "residual_fz",
                                               "residual_mx", "residual_my", "residual_mz"]
    from kintwin.dynamics.inverse_dynamics import hinge_dofs

    assert hinge_dofs(model)[0] == sk.coordinate_names  # torques line up with the motors


def test_builtin_model_has_no_coupled_dofs():
    sk = default_skeleton(1.75, 70.0)
    assert not sk.coupled_dofs and sk.coordinate_names == [d.name for d in sk.dofs]
    model = build_model(sk)
    assert model.neq == 0 and model.nu == len(sk.dofs) + 6


def test_opensim33_and_4x_layouts_give_the_same_skeleton(syn):
    a, b = load_osim(syn[0]), load_osim(syn[1])
    assert [x.name for x in a.bodies] == [x.name for x in b.bodies]
    for x, y in zip(a.bodies, b.bodies):
        assert x.parent == y.parent and x.mass_kg == y.mass_kg
        for k in ("pos_in_parent", "quat_in_parent", "joint_pos", "com", "inertia"):
            np.testing.assert_allclose(getattr(x, k), getattr(y, k), atol=1e-15, err_msg=f"{x.name}.{k}")
        assert [(d.name, d.kind, d.range) for d in x.dofs] == [(d.name, d.kind, d.range) for d in y.dofs]
        for d, e in zip(x.dofs, y.dofs):
            np.testing.assert_allclose(d.axis, e.axis, atol=1e-15)
    assert osim_segment_scales(syn[0]) == osim_segment_scales(syn[1]) == {n: 1.1 for n in SYN_BODIES}


def test_synthetic_forward_kinematics_random_poses(syn):
    """Positions AND orientations of every body equal OpenSim's joint semantics at random poses
    (frozen knee: exact up to floating point)."""
    sk = load_osim(syn[0], exact_knee=False)
    model = build_model(sk)
    rng = np.random.default_rng(7)
    dofs = sk.dofs
    for _ in range(20):
        vals = {d.name: rng.uniform(*d.range) for d in dofs}
        pel = {"pelvis_tilt": rng.uniform(-1, 1), "pelvis_list": rng.uniform(-0.5, 0.5),
               "pelvis_rotation": rng.uniform(-1, 1), "pelvis_tx": rng.uniform(-1, 1),
               "pelvis_ty": rng.uniform(0.5, 1.2), "pelvis_tz": rng.uniform(-1, 1)}
        names = list(pel) + list(vals)
        motion = Motion(time_s=[0.0], names=names, values=[[pel.get(n, vals.get(n)) for n in names]])
        qpos = motion.to_qpos(model, warn=False)[0]
        # the file's convention: legacy knee negative, the frozen knee for the coupled/spline parts
        file_vals = dict(pel, **vals)
        file_vals["knee_angle_r"] = -vals["knee_angle_r"]
        file_vals["mtp_angle_r"] = 0.2
        file_vals["knee_angle_r_beta"] = 0.5 * KNEE_FOLD + 0.01
        ref_joints = [dict(j) for j in SYN_JOINTS]
        knee = next(j for j in ref_joints if j["name"] == "knee_r")
        knee["axes"] = [(n, a, ("knee_fold" if c == "knee_angle_r" and not (n == "rotation1") else c), f)
                        for n, a, c, f in knee["axes"]]
        file_vals["knee_fold"] = KNEE_FOLD
        ref = reference_fk(ref_joints, file_vals)
        got = _mujoco_poses(model, qpos)
        for b in SYN_BODIES:
            np.testing.assert_allclose(got[b][:3, 3], ref[b][:3, 3], atol=1e-9, err_msg=b)
            np.testing.assert_allclose(got[b][:3, :3], ref[b][:3, :3], atol=1e-9, err_msg=b)


def _random_poses(sk, rng, n):
    for _ in range(n):
        vals = {d.name: rng.uniform(*d.range) for d in sk.dofs if not d.coupled_to}
        pel = {"pelvis_tilt": rng.uniform(-1, 1), "pelvis_list": rng.uniform(-0.5, 0.5),
               "pelvis_rotation": rng.uniform(-1, 1), "pelvis_tx": rng.uniform(-1, 1),
               "pelvis_ty": rng.uniform(0.5, 1.2), "pelvis_tz": rng.uniform(-1, 1)}
        yield pel, vals


def test_synthetic_exact_knee_forward_kinematics(syn):
    """Exact knee: every body within the quartic fits' error of OpenSim's joint semantics with the
    real splines at any knee angle (bound: translation fit error + rotation fit error x distance)."""
    imp = import_osim(syn[0])
    sk = imp.skeleton
    model = build_model(sk)
    fit = imp.couplings
    rng = np.random.default_rng(3)
    worst = 0.0
    for pel, vals in _random_poses(sk, rng, 20):
        names = list(pel) + list(vals)
        motion = Motion(time_s=[0.0], names=names, values=[[pel.get(n, vals.get(n)) for n in names]])
        got = _mujoco_poses(model, motion.to_qpos(model, warn=False)[0])
        file_vals = dict(pel, **vals)
        file_vals["knee_angle_r"] = -vals["knee_angle_r"]
        file_vals["mtp_angle_r"] = 0.2
        file_vals["knee_angle_r_beta"] = 0.5 * KNEE_FOLD + 0.01  # couplers stay at the fold angle
        ref = reference_fk(SYN_JOINTS, file_vals)
        for b in SYN_BODIES:
            dist = np.linalg.norm(got[b][:3, 3] - got["tibia_r"][:3, 3]) + 0.05
            bound = fit["knee_angle_r_tx"]["max_error"] + fit["knee_angle_r_ty"]["max_error"] \
                + fit["knee_angle_r_r2"]["max_error"] * dist
            err = np.linalg.norm(got[b][:3, 3] - ref[b][:3, 3])
            worst = max(worst, err)
            assert err <= bound + 1e-9, (b, err, bound)
            # orientations: within the rotation fit error
            assert np.abs(got[b][:3, :3] - ref[b][:3, :3]).max() <= fit["knee_angle_r_r2"]["max_error"] + 1e-9
    assert worst > 1e-6  # the splines are not quartics: a real (small) approximation


def test_motion_sets_coupled_dofs_from_their_master(syn):
    """``to_qpos``/``velocities`` satisfy the joint equality constraints (positions, velocities and
    accelerations); ``from_qpos`` does not emit coupled dofs."""
    sk = load_osim(syn[0])
    model = build_model(sk)
    t = np.linspace(0.0, 1.0, 201)
    names = ["pelvis_ty", "hip_flexion_r", "knee_angle_r", "ankle_angle_r"]
    vals = np.column_stack([1.0 + 0 * t, 0.3 * np.sin(2 * t), 1.0 + 0.9 * np.sin(5 * t), 0.2 * t])
    motion = Motion(time_s=t, names=names, values=vals)
    qpos = motion.to_qpos(model, warn=False)
    qvel, qacc = motion.velocities(model)
    data = mujoco.MjData(model)
    eq = None
    for k in range(0, len(t), 20):
        data.qpos[:], data.qvel[:] = qpos[k], qvel[k]
        mujoco.mj_forward(model, data)
        eq = data.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
        assert eq.sum() == 3
        assert np.abs(data.efc_pos[eq]).max() < 1e-12  # q_slide = p(q_knee)
        J = data.efc_J.reshape(data.nefc, model.nv)[eq]
        assert np.abs(J @ qvel[k]).max() < 1e-10  # J qd = 0: velocities consistent
    # accelerations: the chain rule equals the numerical derivative of the coupled velocities
    from kintwin.models.coupling import couplings

    for c in couplings(model):
        fd = np.gradient(qvel[:, c.dadr], t)
        np.testing.assert_allclose(qacc[5:-5, c.dadr], fd[5:-5], atol=2e-3 * np.abs(qacc[:, c.dadr]).max())
        np.testing.assert_allclose(qvel[:, c.dadr], c.slope(qpos[:, c.master_qadr]) * qvel[:, c.master_dadr])
    back = Motion.from_qpos(model, t, qpos)
    assert not any(n.startswith(("knee_angle_r_t", "knee_angle_r_r")) for n in back.names)
    assert back.names[6:] == sk.coordinate_names
    np.testing.assert_allclose(back["knee_angle_r"], motion["knee_angle_r"], atol=1e-12)
    # coupled dofs are not coordinates a motion can set: a column for one is ignored
    bad = Motion(time_s=[0.0], names=["knee_angle_r", "knee_angle_r_tx"], values=[[0.5, 0.3]])
    q = bad.to_qpos(model, warn=False)[0]
    tx = model.joint("knee_angle_r_tx")
    assert q[tx.qposadr[0]] == pytest.approx(sk.body("tibia_r").dofs[0].coupled_value(0.5))


def test_simulation_keeps_the_coupling(syn):
    """A forward simulation (in the air, joints driven) keeps the coupled dofs on their quartics."""
    sk = load_osim(syn[0])
    model = build_model(sk)
    data = mujoco.MjData(model)
    motion = Motion(time_s=[0.0], names=["pelvis_ty", "knee_angle_r"], values=[[3.0, 0.4]])
    data.qpos[:] = motion.to_qpos(model, warn=False)[0]
    knee = model.joint("knee_angle_r")
    data.qvel[knee.dofadr[0]] = 4.0
    from kintwin.models.coupling import couple_qvel_qacc, couplings

    couple_qvel_qacc(model, data.qpos[None], data.qvel[None])  # consistent initial velocities

    cps = couplings(model)
    worst = 0.0
    for k in range(150):
        data.ctrl[:] = 0.0
        data.ctrl[model.actuator("knee_angle_r").id] = 0.3 * np.sin(0.1 * k)
        mujoco.mj_step(model, data)
        for c in cps:
            worst = max(worst, abs(data.qpos[c.qadr] - c.value(data.qpos[c.master_qadr])))
    assert worst < 2e-4  # m or rad: a stiff (soft-constraint) coupling


def test_simmspline_matches_opensim():
    """Values recorded from OpenSim 4.6's SimmSpline (inside, at and beyond the knots)."""
    x = [-2.0944, -1.22173, -0.523599, -0.349066, -0.174533, 0.159149, 2.0944]
    y = [-0.4226, -0.4082, -0.399, -0.3976, -0.3966, -0.395264, -0.396]
    f = _CubicSpline(x, y, "fmm", "SimmSpline")
    for xq, want in [(-3.0, -0.4365046298131352), (-2.0944, -0.4226), (-1.0, -0.4048000399925731),
                     (0.0, -0.39582069644835033), (1.0, -0.3944237025010037), (2.5, -0.39662927299087386)]:
        assert f(xq) == pytest.approx(want, abs=1e-15)


def _replace_joint(joints, name, **kw):
    return [dict(j, **kw) if j["name"] == name else j for j in joints]


def test_unsupported_joint_type_is_a_clear_error(tmp_path):
    joints = _replace_joint(SYN_JOINTS, "ankle_r", type="EllipsoidJoint")
    p = _write(tmp_path, synthetic_osim(4, joints))
    with pytest.raises(ValueError, match=r"joint 'ankle_r' has unsupported type 'EllipsoidJoint'"):
        load_osim(p)
    p = _write(tmp_path, synthetic_osim(3, joints), "m3.osim")
    with pytest.raises(ValueError, match=r"joint 'ankle_r' has unsupported type 'EllipsoidJoint'"):
        load_osim(p)


def test_unsupported_function_is_a_clear_error(tmp_path):
    knee = next(j for j in SYN_JOINTS if j["name"] == "knee_r")
    axes = list(knee["axes"])
    axes[4] = ("translation2", EY, "knee_angle_r",
               ("raw", '<GCVSpline name="function"><degree>5</degree><x>0 1</x><y>0 1</y></GCVSpline>'))
    p = _write(tmp_path, synthetic_osim(4, _replace_joint(SYN_JOINTS, "knee_r", axes=axes)))
    with pytest.raises(ValueError, match=r"joint 'knee_r' \(CustomJoint\) translation2: unsupported "
                                         r"OpenSim function type 'GCVSpline'"):
        load_osim(p)


def test_root_must_be_the_zxy_pelvis(tmp_path):
    p = _write(tmp_path, synthetic_osim(4, root_rotation_axes=[EX, EY, EZ]))
    with pytest.raises(ValueError, match="not kintwin's pelvis sequence Z .tilt., X .list., Y"):
        load_osim(p)


def test_not_an_osim_file(tmp_path):
    with pytest.raises(ValueError, match="not a valid XML"):
        load_osim(_write(tmp_path, "hello"))
    with pytest.raises(ValueError, match="no <Model>"):
        load_osim(_write(tmp_path, "<Foo/>"))


# ---------------------------------------------------------------------------------------------
# Real scaled models (../shared/data)
# ---------------------------------------------------------------------------------------------
def _nums(text):
    return np.array(text.split(), float)


def _file_bodies(path):
    root = ET.parse(path).getroot()
    out = {}
    for b in root.find(".//BodySet/objects"):
        out[b.get("name")] = (float(b.findtext("mass")), _nums(b.findtext("mass_center")),
                              _nums(b.findtext("inertia")))
    return out


@pytest.mark.parametrize("key", list(MODELS))
def test_mass_com_inertia_equal_the_file(shared_data, key):
    path = shared_data / MODELS[key]
    want = _file_bodies(path)
    sk = load_osim(path)
    model = build_model(sk)
    assert sk.mass_kg == pytest.approx(sum(m for m, _, _ in want.values()), rel=1e-12)
    assert model.body_mass.sum() == pytest.approx(sk.mass_kg, rel=1e-12)
    assert {b.name for b in sk.bodies} == set(want)
    for name, (m, com, I) in want.items():
        b = sk.body(name)
        assert b.mass_kg == m
        np.testing.assert_array_equal(b.com, com)
        np.testing.assert_array_equal(b.inertia, I)
        bid = model.body(name).id
        assert model.body_mass[bid] == pytest.approx(m, rel=1e-12)
        np.testing.assert_allclose(model.body_ipos[bid], com, atol=1e-12)
        full = np.array([[I[0], I[3], I[4]], [I[3], I[1], I[5]], [I[4], I[5], I[2]]])
        np.testing.assert_allclose(np.sort(model.body_inertia[bid]), np.linalg.eigvalsh(full), rtol=1e-9)


def _read_mot(path):
    lines = Path(path).read_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.strip().lower() == "endheader")
    labels = lines[k + 1].split()
    data = np.array([[float(v) for v in ln.split()] for ln in lines[k + 2:] if ln.strip()])
    return labels, data


def _xml_fk_model(path):
    """Joint definitions straight from a 4.x .osim, in the form ``reference_fk`` takes."""
    root = ET.parse(path).getroot()

    def fn_of(e):
        if e.tag == "LinearFunction":
            s, i = _nums(e.findtext("coefficients"))
            return ("lin", s, i)
        if e.tag == "Constant":
            return ("const", float(e.findtext("value")))
        if e.tag == "SimmSpline":
            return ("spline", _nums(e.findtext("x")), _nums(e.findtext("y")))
        if e.tag == "MultiplierFunction":
            return ("mult", float(e.findtext("scale")), fn_of(e.find("function")[0]))
        raise AssertionError(e.tag)

    joints = []
    for j in root.find(".//JointSet/objects"):
        frames = {f.get("name"): f for f in j.find("frames")}

        def frame(sock):
            f = frames[j.findtext(sock).strip()]
            body = f.findtext("socket_parent").split("/")[-1]
            return body, (_nums(f.findtext("translation")),
                          _nums(f.findtext("orientation")))

        parent, p = frame("socket_parent_frame")
        child, c = frame("socket_child_frame")
        axes = []
        for ta in j.iter("TransformAxis"):
            fe = [e for e in ta if e.tag not in ("coordinates", "axis")][0]
            axes.append((ta.get("name"), _nums(ta.findtext("axis")),
                         (ta.findtext("coordinates") or "").strip() or None, fn_of(fe)))
        coords = [{"name": c.get("name")} for c in j.iter("Coordinate")]
        joints.append(dict(name=j.get("name"), type=j.tag, parent=parent, child=child, p=p, c=c,
                           coords=coords, axes=axes))
    return joints


@pytest.mark.parametrize("key", ["gait2354", "hamner_subject02"])
def test_forward_kinematics_along_ik_trial(shared_data, key):
    """Body origins over an IK trial vs OpenSim joint kinematics computed from the XML.

    Exact knee (default): every body within 1 mm of OpenSim's kinematics with the real knee splines
    (the quartic fit). Frozen knee (``exact_knee=False``): exact (< 1 um) against the splines
    frozen at 20 deg, exact proximal to the knees, and the measured approximation distal to them.
    """
    from kintwin.motion.kinematics_io import read_motion

    path = shared_data / MODELS[key]
    mot = shared_data / (IK_2354 if key == "gait2354" else "hamner_run/IK/subject02_running_ik.mot")
    exact = build_model(load_osim(path))
    frozen_model = build_model(load_osim(path, exact_knee=False))
    motion = read_motion(mot)
    assert motion.source_convention == "legacy"
    labels, data = _read_mot(mot)
    stride = 1 if key == "gait2354" else 6  # running: every 6th frame (100 of 600)
    data = data[::stride]
    motion = Motion(time_s=motion.time_s[::stride], names=motion.names, values=motion.values[::stride])
    keep = [n for n in motion.names if n in {exact.joint(j).name for j in range(exact.njnt)}
            or n.startswith("pelvis_")]
    motion = motion.reordered(keep)
    joints = _xml_fk_model(path)
    locked = {c: v for c, v in import_osim(path).locked.items()}
    frozen = []
    for j in joints:
        axes = j["axes"]
        if j["name"].startswith("knee"):
            axes = [(n, a, "knee_fold" if c and n.startswith("translation") else c, f) for n, a, c, f in axes]
        frozen.append(dict(j, axes=axes))
    names = [mujoco.mj_id2name(exact, mujoco.mjtObj.mjOBJ_BODY, b) for b in range(1, exact.nbody)]
    distal = [i for i, n in enumerate(names) if n.startswith(("tibia", "talus", "calcn", "toes"))]
    prox = [i for i in range(len(names)) if i not in distal]
    q_exact, q_frozen = motion.to_qpos(exact), motion.to_qpos(frozen_model, warn=False)
    err_exact, err_frozen, err_real = [], [], []
    for k in range(len(data)):
        vals = {lab: (v if lab in ("pelvis_tx", "pelvis_ty", "pelvis_tz") else math.radians(v))
                for lab, v in zip(labels[1:], data[k, 1:])}
        vals.update(locked)
        got_e, got_f = _mujoco_poses(exact, q_exact[k]), _mujoco_poses(frozen_model, q_frozen[k])
        real = reference_fk(joints, vals)
        fold = reference_fk(frozen, dict(vals, knee_fold=KNEE_FOLD))
        err_exact.append([np.linalg.norm(got_e[n][:3, 3] - real[n][:3, 3]) for n in names])
        err_frozen.append([np.linalg.norm(got_f[n][:3, 3] - fold[n][:3, 3]) for n in names])
        err_real.append([np.linalg.norm(got_f[n][:3, 3] - real[n][:3, 3]) for n in names])
    err_exact, err_frozen, err_real = (np.array(e) * 1000 for e in (err_exact, err_frozen, err_real))  # mm
    # exact knee: every body, every frame within 1 mm (measured: 0.32 mm walking, 0.28 mm running)
    assert err_exact.max() < 0.5
    assert err_exact[:, prox].max() < 1e-6
    assert err_frozen.max() < 1e-3  # frozen knee: exact kinematics of the frozen model, < 1 um
    assert err_real[:, prox].max() < 1e-3  # pelvis, femurs, torso unaffected by the knee spline
    # the frozen-knee approximation, measured: walking (knee 0-70 deg) max 13.6 mm, RMS 5.9 mm;
    # running (knee 9-112 deg) max 24 mm
    lo, hi = (10.0, 15.0) if key == "gait2354" else (18.0, 26.0)
    assert lo < err_real[:, distal].max() < hi


def test_legacy_knee_is_flipped_to_positive_flexion(shared_data):
    imp = import_osim(shared_data / MODELS["gait2354"])
    assert imp.flipped == ["knee_angle_r", "knee_angle_l"]
    for side in "rl":
        dofs = imp.skeleton.body(f"tibia_{side}").dofs
        assert [d.name for d in dofs] == [f"knee_angle_{side}_tx", f"knee_angle_{side}_ty",
                                          f"knee_angle_{side}"]
        knee = dofs[2]
        np.testing.assert_allclose(knee.axis, [0, 0, -1])  # file: +Z with flexion negative
        assert knee.range == pytest.approx((-0.17453293, 2.0943951))
    # flexing the canonical (positive) knee moves the ankle backwards, as a knee should
    model = build_model(imp.skeleton)
    data = mujoco.MjData(model)
    data.qpos[3:7] = [np.sqrt(0.5), np.sqrt(0.5), 0, 0]
    data.qpos[model.joint("knee_angle_r").qposadr[0]] = math.radians(60)
    mujoco.mj_kinematics(model, data)
    talus = mujoco_to_osim_vec(data.xpos[model.body("talus_r").id])
    tibia = mujoco_to_osim_vec(data.xpos[model.body("tibia_r").id])
    assert talus[0] - tibia[0] < -0.3  # behind the knee (OpenSim X forward)


def test_contacts_sites_and_height_match_the_builtin_model(shared_data):
    """Hamner's generic model is the built-in model's geometry at 1.80 m: same feet, same height."""
    generic = shared_data / "hamner_run/models/FullBodyModel_Hamner2010_v2_0_generic.osim"
    sk, ref = load_osim(generic), default_skeleton(1.80, 75.0)
    for name in ("calcn_r", "calcn_l", "toes_r", "toes_l"):
        a, b = sk.body(name), ref.body(name)
        assert [c.name for c in a.contacts] == [c.name for c in b.contacts]
        for c, d in zip(a.contacts, b.contacts):
            np.testing.assert_allclose(c.pos, d.pos, atol=1e-12)
            assert c.radius == pytest.approx(d.radius)
    assert sk.height_m == pytest.approx(1.80, abs=0.01)
    model = build_model(sk)
    for site in ("heel_r", "heel_l", "toe_r", "toe_l", "hand_r", "hand_l", "head", "pelvis_origin"):
        model.site(site)
    assert model.actuator("knee_angle_r").gear[0] == pytest.approx(350 * sk.mass_kg / 75.0)
    # segment scales relative to the generic model (Hamner's generic hands are drawn at 0.85)
    sc = osim_segment_scales(shared_data / MODELS["hamner_subject02"], generic=generic)
    assert sc["hand_r"] == pytest.approx(1.0) and sc["femur_r"] == pytest.approx(1.05746)
    assert osim_segment_scales(shared_data / MODELS["gait2354"])["femur_r"] == pytest.approx(1.14724)


def test_planar_model_and_motion(shared_data):
    imp = import_osim(shared_data / MODELS["planar"])
    assert imp.skeleton.coordinate_names == ["hip_flexion_r", "knee_angle_r", "ankle_angle_r",
                                             "hip_flexion_l", "knee_angle_l", "ankle_angle_l",
                                             "lumbar_extension"]
    assert any("constant translation 0.02" in n for n in imp.notes)
    model = build_model(imp.skeleton)
    assert model.nq == 7 + 7 + 4  # + the coupled knee translations (x, y per side)
    assert [d.name for d in imp.skeleton.coupled_dofs] == ["knee_angle_r_tx", "knee_angle_r_ty",
                                                           "knee_angle_l_tx", "knee_angle_l_ty"]
    assert build_model(load_osim(shared_data / MODELS["planar"], exact_knee=False)).nq == 7 + 7
