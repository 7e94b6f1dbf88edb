"""The twin for users: analyze with the shipped policy, exports, metrics, bad input."""

import json

import numpy as np
import pytest

from kintwin.analysis.tracking_metrics import compare_metrics, recompute_from_output
from kintwin.cli import main
from kintwin.motion.kinematics_io import write_motion
from kintwin.motion.sample import sample_walk
from kintwin.motion.storage import read_table
from kintwin.twin.runner import DEFAULT_POLICY


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory):
    out = tmp_path_factory.mktemp("twin")
    assert main(["analyze", "sample", "--out", str(out)]) in (0,)
    return out


def test_shipped_policy_is_in_the_package():
    assert DEFAULT_POLICY.exists() and DEFAULT_POLICY.stat().st_size < 20e6


def test_sample_trial_with_shipped_policy(analyzed):
    doc = json.loads((analyzed / "metrics.json").read_text())
    m = doc["metrics"]
    assert m["completed"] is True and m["completed_fraction"] == pytest.approx(1.0, abs=0.02)
    for f in ("kinematics.mot", "torques.sto", "grf.mot", "residuals.sto", "report.html"):
        assert (analyzed / f).stat().st_size > 0
    html = (analyzed / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html


def test_metrics_agree_with_recomputation_from_files(analyzed):
    doc = json.loads((analyzed / "metrics.json").read_text())
    again = recompute_from_output(analyzed)
    keys = ("joint_angle_mae_deg", "joint_angle_rmse_deg", "pelvis_position_error_cm",
            "residual_force_mean_pct_bw", "completed_fraction")
    diffs = compare_metrics({k: doc["metrics"][k] for k in keys}, {k: again[k] for k in keys},
                            rtol=1e-4, atol=1e-3)
    assert not diffs, diffs


def test_exported_torques_match_the_twin_grf_physics(analyzed):
    """The feet carry the body: mean vertical GRF over the trial ~ body weight (within 10 %)."""
    grf = read_table(analyzed / "grf.mot")
    fy = grf.data[:, grf.labels.index("ground_force_vy")] + grf.data[:, grf.labels.index("1_ground_force_vy")]
    res = read_table(analyzed / "residuals.sto")
    weight = 70.0 * 9.81
    support = fy.mean() + res.data[:, res.labels.index("residual_force_y")].mean()
    assert support == pytest.approx(weight, rel=0.1)


def test_bad_input_gives_clear_errors_and_writes_nothing(tmp_path, capsys):
    walk = sample_walk()
    short = walk.slice_time(0.0, 0.05)
    write_motion(tmp_path / "short.mot", short)
    out = tmp_path / "out_short"
    assert main(["analyze", str(tmp_path / "short.mot"), "--height", "1.75", "--mass", "70",
                 "--out", str(out)]) != 0
    assert "needs at least" in capsys.readouterr().err
    assert not (out / "metrics.json").exists()

    bad = walk.reordered(walk.names)
    bad.values = bad.values.copy()
    bad.values[:, bad.names.index("knee_angle_r")] = np.deg2rad(200.0)
    write_motion(tmp_path / "bad.mot", bad, convention="canonical")
    out = tmp_path / "out_bad"
    assert main(["analyze", str(tmp_path / "bad.mot"), "--convention", "canonical", "--height",
                 "1.75", "--mass", "70", "--out", str(out)]) != 0
    assert "knee_angle_r" in capsys.readouterr().err
    assert not (out / "metrics.json").exists()

    out = tmp_path / "out_policy"
    assert main(["analyze", "sample", "--policy", str(tmp_path / "missing.npz"), "--out", str(out)]) != 0
    assert "missing.npz" in capsys.readouterr().err
    assert not (out / "metrics.json").exists()
