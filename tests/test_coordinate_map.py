"""Other models' coordinate names (coordinate maps, automatic renaming) and angle-unit checks."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from kintwin.errors import InputError
from kintwin.motion.kinematics_io import load_coordinate_map, read_motion
from kintwin.motion.motion import is_translation
from kintwin.motion.storage import read_table, write_table

T = np.linspace(0.0, 1.0, 101)
PHASE = 2 * np.pi * T


def _write(path, columns: dict, in_degrees: bool):
    return write_table(path, list(columns), T, np.column_stack(list(columns.values())),
                       in_degrees=in_degrees)


def _gait_deg() -> dict:
    """Walking-like angles in degrees (knee flexion positive) and a pelvis height in metres."""
    return {"pelvis_ty": 0.95 + 0.02 * np.sin(2 * PHASE),
            "hip_flexion_r": 10 + 25 * np.sin(PHASE),
            "knee_angle_r": 30 + 30 * np.sin(PHASE),
            "ankle_angle_r": 10 * np.sin(PHASE)}


def test_auto_mapping_renames_and_keeps_the_knee_sign(tmp_path):
    hip, subt = 20 * np.sin(PHASE), 5 * np.sin(PHASE)
    knee = -3 + 2 * np.sin(PHASE)  # flexion positive but a negative median (slight hyperextension)
    path = _write(tmp_path / "predsim.mot",
                  {"hip_flex_r": hip, "knee_flex_r": knee, "subt_angle_r": subt}, in_degrees=True)
    with pytest.warns(UserWarning, match="hip_flex_r -> hip_flexion_r, knee_flex_r -> knee_angle_r"):
        m = read_motion(path)
    assert m.names == ["hip_flexion_r", "knee_angle_r", "subtalar_angle_r"]
    assert m.source_convention == "canonical"
    np.testing.assert_allclose(m.values, np.deg2rad(np.c_[hip, knee, subt]), atol=1e-9)

    # a legacy knee column next to a renamed one: only the legacy one is negated
    path = _write(tmp_path / "mixed.mot", {"knee_angle_l": -40 - 20 * np.sin(PHASE), "knee_flex_r": knee},
                  in_degrees=True)
    with pytest.warns(UserWarning, match="renamed"):
        m = read_motion(path)
    assert m.source_convention == "legacy"
    np.testing.assert_allclose(m["knee_angle_l"], np.deg2rad(40 + 20 * np.sin(PHASE)), atol=1e-9)
    np.testing.assert_allclose(m["knee_angle_r"], np.deg2rad(knee), atol=1e-9)
    with pytest.raises(InputError, match="sign: -1"), pytest.warns(UserWarning, match="renamed"):
        read_motion(path, convention="legacy")


@pytest.mark.filterwarnings("ignore:.*no knee column")
def test_map_file_applies_sign_and_offset(tmp_path):
    pitch, ty, rz = 10 + 5 * np.sin(PHASE), 0.9 + 0.01 * np.sin(PHASE), 8 * np.sin(PHASE)
    path = _write(tmp_path / "t.mot", {"lumbar_pitch": pitch, "lower_torso_TY": ty,
                                       "lower_torso_RZ": rz, "marker_error": 0 * T}, in_degrees=True)
    (tmp_path / "map.yaml").write_text(
        "lumbar_pitch: {name: lumbar_extension, sign: -1, offset_deg: 5.0}\n"
        "lower_torso_TY: {name: pelvis_ty, offset_m: 0.02}\n"
        "lower_torso_RZ: pelvis_tilt\n"
        "marker_error: null\n"
        "not_in_file: knee_angle_l\n")
    with pytest.warns(UserWarning, match="not_in_file"):
        m = read_motion(path, coordinate_map=tmp_path / "map.yaml")
    assert m.names == ["lumbar_extension", "pelvis_ty", "pelvis_tilt"]
    np.testing.assert_allclose(m["lumbar_extension"], np.deg2rad(-pitch + 5.0), atol=1e-9)
    np.testing.assert_allclose(m["pelvis_ty"], ty + 0.02, atol=1e-9)
    np.testing.assert_allclose(m["pelvis_tilt"], np.deg2rad(rz), atol=1e-9)

    # the same map as JSON and as a mapping
    spec = {"lumbar_pitch": {"name": "lumbar_extension", "sign": -1, "offset_deg": 5.0},
            "lower_torso_TY": {"name": "pelvis_ty", "offset_m": 0.02},
            "lower_torso_RZ": "pelvis_tilt", "marker_error": None}
    (tmp_path / "map.json").write_text(json.dumps(spec))
    from_yaml = load_coordinate_map(tmp_path / "map.yaml")
    del from_yaml["not_in_file"]
    assert load_coordinate_map(tmp_path / "map.json") == from_yaml
    again = read_motion(path, coordinate_map=spec)
    np.testing.assert_allclose(again.values, m.values, atol=1e-12)


@pytest.mark.parametrize("text, message", [
    ("a: lumbar_pitch\n", "unknown kintwin coordinate 'lumbar_pitch'"),
    ("a: knee_angle_r\nb: {name: knee_angle_r}\n", r"\['knee_angle_r'\] given by several"),
    ("a: {name: knee_angle_r, sign: 2}\n", "sign must be 1 or -1"),
    ("a: {name: knee_angle_r, offset_m: 0.1}\n", "give offset_deg"),
    ("a: {name: knee_angle_r, scale: 2}\n", "unknown key"),
    ("- knee_angle_r\n", "must be a non-empty mapping"),
    ("a: [unclosed\n", "not a valid YAML"),
])
def test_bad_map_files_are_refused(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(InputError, match=message):
        load_coordinate_map(tmp_path / "bad.yaml")


def test_ambiguous_names_are_refused_with_the_way_in(tmp_path):
    path = _write(tmp_path / "t.mot", {"lumbar_pitch": 5 * np.sin(PHASE), "ankle_flex_r": 10 * np.sin(PHASE),
                                       "lower_torso_RX": 3 * np.sin(PHASE), "hip_flex_r": 20 * np.sin(PHASE)},
                  in_degrees=True)
    with pytest.raises(InputError) as err:
        read_motion(path)
    text = str(err.value)
    assert "['lumbar_pitch', 'ankle_flex_r', 'lower_torso_RX']" in text
    assert "lumbar_pitch -> lumbar_extension?" in text and "check the sign" in text
    assert "ankle_flex_r -> ankle_angle_r?" in text and "lower_torso_RX -> pelvis_list?" in text
    assert "--coordinate-map FILE" in text and "pelvis_tilt, pelvis_list" in text


def test_degrees_labelled_radians_are_refused(tmp_path):
    cols = _gait_deg()
    path = _write(tmp_path / "t.sto", cols, in_degrees=False)
    with pytest.raises(InputError, match="--angle-units degrees") as err:
        read_motion(path)
    assert "hip_flexion_r" in str(err.value) or "knee_angle_r" in str(err.value)
    # a heading beyond 2*pi (a turning trial in radians) is no reason to refuse
    rad = {n: (v if is_translation(n) else np.deg2rad(v)) for n, v in cols.items()}
    rad["pelvis_rotation"] = 3 * PHASE
    m = read_motion(_write(tmp_path / "turn.sto", rad, in_degrees=False))
    np.testing.assert_allclose(m["pelvis_rotation"], 3 * PHASE, atol=1e-9)


def test_radians_labelled_degrees_are_refused_but_quiet_standing_is_not(tmp_path):
    rad = {n: (v if is_translation(n) else np.deg2rad(v)) for n, v in _gait_deg().items()}
    with pytest.raises(InputError, match="--angle-units radians"):
        read_motion(_write(tmp_path / "t.mot", rad, in_degrees=True))
    # quiet standing in degrees: pelvis and hip angles of a few degrees, sway under a degree
    quiet = {"pelvis_ty": 0.93 + 0 * T, "pelvis_tilt": 5 + 0.5 * np.sin(PHASE),
             "hip_flexion_r": 4 + 0.8 * np.sin(PHASE), "knee_angle_r": 2 + 0.5 * np.sin(PHASE)}
    m = read_motion(_write(tmp_path / "quiet.mot", quiet, in_degrees=True))
    np.testing.assert_allclose(m["hip_flexion_r"], np.deg2rad(quiet["hip_flexion_r"]), atol=1e-9)
    # a still, near-neutral pose in degrees
    still = {n: 0.1 * np.sin(PHASE) + (0.93 if n == "pelvis_ty" else 1.0) for n in quiet}
    m = read_motion(_write(tmp_path / "still.mot", still, in_degrees=True))
    np.testing.assert_allclose(m["knee_angle_r"], np.deg2rad(still["knee_angle_r"]), atol=1e-9)


def test_angle_units_override_reads_both(tmp_path):
    cols = _gait_deg()
    rad = {n: (v if is_translation(n) else np.deg2rad(v)) for n, v in cols.items()}
    expected = np.column_stack(list(rad.values()))
    a = read_motion(_write(tmp_path / "a.sto", cols, in_degrees=False), angle_units="degrees")
    b = read_motion(_write(tmp_path / "b.mot", rad, in_degrees=True), angle_units="radians")
    for m in (a, b):
        assert m.names == list(cols)
        np.testing.assert_allclose(m.values, expected, atol=1e-9)
    with pytest.raises(InputError, match="angle_units"):
        read_motion(tmp_path / "a.sto", angle_units="deg")


KINEMATICS = ["hamner_run/IK/subject02_running_ik.mot", "hamner_run/CMC/subject02_Kinematics_q.sto",
              "hamner_run/RRA/rra_run_1_Kinematics_q.sto",
              "osim_subject01_walk/gait2354/subject01_walk1_ik.mot",
              "osim_subject01_walk/gait2354/CMC_subject01_walk1_Kinematics_q.sto",
              "osim_subject01_walk/gait2392/subject01_walk1_ik.mot",
              "osim_subject01_walk/gait2392/SO_input_subject01_walk1_Kinematics_RRA.sto",
              "osim_subject01_walk/gait10dof18musc_planar/subject01_walk_IK.mot"]


@pytest.mark.parametrize("name", KINEMATICS)
def test_real_kinematics_read_unchanged(tmp_path, shared_data, name):
    """Every shared OpenSim kinematics file reads silently: degrees, legacy knee, values as stored;
    with a wrong inDegrees header (also the 0.36 s CMC slice) it is refused."""
    raw = read_table(shared_data / name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = read_motion(shared_data / name)
    assert m.names == raw.labels and m.source_convention == "legacy"
    expected = raw.data.copy()
    for j, n in enumerate(raw.labels):
        expected[:, j] = expected[:, j] if is_translation(n) else np.deg2rad(expected[:, j])
        if n.startswith("knee_angle"):
            expected[:, j] *= -1
    np.testing.assert_array_equal(m.values, expected)

    t = np.arange(len(raw.time_s)) * 0.01  # (1000 Hz times would not survive write_table's format)
    wrong = write_table(tmp_path / "no.sto", raw.labels, t, raw.data, in_degrees=False)
    with pytest.raises(InputError, match="--angle-units degrees"):
        read_motion(wrong)
    rad = raw.data.copy()
    rot = [j for j, n in enumerate(raw.labels) if not is_translation(n)]
    rad[:, rot] = np.deg2rad(rad[:, rot])
    wrong = write_table(tmp_path / "yes.sto", raw.labels, t, rad, in_degrees=True)
    with pytest.raises(InputError, match="--angle-units radians"):
        read_motion(wrong)
