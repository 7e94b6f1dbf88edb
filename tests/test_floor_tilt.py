"""The capture frame: a tilted one (``sim/floor.py``, "Tilted floor") measured on the stances,
levelled before the twin and ``kintwin id``, left alone where it is not a tilt; the walking
direction in it changes nothing."""

import json

import numpy as np
import pytest

from kintwin.cli import main
from kintwin.dynamics.contact_estimation import estimate_contacts
from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import build_model
from kintwin.motion.kinematics_io import write_motion
from kintwin.motion.sample import sample_walk
from kintwin.report.html import warnings_for
from kintwin.sim import floor
from kintwin.twin.controlled import run_controlled_twin


def residual(res, weight_n: float = 70.0 * 9.81) -> float:
    """Mean pelvis residual force of results ``res`` (%BW)."""
    return 100 * np.mean(np.linalg.norm(res.residual_force_n, axis=1)) / weight_n


def _pitched(motion, deg: float):
    """The motion seen from a capture frame pitched by ``deg`` about the lateral (MuJoCo y) axis:
    walking along x, the stances rise by tan(deg) per metre."""
    a = np.radians(deg)
    return motion.world_rotated(np.array([np.cos(a / 2), 0.0, np.sin(a / 2), 0.0]), np.zeros(3))


def test_world_rotation_round_trip_moves_only_the_pelvis():
    walk = sample_walk()
    q = np.array([np.cos(0.2), np.sin(0.2) * 0.6, 0.0, np.sin(0.2) * 0.8])
    about = np.array([0.3, -0.2, 0.1])
    there = walk.world_rotated(q, about)
    back = there.world_rotated(q * (1, -1, -1, -1), about)
    np.testing.assert_allclose(back.values, walk.values, atol=1e-9)
    joints = [i for i, n in enumerate(walk.names) if not n.startswith("pelvis_")]
    np.testing.assert_array_equal(there.values[:, joints], walk.values[:, joints])
    # every body point moves rigidly: the distance between the two heels is unchanged
    model = build_model(default_skeleton(1.75, 70.0))
    a, b = (floor.sphere_bottoms(model, m.to_qpos(model, warn=False)) for m in (walk, there))
    np.testing.assert_allclose(np.linalg.norm(a[:, 0] - a[:, 4], axis=1),
                               np.linalg.norm(b[:, 0] - b[:, 4], axis=1), atol=1e-9)


def test_a_tilted_capture_frame_is_measured_and_levelled():
    """The sample walk seen from a frame pitched by 2 deg: its stances rise 7.5 cm over its
    2.2 m; the slope is measured within 0.05 deg and the levelled trial's stances are level again.
    The walk as generated, a roll (not measurable from feet 0.2 m apart) and a too-short trial
    are left alone, each saying why."""
    walk = sample_walk()
    model = build_model(default_skeleton(1.75, 70.0))
    _, tilt0 = floor.level_floor(model, walk)
    assert not tilt0.levelled and tilt0.tilt_deg < 0.05 and "level" in tilt0.why
    for deg in (2.0, -3.0):
        levelled, tilt = floor.level_floor(model, _pitched(walk, deg))
        assert tilt.levelled and tilt.tilt_deg == pytest.approx(abs(deg), abs=0.05)
        assert tilt.stances >= 4 and tilt.span_m > 2.0
        again = floor.level_floor(model, levelled)[1]
        assert not again.levelled and again.tilt_deg < 0.05
    a = np.radians(2.0)
    rolled = walk.world_rotated(np.array([np.cos(a / 2), np.sin(a / 2), 0.0, 0.0]), np.zeros(3))
    assert not floor.level_floor(model, rolled)[1].levelled
    short = floor.level_floor(model, _pitched(walk, 2.0).slice_time(0.0, 0.8))[1]
    assert not short.levelled and "shorter than 1 s" in short.why


def test_steps_are_not_taken_for_a_tilted_frame():
    """A walk climbing 10 cm per step (stances on a line rising 10 deg) is too steep to be a
    tilted capture frame: left as it is (the twin builds the steps, sim/terrain.py)."""
    walk = sample_walk()
    stairs = walk.reordered(walk.names)
    stairs.values = stairs.values.copy()
    t = walk.time_s - walk.time_s[0]
    stairs.values[:, stairs.names.index("pelvis_ty")] += 0.10 * np.floor(t / 0.55)
    model = build_model(default_skeleton(1.75, 70.0))
    tilt = floor.level_floor(model, stairs)[1]
    assert not tilt.levelled and tilt.tilt_deg > floor.MAX_LEVELLED_TILT_DEG


def test_the_twin_and_inverse_dynamics_on_a_tilted_capture_frame(tmp_path):
    """Pitched by 2 deg, the sample walk made the controller twin fall (residual 79 %BW); levelled,
    the twin and ``kintwin id`` give the untilted walk's figures: residual force within 0.3 and
    0.05 %BW. The report says the trial was levelled."""
    walk = sample_walk()
    skeleton = default_skeleton(1.75, 70.0)
    tilted = _pitched(walk, 2.0)
    flat, tw = (run_controlled_twin(skeleton, m) for m in (walk, tilted))
    assert flat.completed and tw.completed
    assert not flat.info["floor_tilt"]["levelled"] and tw.info["floor_tilt"]["levelled"]
    assert residual(tw.results) == pytest.approx(residual(flat.results), abs=0.3)
    model = build_model(skeleton)
    ids = [estimate_contacts(m, model, mass_kg=70.0, height_m=1.75) for m in (walk, tilted)]
    assert ids[1].info["floor_tilt"]["tilt_deg"] == pytest.approx(2.0, abs=0.05)
    assert residual(ids[1]) == pytest.approx(residual(ids[0]), abs=0.05)
    path = write_motion(tmp_path / "tilted.mot", tilted)
    assert main(["analyze", str(path), "--height", "1.75", "--mass", "70",
                 "--out", str(tmp_path / "out")]) in (0, 3)
    info = json.loads((tmp_path / "out" / "metrics.json").read_text())["info"]
    assert info["floor_tilt"]["levelled"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "slope of 2.0 deg in the capture frame" in html


def test_the_report_says_what_was_done_with_a_slope():
    levelled = {"levelled": True, "tilt_deg": 1.5, "span_m": 3.0}
    ramp = {"levelled": False, "tilt_deg": 8.0, "span_m": 3.0}
    level = {"levelled": False, "tilt_deg": 0.2, "span_m": 3.0}
    texts = {k: [t for lvl, t in warnings_for({}, floor_tilt=v) if "slope" in t or "rising" in t]
             for k, v in (("levelled", levelled), ("ramp", ramp), ("level", level))}
    assert len(texts["levelled"]) == 1 and "levelled" in texts["levelled"][0]
    assert len(texts["ramp"]) == 1 and "ramp" in texts["ramp"][0]
    assert texts["level"] == []


def test_the_walking_direction_changes_nothing():
    """The sample walk turned about the vertical (walking along -x, along y): the same twin and
    ``kintwin id`` figures. (A 180 deg turn once gave pelvis angles jumping by 2 pi between
    frames: residual 170-600 %BW.)"""
    walk = sample_walk(duration_s=1.2)
    skeleton = default_skeleton(1.75, 70.0)
    model = build_model(skeleton)

    base_id = residual(estimate_contacts(walk, model, mass_kg=70.0, height_m=1.75))
    base_twin = residual(run_controlled_twin(skeleton, walk).results)
    for deg in (180.0, 90.0):
        a = np.radians(deg)
        turned = walk.world_rotated(np.array([np.cos(a / 2), 0.0, 0.0, np.sin(a / 2)]), np.zeros(3))
        assert np.abs(np.diff(turned["pelvis_rotation"])).max() < 0.1  # continuous
        assert residual(estimate_contacts(turned, model, mass_kg=70.0, height_m=1.75)) == pytest.approx(base_id, abs=1e-3)
    twin = run_controlled_twin(skeleton, turned)
    assert twin.completed and residual(twin.results) == pytest.approx(base_twin, abs=0.05)
