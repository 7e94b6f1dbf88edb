"""Behaviour cloning: the fit of a policy's mean to labelled actions, and the data of the
warm start of a PPO tracking policy.

* :func:`behavior_clone` -- given observations (N, obs) and target actions (N, act), fit the
  policy *mean* by minibatch MSE with Adam. The observation normaliser first absorbs the
  observations (optional). The learned log-std (the exploration std), the value network and
  PPO's optimiser state are left unchanged. Used by the warm start below and by DAgger
  (``learn/distill.py``).
* The warm start of ``kintwin train`` (:func:`bc_warm_start`): a data set over every reference
  trial (:func:`bc_dataset`, options :class:`BCOptions`) of reference states and noisy copies of
  them (:func:`_perturbed_states`) labelled with the inverse-dynamics action
  (:func:`reference_actions`) plus a PD correction back to the reference
  (:func:`_feedback_actions`); the observation normaliser also absorbs states the cloned policy
  visits (:func:`rollout_observations`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from kintwin.learn.ppo import PPOConfig, PPOTrainer, TrainState, _policy_step


def behavior_clone(state: TrainState, config: PPOConfig, observations, actions, *,
                   epochs: int = 50, batch_size: int = 256, learning_rate: float = 1e-3,
                   update_normalizer: bool = True, clip_targets: bool = True,
                   final_lr_fraction: float = 1.0, weights=None,
                   seed: int = 0) -> tuple[TrainState, float]:
    """Fit ``state.policy`` mean to ``actions`` at ``observations``. The learning rate is
    constant, or decays over the fit (cosine) to ``final_lr_fraction`` of itself.

    ``clip_targets`` clips targets to [-1, 1] (the env clips actions anyway, so larger targets
    only distort the fit). ``weights`` (act,): each action dimension's weight in the squared
    error (None: all 1; e.g. :func:`spread_weights`). Returns ``(new_state, final_mse)`` with the
    (unweighted) MSE over the whole data set (mean over samples and action dimensions) after
    training.
    """
    obs = jnp.asarray(observations, jnp.float32)
    targets = jnp.asarray(actions, jnp.float32)
    if obs.ndim != 2 or targets.ndim != 2 or obs.shape[0] != targets.shape[0]:
        raise ValueError(f"need observations (N, obs) and actions (N, act); got {obs.shape}, "
                         f"{targets.shape}")
    if (obs.shape[1], targets.shape[1]) != (state.obs_size, state.action_size):
        raise ValueError("data sizes do not match the policy")
    if clip_targets:
        targets = jnp.clip(targets, -1.0, 1.0)
    obs_norm = state.obs_norm.update(obs) if update_normalizer and config.normalize_obs \
        else state.obs_norm
    w = jnp.ones(targets.shape[1], jnp.float32) if weights is None else jnp.asarray(weights, jnp.float32)
    policy, loss = _fit(state.policy, obs_norm.normalize(obs), targets, w, jax.random.PRNGKey(seed),
                        epochs, min(batch_size, obs.shape[0]), learning_rate, final_lr_fraction)
    return eqx.tree_at(lambda s: (s.policy, s.obs_norm), state, (policy, obs_norm)), float(loss)


@eqx.filter_jit
def _fit(policy, obs, targets, weights, key, epochs: int, batch_size: int, learning_rate: float,
         final_lr_fraction: float = 1.0):
    params, static = eqx.partition(policy, eqx.is_array)
    n = obs.shape[0]
    nb = n // batch_size
    tx = optax.adam(learning_rate if final_lr_fraction == 1.0 else optax.cosine_decay_schedule(
        learning_rate, epochs * nb, alpha=final_lr_fraction))

    def loss_fn(p, o, t, w=weights):
        return jnp.mean(w * (eqx.combine(p, static).mean(o) - t) ** 2)

    def step(carry, batch):
        p, opt_state = carry
        grads = jax.grad(loss_fn)(p, *batch)
        updates, opt_state = tx.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), None

    def epoch(carry, k):
        perm = jax.random.permutation(k, n)[: nb * batch_size].reshape(nb, batch_size)
        return jax.lax.scan(step, carry, (obs[perm], targets[perm]))

    (params, _), _ = jax.lax.scan(epoch, (params, tx.init(params)), jax.random.split(key, epochs))
    return eqx.combine(params, static), loss_fn(params, obs, targets, 1.0)


def spread_weights(actions, floor: float = 0.01) -> np.ndarray:
    """Per-dimension weights (act,) that fit every action dimension to the same fraction of its
    own spread: ``1 / (sd^2 + floor^2)``, scaled to mean 1 (``floor``, action units, keeps a
    nearly constant dimension from dominating). Measured on DAgger's labels of subject01 (torque
    twin, action = torque / peak torque): with a uniform squared error the RMS fit error was 9-29
    % of each dimension's spread, the smallest (arm rotation, pronation, wrists: sd ~0.01) 15-22
    %; with these weights those 7-12 %, the hips and knees 20-26 % instead of 15-21 %, and the
    policy alone tracked the trial 6-17 % closer (BENCHMARKS, issue 16)."""
    sd = np.asarray(actions, float).std(0)
    w = 1.0 / (sd ** 2 + floor ** 2)
    return w / w.mean()


@dataclass(frozen=True)
class BCOptions:
    """Behaviour-cloning data set: reference states plus noisy copies, labelled with the inverse
    dynamics (feed-forward) action plus a PD correction back to the reference.

    Why noise and feedback: a policy cloned on the reference states alone sees deviations it
    never saw (its observation normaliser has near-zero spread on the tracking-error inputs) and
    extrapolates wildly; cloned on perturbed states with a stabilising correction it starts as
    an inverse-dynamics feed-forward + low-gain PD tracking controller, which PPO then improves.

    Joint PD: ``kp = I w^2``, ``kd = 2 I w`` with ``I = 1 / dof_invweight0`` (the joint's
    effective inertia at the neutral pose, the smallest it can be, so the loop stays stable at
    the control rate) and ``w = 2 pi joint_feedback_hz``. Pelvis residual PD: the same with the
    total mass / the root's effective rotational inertia and ``residual_feedback_hz``
    (0 disables).
    """

    copies: int = 16  #: noisy copies per reference frame (plus the clean frame)
    joint_angle_std: float = 0.08  #: rad
    joint_velocity_std: float = 0.8  #: rad/s
    pelvis_position_std: float = 0.02  #: m
    pelvis_rotation_std: float = 0.04  #: rad
    pelvis_velocity_std: float = 0.15  #: m/s
    pelvis_angular_velocity_std: float = 0.4  #: rad/s
    joint_feedback_hz: float = 1.5
    residual_feedback_hz: float = 1.5
    seed: int = 0


def reference_actions(env, trial: int, loads=None) -> np.ndarray:
    """(T-1, nu) normalised actions that reproduce ``trial``'s reference by inverse dynamics
    (``kintwin.sim.feedforward``; ``loads``: world-frame ``FootLoad``s at the control frames, else
    contacts estimated from the kinematics), less the env's own feed-forward (so that the env
    applies the rest): joint motors from the ID torques, residuals from the ID pelvis residual
    / (gear x residual scale); clipped to [-1, 1]."""
    from ..sim.feedforward import reference_torques, torque_to_action

    ref = env.reference
    tr = ref.trials[trial]
    tau, wrench = reference_torques(env.torque_model, tr.qpos, tr.qvel, tr.rate_hz,
                                    float(env.subject[0, 0]), loads)
    n_m = env.n_motors
    act = np.zeros((tr.n_frames, env.action_size))
    act[:, :n_m] = torque_to_action(env.config, env.motor_gear, tau[:, :n_m], tr.qpos, tr.qvel)
    act[:, :n_m] -= env.ff_action[ref.offsets[trial]:ref.offsets[trial] + tr.n_frames]
    if len(env.residual_ids):
        act[:, env.residual_ids] = wrench / (env.residual_gear * env.config.residual_action_scale)
    return np.clip(act[:-1], -1.0, 1.0)


def _perturbed_states(env, qpos, qvel, bc: BCOptions, rng):
    """Noisy copies (copies x T, ...) of reference states (joint angles kept in range)."""
    from scipy.spatial.transform import Rotation

    n = bc.copies * len(qpos)
    qp = np.tile(qpos, (bc.copies, 1))
    qv = np.tile(qvel, (bc.copies, 1))
    nj = qp.shape[1] - 7
    qp[:, 7:] += rng.normal(0, bc.joint_angle_std, (n, nj))
    lim = env.model.jnt_range[1:]
    qp[:, 7:] = np.clip(qp[:, 7:], lim[:, 0], lim[:, 1])
    qp[:, 0:3] += rng.normal(0, bc.pelvis_position_std, (n, 3))
    rot = Rotation.from_rotvec(rng.normal(0, bc.pelvis_rotation_std, (n, 3))) * \
        Rotation.from_quat(np.roll(qp[:, 3:7], -1, axis=1))
    qp[:, 3:7] = np.roll(rot.as_quat(), 1, axis=1)
    qv[:, 6:] += rng.normal(0, bc.joint_velocity_std, (n, nj))
    qv[:, 0:3] += rng.normal(0, bc.pelvis_velocity_std, (n, 3))
    qv[:, 3:6] += rng.normal(0, bc.pelvis_angular_velocity_std, (n, 3))
    return qp, qv


def _feedback_actions(env, qpos, qvel, ref_qpos, ref_qvel, bc: BCOptions) -> np.ndarray:
    """PD correction (normalised actions) from states back to their reference states."""
    m = env.model
    out = np.zeros((len(qpos), m.nu))
    w = 2 * np.pi * bc.joint_feedback_hz
    inertia = 1.0 / m.dof_invweight0[6:]
    tau = inertia * (w * w * (ref_qpos[:, 7:] - qpos[:, 7:]) + 2 * w * (ref_qvel[:, 6:] - qvel[:, 6:]))
    if env.config.action_mode == "torque":  # the pd servo already pulls back to the reference
        out[:, : env.n_motors] = tau[:, : env.n_motors] / env.motor_gear
    if bc.residual_feedback_hz > 0 and len(env.residual_ids):
        from ..sim.tracking import residual_feedback

        # the pelvis servo at the BC frequency, less the env's own servo (the env adds that)
        wrench = sum(sign * residual_feedback(dataclasses.replace(env.config, residual_feedback_hz=hz),
                                              qpos, qvel, ref_qpos, ref_qvel, env.mass_kg,
                                              env.root_rot_inertia)
                     for sign, hz in ((1.0, bc.residual_feedback_hz),
                                      (-1.0, env.config.residual_feedback_hz)))
        out[:, env.residual_ids] = wrench / (env.residual_gear * env.config.residual_action_scale)
    return out


def bc_dataset(env, bc: BCOptions | None = None, loads_per_trial=None) -> tuple[np.ndarray, np.ndarray]:
    """(observations, actions) over every trial of the env's reference (see :class:`BCOptions`);
    every subject's trials for a ``ConcatEnv``."""
    import mujoco

    from ..sim import tracking

    if hasattr(env, "envs"):
        if loads_per_trial is not None:
            raise ValueError("loads_per_trial: one subject only")
        parts = [bc_dataset(e, bc) for e in env.envs]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    bc = bc or BCOptions()
    rng = np.random.default_rng(bc.seed)
    ref, cfg = env.reference, env.config
    data = mujoco.MjData(env.model)
    spheres = env.physics.spheres
    obs_all, act_all = [], []
    for k in range(ref.n_trials):
        ff = reference_actions(env, k, None if loads_per_trial is None else loads_per_trial[k])
        T = int(ref.lengths[k])
        rows = ref.rows(np.full(T - 1, k), np.arange(T - 1))
        copies = 1 + max(bc.copies, 0)
        qp, qv = _perturbed_states(env, ref.qpos[rows], ref.qvel[rows],
                                   dataclasses.replace(bc, copies=copies), rng)
        qp[: T - 1], qv[: T - 1] = ref.qpos[rows], ref.qvel[rows]  # first copy: the clean states
        nxt = rows + 1  # the feedback aims at the frame the step should reach
        rq, rv = np.tile(ref.qpos[nxt], (copies, 1)), np.tile(ref.qvel[nxt], (copies, 1))
        sphere_z = np.zeros((len(qp), len(spheres)))
        for i, q in enumerate(qp):
            data.qpos[:] = q
            mujoco.mj_kinematics(env.model, data)
            sphere_z[i] = data.geom_xpos[spheres, 2]
        contact = tracking.contact_flags(sphere_z, env.sphere_radius, env.sphere_side,
                                         cfg.contact_threshold_m)
        fut = ref.rows(np.full((T - 1, 1), k), np.arange(T - 1)[:, None] + np.asarray(cfg.future_frames))
        fut = np.tile(fut, (copies, 1))
        subject = np.tile(env.subject[:1], (len(qp), 1)) if cfg.include_subject else None
        obs_all.append(tracking.observation(cfg, qp, qv, contact, ref.qpos[fut], ref.qvel[fut], subject))
        act_all.append(np.clip(np.tile(ff, (copies, 1)) + _feedback_actions(env, qp, qv, rq, rv, bc),
                               -1.0, 1.0))
    return np.concatenate(obs_all), np.concatenate(act_all)


def rollout_observations(trainer: PPOTrainer, env, steps: int, seed: int = 0) -> np.ndarray:
    """(steps x num_envs, obs) observations visited by the trainer's current stochastic policy."""
    key = jax.random.PRNGKey(seed)
    obs = env.reset(seed)
    out = []
    for _ in range(steps):
        _, a, key = _policy_step(trainer.state.policy, trainer.state.obs_norm,
                                 jnp.asarray(obs, jnp.float32), key)
        out.append(obs)
        obs = env.step(np.asarray(a))[0]
    return np.concatenate(out)


def bc_warm_start(trainer: PPOTrainer, env, epochs: int = 200, learning_rate: float = 1e-3,
                  seed: int = 0, bc: BCOptions | None = None, loads_per_trial=None,
                  prime_steps: int = 32, rounds: int = 2) -> float:
    """Behaviour-clone the policy mean on inverse-dynamics actions; returns the final MSE.

    The observation normaliser must match what PPO's first rollouts will see, not only the BC
    data: fitted on the (near-reference) BC states alone, its spread on the tracking-error
    inputs is tiny, the first rollouts then give inputs clipped at +-10, very large hidden
    activations, and the first PPO steps move the policy mean by many standard deviations
    (KL >> 1, ratio overflow). So the normaliser absorbs the BC data plus ``prime_steps`` x
    num_envs observations visited by the current policy, and this is repeated for ``rounds``
    rounds (fit, roll the cloned policy out, refit: the cloned policy's own state distribution).
    """
    obs, act = bc_dataset(env, bc, loads_per_trial)
    mse = math.nan
    base = trainer.state.obs_norm
    visited = []
    for r in range(max(1, rounds)):
        if trainer.config.normalize_obs:
            norm = base.update(obs)
            if prime_steps > 0:
                visited.append(rollout_observations(trainer, env, prime_steps, seed + r))
                norm = norm.update(np.concatenate(visited))
            trainer.state = eqx.tree_at(lambda s: s.obs_norm, trainer.state, norm)
        trainer.state, mse = behavior_clone(
            trainer.state, trainer.config, obs, act, epochs=epochs if r == 0 else max(1, epochs // 2),
            batch_size=min(256, len(obs)), learning_rate=learning_rate, update_normalizer=False,
            seed=seed + r)
    return mse


__all__ = ["BCOptions", "bc_dataset", "bc_warm_start", "behavior_clone", "reference_actions",
           "rollout_observations", "spread_weights"]
