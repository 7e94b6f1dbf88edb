"""PPO fine-tuning of a distilled policy (learn/finetune.py, learn/finetune_env.py): the PPO
options it needs (fixed std, frozen normaliser), the env's figures against MuJoCo's own, and a
short fine-tuning run end to end."""

from __future__ import annotations

import dataclasses

import jax
import mujoco
import numpy as np
import pytest

from kintwin.learn.distill import DistillConfig, DistilledPolicy, PolicyDriver, distill, teaching
from kintwin.learn.finetune import FinetuneConfig, finetune
from kintwin.learn.finetune_env import ControlledTrackingEnv
from kintwin.learn.ppo import PPOConfig, PPOTrainer, init_train_state
from kintwin.learn.train import set_action_std
from kintwin.models.anthropometry import default_skeleton
from kintwin.motion.sample import sample_walk
from kintwin.sim.tracking import obs_size

from test_ppo import TINY, PointTracking


@pytest.fixture(scope="module")
def trial():
    walk = sample_walk(duration_s=0.8)
    return default_skeleton(walk.subject.height_m, walk.subject.mass_kg), walk


def _arrays(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize("fixed", [True, False])
def test_fixed_std_and_frozen_normaliser_do_not_move(fixed):
    cfg = dataclasses.replace(TINY, learn_std=not fixed, update_obs_norm=not fixed)
    env = PointTracking(16)
    trainer = PPOTrainer.for_env(env, cfg)
    trainer.iterate(env, 10_000)  # the normaliser has seen data (it moves when not frozen)
    set_action_std(trainer, np.array([0.05]))
    before = trainer.state
    for _ in range(3):
        stats = trainer.iterate(env, 10_000)
    after = trainer.state
    same_std = np.array_equal(np.asarray(after.policy.log_std), np.asarray(before.policy.log_std))
    same_norm = all(np.array_equal(a, b) for a, b in zip(_arrays(after.obs_norm), _arrays(before.obs_norm)))
    assert same_std == fixed and same_norm == fixed
    if fixed:  # the std in use is the one set, to float32 precision
        assert stats["action_std"] == pytest.approx(0.05, rel=1e-6)
    moved = [np.max(np.abs(a - b)) for a, b in zip(_arrays(after.policy.net), _arrays(before.policy.net))]
    assert max(moved) > 1e-4  # the mean still learns


def test_value_lr_scale_moves_the_critic_faster_not_the_policy():
    env = PointTracking(16)
    runs = {}
    for scale in (1.0, 10.0):
        trainer = PPOTrainer.for_env(env, dataclasses.replace(TINY, value_lr_scale=scale, learning_rate=1e-4))
        start = trainer.state
        trainer.iterate(env, 10_000)
        runs[scale] = [sum(float(np.sum(np.abs(a - b))) for a, b in zip(_arrays(getattr(trainer.state, k)),
                                                                      _arrays(getattr(start, k))))
                       for k in ("policy", "value")]
    # about the same policy step (not exactly: the gradient is clipped by its norm over both)
    assert runs[10.0][0] == pytest.approx(runs[1.0][0], rel=0.05)
    assert runs[10.0][1] > 2 * runs[1.0][1]  # measured 2.8x (Adam steps x 10, PopArt's head
    # rescaling the same)


def _zero_policy(sim) -> DistilledPolicy:
    """An untrained policy with an exactly zero mean: the twin runs on the feed-forward alone."""
    model = sim.model
    from kintwin.learn.distill import DISTILL_TRACKING

    cfg = PPOConfig(policy_hidden=(32, 32), policy_out_gain=0.0)
    state = init_train_state(cfg, obs_size(model.nq - 7, DISTILL_TRACKING, model.na, model.nu), model.nu)
    return DistilledPolicy.from_state(state)


def test_env_figures_are_the_simulation_s(trial):
    sims = teaching([trial])
    sim = sims[0]
    policy = _zero_policy(sim)
    env = ControlledTrackingEnv(sims, policy, 3, seed=1)
    obs = env.reset(0)
    driver = PolicyDriver(policy, sim.model, sim.cref, sim.subject)
    for e in range(3):  # the batched observation is the policy driver's
        np.testing.assert_allclose(obs[e], driver.observe(env.datas[e], int(env.frame[e]))[0], atol=1e-12)
    # replay env 0's step by hand from its exact integration state
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    saved = np.zeros(mujoco.mj_stateSize(sim.model, spec))
    mujoco.mj_getState(sim.model, env.datas[0], saved, spec)
    frame = int(env.frame[0])
    _, reward, done, info = env.step(np.zeros((3, env.action_size)))
    d = mujoco.MjData(sim.model)
    mujoco.mj_setState(sim.model, d, saved, spec)
    ctrl = driver.controls(d, driver.feedforward(frame))
    d.ctrl[:] = ctrl
    force = np.zeros((2, 3))
    for _ in range(sim.teacher.substeps):
        mujoco.mj_step(sim.model, d)
        for k in range(d.ncon):  # the floor's force on each foot from MuJoCo's contacts
            c = d.contact[k]
            f6 = np.zeros(6)
            mujoco.mj_contactForce(sim.model, d, k, f6)
            geom = c.geom2 if c.geom1 == 0 else c.geom1
            side = 0 if sim.model.geom(geom).name.endswith("_r") else 1
            force[side] += c.frame.reshape(3, 3).T @ f6[:3] * (1 if c.geom1 == 0 else -1)
    force /= sim.teacher.substeps
    np.testing.assert_allclose(env.datas[0].qpos, d.qpos, atol=1e-12)
    np.testing.assert_allclose(info["foot_force_n"][0], force, atol=1e-6 * sim.subject[1] * 9.81)
    bw = sim.subject[1] * 9.81
    res = env.residuals[:3]
    assert info["residual_force_pct_bw"][0] == pytest.approx(
        100 * np.linalg.norm(ctrl[res] * env.gear[res]) / bw, rel=1e-9)
    terms = {k: v for k, v in info.items() if k.startswith(("r_", "p_"))}
    np.testing.assert_allclose(reward, sum(terms.values()), atol=1e-12)
    assert np.all(terms["p_torque_rate"] == 0.0)  # the first step of an episode
    assert np.all(terms["p_reserve"] == 0.0)  # a torque model has no reserves
    cfg = env.cfg
    for k, w in (("r_joint", cfg.w_joint), ("r_grf", cfg.w_grf), ("r_residual", cfg.w_residual)):
        assert np.all((terms[k] > 0) & (terms[k] <= w))
    assert not done.any()


def test_short_finetuning_keeps_std_and_normaliser(trial):
    policy, _ = distill([trial], DistillConfig(iterations=1, rollouts_per_iteration=2, epochs=2,
                                               policy_hidden=(64, 64)))
    cfg = FinetuneConfig(num_envs=4, num_steps=16, num_minibatches=2, eval_episodes=2, eval_every=1,
                         max_iterations=3, value_warmup_iterations=1, time_budget_s=600)
    tuned, rows = finetune(policy, [trial], cfg)
    assert [int(r["iteration"]) for r in rows] == [0, 1, 2, 3]
    assert all(np.isfinite(r["eval_score"]) and 0 < r["eval_completed_fraction"] <= 1 for r in rows)
    configured = np.full(policy.action_size, cfg.motor_std)
    configured[-6:] = cfg.residual_std  # the six pelvis residuals come last
    for r in rows[1:]:
        assert r["action_std"] == pytest.approx(configured.mean(), rel=1e-5)
    assert rows[1]["approx_kl"] == 0.0  # the value warm-up leaves the policy
    # the returned policy: the distilled one's normaliser and std, the best evaluation's mean
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(tuned.obs_norm), _arrays(policy.obs_norm)))
    np.testing.assert_array_equal(np.asarray(tuned.network.log_std), np.asarray(policy.network.log_std))
    best = min(rows, key=lambda r: r["eval_score"])
    same = all(np.array_equal(a, b) for a, b in zip(_arrays(tuned.network.net), _arrays(policy.network.net)))
    assert same == (best is rows[0])


def test_reserve_penalty_is_the_reserve_torque_applied(trial):
    """Muscle-driven fine-tuning pays for reserves: the penalty is w x mean((reserve N*m /
    scale)^2) of the torques the reserve motors applied; an action on one reserve raises it, and
    the evaluation's figure of the hip, knee and ankle reserves with it."""
    from kintwin.models.muscles import reserve_actuators
    from kintwin.twin.controlled import MuscleDrive

    skeleton, walk = trial
    sims = teaching([(skeleton, walk.slice_time(0.0, 0.4))], muscles=MuscleDrive())
    model = sims[0].model
    env = ControlledTrackingEnv(sims, _zero_policy(sims[0]), 2, seed=1)
    reserves = reserve_actuators(model)
    knee = [a for a in reserves if model.actuator(a).name == "reserve_knee_angle_r"][0]
    gear = abs(model.actuator_gear[knee, 0])
    nj = model.nq - 7, model.nv - 6
    env.reset_to([40, 40], [(np.zeros(nj[0]), np.zeros(nj[1]))] * 2)  # both at the same state
    action = np.zeros((2, env.action_size))
    action[1, knee] = 20.0 / gear  # 20 N*m more on the right knee's reserve in env 1
    _, _, _, info = env.step(action)
    ctrl = np.stack([d.ctrl for d in env.datas])
    # joint torque of each reserve motor (actuator force x gear) in the last physics substep
    applied = np.stack([d.actuator_force[reserves] for d in env.datas]) * model.actuator_gear[reserves, 0]
    np.testing.assert_allclose(applied, ctrl[:, reserves] * model.actuator_gear[reserves, 0], atol=1e-9)
    assert applied[1, list(reserves).index(knee)] - applied[0, list(reserves).index(knee)] == pytest.approx(20.0, abs=1e-6)
    cfg = env.cfg
    expected = -cfg.w_reserve * np.mean((applied / cfg.reserve_scale_nm) ** 2, axis=1)
    np.testing.assert_allclose(info["p_reserve"], expected, rtol=1e-9)
    assert info["p_reserve"][1] < info["p_reserve"][0] - cfg.w_reserve * (18.0 / 5.0) ** 2 / len(reserves)
    # the evaluation's reserve figure: mean |applied| over the 6 hip, knee and ankle flexion reserves
    sagittal = [list(reserves).index(a) for a in reserves
                if model.actuator(a).name[len("reserve_"):-2] in ("hip_flexion", "knee_angle", "ankle_angle")]
    assert len(sagittal) == 6
    np.testing.assert_allclose(info["sagittal_reserve_nm"], np.abs(applied[:, sagittal]).mean(axis=1), rtol=1e-9)
    assert info["sagittal_reserve_nm"][1] > info["sagittal_reserve_nm"][0] + 18.0 / 6
    # the torque-rate penalty is on the motors (reserves, arms, toes), not on muscle excitations
    from kintwin.models.muscles import muscle_actuators

    assert np.isin(reserves, env.motors).all() and not np.isin(muscle_actuators(model), env.motors).any()

