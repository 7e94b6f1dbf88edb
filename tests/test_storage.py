"""OpenSim .mot/.sto tables: round trips, real files, and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from kintwin.motion.storage import read_table, write_csv, write_npz, write_table

HEADER4 = "demo\nversion=1\nnRows={n}\nnColumns=3\ninDegrees={deg}\nendheader\n"


def _write(path, text):
    path.write_text(text)
    return path


def _rows(times, *cols):
    return "".join("\t".join(f"{v}" for v in vals) + "\n" for vals in zip(times, *cols))


@pytest.fixture
def table_data():
    rng = np.random.default_rng(0)
    t = np.arange(50) / 120.0
    data = rng.normal(scale=[1.0, 100.0, 1e-3], size=(50, 3))
    return ["knee_angle_r", "pelvis_tx", "tiny"], t, data


def test_round_trip_exact(tmp_path, table_data):
    labels, t, data = table_data
    path = write_table(tmp_path / "x.sto", labels, t, data, name="trial", in_degrees=True)
    tab = read_table(path)
    assert tab.labels == labels
    assert tab.in_degrees is True
    assert tab.header["name"] == "trial" and tab.header["nRows"] == "50"
    assert tab.header["nColumns"] == "4"
    np.testing.assert_allclose(tab.time_s, t, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tab.data, data, rtol=1e-9, atol=1e-12)
    # write -> read -> write is byte-identical
    again = write_table(tmp_path / "y.sto", tab.labels, tab.time_s, tab.data, name="trial",
                        in_degrees=True)
    assert again.read_text() == path.read_text()


def test_header_layout_opensim4(tmp_path, table_data):
    labels, t, data = table_data
    lines = write_table(tmp_path / "x.mot", labels, t, data).read_text().splitlines()
    assert lines[:6] == ["x.mot", "version=1", "nRows=50", "nColumns=4", "inDegrees=no",
                         "endheader"]
    assert lines[6].split("\t") == ["time", *labels]


def test_csv_and_npz(tmp_path, table_data):
    labels, t, data = table_data
    csv = write_csv(tmp_path / "x.csv", labels, t, data)
    assert csv.read_text().splitlines()[0] == "time,knee_angle_r,pelvis_tx,tiny"
    back = np.loadtxt(csv, delimiter=",", skiprows=1)
    np.testing.assert_allclose(back, np.column_stack([t, data]), rtol=1e-9, atol=1e-12)
    npz = write_npz(tmp_path / "x.npz", time_s=t, data=data)
    with np.load(npz) as z:
        np.testing.assert_array_equal(z["data"], data)


def test_legacy_header_whitespace_and_no_units(tmp_path):
    text = ("name old.mot\ndatacolumns 3\ndatarows 2\nrange 0 0.1\nendheader\n"
            "      time        a         b\n  0.0  1.5  2.5\n  0.1  3.5  4.5\n")
    tab = read_table(_write(tmp_path / "old.mot", text))
    assert tab.in_degrees is None and tab.header["name"] == "old.mot"
    assert tab.labels == ["a", "b"]
    np.testing.assert_array_equal(tab.data, [[1.5, 2.5], [3.5, 4.5]])


def test_trailing_tabs_and_free_text_header(tmp_path):
    text = ("Coordinates\t\t\nversion=1\t\t\nnRows=2\nnColumns=3\ninDegrees=no\n\n"
            "Units are S.I. units (second, meters, Newtons, ...)\nendheader\n"
            "time\ta\tb\t\n0\t1\t2\t\n0.5\t3\t4\t\n")
    tab = read_table(_write(tmp_path / "c.sto", text))
    assert tab.header["name"] == "Coordinates" and tab.in_degrees is False
    assert tab.rate_hz == pytest.approx(2.0)
    np.testing.assert_array_equal(tab.column("b"), [2, 4])


def test_a_row_written_twice_is_left_out_but_a_clash_is_not(tmp_path):
    """An exporter that writes a row twice (same time, same values) is harmless: the repeat is
    left out with a warning. The same time with other values is an error, naming the file row."""
    path = _write(tmp_path / "twice.sto", HEADER4.format(n=4, deg="no")
                  + "time\ta\tb\n0\t1\t2\n0.1\t3\t4\n0.2\t5\t6\n0.2\t5\t6\n")
    with pytest.warns(UserWarning, match="1 row.s. repeated exactly"):
        tab = read_table(path)
    np.testing.assert_array_equal(tab.time_s, [0.0, 0.1, 0.2])
    np.testing.assert_array_equal(tab.column("b"), [2, 4, 6])
    clash = _write(tmp_path / "clash.sto", HEADER4.format(n=4, deg="no")
                   + "time\ta\tb\n0\t1\t2\n0.1\t3\t4\n0.1\t5\t6\n0.2\t5\t6\n")
    with pytest.raises(ValueError, match="data row 3 has t = 0.1 s after t = 0.1 s"):
        read_table(clash)


@pytest.mark.parametrize("text, message", [
    (HEADER4.format(n=3, deg="no") + "time\ta\tb\n0\t1\t2\n0.1\t3\t4\n", "truncated file"),
    (HEADER4.format(n=3, deg="no") + "time\ta\tb\n0\t1\t2\n0.1\t3\t4\n0.2\t5\n", "ragged last row"),
    (HEADER4.format(n=2, deg="no") + "time\ta\ta\n0\t1\t2\n0.1\t3\t4\n", "duplicate column"),
    (HEADER4.format(n=2, deg="maybe") + "time\ta\tb\n0\t1\t2\n0.1\t3\t4\n",
     "unknown units in header 'inDegrees=maybe'"),
    (HEADER4.format(n=2, deg="no") + "frame\ta\tb\n0\t1\t2\n0.1\t3\t4\n", "missing time column"),
    (HEADER4.format(n=3, deg="no") + "time\ta\tb\n0\t1\t2\n0.2\t3\t4\n0.1\t5\t6\n",
     "not strictly increasing"),
    (HEADER4.format(n=2, deg="no") + "time\ta\tb\n0\t1\tabc\n0.1\t3\t4\n", "cannot read 'abc'"),
    ("version=1\nnRows=1\ntime\ta\n0\t1\n", "no 'endheader'"),
])
def test_bad_input_errors(tmp_path, text, message):
    path = _write(tmp_path / "bad.sto", text)
    with pytest.raises(ValueError, match=message) as err:
        read_table(path)
    assert "bad.sto" in str(err.value)


def test_duplicate_labels_are_named(tmp_path):
    text = HEADER4.replace("nColumns=3", "nColumns=4").format(n=1, deg="no")
    path = _write(tmp_path / "dup.sto", text + "time\thip\tknee\thip\n0\t1\t2\t3\n")
    with pytest.raises(ValueError, match=r"duplicate column label\(s\) \['hip'\]"):
        read_table(path)


def test_nan_rows_reported_with_rows_and_columns(tmp_path):
    text = (HEADER4.format(n=4, deg="no") +
            "time\ta\tb\n0\t1\t2\n0.1\tNaN\t4\n0.2\t5\t6\n0.3\t7\tinf\n")
    path = _write(tmp_path / "nan.sto", text)
    with pytest.raises(ValueError, match=r"2 row\(s\) \(data rows \[2, 4\]\) in column\(s\) "
                                         r"\['a', 'b'\]"):
        read_table(path)
    tab = read_table(path, allow_nonfinite=True)
    assert np.isnan(tab.data[1, 0]) and np.isinf(tab.data[3, 1])


def test_write_refuses_nan_and_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        write_table(tmp_path / "n.sto", ["a"], [0.0, 1.0], [[0.0], [np.nan]])
    with pytest.raises(ValueError, match="shape"):
        write_table(tmp_path / "s.sto", ["a", "b"], [0.0, 1.0], np.zeros((2, 3)))


def test_stale_legacy_datarows_warns(tmp_path):
    text = "name x\ndatacolumns 2\ndatarows 9\nendheader\ntime\ta\n0\t1\n0.1\t2\n"
    with pytest.warns(UserWarning, match="datarows 9 but found 2"):
        tab = read_table(_write(tmp_path / "x.mot", text))
    assert tab.data.shape == (2, 1)


# --- real OpenSim files ------------------------------------------------------------------------
def test_real_opensim4_ik_file(shared_data):
    tab = read_table(shared_data / "osim_subject01_walk/gait2354/subject01_walk1_ik.mot")
    assert tab.in_degrees is True and tab.header["name"] == "Coordinates"
    assert tab.data.shape == (73, 23)
    assert tab.time_s[0] == pytest.approx(0.4) and tab.time_s[-1] == pytest.approx(1.6)
    knee = tab.column("knee_angle_r")  # gait2354: knee flexion negative, degrees
    assert -75 < knee.min() < -60 and knee.max() < 2


def test_real_legacy_files(shared_data):
    grf = shared_data / "hamner_run/experimental/subject02_running_grf.mot"
    with pytest.warns(UserWarning, match="datarows 901 but found 601"):
        tab = read_table(grf)
    assert len(tab.labels) == 41 and tab.labels[0] == "pelvis_tx"
    assert tab.time_s[-1] == pytest.approx(10.0)
    assert np.all(tab.data[:, :23] == 0)  # the zero coordinate columns
    cop = read_table(shared_data / "osim_c3d_walking2/std_cop_walking2_grfs.sto")
    assert cop.data.shape == (101, 18) and cop.labels[:3] == ["f1_1", "f1_2", "f1_3"]
    analog = read_table(shared_data / "osim_c3d_walking2/std_walking2_analog.sto")
    assert analog.header["DataRate"] == "2000.000000" and analog.in_degrees is None


def test_real_file_round_trip(shared_data, tmp_path):
    src = read_table(shared_data / "osim_subject01_walk/gait2354/ID_inverse_dynamics.sto")
    out = write_table(tmp_path / "id.sto", src.labels, src.time_s, src.data, in_degrees=False)
    back = read_table(out)
    assert back.labels == src.labels
    np.testing.assert_allclose(back.data, src.data, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(back.time_s, src.time_s, rtol=1e-9, atol=1e-9)
