"""The twin for users: analyze with the default controller and the shipped policy, exports,
metrics, bad input."""

import json

import numpy as np
import pytest

from kintwin.analysis.tracking_metrics import compare_metrics, recompute_from_output
from kintwin.cli import main
from kintwin.motion.kinematics_io import write_motion
from kintwin.motion.sample import sample_walk
from kintwin.motion.storage import read_table
from kintwin.twin.runner import SHIPPED_POLICIES


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory):
    out = tmp_path_factory.mktemp("twin")
    assert main(["analyze", "sample", "--out", str(out)]) in (0,)
    return out


def test_shipped_policies_are_in_the_package_and_distilled():
    from kintwin.learn.distill import DistilledPolicy
    from kintwin.twin.runner import load_policy

    for path in SHIPPED_POLICIES.values():
        assert path.exists() and path.stat().st_size < 20e6
        assert isinstance(load_policy(path), DistilledPolicy)


def test_the_running_policy_runs_trials_with_flight_phases(shared_data):
    """Running has the body in flight a third of the time, walking never: the kinematics-only
    contact estimate's load on hamner_run and subject01 picks the shipped policy."""
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import SimOptions, build_model
    from kintwin.motion.kinematics_io import read_motion
    from kintwin.twin.runner import flight_share, shipped_policy

    for path, (t0, t1), h, m, gait, share in (
            ("hamner_run/IK/subject02_running_ik.mot", (1.0, 3.0), 1.83, 65.9, "running", (0.25, 0.45)),
            ("osim_subject01_walk/gait2354/subject01_walk1_ik.mot", (0.4, 1.6), 1.803, 72.6, "walking", (0.0, 0.0))):
        motion = read_motion(shared_data / path).slice_time(t0, t1)
        motion.subject.height_m, motion.subject.mass_kg = h, m
        model = build_model(default_skeleton(h, m), SimOptions(foot_sensors=True))
        assert share[0] <= flight_share(motion, model) <= share[1], path
        assert shipped_policy(motion, model) == (gait, SHIPPED_POLICIES[gait])


def test_sample_trial_with_the_default_controller(analyzed):
    doc = json.loads((analyzed / "metrics.json").read_text())
    assert doc["info"]["controller"] == "qp"  # the default: the whole-body controller
    m = doc["metrics"]
    assert m["completed"] is True and m["completed_fraction"] == pytest.approx(1.0, abs=0.02)
    for f in ("kinematics.mot", "torques.sto", "grf.mot", "residuals.sto", "report.html"):
        assert (analyzed / f).stat().st_size > 0
    html = (analyzed / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html


def test_sample_trial_with_shipped_policy(tmp_path):
    assert main(["analyze", "sample", "--controller", "policy", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["info"]["controller"] == "policy" and doc["info"]["policy"] == "shipped (walking)"
    m = doc["metrics"]
    assert m["completed"] is True and m["completed_fraction"] == pytest.approx(1.0, abs=0.02)
    assert (tmp_path / "torques.sto").stat().st_size > 0


@pytest.mark.parametrize("controller", ["qp", "policy"])
def test_a_twin_that_loses_track_is_flagged(tmp_path, capsys, monkeypatch, controller):
    """A twin that loses track (forced here after 50 control steps) exits 3, says so, writes its
    outputs flagged, and a policy twin's message points to the whole-body controller."""
    import kintwin.twin.controlled as controlled

    data = write_motion(tmp_path / "walk.mot", sample_walk(duration_s=1.2))
    calls = []
    monkeypatch.setattr(controlled, "lost_track", lambda *a: calls.append(1) or len(calls) > 50)
    out = tmp_path / "twin"
    rc = main(["analyze", str(data), "--height", "1.75", "--mass", "70", "--controller", controller,
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 3 and "the twin did not complete the trial" in err
    assert ("leave out --controller policy" in err) == (controller == "policy")
    assert json.loads((out / "metrics.json").read_text())["metrics"]["completed"] is False


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


def test_the_twin_runs_a_policy_and_fine_tuning_trains_its_checkpoint(tmp_path):
    """The twin runs a ``Policy`` of `kintwin train` (no trainer in it); fine-tuning, the twin's
    one training step, rebuilds the trainer from the policy's checkpoint and gives back a new
    ``Policy``."""
    import jax

    from kintwin.learn.policy import PPO, Policy
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import SimOptions, build_model
    from kintwin.twin.runner import finetune, load_policy, run_twin

    walk = sample_walk(duration_s=0.6)
    subject = (walk.subject.height_m, walk.subject.mass_kg)
    write_motion(tmp_path / "walk.mot", walk)
    assert main(["train", str(tmp_path / "walk.mot"), "--height", str(subject[0]), "--mass",
                 str(subject[1]), "--steps", "256", "--envs", "4", "--no-bc", "--no-progress",
                 "--out", str(tmp_path / "ppo")]) == 0
    model = build_model(default_skeleton(*subject), SimOptions(foot_sensors=True))
    policy = load_policy(tmp_path / "ppo" / "final.npz")
    assert type(policy) is Policy and policy.kind == PPO and policy.source == tmp_path / "ppo" / "final.npz"
    assert not hasattr(policy, "trainer") and not hasattr(policy, "state")
    before = [np.asarray(x) for x in jax.tree_util.tree_leaves((policy.network, policy.obs_norm))]
    tuned = finetune(policy, model, walk, subject, steps=1, num_envs=4, progress=False)
    assert type(tuned) is Policy and tuned.tracking == policy.tracking
    after = jax.tree_util.tree_leaves((tuned.network, tuned.obs_norm))
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(before, after))
    for a, b in zip(before, jax.tree_util.tree_leaves((policy.network, policy.obs_norm))):
        np.testing.assert_array_equal(a, np.asarray(b))  # the loaded policy is left as it was
    run = run_twin(tuned, model, walk, subject)
    assert len(run.results.time_s) > 5 and np.all(np.isfinite(run.results.torque_nm))


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


def test_only_the_coordinates_the_trial_gave_are_scored(tmp_path):
    """A lower-body IK file (no arms, no neck: gait2354's columns): the twin holds the model's arms
    and neck at their neutral pose, but they are not data, so neither the joint error nor
    reference_kinematics.mot has them, and the MAE is the mean of the scored coordinates'."""
    from kintwin.models.coordinates import ARM_PREFIXES

    walk = sample_walk().slice_time(0.0, 0.8)
    legs = [n for n in walk.names if not n.startswith(ARM_PREFIXES + ("neck_",))]
    assert len(legs) < len(walk.names)
    write_motion(tmp_path / "legs.mot", walk.reordered(legs))
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "legs.mot"), "--height", "1.75", "--mass", "70",
                 "--out", str(out)]) == 0
    assert read_table(out / "reference_kinematics.mot").labels == legs
    assert "arm_flex_r" in read_table(out / "kinematics.mot").labels  # the twin's own motion: all
    m = json.loads((out / "metrics.json").read_text())["metrics"]
    by_joint = m["joint_angle_mae_deg_by_joint"]
    assert sorted(by_joint) == sorted(n for n in legs if not n.startswith("pelvis_"))
    assert m["joint_angle_mae_deg"] == pytest.approx(np.mean(list(by_joint.values())))
    assert f"over the {len(by_joint)} joint coordinates the file gives" in (out / "report.html").read_text()


def test_reference_kinematics_are_written_in_the_trials_convention(tmp_path):
    """A gait2392-style file (knee flexion negative) gets kinematics.mot and
    reference_kinematics.mot in that convention, so both open side by side in OpenSim, and the
    metrics recomputed from the folder are the twin's."""
    walk = sample_walk().slice_time(0.0, 0.8)
    write_motion(tmp_path / "legacy.mot", walk, convention="legacy")
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "legacy.mot"), "--height", "1.75", "--mass", "70",
                 "--out", str(out)]) == 0
    twin, ref = read_table(out / "kinematics.mot"), read_table(out / "reference_kinematics.mot")
    k = twin.labels.index("knee_angle_r")
    assert np.median(twin.data[:, k]) < -10 and np.median(ref.data[:, ref.labels.index("knee_angle_r")]) < -10
    doc = json.loads((out / "metrics.json").read_text())
    again = recompute_from_output(out)
    assert again["joint_angle_mae_deg"] == pytest.approx(doc["metrics"]["joint_angle_mae_deg"], rel=1e-4)
    assert doc["metrics"]["joint_angle_mae_deg"] < 2.0


def test_batch_trials_of_the_same_file_name_do_not_overwrite_each_other(tmp_path):
    """Two trials called walk.mot in two folders, analyzed together: each gets its own output
    folder (parent folder and stem) and summary row; before, the second overwrote the first."""
    walk = sample_walk(duration_s=0.6)
    paths = []
    for who, speed in (("alice", 1.0), ("bob", 1.2)):
        (tmp_path / who).mkdir()
        paths.append(str(write_motion(tmp_path / who / "walk.mot", walk.slice_time(0.0, 0.5 * speed))))
    out = tmp_path / "out"
    assert main(["analyze", *paths, "--height", "1.75", "--mass", "70", "--out", str(out)]) == 0
    spans = {d: json.loads((out / d / "metrics.json").read_text())["time_range_s"] for d in ("alice_walk", "bob_walk")}
    assert spans["alice_walk"][1] == pytest.approx(0.5) and spans["bob_walk"][1] == pytest.approx(0.6)
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].startswith("alice_walk") and rows[2].startswith("bob_walk")
