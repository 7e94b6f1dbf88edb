"""Readers accept what OpenSim accepts and fail clearly (InputError naming the file) otherwise.

Each quirk is written by the test into tmp_path; the last tests use OpenSim's walking2.c3d from
../shared/data (skipped when absent).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from kintwin.errors import InputError
from kintwin.ik.markersets import builtin_map, choose_builtin_map
from kintwin.motion.grf import read_external_loads
from kintwin.motion.storage import read_table
from kintwin.motion.trc import read_trc

# ---------------------------------------------------------------------------------------------
# .sto / .mot
# ---------------------------------------------------------------------------------------------

LABELS = ["time"] + [f"c{i}" for i in range(1, 32)]  # 32 labels, as OpenSim's example file
DATA = np.arange(3 * 32, dtype=float).reshape(3, 32) / 8.0
DATA[:, 0] = [0.0, 0.01, 0.02]


def _sto(path, header: str, labels=LABELS, data=DATA):
    rows = "\n".join("\t".join(f"{v:g}" for v in row) for row in data)
    path.write_text(header + "endheader\n" + "\t".join(labels) + "\n" + rows + "\n")
    return path


@pytest.mark.parametrize("count_line", ["nColumns=40", "datacolumns 40"])
def test_stale_column_count_in_header_warns_and_keeps_the_data(tmp_path, count_line):
    path = _sto(tmp_path / "stale.mot", f"stale\nversion=1\n{count_line}\ninDegrees=yes\n")
    with pytest.warns(UserWarning, match=r"stale\.mot: header says 40 columns but the label row "
                                         r"and the data rows have 32"):
        tab = read_table(path)
    assert tab.labels == LABELS[1:] and tab.in_degrees is True
    np.testing.assert_array_equal(tab.time_s, DATA[:, 0])
    np.testing.assert_array_equal(tab.data, DATA[:, 1:])


def test_data_rows_that_disagree_with_the_label_row_are_still_an_error(tmp_path):
    wide = np.hstack([DATA, np.ones((3, 8))])  # 40 values under 32 labels
    path = _sto(tmp_path / "wide.mot", "wide\nnColumns=40\n", data=wide)
    with pytest.raises(InputError, match=r"wide\.mot: data row 1 has 40 values but the label row "
                                         r"has 32 labels; the header says 40 columns"):
        read_table(path)


def test_pelvis_angles_wrapped_at_180_deg_are_read_continuous(tmp_path):
    """A subject walking towards -X has a pelvis rotation near 180 deg, which some tools write
    wrapped to (-180, 180]: read as it is, the angle jumped 360 deg between frames and kintwin id
    returned 668 %BW of residual with exit 0. The pelvis angles are read continuous: the same
    residual as the unwrapped file's."""
    from kintwin.cli import main
    from kintwin.motion.kinematics_io import read_motion, write_motion
    from kintwin.motion.motion import Motion
    from kintwin.motion.sample import sample_walk

    walk = sample_walk(duration_s=1.2)
    turned = walk.world_rotated(np.array([0.0, 0.0, 0.0, 1.0]), np.zeros(3))  # 180 deg about Z
    j = turned.names.index("pelvis_rotation")
    wrapped = turned.values.copy()
    wrapped[:, j] = np.angle(np.exp(1j * wrapped[:, j]))
    assert np.abs(np.diff(wrapped[:, j])).max() > 6.0
    f = write_motion(tmp_path / "wrapped.mot", Motion(turned.time_s, turned.names, wrapped))
    read = read_motion(f)
    assert np.abs(np.diff(read["pelvis_rotation"])).max() < 0.1
    np.testing.assert_allclose(np.cos(read["pelvis_rotation"]), np.cos(turned["pelvis_rotation"]), atol=1e-6)
    residual = []
    for name, path in (("wrapped", f), ("plain", write_motion(tmp_path / "plain.mot", turned))):
        assert main(["id", str(path), "--height", "1.75", "--mass", "70", "--out", str(tmp_path / name)]) == 0
        residual.append(json.loads((tmp_path / name / "metrics.json").read_text())["metrics"]["residual_force_mean_pct_bw"])
    assert residual[0] == pytest.approx(residual[1], abs=1e-6) and residual[0] < 1.0


def test_header_keys_padding_and_repeated_tabs(tmp_path):
    header = ("quirky\nversion=1\nnRows = 2\nnColumns=3\nDataType=double\nOpenSimVersion=4.5\n"
              "some free text = with spaces\nUnits are S.I. units\ninDegrees=no\n")
    text = (header + "endheader\n"
            "time  \t\t a \t\t\tb\t\t\n"  # padded labels, repeated and trailing tabs
            "0\t\t1\t2\n0.5  3 \t 4\n")  # repeated tabs and spaces in data rows
    (tmp_path / "q.sto").write_text(text)
    tab = read_table(tmp_path / "q.sto")
    assert tab.labels == ["a", "b"] and tab.header["DataType"] == "double"
    np.testing.assert_array_equal(tab.data, [[1, 2], [3, 4]])
    # spaces and tabs mixed in the label row: split as the data rows are
    (tmp_path / "m.sto").write_text("m\nendheader\ntime a\tb\n0 1 2\n0.5 3 4\n")
    assert read_table(tmp_path / "m.sto").labels == ["a", "b"]


# ---------------------------------------------------------------------------------------------
# .trc
# ---------------------------------------------------------------------------------------------

TRC_ROWS = ("Frame#\tTime\tA\t\t\tB\n\tX1\tY1\tZ1\tX2\tY2\tZ2\n\n"
            "1\t0\t10\t20\t30\t40\t50\t60\n2\t0.01\t11\t\t31\t41\t51\t61\n")


@pytest.mark.parametrize("keys, values", [
    ("DataRate\t\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
     "OrigDataStartFrame\tOrigNumFrames", "238\t238\t2\t2\tmm\t238\t1\t2"),
    ("DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
     "OrigDataStartFrame\tOrigNumFrames", "238\t\t238\t2\t2\t\tmm\t238\t1\t2\t\t"),
], ids=["doubled_tab_in_names", "doubled_tabs_in_values"])
def test_trc_header_with_repeated_tabs_is_paired_by_name(tmp_path, keys, values):
    path = tmp_path / "tabs.trc"
    path.write_text(f"PathFileType\t4\t(X/Y/Z)\ttabs.trc\n{keys}\n{values}\n{TRC_ROWS}")
    mk = read_trc(path)
    assert mk.units_in_file == "mm" and mk.rate_hz == 238.0 and mk.names == ["A", "B"]
    np.testing.assert_allclose(mk.marker("B")[1], [0.041, 0.051, 0.061])
    assert np.isnan(mk.marker("A")[1, 1])  # an empty data cell is still a gap


def test_trc_header_names_and_values_that_do_not_pair_up(tmp_path):
    path = tmp_path / "short.trc"
    path.write_text("PathFileType\t4\t(X/Y/Z)\tshort.trc\n"
                    "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\n"
                    f"238\t238\t2\tmm\n{TRC_ROWS}")
    with pytest.raises(InputError, match=r"short\.trc: the header names 5 fields .* but its values "
                                         r"line has 4 values"):
        read_trc(path)


# ---------------------------------------------------------------------------------------------
# .c3d and ExternalLoads .xml
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"time\tRASI_X\n0\t1.0\n"])
def test_empty_or_foreign_c3d_is_an_input_error(tmp_path, content):
    pytest.importorskip("ezc3d")
    from kintwin.motion.c3d import read_c3d

    path = tmp_path / "trial.c3d"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"trial\.c3d: not a readable C3D file \(.+\)"):
        read_c3d(path)


def test_ik_command_on_a_foreign_c3d_exits_2_with_one_line(tmp_path, capsys):
    pytest.importorskip("ezc3d")
    from kintwin.cli import main

    path = tmp_path / "renamed.c3d"
    path.write_text("PathFileType\t4\t(X/Y/Z)\trenamed.trc\n")
    assert main(["ik", str(path), "--height", "1.75", "--mass", "70",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a readable C3D file" in err


LOADS = """<?xml version="1.0" encoding="UTF-8"?>
<OpenSimDocument Version="30000">
  <ExternalLoads name="loads">
    <objects>
      <ExternalForce name="right">
        <applied_to_body>calcn_r</applied_to_body>
      </ExternalFORCE>
    </objects>
  </ExternalLoads>
</OpenSimDocument>
"""


def test_malformed_or_foreign_external_loads_xml(tmp_path):
    bad = tmp_path / "loads.xml"
    bad.write_text(LOADS)
    with pytest.raises(InputError, match=r"loads\.xml: malformed XML \(mismatched tag: line 7, "
                                         r"column \d+\)"):
        read_external_loads(bad)
    model = tmp_path / "model.xml"
    model.write_text('<OpenSimDocument Version="40000"><Model name="m"/></OpenSimDocument>')
    with pytest.raises(InputError, match=r"model\.xml: not an OpenSim ExternalLoads file"):
        read_external_loads(model)
    good = tmp_path / "good.xml"
    good.write_text(LOADS.replace("ExternalFORCE", "ExternalForce"))
    assert [e["side"] for e in read_external_loads(good)] == ["r"]


# ---------------------------------------------------------------------------------------------
# Plug-in Gait marker set
# ---------------------------------------------------------------------------------------------

PIG_NAMES = ["RASI", "LASI", "RPSI", "LPSI", "RTHI", "LTHI", "RKNE", "LKNE", "RTIB", "LTIB",
             "RANK", "LANK", "RHEE", "LHEE", "RTOE", "LTOE", "C7", "T10", "CLAV", "STRN", "RBAK",
             "RFHD", "LFHD", "RBHD", "LBHD", "RSHO", "LSHO", "RELB", "LELB", "RWRA", "RWRB",
             "LWRA", "LWRB", "RFIN", "LFIN"]


def test_plugin_gait_markers_resolve_and_mirror():
    pig = builtin_map("pig")
    assert pig.name == "plugin_gait" and builtin_map("Plug-in-Gait").name == "plugin_gait"
    assert all(pig.resolve(n) == n for n in PIG_NAMES)
    assert pig.resolve("lcal") == "LCAL" and pig.resolve("RTH1") is None  # clusters: not in set
    ex = builtin_map("opensim_example").markers
    m = pig.markers
    # the same landmark as the other sets, mirrored on the left
    np.testing.assert_array_equal(m["RASI"].pos, ex["R.ASIS"].pos)
    np.testing.assert_array_equal(m["LKNE"].pos, ex["L.Knee.Lat"].pos)
    np.testing.assert_array_equal(m["RCAL"].pos, ex["R.Heel"].pos)
    assert m["LANK"].body == "tibia_l" and m["LANK"].pos[2] < 0 < m["RANK"].pos[2]
    # virtual joint centres at the model's joint centres
    assert m["RKJC"].body == "femur_r" and m["RAJC"].body == "tibia_r"
    np.testing.assert_allclose(m["LAJC"].pos, [0.0, -0.43, 0.0])
    chosen, known = choose_builtin_map(PIG_NAMES)
    assert chosen.name == "plugin_gait" and known == len(PIG_NAMES)
    assert choose_builtin_map(["R.ASIS", "L.ASIS", "V.Sacral"])[0].name == "opensim_example"
    assert choose_builtin_map(["RHip", "LHip", "Nose"])[0].name == "keypoints"


def test_plugin_gait_ik_on_opensim_walking2_c3d(shared_data):
    """OpenSim's walking2.c3d (Plug-in Gait variant, no static trial): scaled from trial frames;
    the subject is fully in view 1.69-3.34 s only (the frames before and after see 0-26 of the 32
    markers: left out); measured 1.95 cm marker RMSE; knee 3-75 deg, hip flexion 1-46 deg."""
    pytest.importorskip("ezc3d")
    from kintwin.ik.pipeline import get_marker_map, load_markers, run_ik

    trial = load_markers(shared_data / "osim_c3d_walking2" / "walking2.c3d")
    mmap = get_marker_map(marker_names=trial.names)
    assert mmap.name == "plugin_gait"
    assert choose_builtin_map(trial.names)[1] == 32  # of 44: the 12 thigh/shank cluster markers
    res = run_ik(trial, 1.75, 70.0, marker_map=mmap, ignore_unknown=True)
    m = res.metrics
    assert sorted(m["unknown_markers_ignored"]) == sorted(
        f"{s}{seg}{i}" for s in "RL" for seg in ("TH", "TB") for i in (1, 2, 3))
    assert m["marker_rmse_m"] < 0.021
    assert m["per_marker_rmse_m"]["RMT2"] < 0.025 and m["per_marker_rmse_m"]["LMT2"] < 0.025
    # only the frames that see >= 80 % of the markers, from the first to the last such frame
    assert res.time_s[0] == pytest.approx(1.692) and res.time_s[-1] == pytest.approx(3.344)
    assert len(res.motion.time_s) == len(res.time_s) == 414
    assert m["frames_left_out_s"] == [[0.0, pytest.approx(1.688)], [pytest.approx(3.348), pytest.approx(4.992)]]
    assert m["frames_with_few_markers_s"] == []
    marked = np.isfinite(res.errors_m).sum(axis=1) >= 0.8 * res.errors_m.shape[1]
    assert marked.all()
    deg = {c: np.rad2deg(res.motion[c][marked]) for c in
           ("knee_angle_r", "knee_angle_l", "hip_flexion_r", "subtalar_angle_r")}
    for side in "rl":
        knee = deg[f"knee_angle_{side}"]
        assert -5 < knee.min() < 15 and 55 < knee.max() < 85  # walking: ~0-10 to 60-75 deg
    assert 30 < np.ptp(deg["hip_flexion_r"]) < 55
    assert np.abs(deg["subtalar_angle_r"]).max() < 20  # not pinned at its 25 deg limit
    # no arm markers: the arms are held at zero, as reported (the first frame's search over elbow
    # postures once left both elbows at 92 deg while reporting them held at zero)
    assert {"elbow_flex_r", "elbow_flex_l", "arm_flex_r", "pro_sup_l"} <= set(m["coordinates_held_at_zero"])
    for c in m["coordinates_held_at_zero"]:
        assert np.all(res.motion[c] == 0.0), (c, np.rad2deg(res.motion[c][0]))


def test_c3d_force_plates_go_to_the_foot_on_them(shared_data, tmp_path, capsys):
    """``--grf trial.c3d``: each plate goes to the foot of the kinematics standing on it (walking2:
    plate 1 under the right foot at 2.67-3.24 s, plate 2 under the left at 2.25-2.75 s), the same
    as naming them with ``foot_of``; without either, a clear error. With the kinematics the
    reactions are cut to where every foot on the floor is on a plate (the right foot's previous
    stance, to ~2.3 s, and the left foot's next, from ~3.1 s, are beside the plates; 0.1 s of
    guard each side)."""
    pytest.importorskip("ezc3d")
    from kintwin.cli import main
    from kintwin.errors import InputError
    from kintwin.models.build import build_model
    from kintwin.models.subject import SubjectSpec, resolve_subject
    from kintwin.motion.c3d import read_c3d
    from kintwin.motion.grf import from_force_plates, read_grf
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.sim.floor import lowest_foot_points

    c3d = shared_data / "osim_c3d_walking2" / "walking2.c3d"
    assert main(["ik", str(c3d), "--height", "1.75", "--mass", "70", "--ignore-unknown-markers",
                 "--out", str(tmp_path / "ik")]) == 0
    assert "left out the frames at 0.000-1.688 s" in capsys.readouterr().out
    motion = read_motion(tmp_path / "ik" / "kinematics.mot")
    model = build_model(resolve_subject(SubjectSpec(1.75, 70.0), motion.subject))  # ik's scales
    auto = read_grf(c3d, feet=lambda: lowest_foot_points(model, motion))
    out = capsys.readouterr().out
    assert "plate 1 at 2.67-3.24 s: r foot" in out and "plate 2 at 2.25-2.75 s: l foot" in out
    assert "stands on a plate only at 2.37-3.03 s" in out
    assert auto.time_s[0] == pytest.approx(2.37, abs=0.01) and auto.time_s[-1] == pytest.approx(3.03, abs=0.01)
    named = read_grf(c3d, foot_of={"1": "r", "2": "l"})  # no kinematics: the whole recording
    expected = from_force_plates(read_c3d(c3d, to_opensim=True)[1], {0: "r", 1: "l"})
    np.testing.assert_array_equal(named.time_s, expected.time_s)
    inside = (expected.time_s >= auto.time_s[0]) & (expected.time_s <= auto.time_s[-1])
    for s in "rl":
        np.testing.assert_array_equal(named.force_n[s], expected.force_n[s])
        np.testing.assert_array_equal(auto.force_n[s], expected.force_n[s][inside])
        np.testing.assert_array_equal(auto.cop_m[s], expected.cop_m[s][inside])
    with pytest.raises(InputError, match="--foot-of 1=r,2=r"):
        read_grf(c3d)
    with pytest.raises(InputError, match=r"names plate\(s\) \['3'\]"):
        read_grf(c3d, foot_of={"3": "r"})
    # the plates as the loads of inverse dynamics, assigned the same way
    assert main(["id", str(tmp_path / "ik" / "kinematics.mot"), "--height", "1.75", "--mass", "70",
                 "--grf", str(c3d), "--out", str(tmp_path / "id")]) == 0
    captured = capsys.readouterr()
    assert "plate 2 at 2.25-2.75 s: l foot" in captured.out
    assert "analysing 2.368-3.028 s" in captured.err  # where the plates measure every foot
    metrics = json.loads((tmp_path / "id" / "metrics.json").read_text())["metrics"]
    # measured 13-14 %BW; 58 over the whole walk, with the stances beside the plates unmeasured
    # (the file gives neither mass nor height: 70 kg / 1.75 m assumed)
    assert metrics["residual_force_mean_pct_bw"] < 20
