"""The muscle-driven model (models.muscles) and static optimization (dynamics.static_optimization).

Most tests use a small SYNTHETIC OpenSim model written here (kintwin's generic skeleton as
CustomJoints, a dozen muscles per leg with approximate gait2392-like attachments, one conditional
and one moving path point), so they run without ../shared/data; the checks on the real gait2392
model skip when the shared data are absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import mujoco
import numpy as np
import pytest

from conftest import MOMENT_ARM_POSES, moment_arm_misfits, muscle_moment_arms
from kintwin.cli import main as cli_main
from kintwin.dynamics.static_optimization import (SOOptions, TorqueTable, read_torques,
                                                  static_optimization, write_static_optimization)
from kintwin.models.anthropometry import default_skeleton
from kintwin.models.muscles import (_mj_fl, build_muscle_model, fit_curves,
                                    muscle_actuators)
from kintwin.models.osim_muscles import read_osim_muscles
from kintwin.motion.motion import Motion
from kintwin.motion.storage import read_table, write_table

# --- a synthetic .osim ---------------------------------------------------------------------------
# (name, [(body, (x, y, z)), ...]) right side, gait2392 segment frames (m); mirrored for the left.
MUSCLES = [
    ("soleus", [("tibia", (-0.0024, -0.1533, 0.0071)), ("calcn", (0.0044, 0.031, -0.0053))]),
    ("med_gas", [("femur", (-0.019, -0.3929, -0.0235)), ("femur", (-0.03, -0.4022, -0.0258)),
                 ("calcn", (0.0044, 0.031, -0.0053))]),
    ("tib_ant", [("tibia", (0.0179, -0.1624, 0.0115)), ("tibia", (0.0329, -0.3951, -0.0177)),
                 ("calcn", (0.1166, 0.0178, -0.0305))]),
    ("vas_int", [("femur", (0.029, -0.1924, 0.031)), ("femur", (0.0335, -0.2084, 0.0285)),
                 ("tibia", "moving")]),
    ("rect_fem", [("pelvis", (-0.0295, -0.0311, 0.0968)), ("tibia", (0.0555, 0.0253, 0.0018))]),
    ("bifemlh", [("pelvis", (-0.126, -0.103, 0.0688)), ("tibia", (-0.03, -0.0358, 0.0277)),
                 ("tibia", (-0.0234, -0.0563, 0.0343))]),
    ("semimem", [("pelvis", (-0.1192, -0.1015, 0.0695)), ("tibia", "conditional"),
                 ("tibia", (-0.0243, -0.0536, -0.0194))]),
    ("glut_max2", [("pelvis", (-0.1349, 0.0176, 0.0563)), ("pelvis", (-0.1376, -0.052, 0.0914)),
                   ("femur", (-0.0426, -0.053, 0.0293)), ("femur", (-0.0156, -0.1016, 0.0419))]),
    ("glut_med2", [("pelvis", (-0.0781, 0.0264, 0.1261)), ("femur", (-0.0258, -0.0058, 0.0553))]),
    ("iliacus", [("pelvis", (-0.0674, 0.0365, 0.0854)), ("pelvis", (-0.0218, -0.055, 0.0851)),
                 ("femur", (0.0017, -0.0543, 0.0057)), ("femur", (-0.0193, -0.0621, 0.0129))]),
    ("add_long", [("pelvis", (-0.0316, -0.0836, 0.0169)), ("femur", (0.005, -0.2111, 0.0234))]),
    ("ercspn", [("pelvis", (-0.14, 0.0439, 0.0436)), ("torso", (-0.055, 0.11, 0.0241))]),
    ("extobl", [("pelvis", (-0.0307, -0.0652, 0.0102)), ("torso", (0.0702, 0.1188, 0.1188))]),
]
PARAMS = {  # Fmax (N), optimal fibre length, tendon slack length (m), pennation (rad)
    "soleus": (3549, 0.05, 0.25, 0.436), "med_gas": (1558, 0.06, 0.39, 0.297),
    "tib_ant": (905, 0.098, 0.223, 0.087), "vas_int": (1365, 0.087, 0.136, 0.052),
    "rect_fem": (1169, 0.114, 0.31, 0.087), "bifemlh": (896, 0.109, 0.326, 0.0),
    "semimem": (1288, 0.08, 0.359, 0.262), "glut_max2": (819, 0.147, 0.127, 0.0),
    "glut_med2": (573, 0.0845, 0.053, 0.0), "iliacus": (1073, 0.1, 0.1, 0.122),
    "add_long": (627, 0.138, 0.11, 0.105), "ercspn": (2500, 0.12, 0.03, 0.0),
    "extobl": (900, 0.12, 0.14, 0.0),
}
FILE_BODIES = ("pelvis", "femur", "tibia", "talus", "calcn", "toes", "torso")


def _vec(v):
    return " ".join(f"{x:.6g}" for x in v)


def _point(name, body, loc, side):
    z = 1.0 if side == "r" else -1.0
    frame = f"/bodyset/{body if body in ('pelvis', 'torso') else body + '_' + side}"
    if loc == "moving":  # quadriceps-like insertion moving forward with knee extension
        return (f'<MovingPathPoint name="{name}"><socket_parent_frame>{frame}</socket_parent_frame>'
                f'<socket_x_coordinate>/jointset/knee_{side}/knee_angle_{side}</socket_x_coordinate>'
                f'<socket_y_coordinate>/jointset/knee_{side}/knee_angle_{side}</socket_y_coordinate>'
                f'<x_location><PiecewiseLinearFunction><x>-2.0944 0 0.17</x><y>0.01 0.055 0.06</y>'
                f'</PiecewiseLinearFunction></x_location>'
                f'<y_location><Constant><value>0.025</value></Constant></y_location>'
                f'<z_location><Constant><value>{0.0018 * z}</value></Constant></z_location>'
                f'</MovingPathPoint>')
    if loc == "conditional":  # hamstring point behind the tibia, on below 32 deg of flexion
        return (f'<ConditionalPathPoint name="{name}"><socket_parent_frame>{frame}'
                f'</socket_parent_frame><location>{_vec((-0.0302, -0.036, -0.0294 * z))}</location>'
                f'<socket_coordinate>/jointset/knee_{side}/knee_angle_{side}</socket_coordinate>'
                f'<range>-0.5585 0.1745</range></ConditionalPathPoint>')
    x, y, zz = loc
    return (f'<PathPoint name="{name}"><socket_parent_frame>{frame}</socket_parent_frame>'
            f'<location>{_vec((x, y, zz * z))}</location></PathPoint>')


def write_synthetic_osim(path: Path) -> Path:
    """An OpenSim 4 model: kintwin's generic 1.80 m leg/trunk skeleton + the MUSCLES above."""
    skel = default_skeleton(1.80, 75.0)
    keep = [b for b in skel.bodies if b.name.split("_")[0] in FILE_BODIES]
    bodies, joints = [], []
    for b in keep:
        bodies.append(f'<Body name="{b.name}"><mass>{b.mass_kg:.4g}</mass><mass_center>'
                      f'{_vec(b.com)}</mass_center><inertia>{_vec(b.inertia)}</inertia></Body>')
        parent = "/ground" if b.parent is None else f"/bodyset/{b.parent}"
        coords, axes = [], []
        dofs = b.dofs if b.parent else []
        for k, d in enumerate(dofs):
            axis, rng = np.asarray(d.axis), d.range
            if d.name.startswith("knee"):  # legacy gait2392 knee: flexion negative about +Z
                axis, rng = -axis, (-rng[1], -rng[0])
            coords.append(f'<Coordinate name="{d.name}"><default_value>0</default_value>'
                          f'<range>{rng[0]:.6g} {rng[1]:.6g}</range></Coordinate>')
            axes.append(f'<TransformAxis name="rotation{k + 1}"><coordinates>{d.name}</coordinates>'
                        f'<axis>{_vec(axis)}</axis><LinearFunction name="function"><coefficients>'
                        f'1 0</coefficients></LinearFunction></TransformAxis>')
        joints.append(
            f'<CustomJoint name="{"ground_pelvis" if b.parent is None else b.name + "_joint"}">'
            f'<socket_parent_frame>{b.name}_parent_offset</socket_parent_frame>'
            f'<socket_child_frame>/bodyset/{b.name}</socket_child_frame>'
            f'<coordinates>{"".join(coords)}</coordinates>'
            f'<SpatialTransform>{"".join(axes)}</SpatialTransform>'
            f'<frames><PhysicalOffsetFrame name="{b.name}_parent_offset"><socket_parent>{parent}'
            f'</socket_parent><translation>{_vec(b.pos_in_parent)}</translation>'
            f'<orientation>0 0 0</orientation></PhysicalOffsetFrame></frames></CustomJoint>')
    for side in ("r", "l"):  # name the knee joints as OpenSim does (path points refer to them)
        joints = [s.replace(f'name="tibia_{side}_joint"', f'name="knee_{side}"') for s in joints]
    forces = []
    for side in ("r", "l"):
        for base, pts in MUSCLES:
            name = f"{base}_{side}"
            fmax, lopt, lts, pen = PARAMS[base]
            ppts = "".join(_point(f"{name}-P{k + 1}", b, loc, side) for k, (b, loc) in enumerate(pts))
            forces.append(
                f'<Thelen2003Muscle name="{name}"><GeometryPath name="geometrypath"><PathPointSet>'
                f'<objects>{ppts}</objects></PathPointSet></GeometryPath>'
                f'<max_isometric_force>{fmax}</max_isometric_force><optimal_fiber_length>{lopt}'
                f'</optimal_fiber_length><tendon_slack_length>{lts}</tendon_slack_length>'
                f'<pennation_angle_at_optimal>{pen}</pennation_angle_at_optimal>'
                f'<max_contraction_velocity>10</max_contraction_velocity></Thelen2003Muscle>')
    xml = (f'<?xml version="1.0" encoding="UTF-8" ?><OpenSimDocument Version="40000">'
           f'<Model name="synthetic"><BodySet><objects>{"".join(bodies)}</objects></BodySet>'
           f'<JointSet><objects>{"".join(joints)}</objects></JointSet>'
           f'<ForceSet><objects>{"".join(forces)}</objects></ForceSet></Model></OpenSimDocument>')
    path.write_text(xml)
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = write_synthetic_osim(tmp_path_factory.mktemp("osim") / "synthetic.osim")
    model, info = build_muscle_model(default_skeleton(1.75, 70.0), path)
    return path, model, info


# Known actions at the neutral pose (all coordinates 0), as the sign of the moment arm -dL/dq, in
# kintwin's canonical convention: hip flexion, adduction and INTERNAL rotation +; knee flexion +;
# ankle dorsiflexion +; subtalar INVERSION +; mtp (toe) extension +; lumbar extension +, lumbar
# bending to the RIGHT +, lumbar rotation to the LEFT + (torso about the pelvis' vertical axis).
# {muscle base name: {coordinate base name: sign}}; leg coordinates get the muscle's side suffix and
# the left leg's axes are mirrored, so one sign serves both sides. The trunk muscles' lumbar_bending
# and lumbar_rotation signs are for the RIGHT muscle; the left one's are the opposite (_side_sign).
# Anatomy: Neumann, Kinesiology of the Musculoskeletal System (hip: primary and secondary actions).
EXPECTED_SIGNS = {
    # gluteus medius (1 anterior, 2 middle, 3 posterior fibres): all abduct; the anterior fibres
    # rotate internally, the posterior ones extend and rotate externally.
    "glut_med1": {"hip_adduction": -1, "hip_rotation": +1},
    "glut_med2": {"hip_adduction": -1},
    "glut_med3": {"hip_flexion": -1, "hip_adduction": -1, "hip_rotation": -1},
    # gluteus minimus: abducts and rotates internally (anterior and middle fibres); the posterior
    # fibres extend and rotate externally.
    "glut_min1": {"hip_adduction": -1, "hip_rotation": +1},
    "glut_min2": {"hip_adduction": -1, "hip_rotation": +1},
    "glut_min3": {"hip_flexion": -1, "hip_adduction": -1, "hip_rotation": -1},
    # gluteus maximus: extends and rotates externally; the upper fibres abduct, the lower adduct.
    "glut_max1": {"hip_flexion": -1, "hip_adduction": -1, "hip_rotation": -1},
    "glut_max2": {"hip_flexion": -1, "hip_rotation": -1},
    "glut_max3": {"hip_flexion": -1, "hip_adduction": +1, "hip_rotation": -1},
    # hamstrings: extend the hip and flex the knee; from the ischial tuberosity, medial to the hip
    # centre, they adduct (secondary adductors); the biceps long head rotates externally.
    "semimem": {"hip_flexion": -1, "hip_adduction": +1, "knee_angle": +1},
    "semiten": {"hip_flexion": -1, "hip_adduction": +1, "knee_angle": +1},
    "bifemlh": {"hip_flexion": -1, "hip_adduction": +1, "hip_rotation": -1, "knee_angle": +1},
    "bifemsh": {"knee_angle": +1},
    # sartorius: flexes, abducts and rotates the hip externally.
    "sar": {"hip_flexion": +1, "hip_adduction": -1, "hip_rotation": -1},
    # adductors: adduct; pectineus also flexes, the posterior (ischial) head of adductor magnus
    # extends; gracilis also flexes the knee.
    "add_long": {"hip_adduction": +1},
    "add_brev": {"hip_adduction": +1},
    "add_mag1": {"hip_adduction": +1},
    "add_mag2": {"hip_adduction": +1},
    "add_mag3": {"hip_flexion": -1, "hip_adduction": +1},
    "pect": {"hip_flexion": +1, "hip_adduction": +1},
    "grac": {"hip_adduction": +1, "knee_angle": +1},
    # tensor fasciae latae: flexes, abducts and rotates the hip internally.
    "tfl": {"hip_flexion": +1, "hip_adduction": -1, "hip_rotation": +1},
    # iliopsoas: flexes the hip.
    "iliacus": {"hip_flexion": +1},
    "psoas": {"hip_flexion": +1},
    # short external rotators: rotate externally; quadratus femoris adducts, piriformis abducts.
    "quad_fem": {"hip_adduction": +1, "hip_rotation": -1},
    "gem": {"hip_rotation": -1},
    "peri": {"hip_adduction": -1, "hip_rotation": -1},
    # quadriceps: extend the knee; rectus femoris also flexes and abducts the hip.
    "rect_fem": {"hip_flexion": +1, "hip_adduction": -1, "knee_angle": -1},
    "vas_med": {"knee_angle": -1},
    "vas_int": {"knee_angle": -1},
    "vas_lat": {"knee_angle": -1},
    # triceps surae: plantarflexes and inverts (medial to the subtalar axis); the gastrocnemii
    # also flex the knee.
    "med_gas": {"knee_angle": +1, "ankle_angle": -1, "subtalar_angle": +1},
    "lat_gas": {"knee_angle": +1, "ankle_angle": -1, "subtalar_angle": +1},
    "soleus": {"ankle_angle": -1, "subtalar_angle": +1},
    # deep posterior compartment: tibialis posterior plantarflexes and inverts; the long toe
    # flexors also flex the toes.
    "tib_post": {"ankle_angle": -1, "subtalar_angle": +1},
    "flex_dig": {"ankle_angle": -1, "subtalar_angle": +1, "mtp_angle": -1},
    "flex_hal": {"ankle_angle": -1, "subtalar_angle": +1, "mtp_angle": -1},
    # lateral compartment: peroneus longus and brevis plantarflex and evert.
    "per_brev": {"ankle_angle": -1, "subtalar_angle": -1},
    "per_long": {"ankle_angle": -1, "subtalar_angle": -1},
    # anterior compartment: dorsiflex; tibialis anterior inverts, peroneus tertius and extensor
    # digitorum evert; the long toe extensors extend the toes.
    "tib_ant": {"ankle_angle": +1, "subtalar_angle": +1},
    "per_tert": {"ankle_angle": +1, "subtalar_angle": -1},
    "ext_dig": {"ankle_angle": +1, "subtalar_angle": -1, "mtp_angle": +1},
    "ext_hal": {"ankle_angle": +1, "mtp_angle": +1},
    # trunk: erector spinae extends and bends to its own side; the obliques flex and bend to their
    # own side, the internal oblique rotating the trunk to its own side, the external oblique to
    # the opposite side (right internal oblique: rotation to the right, negative).
    "ercspn": {"lumbar_extension": +1, "lumbar_bending": +1},
    "intobl": {"lumbar_extension": -1, "lumbar_bending": +1, "lumbar_rotation": -1},
    "extobl": {"lumbar_extension": -1, "lumbar_bending": +1, "lumbar_rotation": +1},
}

# Pairs (muscle base name, coordinate base name) a muscle spans but whose action is NOT
# unambiguous at the neutral pose: left out of EXPECTED_SIGNS on purpose. Every spanned pair of a
# model's muscles must be in one of the two tables (test_gait2392_moment_arm_signs).
AMBIGUOUS = {
    # gluteus medius/minimus: flexion-extension of the anterior and middle fibres is small and
    # changes with hip angle (anatomy gives the anterior fibres as flexors; gait2392 has them
    # extending 2-16 mm at neutral); the middle fibres' rotation is near zero.
    ("glut_med1", "hip_flexion"): "anterior fibres: textbook flexors, gait2392 extends (-16 mm)",
    ("glut_med2", "hip_flexion"): "middle fibres: no flexion-extension role",
    ("glut_med2", "hip_rotation"): "middle fibres: no rotation role, near zero",
    ("glut_min1", "hip_flexion"): "anterior fibres: textbook flexors, near zero at neutral",
    ("glut_min2", "hip_flexion"): "middle fibres: no flexion-extension role",
    # gluteus maximus middle fibres: on the ab/adduction boundary between upper and lower fibres
    ("glut_max2", "hip_adduction"): "middle fibres: between abducting and adducting fibres",
    # medial hamstrings: internal rotators in flexion, near zero (< 1 mm) at neutral
    ("semimem", "hip_rotation"): "internal rotation only with the hip flexed; ~0 at neutral",
    ("semiten", "hip_rotation"): "internal rotation only with the hip flexed; ~0 at neutral",
    # sartorius at the knee: a flexor, but at full extension it runs through the knee axis
    ("sar", "knee_angle"): "passes through the knee axis at full extension (|r| < 2 mm)",
    # adductors: flexion-extension reverses with hip angle, and their rotation action is
    # disputed in the literature (and small at neutral)
    ("add_long", "hip_flexion"): "adductor flexion-extension reverses with hip angle",
    ("add_long", "hip_rotation"): "adductor rotation: disputed, small at neutral",
    ("add_brev", "hip_flexion"): "adductor flexion-extension reverses with hip angle",
    ("add_brev", "hip_rotation"): "adductor rotation: disputed, small at neutral",
    ("add_mag1", "hip_flexion"): "adductor flexion-extension reverses with hip angle",
    ("add_mag1", "hip_rotation"): "adductor rotation: disputed, small at neutral",
    ("add_mag2", "hip_flexion"): "adductor flexion-extension reverses with hip angle",
    ("add_mag2", "hip_rotation"): "adductor rotation: disputed, small at neutral",
    ("add_mag3", "hip_rotation"): "adductor rotation: disputed, small at neutral",
    ("pect", "hip_rotation"): "adductor rotation: disputed, small at neutral",
    ("grac", "hip_flexion"): "adductor flexion-extension reverses with hip angle; ~0 at neutral",
    ("grac", "hip_rotation"): "adductor rotation: disputed, small at neutral",
    # TFL at the knee: the iliotibial band is anterior to the knee axis in extension and
    # posterior in flexion (extensor or flexor depending on knee angle)
    ("tfl", "knee_angle"): "iliotibial band crosses the knee axis with knee angle",
    # iliopsoas: its ab/adduction and rotation actions are disputed and near zero at neutral
    ("iliacus", "hip_adduction"): "iliopsoas ab/adduction: disputed, near zero",
    ("iliacus", "hip_rotation"): "iliopsoas rotation: disputed",
    ("psoas", "hip_adduction"): "iliopsoas ab/adduction: disputed, near zero",
    ("psoas", "hip_rotation"): "iliopsoas rotation: disputed",
    # short external rotators: flexion-extension negligible, gemelli ab/adduction pose dependent
    ("quad_fem", "hip_flexion"): "no flexion-extension role, near zero",
    ("gem", "hip_flexion"): "no flexion-extension role, near zero",
    ("gem", "hip_adduction"): "ab/adduction changes with hip flexion",
    ("peri", "hip_flexion"): "piriformis flexion-extension reverses with hip angle",
    # rectus femoris hip rotation: near zero
    ("rect_fem", "hip_rotation"): "no rotation role, near zero (< 2 mm)",
    # extensor hallucis longus: runs close to the subtalar axis (weak inverter or evertor)
    ("ext_hal", "subtalar_angle"): "close to the subtalar axis; inverter or evertor by source",
    # erector spinae axial rotation: ipsilateral or none depending on the part and the source
    ("ercspn", "lumbar_rotation"): "axial rotation: ipsilateral, contralateral or none by source",
}

#: coordinates whose sign flips between a right and a left muscle (shared trunk coordinates)
_MIRRORED = ("lumbar_bending", "lumbar_rotation")


def _split(muscle: str) -> tuple[str, str]:
    """'glut_med1_r' -> ('glut_med1', 'r')."""
    base, _, side = muscle.rpartition("_")
    return base, side


def _coordinate(base_coord: str, side: str) -> str:
    return base_coord if base_coord.startswith("lumbar") else f"{base_coord}_{side}"


def _side_sign(base_coord: str, side: str) -> int:
    return -1 if side == "l" and base_coord in _MIRRORED else 1


def _check_signs(model, min_abs=0.002):
    """(number of (muscle, coordinate) pairs checked, failures) for the model's muscles that
    EXPECTED_SIGNS knows: the sign of each moment arm at the neutral pose, |r| >= ``min_abs`` m."""
    arms = muscle_moment_arms(model, {})
    checked, wrong = 0, []
    for a in muscle_actuators(model):
        m = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, a)
        base, side = _split(m)
        for coord, sign in EXPECTED_SIGNS.get(base, {}).items():
            c, s = _coordinate(coord, side), sign * _side_sign(coord, side)
            checked += 1
            r = arms[(m, c)]
            if np.sign(r) != s or abs(r) < min_abs:
                wrong.append(f"{m} about {c}: {100 * r:+.2f} cm, expected sign {s:+d}")
    return checked, wrong


def _unclassified_pairs(info):
    """Spanned (muscle, coordinate) pairs in neither EXPECTED_SIGNS nor AMBIGUOUS, and table
    entries for coordinates the muscle does not span (a stale or mistyped table)."""
    missing, stale = [], []
    for mp in info.muscles:
        base, side = _split(mp.name)
        spanned = set(mp.coordinates)
        expected = EXPECTED_SIGNS.get(base, {})
        for c in sorted(spanned):
            cb = c if c.startswith("lumbar") else c[:-2]
            if cb not in expected and (base, cb) not in AMBIGUOUS:
                missing.append(f"{mp.name} about {c}")
        for cb in list(expected) + [k for b, k in AMBIGUOUS if b == base]:
            if _coordinate(cb, side) not in spanned:
                stale.append(f"{mp.name} about {_coordinate(cb, side)}")
    return missing, stale


# --- tests ---------------------------------------------------------------------------------------
def test_reader_parses_points_and_legacy_knee(synthetic):
    path, _, _ = synthetic
    om = read_osim_muscles(path)
    assert len(om.muscles) == 2 * len(MUSCLES)
    assert om.legacy_knees == {"knee_angle_r", "knee_angle_l"}
    semimem = om.muscle("semimem_r")
    assert [p.kind for p in semimem.points] == ["fixed", "conditional", "fixed"]
    assert semimem.points[1].active({"knee_angle_r": -0.2})
    assert not semimem.points[1].active({"knee_angle_r": -1.0})
    vas = om.muscle("vas_int_r").points[-1]
    assert vas.kind == "moving"
    assert vas.location_at({"knee_angle_r": 0.0})[0] == pytest.approx(0.055)
    assert vas.location_at({"knee_angle_r": -2.0944})[0] == pytest.approx(0.01)
    assert set(om.spanned_coordinates("rect_fem_r")) == {"hip_flexion_r", "hip_adduction_r",
                                                         "hip_rotation_r", "knee_angle_r"}


def test_muscle_model_structure(synthetic):
    _, model, info = synthetic
    names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, a) for a in range(model.nu)]
    mus = [names[a] for a in muscle_actuators(model)]
    assert len(mus) == 2 * len(MUSCLES) == len(info.muscles) == model.na
    assert set(mus) == set(info.muscle_names)
    # legs and trunk: no motors; arms and neck: motors; the 6 pelvis residuals are kept
    for c in ("hip_flexion_r", "knee_angle_l", "ankle_angle_r", "lumbar_extension"):
        assert c in info.muscle_coordinates and c not in names
    for c in ("arm_flex_r", "elbow_flex_l", "neck_flexion"):
        assert c in info.torque_coordinates and c in names
    assert all(r in names for r in ("residual_fx", "residual_mz"))
    # same coordinates as the torque model
    from kintwin.models.build import build_model

    torque = build_model(default_skeleton(1.75, 70.0))
    jn = lambda m: [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(m.njnt)]  # noqa: E731
    assert jn(model) == jn(torque) and model.nq == torque.nq
    # muscles are MuJoCo muscles with the file's parameters
    a = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, "soleus_r")
    assert model.actuator_dyntype[a] == int(mujoco.mjtDyn.mjDYN_MUSCLE)
    assert model.actuator_gainprm[a, 2] == pytest.approx(3549 * np.cos(0.436))
    assert model.actuator_dynprm[a, :2] == pytest.approx([0.015, 0.05])  # Thelen defaults


def test_moment_arm_signs_synthetic(synthetic):
    _, model, _ = synthetic
    checked, wrong = _check_signs(model)
    assert checked >= 30
    assert not wrong, "\n".join(wrong)


def test_muscle_lengths_scale_with_the_subject(synthetic):
    path, _, _ = synthetic
    short, i_s = build_muscle_model(default_skeleton(1.50, 60.0), path)
    tall, i_t = build_muscle_model(default_skeleton(2.00, 90.0), path)
    for a, b in zip(i_s.muscles, i_t.muscles):
        ratio = 2.00 / 1.50
        assert b.optimal_fiber_length / a.optimal_fiber_length == pytest.approx(ratio, rel=0.03)
        assert b.tendon_slack_length / a.tendon_slack_length == pytest.approx(ratio, rel=0.03)


def test_force_length_fit():
    lmin, lmax, fpmax = fit_curves(0.45, 5.0, 0.6)
    L = np.array([0.6, 0.8, 1.0, 1.2, 1.4])
    thelen = np.exp(-(L - 1) ** 2 / 0.45)
    assert np.max(np.abs(_mj_fl(L, lmin, lmax) - thelen)) < 0.1
    assert _mj_fl(np.array([1.0]), lmin, lmax)[0] == pytest.approx(1.0)
    assert 0 < fpmax < 5


def _simple_motion(model, T=60, rate=100.0) -> Motion:
    t = np.arange(T) / rate
    w = 2 * np.pi * 1.0
    vals = {
        "pelvis_ty": 0.95 + 0 * t,
        "hip_flexion_r": 0.3 * np.sin(w * t), "hip_flexion_l": -0.3 * np.sin(w * t),
        "knee_angle_r": 0.4 + 0.3 * np.sin(w * t + 1), "knee_angle_l": 0.4 - 0.3 * np.sin(w * t),
        "ankle_angle_r": 0.15 * np.sin(w * t), "ankle_angle_l": -0.15 * np.sin(w * t),
        "hip_adduction_r": 0.05 * np.sin(w * t), "lumbar_extension": 0.05 * np.cos(w * t),
    }
    return Motion(time_s=t, names=list(vals), values=np.column_stack(list(vals.values())))


def _feasible_torques(model, motion, seed=0) -> TorqueTable:
    """Torques that known activations produce (so a solution without reserves exists)."""
    from kintwin.dynamics.static_optimization import (MuscleFrames, _states,
                                                      muscle_driven_coordinates)

    coords = muscle_driven_coordinates(model)
    qpos, qvel = _states(motion, model, motion.time_s, None)
    mf = MuscleFrames(model, coords)
    rng = np.random.default_rng(seed)
    tau = []
    for k in range(motion.n_frames):
        M, G, B, _, _ = mf.at(qpos[k], qvel[k])
        a = rng.uniform(0.05, 0.3, len(G))
        tau.append(M.T @ (a * G + B))
    return TorqueTable(time_s=motion.time_s, names=coords, values=np.array(tau), source="synthetic")


@pytest.mark.parametrize("passive", [True, False])
def test_static_optimization_reproduces_torques(synthetic, passive):
    _, model, _ = synthetic
    motion = _simple_motion(model)
    tq = _feasible_torques(model, motion)
    if not passive:  # the feasible torques include passive forces: remove them for this check
        from kintwin.dynamics.static_optimization import MuscleFrames, _states

        qpos, qvel = _states(motion, model, motion.time_s, None)
        mf = MuscleFrames(model, tq.names)
        tq.values = tq.values - np.array([mf.at(qpos[k], qvel[k])[0].T @ mf.at(qpos[k], qvel[k])[2]
                                          for k in range(motion.n_frames)])
    res = static_optimization(model, motion, tq, SOOptions(cutoff_hz=None, passive=passive))
    met = res.metrics()
    assert met["solver_failures"] == 0
    assert met["torque_balance_max_error_nm"] < 1e-6
    scale = np.abs(tq.values).max()
    assert scale > 20  # a meaningful load
    # the muscles alone reproduce the torques: reserves near zero
    assert met["reserve_max_abs_nm"] < 0.01 * scale, met["reserve_max_abs_nm"]
    assert met["reserve_pct_of_torque"] < 0.5
    np.testing.assert_allclose(res.torque_muscles_nm, res.torque_target_nm, atol=0.01 * scale)
    assert np.all(res.activation >= -1e-9) and np.all(res.activation <= 1 + 1e-9)
    assert np.all(res.force_n >= -1e-6)
    assert met["frames_per_s"] > 100


def test_reserves_take_what_muscles_cannot(synthetic):
    _, model, _ = synthetic
    motion = _simple_motion(model, T=20)
    tq = _feasible_torques(model, motion)
    j = tq.names.index("knee_angle_r")
    tq.values[:, j] += 5000.0  # far beyond the knee flexors
    res = static_optimization(model, motion, tq, SOOptions(cutoff_hz=None))
    met = res.metrics()
    assert met["reserves"]["knee_angle_r"]["mean_abs_reserve_nm"] > 1000
    assert met["reserves"]["ankle_angle_r"]["mean_abs_reserve_nm"] < 50
    np.testing.assert_allclose(res.torque_muscles_nm + res.reserve_nm, res.torque_target_nm,
                               atol=1e-6)


def test_outputs_and_torque_file_conventions(synthetic, tmp_path):
    _, model, _ = synthetic
    motion = _simple_motion(model, T=30)
    tq = _feasible_torques(model, motion)
    res = static_optimization(model, motion, tq, SOOptions(cutoff_hz=None))
    out = write_static_optimization(tmp_path / "so", res)
    act = read_table(out / "activations.sto")
    assert act.labels == res.muscle_names and act.data.shape == res.activation.shape
    assert read_table(out / "muscle_forces.sto").labels == res.muscle_names
    doc = json.loads((out / "metrics.json").read_text())
    assert set(doc["metrics"]["reserves"]) == set(res.coordinate_names)
    assert (out / "muscles.png").stat().st_size > 1000
    # a legacy (OpenSim gait2392) torques file: knee moments negated on reading
    labels = [f"{c}_moment" for c in tq.names]
    write_table(tmp_path / "id.sto", labels, tq.time_s, tq.values)
    leg = read_torques(tmp_path / "id.sto", "legacy")
    can = read_torques(tmp_path / "id.sto", "canonical")
    k = tq.names.index("knee_angle_r")
    np.testing.assert_allclose(leg.column("knee_angle_r"), -can.column("knee_angle_r"))
    np.testing.assert_allclose(can.values[:, k], tq.values[:, k])


def test_cli_model_and_muscles(synthetic, tmp_path, capsys):
    path, model, _ = synthetic
    assert cli_main(["model", "--muscles", "--height", "1.75", "--mass", "70", "--muscles-osim",
                     str(path), "--info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["muscles"]["count"] == 2 * len(MUSCLES)
    assert "soleus_r" in info["muscles"]["names"]
    # muscles: a trial + a kintwin torques.sto
    from kintwin.motion.kinematics_io import write_motion

    motion = _simple_motion(model, T=40)
    trial = write_motion(tmp_path / "trial.mot", motion)
    tq = _feasible_torques(model, motion)
    p = write_table(tmp_path / "torques.sto", [f"{c}_moment" for c in tq.names], tq.time_s, tq.values)
    txt = p.read_text().replace("version=1\n", "version=1\nconvention=canonical\n")
    p.write_text(txt)
    out = tmp_path / "out"
    assert cli_main(["muscles", str(trial), "--height", "1.75", "--mass", "70", "--muscles-osim",
                     str(path), "--torques", str(p), "--cutoff", "0", "--passive",
                     "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["muscles"] == 2 * len(MUSCLES)
    assert summary["reserve_pct_of_torque"] < 1.0
    for f in ("activations.sto", "muscle_forces.sto", "metrics.json", "muscles.png"):
        assert (out / f).is_file()


# --- the real gait2392 model (skips without ../shared/data) -----------------------------------------
@pytest.fixture(scope="module")
def gait2392(request):
    from conftest import shared_data_path

    from kintwin.models.osim import osim_segment_scales

    path = shared_data_path() / "osim_subject01_walk" / "gait2392" / "subject01_simbody.osim"
    skel = default_skeleton(1.803, 72.6, segment_scales=osim_segment_scales(path))
    om = read_osim_muscles(path)
    model, info = build_muscle_model(skel, om)
    return om, model, info


def test_gait2392_moment_arm_signs(gait2392):
    _, model, info = gait2392
    assert len(info.muscles) == 92 and not info.skipped
    # every muscle, and every coordinate it spans, is either checked or listed as ambiguous
    missing, stale = _unclassified_pairs(info)
    assert not missing, "not in EXPECTED_SIGNS nor AMBIGUOUS:\n" + "\n".join(missing)
    assert not stale, "table entries for coordinates the muscle does not span:\n" + "\n".join(stale)
    assert not set(AMBIGUOUS) & {(b, c) for b, cs in EXPECTED_SIGNS.items() for c in cs}
    names = {_split(mp.name)[0] for mp in info.muscles}
    assert names <= set(EXPECTED_SIGNS)  # and every gait2392 muscle has a checked action
    checked, wrong = _check_signs(model)
    assert checked == 2 * sum(len(v) for v in EXPECTED_SIGNS.values())  # all 92 muscles
    assert not wrong, "\n".join(wrong)


def test_gait2392_moment_arms_match_the_file(gait2392):
    """Hip, knee and ankle moment arms within 1 cm or 20 % of the file model's own paths."""
    om, model, info = gait2392
    _, bad = moment_arm_misfits(om, model, info, MOMENT_ARM_POSES)
    assert len(bad) <= 2, "\n".join(bad)
