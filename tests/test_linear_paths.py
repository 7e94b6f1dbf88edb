"""The muscle model stepped with fixed tendons refreshed from its spatial paths
(``models/linear_paths.py``): MuJoCo's muscle lengths, moment arms and forces are the spatial
paths' exactly at the refresh pose, and the lengths stay right to first order around it."""

from __future__ import annotations

import warnings

import mujoco
import numpy as np
import pytest

from kintwin.models.anthropometry import default_skeleton
from kintwin.models.linear_paths import LinearPaths
from kintwin.motion.sample import sample_walk
from kintwin.twin.controlled import CONTROLLER_SIM_OPTIONS, MuscleDrive


@pytest.fixture(scope="module")
def models():
    walk = sample_walk()
    skeleton = default_skeleton(walk.subject.height_m, walk.subject.mass_kg)
    spec, _ = MuscleDrive().spec(skeleton, CONTROLLER_SIM_OPTIONS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spatial = spec.compile()
        paths = LinearPaths(spec, spatial)
        poses = walk.to_qpos(spatial, warn=False)
    return spatial, paths, poses


def _state(model, qpos, qvel, act):
    d = mujoco.MjData(model)
    d.qpos[:], d.qvel[:], d.act[:] = qpos, qvel, act
    mujoco.mj_forward(model, d)
    moment = np.zeros((model.nu, model.nv))
    mujoco.mju_sparse2dense(moment, d.actuator_moment, d.moment_rownnz, d.moment_rowadr, d.moment_colind)
    return d, moment


def test_fixed_tendons_are_the_spatial_paths_at_the_refresh_pose(models):
    spatial, paths, poses = models
    fast = paths.model
    assert fast.ntendon == spatial.ntendon == 92 and fast.nu == spatial.nu
    assert np.all(fast.wrap_type == int(mujoco.mjtWrap.mjWRAP_JOINT))  # no spatial tendon left
    mus = np.flatnonzero(spatial.actuator_trntype == mujoco.mjtTrn.mjTRN_TENDON)
    rng = np.random.default_rng(0)
    for q in poses[::40]:
        qvel = rng.normal(0.0, 1.0, spatial.nv)
        act = rng.uniform(0.0, 1.0, spatial.na)
        paths.refresh(q)
        ds, ms = _state(spatial, q, qvel, act)
        df, mf = _state(fast, q, qvel, act)
        np.testing.assert_allclose(mf[mus], ms[mus], atol=1e-12)  # moment arms (m)
        np.testing.assert_allclose(df.actuator_force[mus], ds.actuator_force[mus], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(df.qfrc_actuator, ds.qfrc_actuator, rtol=1e-9, atol=1e-7)


def test_lengths_stay_right_to_first_order_within_a_control_step(models):
    """A pose moved on by a control step's worth of joint motion (0.02 rad): the fixed tendons'
    muscle lengths follow the spatial paths' change to within a few per cent of it (second-order
    error), and linearising half a step ahead (``ahead_s``) is exact there."""
    spatial, paths, poses = models
    fast = paths.model
    mus = np.flatnonzero(spatial.actuator_trntype == mujoco.mjtTrn.mjTRN_TENDON)
    rng = np.random.default_rng(1)
    zero_v, act = np.zeros(spatial.nv), np.zeros(spatial.na)
    changes, errors = [], []
    for q0 in poses[5::40]:
        q1 = q0.copy()
        q1[7:] += rng.normal(0.0, 0.02, spatial.nq - 7)
        paths.refresh(q0)
        d0, _ = _state(spatial, q0, zero_v, act)
        ds, _ = _state(spatial, q1, zero_v, act)
        df, _ = _state(fast, q1, zero_v, act)
        offset = spatial.actuator_lengthrange[mus, 0] - fast.actuator_lengthrange[mus, 0]
        changes.append(np.abs(ds.actuator_length[mus] - d0.actuator_length[mus]))
        errors.append(np.abs(df.actuator_length[mus] + offset - ds.actuator_length[mus]))
        # linearised at the pose half a step ahead: exact there
        v = np.zeros(spatial.nv)
        v[6:] = (q1[7:] - q0[7:]) / 0.004
        paths.refresh(q0, v, 0.004)
        df, mf = _state(fast, q1, zero_v, act)
        _, ms = _state(spatial, q1, zero_v, act)
        np.testing.assert_allclose(mf[mus], ms[mus], atol=1e-12)
    changes, errors = np.concatenate(changes), np.concatenate(errors)
    assert changes.max() > 1e-3  # m: the muscles did change length
    assert errors.max() < 0.05 * changes.max()
    assert np.median(errors / np.maximum(changes, 1e-6)) < 0.02
