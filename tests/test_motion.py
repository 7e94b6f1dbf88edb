"""Motion <-> MuJoCo state conversions, conventions and kinematic replays of real trials."""

import mujoco
import numpy as np
import pytest

from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import build_model
from kintwin.motion import frames
from kintwin.motion.kinematics_io import read_motion, write_motion
from kintwin.motion.motion import Motion
from kintwin.motion.sample import sample_walk
from kintwin.motion.storage import read_table, write_table


@pytest.fixture(scope="module")
def model():
    return build_model(default_skeleton(1.75, 70.0))


@pytest.fixture(scope="module")
def walk():
    return sample_walk()


def _rot(axis, a):
    c, s = np.cos(a), np.sin(a)
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def test_qpos_round_trip(model, walk):
    qpos = walk.to_qpos(model)
    back = Motion.from_qpos(model, walk.time_s, qpos).reordered(walk.names)
    np.testing.assert_allclose(back.values, walk.values, atol=1e-9)


def test_mot_file_round_trip_legacy(tmp_path, model, walk):
    """.mot (gait2392 convention, degrees) -> Motion -> qpos -> Motion -> .mot is exact."""
    src = tmp_path / "legacy.mot"
    write_motion(src, walk, convention="legacy")
    raw = read_table(src)
    assert raw.in_degrees and np.median(raw.data[:, raw.labels.index("knee_angle_r")]) < 0
    m = read_motion(src)
    assert m.source_convention == "legacy"
    assert m["knee_angle_r"].max() > np.deg2rad(50)  # canonical: flexion positive
    again = Motion.from_qpos(model, m.time_s, m.to_qpos(model)).reordered(m.names)
    again.source_convention = m.source_convention
    out = tmp_path / "again.mot"
    write_motion(out, again)
    np.testing.assert_allclose(read_table(out).data, raw.data, atol=1e-9)


def test_full_path_radian_labels_are_canonical(tmp_path, walk):
    labels = [f"/jointset/j/{n}/value" for n in walk.names] + ["/jointset/walker_knee_r/knee_angle_r_beta/value",
                                                              "/jointset/j/hip_flexion_r/speed"]
    data = np.c_[walk.values, np.zeros((walk.n_frames, 2))]
    write_table(tmp_path / "raj.sto", labels, walk.time_s, data, in_degrees=False)
    m = read_motion(tmp_path / "raj.sto")
    assert m.source_convention == "canonical" and "knee_angle_r_beta" not in m.names
    np.testing.assert_allclose(m.values, walk.values, atol=1e-9)


def test_explicit_convention_override(tmp_path, walk):
    write_motion(tmp_path / "w.mot", walk, convention="canonical")
    forced = read_motion(tmp_path / "w.mot", convention="legacy")
    np.testing.assert_allclose(forced["knee_angle_r"], -walk["knee_angle_r"], atol=1e-9)
    with pytest.raises(ValueError, match="convention"):
        read_motion(tmp_path / "w.mot", convention="gait2392")


def test_unknown_and_missing_coordinates(tmp_path, model, walk):
    write_table(tmp_path / "bad.mot", ["knee_angle_r", "hip_flexon_r"], walk.time_s,
                np.zeros((walk.n_frames, 2)), in_degrees=True)
    with pytest.raises(ValueError, match="hip_flexon_r"):
        read_motion(tmp_path / "bad.mot")
    partial = walk.reordered(["pelvis_ty", "knee_angle_r"])
    with pytest.warns(UserWarning, match="hip_flexion_r"):
        qpos = partial.to_qpos(model)
    assert qpos.shape == (walk.n_frames, model.nq)


def test_velocities_match_mujoco_finite_differences(model, walk):
    """qvel/qacc agree with MuJoCo's own differentiation of qpos (root included)."""
    fine = walk.slice_time(0.3, 0.8).resampled(2000.0)
    qpos = fine.to_qpos(model)
    qvel, qacc = fine.velocities(model)
    dt = fine.time_s[1] - fine.time_s[0]
    fd = np.zeros((fine.n_frames - 2, model.nv))
    for k in range(1, fine.n_frames - 1):
        mujoco.mj_differentiatePos(model, fd[k - 1], 2 * dt, qpos[k - 1], qpos[k + 1])
    scale = np.abs(qvel).max(axis=0) + 1e-3
    assert (np.abs(fd - qvel[1:-1]).max(axis=0) / scale).max() < 1e-3
    fd_acc = (qvel[2:] - qvel[:-2]) / (2 * dt)
    scale = np.abs(qacc).max(axis=0) + 1e-3
    assert (np.abs(fd_acc - qacc[1:-1])[10:-10].max(axis=0) / scale).max() < 1e-2


def test_body_angular_velocity_formula():
    rng = np.random.default_rng(0)
    ang, rate = rng.uniform(-1, 1, 3), rng.uniform(-2, 2, 3)
    h = 1e-6
    r0 = frames.pelvis_rotation(*ang)
    r1 = frames.pelvis_rotation(*(ang + h * rate))
    skew = r0.T @ (r1 - r0) / h
    omega = np.array([skew[2, 1], skew[0, 2], skew[1, 0]])
    np.testing.assert_allclose(frames.body_angular_velocity(ang, rate), omega, atol=1e-5)


def test_pelvis_rotations_equal_scipy():
    # scipy's Rotation is the oracle (kintwin writes these out: scipy.spatial is slow to import)
    from scipy.spatial.transform import Rotation

    ang = np.random.default_rng(1).uniform(-1.4, 1.4, (50, 3))
    expected = Rotation.from_euler("x", 90, degrees=True) * Rotation.from_euler("ZXY", ang)
    quat = frames.pelvis_quat_mujoco(*ang.T)
    np.testing.assert_allclose(np.roll(quat, -1, axis=-1), expected.as_quat(), atol=1e-12)
    np.testing.assert_allclose(frames.pelvis_rotation(*ang.T),
                               Rotation.from_euler("ZXY", ang).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(frames.pelvis_angles_from_quat(quat), ang, atol=1e-12)
    np.testing.assert_allclose(frames.pelvis_angles_from_quat(-3 * quat), ang, atol=1e-12)


def test_mirror_is_an_involution_and_swaps_sides(walk):
    mir = walk.mirrored()
    np.testing.assert_allclose(mir["knee_angle_l"], walk["knee_angle_r"])
    np.testing.assert_allclose(mir["pelvis_list"], -walk["pelvis_list"])
    np.testing.assert_allclose(mir.mirrored().values, walk.values)


def test_sample_walk_is_plausible(model, walk):
    """Adult walking speed; each foot stands on the floor through its stance (62 % of the cycle),
    both through the double supports (2 x 12 %), none sinks, and the standing foot barely slides."""
    from kintwin.sim.floor import contact_spheres, sphere_bottoms

    speed = (walk["pelvis_tx"][-1] - walk["pelvis_tx"][0]) / (walk.time_s[-1] - walk.time_s[0])
    assert 0.9 < speed < 1.5  # 1.0 m/s at 109 steps/min
    geoms, _, side = contact_spheres(model)
    bottoms = sphere_bottoms(model, walk.to_qpos(model), geoms)
    lowest = np.stack([bottoms[:, side == s, 2].min(axis=1) for s in (0, 1)], axis=1)
    on_floor = np.abs(lowest) < 0.005
    assert np.all((0.55 < on_floor.mean(axis=0)) & (on_floor.mean(axis=0) < 0.70)), on_floor.mean(axis=0)
    assert 0.15 < np.all(on_floor, axis=1).mean() < 0.35  # the sample of 74c323e: 0.0
    assert bottoms[:, :, 2].min() > -0.008
    k = np.argmin(bottoms[:, :, 2], axis=1)
    slide = np.abs(bottoms[np.arange(1, len(k)), k[1:], 0] - bottoms[np.arange(len(k) - 1), k[1:], 0])
    assert np.median(slide) < 0.002  # m per 10 ms frame, i.e. < 0.2 m/s vs 1.0 m/s walking


def test_sample_walk_centre_of_mass_asks_for_walking_forces(model, walk):
    """m (g + a_COM) over a cycle stays in the range of adult walking ground reactions (%BW):
    vertical 70-160, forward and sideways within +-15 (now 77-153, -11..+13, +-8; the sample of
    74c323e: 51-154, -34..+22, +-42)."""
    from kintwin.sim.reference import centre_of_mass

    com = centre_of_mass(model, walk.to_qpos(model))
    dt = walk.time_s[1] - walk.time_s[0]
    force = 100 * np.gradient(np.gradient(com, dt, axis=0), dt, axis=0)[2:112] / 9.81
    force[:, 2] += 100.0
    assert 70 < force[:, 2].min() and force[:, 2].max() < 160, (force[:, 2].min(), force[:, 2].max())
    assert np.abs(force[:, :2]).max() < 15, np.abs(force[:, :2]).max(axis=0)



def test_generated_step_up_is_smooth_and_stands_on_its_support(model):
    """``sample_moves.step_up``: no joint moves more than 5 deg in a 10 ms frame (measured 2.9;
    25 before its second, smoothed solve), m (g + a_COM) stays within 80-120 %BW vertically
    (89-113; -666..+582 before) and 15 %BW horizontally, and each foot, while flat on the floor
    or the step, has its sole within 1 mm of it (0.1 mm; 18 mm before)."""
    from kintwin.motion.sample_moves import FOOT_ROLL, SOLVED, step_up
    from kintwin.sim.floor import contact_spheres
    from kintwin.sim.reference import centre_of_mass

    motion = step_up(step_m=0.15)
    step = max(np.abs(np.diff(np.rad2deg(motion[j]))).max() for j in SOLVED + FOOT_ROLL)
    assert step < 5.0, step
    qpos = motion.to_qpos(model, warn=False)
    dt = motion.time_s[1] - motion.time_s[0]
    force = 100 * np.gradient(np.gradient(centre_of_mass(model, qpos), dt, axis=0), dt, axis=0)[2:-2] / 9.81
    assert 80 < 100 + force[:, 2].min() and 100 + force[:, 2].max() < 120
    assert np.abs(force[:, :2]).max() < 15
    geoms, names, _ = contact_spheres(model)
    data = mujoco.MjData(model)
    # (start, end) of each foot's stances: the right on the floor, then on the step; the left on
    # the floor, then on the step
    stances = {"r": ((0.0, 1.35, 0.0), (2.55, 6.0, 0.15)), "l": ((0.0, 3.55, 0.0), (4.75, 6.0, 0.15))}
    for k, t in enumerate(motion.time_s):
        data.qpos[:] = qpos[k]
        mujoco.mj_kinematics(model, data)
        for side, spans in stances.items():
            sole = [data.geom_xpos[g, 2] - model.geom_size[g, 0] for g, n in zip(geoms, names)
                    if n.endswith("_" + side) and not n.startswith("toe")]
            for a, b, level in spans:
                if a <= t <= b:
                    assert np.abs(np.asarray(sole) - level).max() < 0.001, (side, t, sole)


def test_sample_walk_posture_and_stride(model, walk):
    """A generated walk may hold the pelvis at another tilt (the hips and trunk take the
    difference: the thighs and the trunk keep their pitch in the world) and take longer strides
    at a higher cadence (faster walking); its feet still stand on the floor without sinking."""
    from kintwin.motion.sample import GaitShape
    from kintwin.sim.floor import contact_spheres, sphere_bottoms

    def pitch_deg(motion, body):  # the body's long axis (y) from vertical in the sagittal plane
        data, out = mujoco.MjData(model), []
        for q in motion.to_qpos(model):
            data.qpos[:] = q
            mujoco.mj_kinematics(model, data)
            y = data.xmat[model.body(body).id].reshape(3, 3)[:, 1]
            out.append(np.degrees(np.arctan2(y[0], y[2])))
        return np.asarray(out)

    tilted = sample_walk(shape=GaitShape(pelvis_tilt=-15.0))
    assert np.allclose(np.degrees(tilted["pelvis_tilt"]), -15.0)
    assert np.allclose(np.degrees(tilted["lumbar_extension"] - walk["lumbar_extension"]), 12.0)
    assert 10.0 < np.degrees(np.mean(tilted["hip_flexion_r"] - walk["hip_flexion_r"])) < 14.0
    for body in ("femur_r", "femur_l", "torso"):
        assert np.abs(pitch_deg(tilted, body) - pitch_deg(walk, body)).max() < 2.0, body

    fast = sample_walk(cycle_s=0.9, shape=GaitShape(stride=1.1))
    speed = [(m["pelvis_tx"][-1] - m["pelvis_tx"][0]) / (m.time_s[-1] - m.time_s[0]) for m in (walk, fast)]
    assert 1.2 < speed[1] < 1.4 and speed[1] > 1.25 * speed[0], speed
    assert np.degrees(fast["knee_angle_r"]).min() > -3.0  # not hyperextended
    geoms = contact_spheres(model)[0]
    for m in (tilted, fast):
        assert sphere_bottoms(model, m.to_qpos(model), geoms)[:, :, 2].min() > -0.008



def test_capture_errors_are_smooth_of_their_size_and_lock_the_toes():
    """``with_capture_errors``: per angle a smooth error of the RMS of ``CAPTURE_ERROR_DEG`` (the
    trunk's and the arms' about a constant offset), the toes locked, the pelvis translations kept;
    the same seed, the same errors."""
    from kintwin.motion.sample import CAPTURE_ERROR_DEG, with_capture_errors

    walk = sample_walk(duration_s=4.0)
    noisy = with_capture_errors(walk, seed=3)
    np.testing.assert_array_equal(noisy.values, with_capture_errors(walk, seed=3).values)
    assert not np.array_equal(noisy.values, with_capture_errors(walk, seed=4).values)
    err = np.degrees(noisy.values - walk.values)
    rms = {n: float(np.std(err[:, j])) for j, n in enumerate(walk.names)}
    for n in ("hip_flexion_r", "knee_angle_l", "lumbar_bending", "neck_rotation", "pelvis_list"):
        size = CAPTURE_ERROR_DEG[next(g for g in CAPTURE_ERROR_DEG if n.startswith(g))]
        assert 0.4 * size < rms[n] < 1.6 * size, (n, rms[n])
    angles = [j for j, n in enumerate(walk.names) if not n.startswith(("mtp", "pelvis_t"))]
    power = np.abs(np.fft.rfft(err[:, angles] - err[:, angles].mean(axis=0), axis=0)) ** 2
    hz = np.fft.rfftfreq(len(err), walk.time_s[1] - walk.time_s[0])
    assert power[hz > 3.0].sum() < 0.02 * power.sum()  # smooth: within the band, 0.3-2 Hz
    assert np.all(noisy["mtp_angle_r"] == 0) and np.all(noisy["mtp_angle_l"] == 0)
    for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
        np.testing.assert_array_equal(noisy[n], walk[n])
    armless = with_capture_errors(walk, seed=3, arms_at_zero=True)  # an IK without arm markers
    arms = [j for j, n in enumerate(walk.names) if n.startswith(("arm_", "elbow_", "pro_sup_", "wrist_"))]
    assert len(arms) == 14 and np.all(armless.values[:, arms] == 0)  # both arms, shoulder to wrist
    others = [j for j in range(len(walk.names)) if j not in arms]
    np.testing.assert_array_equal(armless.values[:, others], noisy.values[:, others])


def test_sample_walk_on_a_body_of_its_own_proportions(walk):
    """A walk generated for a body with its own proportions (femurs and feet 1.2x, tibiae 0.95x
    the uniform scaling, as a marker IK may scale them) is made consistent on that body: its stance
    feet stand on that body's floor without sinking, and its pelvis rides higher than the uniform
    body's by about what the longer thighs add."""
    from kintwin.models.anthropometry import GENERIC_HEIGHT_M
    from kintwin.sim.floor import contact_spheres, sphere_bottoms

    s0 = 1.75 / GENERIC_HEIGHT_M
    scales = {f"{b}_{side}": k * s0 for side in "rl"
              for b, k in (("femur", 1.2), ("tibia", 0.95), ("talus", 1.2), ("calcn", 1.2), ("toes", 1.2))}
    long = sample_walk(segment_scales=scales)
    body = build_model(default_skeleton(1.75, 70.0, scales))
    bottoms = sphere_bottoms(body, long.to_qpos(body), contact_spheres(body)[0])[:, :, 2]
    assert bottoms.min() > -0.008
    lowest = bottoms.min(axis=1)  # over the body's spheres, per frame: a foot on the floor
    assert np.all(lowest < 0.01), lowest.max()
    rise_m = float(np.mean(long["pelvis_ty"]) - np.mean(walk["pelvis_ty"]))
    assert 0.03 < rise_m < 0.10, rise_m  # femur ~0.39 m x 0.2, less the shorter tibiae
    assert np.abs(np.degrees(long["knee_angle_r"] - walk["knee_angle_r"])).max() > 1.0

# --- real trials ------------------------------------------------------------------------------

SUBJECT01 = "osim_subject01_walk/gait2354/subject01_walk1_ik.mot"
HAMNER = "hamner_run/IK/subject02_running_ik.mot"


def test_pelvis_orientation_matches_opensim_definition(shared_data):
    """MuJoCo pelvis orientation == Rz(tilt) Rx(list) Ry(rotation) built from elementary
    rotations, after the Y-up -> Z-up frame change."""
    m = read_motion(shared_data / SUBJECT01)
    model = build_model(default_skeleton(1.803, 72.6))
    data = mujoco.MjData(model)
    qpos = m.to_qpos(model, warn=False)
    y_up_to_z_up = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    for k in range(0, m.n_frames, 7):
        data.qpos[:] = qpos[k]
        mujoco.mj_kinematics(model, data)
        expected = y_up_to_z_up @ _rot("z", m["pelvis_tilt"][k]) @ _rot("x", m["pelvis_list"][k]) \
            @ _rot("y", m["pelvis_rotation"][k])
        np.testing.assert_allclose(data.body("pelvis").xmat.reshape(3, 3), expected, atol=1e-12)
        np.testing.assert_allclose(data.body("pelvis").xpos,
                                   y_up_to_z_up @ [m["pelvis_tx"][k], m["pelvis_ty"][k], m["pelvis_tz"][k]],
                                   atol=1e-12)


def _foot_heights(motion, model):
    data = mujoco.MjData(model)
    qpos = motion.to_qpos(model, warn=False)
    out = {"r": [], "l": []}
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        for s in out:
            out[s].append(min(data.geom_xpos[g][2] - model.geom_size[g][0]
                              for g in range(model.ngeom)
                              if model.geom_contype[g] and model.geom(g).name.endswith("_" + s)))
    return {s: np.array(v) for s, v in out.items()}


@pytest.mark.parametrize("trial,osim,height,mass,stance", [
    (SUBJECT01, "osim_subject01_walk/gait2354/subject01_simbody.osim", 1.803, 72.6,
     {"r": [(0.62, 1.41)], "l": [(0.4, 0.79), (1.25, 1.6)]}),
    (HAMNER, "hamner_run/models/subject02_scaled.osim", 1.83, 65.9,
     {"r": [(1.10, 1.35)], "l": [(0.75, 1.01)]}),
])
def test_replay_keeps_stance_foot_on_floor(shared_data, trial, osim, height, mass, stance):
    """Kinematic replay on the built-in model scaled to the subject (segment scale factors from
    the subject's scaled OpenSim model): stance foot within 3 cm of the floor (median over the
    force-plate stance window; single frames reach 3.5-3.8 cm while the foot rolls, our foot
    geometry being simpler than OpenSim's), and clearly higher in swing."""
    from kintwin.models.osim import osim_segment_scales

    m = read_motion(shared_data / trial)
    model = build_model(default_skeleton(height, mass, osim_segment_scales(shared_data / osim)))
    heights = _foot_heights(m, model)
    for side, windows in stance.items():
        on = np.zeros(m.n_frames, bool)
        for a, b in windows:
            on |= (m.time_s >= a) & (m.time_s <= b)
        z = heights[side]
        assert abs(np.median(z[on])) < 0.03, f"{side} stance median height {np.median(z[on]):.3f} m"
        assert np.percentile(z[~on], 90) > np.median(z[on]) + 0.04


@pytest.mark.parametrize("trial", [SUBJECT01, HAMNER])
def test_real_mot_round_trip(shared_data, tmp_path, model, trial):
    """An OpenSim IK file -> Motion -> qpos -> Motion -> .mot reproduces every coordinate of the
    file to 1e-9 (degrees and metres, in the file's own convention)."""
    src = shared_data / trial
    raw = read_table(src)
    m = read_motion(src)
    again = Motion.from_qpos(model, m.time_s, m.to_qpos(model, warn=False)).reordered(m.names)
    again.source_convention = m.source_convention
    out = write_motion(tmp_path / "again.mot", again)
    back = read_table(out)
    for name in m.names:
        np.testing.assert_allclose(back.data[:, back.labels.index(name)],
                                   raw.data[:, raw.labels.index(name)], atol=1e-9, err_msg=name)


def test_knee_flexion_sign_is_the_same_for_both_sources(shared_data):
    walk = read_motion(shared_data / SUBJECT01)
    run = read_motion(shared_data / HAMNER)
    assert walk.source_convention == run.source_convention == "legacy"
    for m in (walk, run):
        assert m["knee_angle_r"].max() > np.deg2rad(40)
        assert m["knee_angle_r"].min() > np.deg2rad(-10)


def test_treadmill_only_when_the_body_stays_in_place(model, walk):
    """``ground_alignment``: a walk held in place (feet sliding back at the belt speed) is a
    treadmill; the same walk progressing overground with stance feet that also slide 0.25 m/s
    (marker IK on osim_c3d_walking2 does) is not."""
    from kintwin.sim.reference import ground_alignment

    t = walk.time_s - walk.time_s[0]
    speed = (walk["pelvis_tx"][-1] - walk["pelvis_tx"][0]) / t[-1]
    treadmill, sliding = walk.reordered(walk.names), walk.reordered(walk.names)
    treadmill.values, sliding.values = walk.values.copy(), walk.values.copy()
    tx = walk.names.index("pelvis_tx")
    treadmill.values[:, tx] -= speed * t
    sliding.values[:, tx] += 0.25 * t
    rate = walk.rate_hz
    _, belt = ground_alignment(model, treadmill.to_qpos(model), rate)
    assert belt[0] == pytest.approx(-speed, rel=0.1)
    _, belt = ground_alignment(model, sliding.to_qpos(model), rate)
    assert np.all(belt == 0)
    _, belt = ground_alignment(model, sliding.to_qpos(model), rate, min_belt_speed=0.2)
    assert np.all(belt == 0)
