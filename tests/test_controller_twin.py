"""The physically faithful twin: feet on the floor, the whole-body controller, kinetics scored."""

import json
from dataclasses import replace
import re
import warnings

import mujoco
import numpy as np
import pytest

from kintwin.cli import main
from kintwin.dynamics.contact_estimation import estimate_contacts
from kintwin.control.wholebody import ControlReference, WholeBodyConfig, WholeBodyController, default_config
from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import build_model, build_spec
from kintwin.motion import frames
from kintwin.motion.kinematics_io import read_motion, write_motion
from kintwin.motion.storage import read_table
from kintwin.motion.motion import Motion
from kintwin.motion.sample import sample_walk
from kintwin.motion.sample_moves import countermovement_jump, one_leg_stand, step_stand, step_up
from kintwin.sim import floor
from kintwin.sim.reference import trial_reference
from kintwin.sim.terrain import detect_terrain
from kintwin.twin.controlled import CONTACT_DEPTH_M, prepare, run_controlled_twin


# --- feet on the floor -------------------------------------------------------------------------
@pytest.mark.parametrize("ik", ["gait2354/subject01_walk1_ik.mot", "gait2392/subject01_walk1_ik.mot"])
def test_sole_calibration_puts_stance_feet_on_the_floor(shared_data, ik):
    motion = read_motion(shared_data / "osim_subject01_walk" / ik).slice_time(0.5, 1.6)
    skeleton = default_skeleton(1.803, 72.6)
    model, cref, ref, info = prepare(skeleton, motion, WholeBodyConfig())
    before, after = info["stance_clearance_before"], info["stance_clearance"]
    for side in ("r", "l"):
        assert after[side]["stance_frames"] > 100
        # documented tolerance (sim/floor.py): median |clearance| <= 2 mm, 95th percentile <= 10 mm
        assert after[side]["clearance_median_mm"] <= floor.CLEARANCE_MEDIAN_TOLERANCE_MM
        assert after[side]["clearance_p95_mm"] <= floor.CLEARANCE_P95_TOLERANCE_MM
        assert after[side]["slide_median_mps"] <= floor.SLIDE_TOLERANCE_MPS  # treadmill removed
    # the right foot floated 8-14 mm above the floor in loaded stance before calibration
    assert before["r"]["clearance_median_mm"] > 5.0
    # no reference sphere goes deeper than a loaded contact sinks, in the low-passed reference or,
    # where the low-pass undershoots, in the unfiltered trial (floor.py, "The filter's undershoot")
    low = floor.sphere_bottoms(model, ref.qpos)[:, :, 2].min(axis=0)
    low_unfiltered = floor.sphere_bottoms(model, ref.aligned(model, motion)[1])[:, :, 2].min(axis=0)
    assert np.maximum(low, low_unfiltered).min() > -CONTACT_DEPTH_M - 1e-6
    assert low.min() > -CONTACT_DEPTH_M - 0.001  # the 6 Hz undershoot of a walk: < 1 mm


def test_calibration_moves_each_sphere_to_touch_the_floor():
    walk = sample_walk()
    skeleton = default_skeleton(walk.subject.height_m, walk.subject.mass_kg)
    spec = build_spec(skeleton)
    model = spec.compile()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qpos = trial_reference(model, walk, rate_hz=100.0).qpos
    base = floor.calibrate_soles(model, qpos, 100.0)
    qpos[:, 2] += 0.012  # the whole trial 12 mm higher
    calib = floor.calibrate_soles(model, qpos, 100.0)
    np.testing.assert_allclose(calib.offset_m - base.offset_m, 0.012, atol=0.002)
    calib.apply(spec)
    lowest = floor.sphere_bottoms(spec.compile(), qpos)[:, :, 2].min(axis=0)
    np.testing.assert_allclose(lowest, 0.0, atol=0.004)


def test_a_toe_sunk_by_locked_toe_ik_does_not_lift_the_foot():
    """IK that holds mtp_angle at zero sinks the toe tip through the floor in push-off: here the
    sample walk's right toes flexed 30 deg down at push-off, the toe tip 20 mm under the floor.
    The floor level and the heel and metatarsal spheres' calibration are those of the trial
    without it (before: the whole foot was raised 20 mm to the toe and floated in stance), and
    the toe sphere alone is raised until it just touches the floor (left sunk, it scuffs in
    swing)."""
    walk = sample_walk()
    skeleton = default_skeleton(walk.subject.height_m, walk.subject.mass_kg)
    spec = build_spec(skeleton)
    model = spec.compile()
    sunk = walk.reordered(walk.names)
    sunk.values = sunk.values.copy()
    phase = (walk.time_s / 1.1) % 1.0  # the sample's gait cycle, right toe off at 0.62
    sunk.values[:, sunk.names.index("mtp_angle_r")] -= np.deg2rad(30.0) * np.clip(
        1 - np.abs(phase - 0.55) / 0.08, 0, None) ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q0, q1 = (trial_reference(model, m, rate_hz=100.0, toes_set_floor=False).qpos for m in (walk, sunk))
    geoms, names, _ = floor.contact_spheres(model)
    toe = names.index("toe_r")
    assert floor.sphere_bottoms(model, q1, geoms)[:, toe, 2].min() < -0.015
    assert q1[0, 2] == pytest.approx(q0[0, 2], abs=1e-4)  # the same floor (heel and metatarsals)
    c0, c1 = floor.calibrate_soles(model, q0, 100.0), floor.calibrate_soles(model, q1, 100.0)
    others = [i for i in range(len(names)) if i != toe]
    np.testing.assert_allclose(c1.offset_m[others], c0.offset_m[others], atol=5e-4)
    c1.apply(spec)
    lowest = floor.sphere_bottoms(spec.compile(), q1)[:, :, 2].min(axis=0)
    np.testing.assert_allclose(lowest, 0.0, atol=0.004)  # every sphere, the toe too, touches


def test_a_foot_that_swings_through_a_cut_trial_is_not_put_on_the_floor():
    """The sample walk cut to 0.2-0.5 s (right single support; the left foot swings throughout) has
    no standing level for the left foot: its spheres take the right foot's moves, mirrored, and
    stay clear of the floor, so the swinging foot carries nothing. Calibrated to its lowest point
    over the trial instead (before), the swinging foot was lowered 12 mm and carried up to 153 %BW
    (bench/controller_twin_windows.py)."""
    walk = sample_walk().slice_time(0.2, 0.5)
    skeleton = default_skeleton(walk.subject.height_m, walk.subject.mass_kg)
    model, cref, ref, info = prepare(skeleton, walk, WholeBodyConfig())
    assert info["sole_calibration_from_other_foot"] == ["l"]
    moved = info["sole_calibration_mm"]
    for kind in ("heel", "meta1", "meta5", "toe"):  # mirrored, or less where the clamp holds it up
        assert moved[f"{kind}_l"] <= moved[f"{kind}_r"] + 1e-9
    geoms, names, side = floor.contact_spheres(model)
    left = floor.sphere_bottoms(model, cref.qpos, geoms)[:, side == 1, 2]
    assert left.min() > 0.004  # NO_STANCE_CLEARANCE_M (5 mm), up to the tilt of the move
    twin = run_controlled_twin(skeleton, walk)
    assert twin.completed
    weight_n = skeleton.mass_kg * 9.81
    assert np.abs(twin.results.grf.vertical_n("l")).max() < 0.02 * weight_n
    # single support: the stance foot carries the body (mid-stance valley ~75 %BW in this window)
    assert twin.results.grf.vertical_n("r").min() > 0.6 * weight_n


def _stairs(walk: Motion, rise_m: float = 0.18) -> Motion:
    """The sample walk climbing: the pelvis rises by ``rise_m`` per step."""
    out = walk.reordered(walk.names)
    out.values = out.values.copy()
    t = walk.time_s - walk.time_s[0]
    out.values[:, out.names.index("pelvis_ty")] += rise_m * np.floor(t / 0.55)
    return out


def test_level_support_tolerates_ik_noise_and_finds_steps():
    """Stance heights that wander +-2 cm from step to step (marker IK without a static trial:
    3.6 cm apart on OpenSim's walking2) are a level floor; 10 cm steps are not. The message gives
    the trial's own times and heights above the lowest support."""
    walk = sample_walk()
    model = build_model(default_skeleton(walk.subject.height_m, walk.subject.mass_kg))
    noisy = walk.reordered(walk.names)
    noisy.values = noisy.values.copy()
    step = np.floor((walk.time_s - walk.time_s[0]) / 0.55).astype(int)
    noisy.values[:, noisy.names.index("pelvis_ty")] += 0.02 * np.where(step % 2, 1.0, -1.0)
    floor.check_level_support(model, noisy.to_qpos(model, warn=False), walk.rate_hz)
    with pytest.raises(floor.NonLevelSupportError):  # the 4 cm spread is there to be tolerated
        floor.check_level_support(model, noisy.to_qpos(model, warn=False), walk.rate_hz,
                                  level_tolerance_m=0.03)
    stairs = _stairs(walk, rise_m=0.10)
    with pytest.raises(floor.NonLevelSupportError) as err:
        floor.check_level_support(model, stairs.to_qpos(model, warn=False), walk.rate_hz, t0_s=5.0)
    msg = str(err.value)
    heights = [float(h) for h in re.findall(r"foot \+([0-9.]+) cm", msg)]
    assert min(heights) == 0.0 and 25 < max(heights) < 35  # three 10 cm steps above the first
    starts = [float(a) for a in re.findall(r"cm at ([0-9.]+)-", msg)]
    assert min(starts) >= 5.0


def test_stairs_get_their_steps_where_one_floor_is_not_needed(tmp_path, capsys):
    """The twin and ``kintwin id`` build the support the feet stand on (``sim/terrain.py``): the
    sample walk climbing 10 cm per step gets three boxes, 10, 20 and 30 cm high, under the feet
    that stand on them. A trained policy (learned on a level floor) still refuses, with a message
    saying what does not."""
    walk = sample_walk()
    stairs = _stairs(walk, rise_m=0.10)
    model = build_model(default_skeleton(walk.subject.height_m, walk.subject.mass_kg))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qpos = trial_reference(model, stairs, rate_hz=100.0, toes_set_floor=False).qpos
    boxes = detect_terrain(model, qpos, 100.0).boxes
    np.testing.assert_allclose(sorted(b.top_m for b in boxes), [0.10, 0.20, 0.30], atol=0.01)
    feet = floor.sphere_bottoms(model, qpos)
    for b in boxes:  # each box lies under a foot that stands on it at its height
        on = b.contains(feet[:, :, :2]) & (np.abs(feet[:, :, 2] - b.top_m) < 0.01)
        assert on.sum() > 20
    path = write_motion(tmp_path / "stairs.mot", stairs)
    out = tmp_path / "out"
    assert main(["analyze", str(path), "--controller", "policy", "--height", "1.75", "--mass", "70",
                 "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "non-level support" in err and "--controller qp" in err
    assert not out.exists()
    assert main(["id", str(path), "--height", "1.75", "--mass", "70", "--out", str(tmp_path / "id")]) == 0
    info = json.loads((tmp_path / "id" / "metrics.json").read_text())["info"]
    np.testing.assert_allclose(sorted(b["top_m"] for b in info["terrain_boxes"]), [0.10, 0.20, 0.30],
                               atol=0.01)


def test_inverse_dynamics_without_plates_on_a_step():
    """``kintwin id`` without plates on stepping up onto a 15 cm step: the step under both feet
    (two boxes, one per foot), the body carried with almost no help at the pelvis, each loaded
    foot's centre of pressure on the floor or on the step's top. On a level floor only, this trial
    was refused."""
    motion = step_up(step_m=0.15)
    model = build_model(default_skeleton(1.75, 70.0))
    result = estimate_contacts(motion, model, mass_kg=70.0, height_m=1.75)
    floor_m = result.info["floor_height_m"]
    tops = [b["top_m"] - floor_m for b in result.info["terrain_boxes"]]
    np.testing.assert_allclose(tops, 0.15, atol=0.005)
    weight_n = 70.0 * 9.81
    grf = result.grf
    total = (grf.vertical_n("r") + grf.vertical_n("l")) / weight_n
    assert np.median(total) == pytest.approx(1.0, abs=0.02)
    assert np.mean(np.linalg.norm(result.residual_force_n, axis=1)) / weight_n < 0.01
    for side in ("r", "l"):
        loaded = grf.vertical_n(side) > 0.05 * weight_n
        height = grf.cop_m[side][loaded, 1] - floor_m
        assert np.all((np.abs(height) < 0.005) | (np.abs(height - 0.15) < 0.005))
        assert (np.abs(height - 0.15) < 0.005).sum() > 100  # it stands on the step


def test_the_controller_twin_stands_with_one_foot_on_a_step():
    """Standing with the right foot on a 15 cm step, shifting weight between the feet
    (``motion/sample_moves.py``): the twin gets a box under the right foot, its top at the step,
    completes, and the two feet carry the body: total vertical ground reaction ~100 %BW, the right
    foot's share on the box, its centre of pressure on the box's top. On a level floor only, the
    right foot would hang 15 cm up and the pelvis residual would carry its share."""
    motion = step_stand(step_m=0.15)
    skeleton = default_skeleton(1.75, 70.0)
    model, cref, ref, info = prepare(skeleton, motion, WholeBodyConfig())
    (box,) = info["terrain_boxes"]
    assert box["top_m"] == pytest.approx(0.15, abs=0.005)
    twin = run_controlled_twin(skeleton, motion)
    assert twin.completed
    weight_n = skeleton.mass_kg * 9.81
    grf = twin.results.grf
    right, left = grf.vertical_n("r") / weight_n, grf.vertical_n("l") / weight_n
    assert np.median(right + left) == pytest.approx(1.0, abs=0.03)  # standing: m g
    assert np.percentile(right, 5) > 0.05 and np.percentile(right, 95) > 0.25  # on the box
    loaded = right > 0.05
    np.testing.assert_allclose(grf.cop_m["r"][loaded, 1], box["top_m"], atol=1e-4)  # OpenSim Y up
    residual = np.linalg.norm(twin.results.residual_force_n, axis=1) / weight_n
    assert residual.mean() < 0.04


def test_analyze_reports_the_support_it_built(tmp_path):
    """``kintwin analyze`` on the step trial: metrics.json lists the box, the exported grf.mot puts
    the right foot's centre of pressure on its top (OpenSim Y), and the report says so."""
    path = write_motion(tmp_path / "step.mot", step_stand(step_m=0.15, duration_s=1.0))
    out = tmp_path / "out"
    assert main(["analyze", str(path), "--height", "1.75", "--mass", "70", "--out", str(out)]) == 0
    (box,) = json.loads((out / "metrics.json").read_text())["info"]["terrain_boxes"]
    assert box["top_m"] == pytest.approx(0.15, abs=0.005)
    grf = read_table(out / "grf.mot")
    loaded = grf.column("ground_force_vy") > 0.05 * 70 * 9.81
    np.testing.assert_allclose(grf.column("ground_force_py")[loaded], box["top_m"], atol=1e-3)
    assert "1 box(es) on it" in (out / "report.html").read_text()


def test_a_foot_held_still_in_the_air_gets_no_box():
    """Standing on the left leg with the right foot held still 20 cm up
    (``motion/sample_moves.one_leg_stand``): to the kinematics that foot stands on something 20 cm
    high, but the trial needs no support there (the estimate on the floor alone needs no help at
    the pelvis), so no box is built and the twin stands on one leg."""
    motion = one_leg_stand(lift_m=0.20)
    skeleton = default_skeleton(1.75, 70.0)
    model, cref, ref, info = prepare(skeleton, motion, WholeBodyConfig())
    (candidate,) = info["terrain_boxes_not_built"]
    assert candidate["top_m"] == pytest.approx(0.20, abs=0.01)
    assert info["terrain_boxes"] == []
    twin = run_controlled_twin(skeleton, motion)
    assert twin.completed
    weight_n = skeleton.mass_kg * 9.81
    assert twin.results.grf.vertical_n("r").max() < 0.02 * weight_n
    assert np.median(twin.results.grf.vertical_n("l")) == pytest.approx(weight_n, rel=0.03)


def test_the_controller_twin_steps_up_onto_a_step():
    """Stepping up onto a 15 cm step, right foot first (``motion/sample_moves.step_up``, 6 s): the
    twin gets the step under both feet where they stand on it, completes, and at the end stands on
    it with both feet, their centres of pressure on its top and together carrying the body."""
    motion = step_up(step_m=0.15)
    skeleton = default_skeleton(1.75, 70.0)
    twin = run_controlled_twin(skeleton, motion)
    assert twin.completed
    boxes = twin.results.info["terrain_boxes"]
    assert boxes and all(b["top_m"] == pytest.approx(0.15, abs=0.005) for b in boxes)
    weight_n = skeleton.mass_kg * 9.81
    grf, t = twin.results.grf, twin.results.time_s
    end = t > t[-1] - 0.8  # both feet on the step
    right, left = grf.vertical_n("r")[end] / weight_n, grf.vertical_n("l")[end] / weight_n
    assert np.median(right + left) == pytest.approx(1.0, abs=0.05)
    assert np.median(right) > 0.2 and np.median(left) > 0.2
    for side in ("r", "l"):
        np.testing.assert_allclose(grf.cop_m[side][end, 1], 0.15, atol=0.005)  # OpenSim Y up
    start = t < t[0] + 0.4  # both feet on the floor
    assert np.all(grf.cop_m["r"][start][grf.vertical_n("r")[start] > 0.05 * weight_n, 1] == 0.0)
    residual = np.linalg.norm(twin.results.residual_force_n, axis=1) / weight_n
    assert residual.mean() < 0.05


def test_a_step_close_ahead_is_built_clear_of_the_toes_on_the_floor():
    """A step 25 cm ahead: widened by its margin, the box reached over the toes of the feet still
    on the floor (their spheres in its front face: the twin held by 30 %BW of residual). It is
    cut back to clear them by the spheres' radius, and the twin steps up with little help
    (measured 2.87 %BW)."""
    motion = step_up(step_m=0.15, reach_m=0.25)
    skeleton = default_skeleton(1.75, 70.0)
    model = build_model(skeleton)
    qpos = motion.to_qpos(model, warn=False)
    floor_toes = max(p.x[1] for p in floor.stance_phases(model, qpos, motion.rate_hz) if p.height_m < 0.06)
    radius = model.geom_size[floor.contact_spheres(model)[0], 0].max()
    boxes = detect_terrain(model, qpos, motion.rate_hz).boxes
    assert len(boxes) == 2 and all(b.x[0] >= floor_toes + radius for b in boxes)
    twin = run_controlled_twin(skeleton, motion)
    residual = np.linalg.norm(twin.results.residual_force_n, axis=1) / (skeleton.mass_kg * 9.81)
    assert twin.completed and residual.mean() < 0.05


def test_a_low_step_gets_its_box():
    """A 5 cm step (``terrain.MIN_STEP_M`` = 3 cm; 6 cm before): the twin stands on a box at its
    height and needs little help (measured 2.67 %BW; without the box 8.31)."""
    motion = step_up(step_m=0.05)
    skeleton = default_skeleton(1.75, 70.0)
    twin = run_controlled_twin(skeleton, motion)
    boxes = twin.results.info["terrain_boxes"]
    assert boxes and all(b["top_m"] == pytest.approx(0.05, abs=0.005) for b in boxes)
    residual = np.linalg.norm(twin.results.residual_force_n, axis=1) / (skeleton.mass_kg * 9.81)
    assert twin.completed and residual.mean() < 0.04


def test_the_controller_twin_lands_a_jump():
    """A countermovement jump (``motion/sample_moves.countermovement_jump``: 0.29 s of flight from
    a 1.4 m/s take-off): the twin completes it, nothing touches the ground in the flight, the
    landing loads the feet above body weight, and no support box is built for it. Standing again
    after the landing it needs little help: the 6 Hz reference's undershoot of the floor around
    take-off and landing no longer sets the soles' level (residual there 5.8 -> 2.0 %BW, over the
    whole jump 7.2 -> 4.9 %BW)."""
    motion = countermovement_jump()
    skeleton = default_skeleton(1.75, 70.0)
    twin = run_controlled_twin(skeleton, motion)
    assert twin.completed and twin.info["terrain_boxes"] == []
    weight_n = skeleton.mass_kg * 9.81
    total = (twin.results.grf.vertical_n("r") + twin.results.grf.vertical_n("l")) / weight_n
    t = twin.results.time_s
    flight = (t > 1.25) & (t < 1.45)  # take-off at 1.2 s, landing at 1.485 s
    assert np.all(total[flight] < 0.02)
    assert total[(t > 1.45) & (t < 1.75)].max() > 1.5
    assert np.median(total[t > 2.3]) == pytest.approx(1.0, abs=0.07)  # standing again
    residual = np.linalg.norm(twin.results.residual_force_n, axis=1) / weight_n
    assert residual[t > 2.3].mean() < 0.03 and residual.mean() < 0.06


# --- the controller recovers a forward simulation ------------------------------------------------
def _forward_simulation(duration_s: float = 2.0, muscles=None):
    """A trial made by forward simulation of the model in MuJoCo, feet on the floor: standing,
    swinging the arms in opposition and bending the knees and trunk, driven by the controller
    (which balances it) from a kinematic sketch of that movement. Returns the skeleton, the
    simulated motion at 60 Hz (as motion capture would give it) and what the simulation applied
    (joint torques) and felt (vertical foot forces), with their times."""
    skeleton = default_skeleton(1.75, 70.0)
    model = build_spec(skeleton).compile()
    jnt = {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j): j for j in range(model.njnt)}
    t = np.arange(0.0, duration_s + 1e-9, 0.01)
    qpos = np.tile(model.qpos0, (len(t), 1))
    a = 0.25 * 0.5 * (1 - np.cos(2 * np.pi * t / duration_s))  # knee bend 0 -> 0.5 rad -> 0
    swing = np.sin(2 * np.pi * t / 1.0)
    # leaning 0.1 rad forward from the ankles puts the centre of mass over the middle of the feet
    qpos[:, 3:7] = frames.pelvis_quat_mujoco(np.full(len(t), -0.1), 0 * t, 0 * t)
    for side, sign in (("r", 1.0), ("l", -1.0)):
        qpos[:, model.jnt_qposadr[jnt[f"arm_flex_{side}"]]] = 0.6 * sign * swing
        qpos[:, model.jnt_qposadr[jnt[f"hip_flexion_{side}"]]] = a  # feet stay flat
        qpos[:, model.jnt_qposadr[jnt[f"knee_angle_{side}"]]] = 2 * a
        qpos[:, model.jnt_qposadr[jnt[f"ankle_angle_{side}"]]] = 0.1 + a
    lowest = floor.sphere_bottoms(model, qpos)[:, :, 2].min(axis=1)
    qpos[:, 2] -= lowest  # feet on the floor throughout
    sketch = Motion.from_qpos(model, t, qpos, source_file="sketch")
    sketch.subject.height_m, sketch.subject.mass_kg = 1.75, 70.0
    # the residual made (nearly) unusable: the movement is produced by the joints and the floor
    config = replace(default_config(muscles is not None), w_residual=1e8, w_residual_moment=1e8)
    sim = run_controlled_twin(skeleton, sketch, config, muscles=muscles)
    assert sim.completed
    r = sim.results
    keep = np.arange(0, len(r.time_s), round(config.control_rate_hz / 60))[:-1]  # ~60 Hz
    motion = Motion(r.time_s[keep], r.kinematics.names, r.kinematics.values[keep],
                    source_file="forward simulation")
    motion.subject.height_m, motion.subject.mass_kg = 1.75, 70.0
    fy = np.stack([r.grf.force_n[side][:, 1] for side in ("r", "l")], axis=1)
    if muscles is not None:
        return skeleton, motion, r
    return skeleton, motion, r.time_s, r.torque_nm, r.coordinate_names, fy, r.residual_force_n


def test_controller_recovers_torques_and_contact_forces_of_a_forward_simulation():
    skeleton, motion, t, tau, names, fy, residual = _forward_simulation()
    bw = 70.0 * 9.81
    assert fy.sum(axis=1).mean() == pytest.approx(bw, rel=0.05)  # the feet carried the body
    assert np.linalg.norm(residual, axis=1).mean() < 0.01 * bw  # physical: no outside help
    tw = run_controlled_twin(skeleton, motion)
    assert tw.completed
    r = tw.results
    inside = (r.time_s > t[0] + 0.1) & (r.time_s < t[-1] - 0.1)  # away from the filter's ends
    # upper body: determined by the kinematics; legs in double support: the split between the
    # feet is not (internal forces), so within 20 % of the peak
    for c, tol in (("lumbar_extension", 0.05), ("arm_flex_r", 0.05), ("knee_angle_r", 0.2),
                   ("hip_flexion_l", 0.2), ("ankle_angle_r", 0.2)):
        truth = np.interp(r.time_s[inside], t, tau[:, names.index(c)])
        err = r.torque(c)[inside] - truth
        assert np.sqrt(np.mean(err ** 2)) < tol * np.abs(truth).max(), c
    for j, s in enumerate(("r", "l")):
        truth = np.interp(r.time_s[inside], t, fy[:, j])
        err = r.grf.force_n[s][inside, 1] - truth
        assert np.sqrt(np.mean(err ** 2)) < 0.05 * bw, s
    assert np.linalg.norm(r.residual_force_n, axis=1).mean() < 0.02 * bw


def test_controller_plan_is_what_mujoco_simulates():
    """One QP, then one physics step: the realised accelerations are the planned ones."""
    walk = sample_walk()
    skeleton = default_skeleton(walk.subject.height_m, walk.subject.mass_kg)
    cfg = WholeBodyConfig(control_rate_hz=500.0)
    model, cref, _, _ = prepare(skeleton, walk, cfg)
    ctl = WholeBodyController(model, cref, skeleton.height_m, cfg)
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = cref.qpos[0], cref.qvel[0]
    errors = []
    for i in range(0, 100):
        data.ctrl[:] = ctl(data, i)
        planned = ctl.planned_qacc.copy()
        mujoco.mj_step(model, data)
        errors.append(np.abs(data.qacc - planned).max())
    assert ctl.failures == 0
    assert np.median(errors) < 1e-6


def test_a_foot_being_loaded_has_its_ankle_tracked_loosely(monkeypatch):
    """Weight acceptance: where the estimate's load on a foot is >= 0.5 BW and still rising 40 ms
    later, the QP weighs that foot's ankle acceleration error at ``w_joint_stance_loose``, and
    nothing else in the problem changes."""
    import kintwin.control.wholebody as wholebody

    walk = sample_walk()
    skeleton = default_skeleton(walk.subject.height_m, walk.subject.mass_kg)
    cfg = WholeBodyConfig()
    model, cref, _, _ = prepare(skeleton, walk, cfg)
    ctl = WholeBodyController(model, cref, skeleton.height_m, cfg)
    # the rule, from the estimate itself
    ids, _, side = floor.contact_spheres(model)
    side_of = dict(zip(ids, side))
    sides = np.array([side_of[g] for g in cref.sphere_geoms])
    fz = cref.sphere_force_n[cref.prior_index, :, 2]
    load = np.stack([fz[:, sides == s].sum(1) for s in (0, 1)], 1) / ctl.bw
    ahead = int(round(0.04 / model.opt.timestep))
    later = load[np.minimum(np.arange(len(load)) + ahead, len(load) - 1)]
    np.testing.assert_array_equal(ctl.accepting, (load >= 0.5) & (later >= load))
    assert ctl.accepting[:, 0].any() and ctl.accepting[:, 1].any()
    assert not ctl.accepting.all(axis=1).any()  # never both feet: one is being unloaded
    # the QP at an accepting frame of the right foot, with and without the loose ankle
    i = int(np.flatnonzero(ctl.accepting[:, 0] & ~ctl.accepting[:, 1])[0])
    i -= i % ctl.substeps
    while not ctl.accepting[i, 0]:
        i += ctl.substeps
    hessians = []
    monkeypatch.setattr(wholebody, "solve_qp", lambda H, *a, **k: (hessians.append(H.copy()), (None, False))[1])
    tight = WholeBodyController(model, cref, skeleton.height_m, replace(cfg, w_joint_stance_loose=cfg.w_joint))
    for c in (ctl, tight):
        data = mujoco.MjData(model)
        data.qpos[:], data.qvel[:] = cref.qpos[i], cref.qvel[i]
        c(data, i)
    diff = hessians[1] - hessians[0]
    ankle = model.jnt_dofadr[model.joint("ankle_angle_r").id]
    assert diff[ankle, ankle] == pytest.approx(cfg.w_joint - cfg.w_joint_stance_loose)
    diff[ankle, ankle] = 0.0
    assert np.abs(diff).max() == 0.0


def test_the_teacher_tracks_tightly_the_toes_a_trial_moves_and_its_trunk():
    """``tight_when_moved``: a loose coordinate is weighed at ``w_joint`` on the side whose
    reference moves it, and stays at ``w_joint_loose`` where the trial holds it (IK locks it).
    ``w_joint_trunk`` weighs the lumbar joints and nothing else."""
    walk = sample_walk()
    held = walk.values.copy()
    held[:, walk.names.index("mtp_angle_l")] = 0.0  # the left toes locked, as gait2392's IK does
    walk = replace(walk, values=held)
    skeleton = default_skeleton(walk.subject.height_m, walk.subject.mass_kg)
    cfg = replace(WholeBodyConfig(), tight_when_moved=("mtp_angle",))
    model, cref, _, _ = prepare(skeleton, walk, cfg)
    weight = {c: WholeBodyController(model, cref, skeleton.height_m, c).acc_weight
              for c in (cfg, WholeBodyConfig())}
    dof = {n: model.jnt_dofadr[model.joint(n).id] for n in ("mtp_angle_r", "mtp_angle_l", "subtalar_angle_r")}
    assert weight[cfg][dof["mtp_angle_r"]] == cfg.w_joint  # moved: tight
    assert weight[cfg][dof["mtp_angle_l"]] == cfg.w_joint_loose  # held: loose
    assert weight[cfg][dof["subtalar_angle_r"]] == cfg.w_joint_loose  # moved, not named: loose
    diff = weight[cfg] - weight[WholeBodyConfig()]
    assert np.flatnonzero(diff).tolist() == [dof["mtp_angle_r"]]
    trunk = WholeBodyController(model, cref, skeleton.height_m, replace(cfg, w_joint_trunk=0.3)).acc_weight
    lumbar = sorted(model.jnt_dofadr[model.joint(n).id] for n in cfg.trunk_coordinates)
    assert np.flatnonzero(trunk != weight[cfg]).tolist() == lumbar
    assert trunk[lumbar] == pytest.approx([0.3] * 3)


def test_an_unloaded_foot_is_tracked_at_the_swing_frequency():
    """``swing_joint_hz``: while the kinematics-only estimate puts no load on a foot (< 1 %BW), the
    desired accelerations of its ankle, subtalar and toes come from a PD of that natural frequency;
    the other joints, and a loaded foot's, keep ``joint_hz``. Without it nothing changes."""
    walk = sample_walk()
    skeleton = default_skeleton(walk.subject.height_m, walk.subject.mass_kg)
    cfg = replace(WholeBodyConfig(), swing_joint_hz=12.0)
    model, cref, _, _ = prepare(skeleton, walk, cfg)
    ctl = WholeBodyController(model, cref, skeleton.height_m, cfg)
    plain = WholeBodyController(model, cref, skeleton.height_m, WholeBodyConfig())
    load = cref.foot_load_n(model)[cref.prior_index] / ctl.bw
    np.testing.assert_array_equal(ctl.swinging, load < 0.01)
    swing = int(np.flatnonzero(ctl.swinging[:, 1] & ~ctl.swinging[:, 0])[len(load) // 50])
    stance = int(np.flatnonzero(~ctl.swinging[:, 1])[len(load) // 50])
    dofs = {n: model.jnt_dofadr[model.joint(n).id] for n in ("ankle_angle_l", "mtp_angle_l", "knee_angle_l")}
    for i, foot_hz in ((swing, 12.0), (stance, cfg.joint_hz)):
        for name, dof in dofs.items():
            data = mujoco.MjData(model)
            data.qpos[:], data.qvel[:] = cref.qpos[i], cref.qvel[i]
            on_reference = ctl.desired_acceleration(data, i)
            np.testing.assert_allclose(on_reference, plain.desired_acceleration(data, i))
            data.qpos[dof + 1] += 0.01  # hinges after the free joint: qpos index = dof + 1
            data.qvel[dof] += 0.1
            hz = cfg.joint_hz if name.startswith("knee") else foot_hz
            w = 2 * np.pi * hz
            change = ctl.desired_acceleration(data, i) - on_reference
            assert change[dof] == pytest.approx(-(w * w * 0.01 + 2 * w * 0.1), rel=1e-9), (name, i)
            change[dof] = 0.0
            assert np.abs(change).max() < 1e-9


# --- metrics and the CLI -----------------------------------------------------------------------
def test_analyze_with_the_controller_writes_kinetic_scores(shared_data, tmp_path):
    d = shared_data / "osim_subject01_walk"
    out = tmp_path / "qp"
    assert main(["analyze", str(d / "gait2354" / "subject01_walk1_ik.mot"), "--height", "1.803",
                 "--mass", "72.6", "--controller", "qp",
                 "--grf", str(d / "experimental" / "subject01_walk1_grf.mot"),
                 "--loads", str(d / "experimental" / "subject01_walk1_grf.xml"),
                 "--reference-id", str(d / "gait2354" / "ID_inverse_dynamics.sto"),
                 "--out", str(out)]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    m = doc["metrics"]
    assert doc["info"]["controller"] == "qp"
    for key in ("grf_vertical_rmse_pct_bw", "grf_vertical_r", "grf_vertical_rmse_pct_bw_lowpass",
                "moment_sagittal_rmse_nm_per_kg", "moment_sagittal_rmse_nm_per_kg_lowpass",
                "gait_events_matched", "gait_events_missed", "com_vertical_hf_pct_bw",
                "com_vertical_hf_reference_pct_bw", "stance_clearance", "kinetics_lowpass_hz"):
        assert key in m, key
    assert m["completed"] is True
    # physical kinetics (the policy twin of the first wave: 39 %BW, r 0.75)
    assert m["grf_vertical_rmse_pct_bw"] < 20.0 and m["grf_vertical_r"] > 0.9
    assert m["residual_force_mean_pct_bw"] < 5.0
    html = (out / "report.html").read_text()
    assert "Joint moment error vs reference" in html


def test_osim_model_runs_with_the_controller_without_mass(shared_data, tmp_path, capsys):
    """The controller twin (the default) runs an imported OpenSim model (coupled knee
    translations), mass and height from the model; the shipped policy, which does not fit it, is
    refused with a clear message."""
    d = shared_data / "osim_subject01_walk"
    out = tmp_path / "osim"
    assert main(["analyze", str(d / "gait2354" / "subject01_walk1_ik.mot"),
                 "--osim", str(d / "gait2354" / "subject01_simbody.osim"),
                 "--grf", str(d / "experimental" / "subject01_walk1_grf.mot"),
                 "--loads", str(d / "experimental" / "subject01_walk1_grf.xml"),
                 "--out", str(out)]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["info"]["controller"] == "qp" and doc["info"]["qp_failures"] == 0
    assert doc["subject"]["mass_kg"] == pytest.approx(72.6, abs=0.5)
    m = doc["metrics"]
    assert m["completed"] is True
    assert m["grf_vertical_rmse_pct_bw"] < 20.0 and m["residual_force_mean_pct_bw"] < 6.0
    assert main(["analyze", str(d / "gait2354" / "subject01_walk1_ik.mot"),
                 "--osim", str(d / "gait2354" / "subject01_simbody.osim"), "--controller", "policy",
                 "--out", str(tmp_path / "refused")]) == 2
    assert "does not fit" in capsys.readouterr().err


def test_tracking_is_lost_when_the_joints_leave_the_reference():
    """``lost_track``: standing on the reference's pelvis is not enough; a twin whose joint angles
    are more than ``MAX_JOINT_RMS_ERROR_RAD`` (RMS) from the reference's has lost it too."""
    from kintwin.twin.controlled import MAX_JOINT_RMS_ERROR_RAD, lost_track

    model = build_model(default_skeleton(1.75, 70.0))
    target = sample_walk(duration_s=0.2).to_qpos(model)[10]
    data = mujoco.MjData(model)
    data.qpos[:] = target
    assert not lost_track(data, target)
    data.qpos[7:] = target[7:] + 0.9 * MAX_JOINT_RMS_ERROR_RAD
    assert not lost_track(data, target)
    data.qpos[7:] = target[7:] + 1.1 * MAX_JOINT_RMS_ERROR_RAD
    assert lost_track(data, target)
    data.qpos[:] = target
    data.qpos[0] += 0.3  # the pelvis 30 cm away
    assert lost_track(data, target)
