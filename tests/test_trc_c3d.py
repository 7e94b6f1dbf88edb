"""TRC markers and C3D markers/force plates, checked against OpenSim's own C3D conversion."""

from __future__ import annotations

import numpy as np
import pytest

from kintwin.motion.c3d import Z_UP_TO_OPENSIM, read_c3d, rotation_x
from kintwin.motion.storage import read_table
from kintwin.motion.trc import Markers, read_trc, write_trc

TRC_HEAD = ("PathFileType\t4\t(X/Y/Z)\tt.trc\n"
            "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
            "OrigDataStartFrame\tOrigNumFrames\n"
            "100\t100\t{n}\t2\t{units}\t100\t1\t{n}\n"
            "Frame#\tTime\tA\t\t\tB\t\t\n\t\tX1\tY1\tZ1\tX2\tY2\tZ2\n\n")


def _markers(n=20, m=3):
    rng = np.random.default_rng(1)
    pos = rng.normal(scale=0.5, size=(n, m, 3))
    pos[3:6, 1] = np.nan  # a gap in marker 1
    return Markers(time_s=np.arange(n) / 100.0, names=[f"M{i}" for i in range(m)],
                   positions_m=pos, rate_hz=100.0, units_in_file="m")


@pytest.mark.parametrize("units", ["mm", "m", "cm"])
def test_trc_round_trip(tmp_path, units):
    mk = _markers()
    back = read_trc(write_trc(tmp_path / "x.trc", mk, units=units))
    assert back.names == mk.names and back.units_in_file == units and back.rate_hz == 100.0
    np.testing.assert_array_equal(np.isnan(back.positions_m), np.isnan(mk.positions_m))
    np.testing.assert_allclose(back.positions_m, mk.positions_m, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(back.time_s, mk.time_s, rtol=1e-9, atol=1e-12)


def test_trc_units_empty_cells_and_errors(tmp_path):
    rows = "1\t0\t1\t2\t3\t\t\t\n2\t0.01\t4\t5\t6\t7\t8\t9\n"
    for units, scale in (("mm", 1e-3), ("cm", 1e-2), ("m", 1.0)):
        p = tmp_path / f"{units}.trc"
        p.write_text(TRC_HEAD.format(n=2, units=units) + rows)
        mk = read_trc(p)
        np.testing.assert_allclose(mk.marker("A")[1], np.array([4, 5, 6]) * scale)
        assert np.isnan(mk.marker("B")[0]).all()  # empty cells -> NaN
    bad = tmp_path / "inch.trc"
    bad.write_text(TRC_HEAD.format(n=2, units="in") + rows)
    with pytest.raises(ValueError, match=r"inch.trc: unknown length units 'in'"):
        read_trc(bad)
    short = tmp_path / "short.trc"
    short.write_text(TRC_HEAD.format(n=3, units="mm") + rows)
    with pytest.raises(ValueError, match="short.trc: truncated file: NumFrames=3 but found 2"):
        read_trc(short)


def test_real_trc(shared_data):
    mk = read_trc(shared_data / "osim_subject01_walk/experimental/subject01_walk1.trc")
    assert mk.positions_m.shape == (151, 41, 3) and mk.rate_hz == 60.0
    assert mk.units_in_file == "mm" and mk.names[0] == "R.ASIS"
    assert mk.time_s[-1] == pytest.approx(2.5)
    asis_height = mk.marker("R.ASIS")[:, 1]  # Y up, metres
    assert 0.9 < asis_height.mean() < 1.15


def test_rotation_to_opensim():
    np.testing.assert_allclose(rotation_x(-90), Z_UP_TO_OPENSIM, atol=1e-15)
    # lab (x forward, y left, z up) -> OpenSim (x forward, y up, z right)
    np.testing.assert_array_equal(Z_UP_TO_OPENSIM @ [1, 0, 0], [1, 0, 0])
    np.testing.assert_array_equal(Z_UP_TO_OPENSIM @ [0, 0, 1], [0, 1, 0])
    np.testing.assert_array_equal(Z_UP_TO_OPENSIM @ [0, 1, 0], [0, 0, -1])


def test_c3d_without_force_plates(tmp_path):
    ezc3d = pytest.importorskip("ezc3d")
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [100]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = ("A", "B")
    pts = np.ones((4, 2, 10))
    pts[:3] = np.arange(60.0).reshape(3, 2, 10)  # mm
    c3d["data"]["points"] = pts
    c3d.write(str(tmp_path / "m.c3d"))
    mk, fp = read_c3d(tmp_path / "m.c3d", to_opensim=True)
    assert mk.names == ["A", "B"] and mk.rate_hz == 100.0 and mk.units_in_file == "mm"
    np.testing.assert_allclose(mk.time_s, np.arange(10) / 100.0)
    np.testing.assert_allclose(mk.positions_m[3, 1], Z_UP_TO_OPENSIM @ pts[:3, 1, 3] * 1e-3)
    assert fp.n_plates == 0 and fp.force_n.shape[0] == 0


@pytest.fixture(scope="module")
def walking2(shared_data):
    folder = shared_data / "osim_c3d_walking2"
    return folder, read_c3d(folder / "walking2.c3d")


def test_c3d_markers_match_opensim(walking2):
    folder, (mk, _) = walking2
    std = read_trc(folder / "std_walking2_markers.trc")  # OpenSim's conversion: lab frame, mm
    assert mk.names == std.names and mk.rate_hz == 250.0 and mk.positions_m.shape == (1249, 44, 3)
    frames = np.round(std.time_s * mk.rate_hz).astype(int)
    np.testing.assert_allclose(mk.time_s[frames], std.time_s, atol=1e-12)
    ours = mk.positions_m[frames]
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(std.positions_m))  # same gaps
    err = np.nanmax(np.abs(ours - std.positions_m))
    assert err < 6e-5  # 0.05 mm: the reference file keeps ~0.1 mm digits


def test_c3d_force_plates_match_opensim(walking2):
    folder, (_, fp) = walking2
    assert fp.n_plates == 2 and fp.rate_hz == 2000.0 and fp.force_n.shape == (2, 9992, 3)
    cop_ref = read_table(folder / "std_cop_walking2_grfs.sto")  # f N, p mm, m N*mm (lab frame)
    ori_ref = read_table(folder / "std_walking2_grfs.sto")  # p = plate centre, m about it
    idx = np.round(cop_ref.time_s * fp.rate_hz).astype(int)
    for p in range(2):
        f_ref = cop_ref.data[:, 9 * p:9 * p + 3]
        cop = cop_ref.data[:, 9 * p + 3:9 * p + 6] * 1e-3
        tz = cop_ref.data[:, 9 * p + 6:9 * p + 9] * 1e-3
        loaded = fp.force_n[p, idx, 2] > 50.0
        assert loaded.sum() >= 8
        np.testing.assert_allclose(fp.force_n[p, idx], f_ref, atol=1e-6)  # N
        np.testing.assert_allclose(fp.cop_m[p, idx][loaded], cop[loaded], atol=1e-9)  # m
        np.testing.assert_allclose(fp.free_moment_nm[p, idx], tz, atol=1e-8)  # N*m
        np.testing.assert_allclose(fp.moment_nm[p, idx], ori_ref.data[:, 9 * p + 6:9 * p + 9]
                                   * 1e-3, atol=1e-8)
        np.testing.assert_allclose(fp.centre_m[p], ori_ref.data[0, 9 * p + 3:9 * p + 6] * 1e-3,
                                   atol=1e-9)
    assert fp.force_n[:, :, 2].max() == pytest.approx(950.95, abs=0.1)


def test_c3d_to_opensim_frame(walking2):
    folder, (mk, fp) = walking2
    mk_os, fp_os = read_c3d(folder / "walking2.c3d", to_opensim=True)
    assert fp_os.frame == "opensim"
    np.testing.assert_allclose(mk_os.positions_m[..., 1], mk.positions_m[..., 2])
    np.testing.assert_allclose(mk_os.positions_m[..., 2], -mk.positions_m[..., 1])
    np.testing.assert_allclose(fp_os.force_n[..., 1], fp.force_n[..., 2])
    # walking along +X; right markers on +Z (right) in OpenSim ground
    pelvis_x = mk_os.marker("RASI")[:, 0]
    assert np.nanmax(pelvis_x) - np.nanmin(pelvis_x) > 3.0
    assert np.nanmean(mk_os.marker("RASI")[:, 2]) > np.nanmean(mk_os.marker("LASI")[:, 2])
    assert np.ptp(fp_os.corners_m[:, :, 1]) < 1e-12  # plates horizontal in Y-up
