"""Ground reactions: foot assignment, label patterns, combining plates, OpenSim output."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kintwin.motion.c3d import read_c3d
from kintwin.motion.grf import (GroundReactions, combine_wrenches, from_force_plates,
                                group_columns, read_external_loads, read_grf)
from kintwin.motion.storage import read_table, write_table

WALK = "osim_subject01_walk/experimental/"


def _window(t, lo, hi):
    return (t >= lo) & (t <= hi)


def test_subject01_feet_from_xml(shared_data):
    grf = read_grf(shared_data / WALK / "subject01_walk1_grf.mot",
                   loads_xml=shared_data / WALK / "subject01_walk1_grf.xml")
    t = grf.time_s
    assert grf.sides == ("r", "l") and len(t) == 1501
    right, left = grf.vertical_n("r"), grf.vertical_n("l")
    # README stance: right 0-0.16, 0.62-1.41, 1.85-2.5 s; left 0-0.79, 1.25-2.02, 2.46-2.5 s
    assert right[_window(t, 0.7, 1.3)].min() > 200.0
    assert np.abs(right[_window(t, 0.2, 0.5)]).max() < 1.0
    assert left[_window(t, 1.3, 1.95)].min() > 200.0
    assert np.abs(left[_window(t, 0.85, 1.2)]).max() < 1.0
    assert 700 < right.max() < 900  # 72.6 kg -> ~1.1 BW peak
    # free moment is vertical once loaded (the file has small x/z torques only at contact
    # transitions, |Fy| < 200 N); COP on the plate surface (y = -7.5 mm)
    assert np.all(grf.torque_nm["r"][right > 200][:, [0, 2]] == 0)
    assert np.allclose(grf.cop_m["r"][_window(t, 0.7, 1.3), 1], -0.0075)


def test_explicit_mapping_matches_xml_and_refuses_to_guess(shared_data):
    mot = shared_data / WALK / "subject01_walk1_grf.mot"
    by_xml = read_grf(mot, loads_xml=shared_data / WALK / "subject01_walk1_grf.xml")
    by_map = read_grf(mot, foot_of={"ground": "r", "1_ground": "l"})
    for s in "rl":
        np.testing.assert_array_equal(by_map.force_n[s], by_xml.force_n[s])
        np.testing.assert_array_equal(by_map.cop_m[s], by_xml.cop_m[s])
    swapped = read_grf(mot, foot_of={"ground": "l", "1_ground": "r"})
    np.testing.assert_array_equal(swapped.force_n["l"], by_xml.force_n["r"])
    with pytest.raises(ValueError, match=r"cannot tell which foot.*\['1_ground', 'ground'\].*"
                                         r"loads_xml.*foot_of"):
        read_grf(mot)
    with pytest.raises(ValueError, match=r"unknown plate group\(s\) \['plate9'\]"):
        read_grf(mot, foot_of={"plate9": "r"})


def test_hamner_high_frequency_running(shared_data):
    folder = shared_data / "hamner_run/experimental"
    grf = read_grf(folder / "subject02_grf_HiFreq_opensim-core-tests.mot",
                   loads_xml=folder / "External_Loads.xml")
    t = grf.time_s
    right, left = grf.vertical_n("r"), grf.vertical_n("l")
    # README: left contact 0.75-1.01 s, right 1.10-1.35 s, peak ~1550 N
    assert left[_window(t, 0.78, 0.98)].min() > 100 and right[_window(t, 0.78, 0.98)].max() < 1
    assert right[_window(t, 1.13, 1.32)].min() > 100 and left[_window(t, 1.13, 1.32)].max() < 1
    assert 1450 < max(right.max(), left.max()) < 1650


def test_hamner_60hz_file_with_coordinate_columns(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stale "datarows 901" header
        grf = read_grf(shared_data / "hamner_run/experimental/subject02_running_grf.mot",
                       loads_xml=shared_data / "hamner_run/experimental/External_Loads.xml")
    assert len(grf.time_s) == 601 and grf.time_s[-1] == pytest.approx(10.0)
    assert 1400 < grf.vertical_n("r").max() < 1800


def test_label_patterns():
    labels = ["pelvis_tx", "r_ground_force_vx", "r_ground_force_vy", "r_ground_force_vz",
              "r_ground_force_px", "r_ground_force_py", "r_ground_force_pz",
              "r_ground_torque_x", "r_ground_torque_y", "r_ground_torque_z",
              "ground_force_1_vx", "ground_force_1_px", "ground_moment_1_mx",
              "ground_force2_vy", "ground_torque2_y",
              "calcn_l_force_vz", "calcn_l_force_pz", "calcn_l_torque_z"]
    groups = group_columns(labels)
    assert set(groups) == {"r_ground", "ground_1", "ground_2", "calcn_l"}
    assert groups["r_ground"]["torque"] == ["r_ground_torque_x", "r_ground_torque_y",
                                            "r_ground_torque_z"]
    assert groups["ground_1"]["point"] == ["ground_force_1_px", None, None]
    assert groups["ground_1"]["torque"][0] == "ground_moment_1_mx"
    assert groups["calcn_l"]["force"] == [None, None, "calcn_l_force_vz"]


def _two_sided_file(tmp_path, prefix_r="calcn_r", prefix_l="calcn_l"):
    t = np.linspace(0, 1, 11)
    labels, cols = [], []
    for k, p in enumerate((prefix_r, prefix_l)):
        for kind, vals in (("force_v", [1.0, 500.0 + k, 2.0]), ("force_p", [0.1, 0.0, 0.2 + k]),
                           ("torque_", [0.0, 3.0 + k, 0.0])):
            for a, v in zip("xyz", vals):
                labels.append(f"{p}_{kind}{a}")
                cols.append(np.full_like(t, v))
    return write_table(tmp_path / "g.mot", labels, t, np.column_stack(cols), in_degrees=True)


def test_side_named_labels_need_no_mapping(tmp_path):
    grf = read_grf(_two_sided_file(tmp_path))
    assert grf.vertical_n("r")[0] == 500.0 and grf.vertical_n("l")[0] == 501.0
    assert grf.torque_nm["l"][0, 1] == 4.0


def test_write_mot_and_external_loads_round_trip(tmp_path):
    src = read_grf(_two_sided_file(tmp_path))
    mot = src.write_mot(tmp_path / "out_grf.mot")
    xml = src.write_external_loads_xml(tmp_path / "out_grf.xml", mot)
    tab = read_table(mot)
    assert tab.labels[:6] == ["ground_force_vx", "ground_force_vy", "ground_force_vz",
                              "ground_force_px", "ground_force_py", "ground_force_pz"]
    assert tab.labels[6] == "1_ground_force_vx" and tab.labels[-1] == "1_ground_torque_z"
    entries = read_external_loads(xml)
    assert [(e["side"], e["body"], e["force"]) for e in entries] == [
        ("r", "calcn_r", "ground_force_v"), ("l", "calcn_l", "1_ground_force_v")]
    assert "<datafile>out_grf.mot</datafile>" in xml.read_text()
    back = read_grf(mot, loads_xml=xml)
    for s in "rl":
        np.testing.assert_allclose(back.force_n[s], src.force_n[s], rtol=1e-9)
        np.testing.assert_allclose(back.cop_m[s], src.cop_m[s], rtol=1e-9)
        np.testing.assert_allclose(back.torque_nm[s], src.torque_nm[s], rtol=1e-9)


def test_resample_linear(tmp_path):
    t = np.array([0.0, 1.0, 2.0])
    f = np.array([[0.0, 0.0, 0.0], [2.0, 10.0, 4.0], [4.0, 20.0, 8.0]])
    grf = GroundReactions(t, {"r": f}, {"r": f * 0.01}, {"r": np.zeros((3, 3))})
    out = grf.resample(np.array([0.5, 1.5]))
    np.testing.assert_allclose(out.force_n["r"], [[1, 5, 2], [3, 15, 6]])
    with pytest.raises(ValueError, match="outside"):
        grf.resample(np.array([2.5]))


def test_combine_wrenches_preserves_total_wrench():
    rng = np.random.default_rng(3)
    n = 50
    forces = [rng.normal(size=(n, 3)) * [50, 0, 50] + [0, 400, 0] for _ in range(2)]
    cops = [np.column_stack([rng.uniform(0, 1, n), np.full(n, -0.0075), rng.uniform(0, 1, n)])
            for _ in range(2)]
    torques = [np.column_stack([np.zeros(n), rng.normal(size=n), np.zeros(n)]) for _ in range(2)]
    f, p, tq = combine_wrenches(forces, cops, torques)
    total = sum(np.cross(c, F) + T for F, c, T in zip(forces, cops, torques))
    np.testing.assert_allclose(f, forces[0] + forces[1], atol=1e-12)
    np.testing.assert_allclose(np.cross(p, f) + tq, total, atol=1e-9)
    np.testing.assert_allclose(p[:, 1], -0.0075, atol=1e-12)
    assert np.all(tq[:, [0, 2]] == 0)
    # one loaded plate: its own COP and torque come back unchanged
    zero = np.zeros((n, 3))
    f1, p1, t1 = combine_wrenches([forces[0], zero], [cops[0], cops[1]], [torques[0], zero])
    np.testing.assert_allclose(p1, cops[0], atol=1e-12)
    np.testing.assert_allclose(t1, torques[0], atol=1e-9)


def test_from_c3d_force_plates(shared_data):
    path = shared_data / "osim_c3d_walking2/walking2.c3d"
    _, lab = read_c3d(path)
    with pytest.raises(ValueError, match="rotate to OpenSim first"):
        from_force_plates(lab, {0: "r", 1: "l"})
    _, plates = read_c3d(path, to_opensim=True)
    # plate 1 (index 0) is under the right foot at 2.68-3.24 s, plate 2 under the left
    grf = from_force_plates(plates, {0: "r", 1: "l"}, min_vertical_n=20.0)
    t = grf.time_s
    assert grf.vertical_n("r")[_window(t, 2.75, 3.15)].min() > 200
    assert grf.vertical_n("l")[_window(t, 2.3, 2.7)].min() > 200
    assert np.all(grf.vertical_n("r")[t < 2.5] == 0)
    loaded = grf.vertical_n("r") > 50
    np.testing.assert_allclose(grf.cop_m["r"][loaded], plates.cop_m[0][loaded])
    np.testing.assert_allclose(grf.torque_nm["r"][loaded], plates.free_moment_nm[0][loaded])
    assert np.all(np.isfinite(grf.cop_m["r"]))


def test_external_loads_xml_layouts_and_errors(tmp_path):
    mot = _two_sided_file(tmp_path)
    force = ("<ExternalForce name='{n}'>{flag}<applied_to_body>{b}</applied_to_body>"
             "<force_expressed_in_body>{e}</force_expressed_in_body>"
             "<force_identifier>{p}_force_v</force_identifier>"
             "<point_identifier>{p}_force_p</point_identifier>"
             "<torque_identifier>{p}_torque_</torque_identifier></ExternalForce>")

    def xml(*forces):
        path = tmp_path / "loads.xml"
        path.write_text("<OpenSimDocument Version='40000'><ExternalLoads><objects>"
                        + "".join(forces) + "</objects></ExternalLoads></OpenSimDocument>")
        return path

    right = force.format(n="R", flag="", b="calcn_r", e="ground", p="calcn_r")
    off = force.format(n="L", flag="<appliesForce>false</appliesForce>", b="calcn_l",
                       e="ground", p="calcn_l")
    grf = read_grf(mot, loads_xml=xml(right, off))  # 4.x appliesForce=false is skipped
    assert grf.sides == ("r",) and grf.vertical_n("r")[0] == 500.0
    old_off = force.format(n="L", flag="<isDisabled>true</isDisabled>", b="calcn_l",
                           e="ground", p="calcn_l")
    assert read_grf(mot, loads_xml=xml(right, old_off)).sides == ("r",)  # 3.3 isDisabled
    with pytest.raises(ValueError, match=r"needs columns \['foo_force_vx'"):
        read_grf(mot, loads_xml=xml(force.format(n="R", flag="", b="calcn_r", e="ground",
                                                 p="foo")))
    with pytest.raises(ValueError, match="only 'ground' is supported"):
        read_grf(mot, loads_xml=xml(force.format(n="R", flag="", b="calcn_r", e="calcn_r",
                                                 p="calcn_r")))
    with pytest.raises(ValueError, match="cannot tell the foot side of body 'pelvis'"):
        read_grf(mot, loads_xml=xml(force.format(n="R", flag="", b="pelvis", e="ground",
                                                 p="calcn_r")))


def _two_stances() -> GroundReactions:
    """1 s, a 700 N stance on each foot in turn, with fore-aft and lateral shear."""
    t = np.linspace(0.0, 1.0, 101)
    grf = GroundReactions(time_s=t)
    for side, sign in (("r", 1.0), ("l", -1.0)):
        fy = np.clip(sign * 700.0 * np.sin(2 * np.pi * t), 0.0, None)
        grf.force_n[side] = np.column_stack([0.15 * fy, fy, 0.03 * fy])
        grf.cop_m[side] = np.column_stack([t, 0 * t, 0.1 * sign + 0 * t])
        grf.torque_nm[side] = np.zeros((len(t), 3))
    return grf


@pytest.mark.parametrize("change, words", [("swap_yz", "do not point up along Y"), ("negate", "point down")])
def test_ground_reactions_that_do_not_point_up_are_refused(tmp_path, change, words):
    """A GRF file whose vertical is Z (a Z-up lab's plates), or that holds the force on the plate
    instead of on the foot: classical ID with it returned 139 %BW of residual with exit 0. The
    reader now refuses both, saying which; the same file in OpenSim's frame reads."""
    from kintwin.errors import InputError

    grf = _two_stances()
    good = grf.write_mot(tmp_path / "good.mot")
    xml = grf.write_external_loads_xml(tmp_path / "loads.xml", good)
    read_grf(good, loads_xml=xml)
    table = read_table(good)
    data = table.data.copy()
    for i, label in enumerate(table.labels):
        if label.endswith("force_vy"):
            j = table.labels.index(label[:-1] + "z")
            if change == "swap_yz":
                data[:, [i, j]] = data[:, [j, i]]
            else:
                data[:, [i - 1, i, i + 1]] *= -1
    bad = write_table(tmp_path / "good.mot", table.labels, table.time_s, data, in_degrees=False)
    with pytest.raises(InputError, match=words):
        read_grf(bad, loads_xml=xml)


def test_nan_centres_of_pressure_of_unloaded_plates_are_read(tmp_path):
    """Exporters write NaN for a plate's centre of pressure while nothing loads it: read (the
    point of a zero force does not matter), the loaded samples unchanged. A NaN force, or a NaN
    centre of pressure under load, is still an error."""
    from kintwin.errors import InputError

    grf = _two_stances()
    path = grf.write_mot(tmp_path / "g.mot")
    xml = grf.write_external_loads_xml(tmp_path / "g.xml", path)
    table = read_table(path)

    def rewrite(mask_fn):
        data = table.data.copy()
        mask_fn(data)
        head = path.read_text().split("endheader\n")[0] + "endheader\n"
        rows = ["\t".join(["time", *table.labels])] + [
            "\t".join(f"{v:.9g}" for v in (tk, *row)) for tk, row in zip(table.time_s, data)]
        out = tmp_path / "nan.mot"
        out.write_text(head + "\n".join(rows) + "\n")
        (tmp_path / "nan.xml").write_text(xml.read_text().replace("g.mot", "nan.mot"))
        return out, tmp_path / "nan.xml"

    def unloaded_cop_nan(data):
        for prefix in ("ground", "1_ground"):
            fy = data[:, table.labels.index(f"{prefix}_force_vy")]
            for ax in "xyz":
                data[fy < 20, table.labels.index(f"{prefix}_force_p{ax}")] = np.nan

    nan_path, nan_xml = rewrite(unloaded_cop_nan)
    got = read_grf(nan_path, loads_xml=nan_xml)
    for side in ("r", "l"):
        loaded = grf.force_n[side][:, 1] > 20
        np.testing.assert_allclose(got.cop_m[side][loaded], grf.cop_m[side][loaded], atol=1e-6)
        np.testing.assert_allclose(got.force_n[side], grf.force_n[side], atol=1e-6)
        assert np.all(np.isfinite(got.cop_m[side]))

    def loaded_force_nan(data):
        data[30, table.labels.index("ground_force_vy")] = np.nan

    bad_path, bad_xml = rewrite(loaded_force_nan)
    with pytest.raises(InputError, match="only a centre of pressure may be NaN"):
        read_grf(bad_path, loads_xml=bad_xml)
