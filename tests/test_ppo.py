"""PPO, GAE, normaliser, checkpoint and behaviour-cloning tests on a tiny numpy VecEnv."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kintwin.learn.bc import behavior_clone, spread_weights
from kintwin.learn.checkpoint import (CheckpointError, load_checkpoint, load_trainer,
                                      save_checkpoint, save_trainer)
from kintwin.learn.normalize import PopArtStats, RunningMeanStd, popart_rescale
from kintwin.learn.ppo import (PPOConfig, PPOTrainer, compute_gae, init_train_state)
from kintwin.sim.interface import SnapshotVecEnv, VecEnv


class PointTracking:
    """Batch of 1-D velocity-controlled points that must track a sinusoidal target.

    obs = [x - g, target velocity, amplitude]; action = velocity command in [-1, 1] (x 3 m/s);
    reward exp(-err^2); episodes of 50 steps (truncated), terminated early when |err| > 2.
    Reset randomness comes from (seed, env, episode index), so get/set_state is exact.
    """

    dt, vmax, horizon = 0.1, 3.0, 50
    obs_size, action_size = 3, 1

    def __init__(self, num_envs: int = 16):
        self.num_envs = num_envs
        n = num_envs
        self.x, self.amp, self.omega, self.phase = (np.zeros(n) for _ in range(4))
        self.t = np.zeros(n, np.int64)
        self.episode = np.zeros(n, np.int64)
        self.seed = 0

    def _target(self, t):
        arg = self.omega * self.dt * t + self.phase
        return self.amp * np.sin(arg), self.amp * self.omega * np.cos(arg)

    def _obs(self):
        g, gdot = self._target(self.t)
        return np.stack([self.x - g, gdot, self.amp], axis=-1)

    def _reset_envs(self, idx):
        for i in idx:
            rng = np.random.default_rng([self.seed, i, self.episode[i]])
            self.amp[i], self.omega[i] = rng.uniform(0.5, 1.5), rng.uniform(1.0, 2.0)
            self.phase[i] = rng.uniform(0.0, 2 * np.pi)
            self.x[i] = self.amp[i] * np.sin(self.phase[i]) + rng.uniform(-0.5, 0.5)
            self.t[i] = 0
            self.episode[i] += 1

    def reset(self, seed: int) -> np.ndarray:
        self.seed = seed
        self.episode[:] = 0
        self._reset_envs(range(self.num_envs))
        return self._obs()

    def step(self, action):
        a = np.clip(np.asarray(action, np.float64)[:, 0], -1.0, 1.0)
        self.x = self.x + self.dt * self.vmax * a
        self.t = self.t + 1
        err = self.x - self._target(self.t)[0]
        reward = np.exp(-(err**2))
        terminated = np.abs(err) > 2.0
        truncated = (self.t >= self.horizon) & ~terminated
        done = terminated | truncated
        terminal_obs = self._obs()
        self._reset_envs(np.flatnonzero(done))
        info = {"truncated": truncated, "terminal_obs": terminal_obs,
                "tracking_error": np.abs(err)}
        return self._obs(), reward, done, info

    def get_state(self):
        return {"x": self.x.copy(), "amp": self.amp.copy(), "omega": self.omega.copy(),
                "phase": self.phase.copy(), "t": self.t.copy(), "episode": self.episode.copy(),
                "seed": np.asarray(self.seed)}

    def set_state(self, s):
        for k in ("x", "amp", "omega", "phase", "t", "episode"):
            setattr(self, k, np.array(s[k]))
        self.seed = int(s["seed"])


TINY = PPOConfig(num_steps=32, gamma=0.95, epochs=4, num_minibatches=4, learning_rate=3e-3,
                 lr_schedule="linear", schedule_env_steps=40 * 32 * 16,
                 policy_hidden=(32, 32), value_hidden=(32, 32), entropy_coef=0.0, seed=3)


class JaxPointTracking(PointTracking):
    """The same env returning JAX arrays (stands in for an MJX back end)."""

    def reset(self, seed):
        return jnp.asarray(super().reset(seed), jnp.float32)

    def step(self, action):
        assert isinstance(action, jax.Array)
        obs, reward, done, info = super().step(action)
        return (jnp.asarray(obs, jnp.float32), jnp.asarray(reward, jnp.float32),
                jnp.asarray(done), {k: jnp.asarray(v) for k, v in info.items()})


def _leaves(state):
    return jax.tree_util.tree_leaves(state)


def _assert_same_state(a, b):
    la, lb = _leaves(a), _leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_env_satisfies_protocol():
    env = PointTracking(4)
    assert isinstance(env, VecEnv) and isinstance(env, SnapshotVecEnv)


def test_training_improves_return():
    env, eval_env = PointTracking(16), PointTracking(64)
    trainer = PPOTrainer.for_env(env, TINY)
    before = trainer.evaluate(eval_env)["episode_return"]
    history = []
    trainer.train(env, 25 * TINY.num_steps * env.num_envs, history.append)
    after = trainer.evaluate(eval_env)["episode_return"]

    assert len(history) == 25 and history[-1]["env_steps"] == 25 * 32 * 16
    for key in ("episode_return", "episode_length", "policy_loss", "value_loss", "approx_kl",
                "clip_fraction", "steps_per_s", "tracking_error", "entropy"):
        assert math.isfinite(history[-1][key]), key
    # The untrained (mean ~0) policy only tracks by chance: ~24 of a possible 50.
    assert after > before + 15.0, (before, after)
    assert after > 45.0
    assert history[-1]["tracking_error"] < 0.5 * history[0]["tracking_error"]


def test_resume_is_bit_identical(tmp_path):
    per_iter = TINY.num_steps * 16
    k, m = 3, 2
    full = PPOTrainer.for_env(env := PointTracking(16), TINY)
    full.train(env, (k + m) * per_iter)

    first = PPOTrainer.for_env(env1 := PointTracking(16), TINY)
    first.train(env1, k * per_iter)
    path = save_trainer(tmp_path / "ckpt.npz", first, env1, metadata={"note": "k iters"})

    env2 = PointTracking(16)  # a fresh process would build a fresh env
    resumed, meta = load_trainer(path, env2)
    assert meta == {"note": "k iters"}
    assert resumed.env_steps == k * per_iter and int(resumed.state.iteration) == k
    _assert_same_state(resumed.state, first.state)
    resumed.train(env2, (k + m) * per_iter)

    assert resumed.env_steps == full.env_steps
    _assert_same_state(resumed.state, full.state)


def test_same_seed_same_params_and_jax_env():
    """Same seed + same env -> identical params, also when the env returns JAX arrays."""
    steps = 2 * TINY.num_steps * 16
    runs = []
    for env, seed in ((PointTracking(16), 3), (JaxPointTracking(16), 3), (PointTracking(16), 4)):
        trainer = PPOTrainer.for_env(env, dataclasses.replace(TINY, seed=seed))
        trainer.train(env, steps)
        runs.append(trainer.state)
    _assert_same_state(runs[0], runs[1])
    assert not np.array_equal(np.asarray(runs[0].policy.mean(jnp.ones(3))),
                              np.asarray(runs[2].policy.mean(jnp.ones(3))))


def test_value_warmup_trains_only_the_critic_first():
    env = PointTracking(16)
    cfg = dataclasses.replace(TINY, value_warmup_iterations=2, lr_schedule="adaptive")
    trainer = PPOTrainer.for_env(env, cfg)
    start = trainer.state
    trainer.train(env, 2 * TINY.num_steps * 16)
    warm = trainer.state
    _assert_same_state(warm.policy, start.policy)  # the actor has not moved
    assert float(warm.learning_rate) == float(start.learning_rate)  # nor the adaptive rate
    changed = [not np.array_equal(np.asarray(a), np.asarray(b))
               for a, b in zip(_leaves(warm.value), _leaves(start.value))]
    assert any(changed)  # the critic has
    trainer.train(env, 3 * TINY.num_steps * 16)  # then both train
    assert not np.array_equal(np.asarray(trainer.state.policy.mean(jnp.ones(3))),
                              np.asarray(warm.policy.mean(jnp.ones(3))))


def test_anchor_holds_the_policy_near_its_start():
    """``anchor_kl_coef`` with ``PPOTrainer(anchor=...)``: the KL to the starting policy is
    penalised, so the same training moves the mean far less from where it started."""
    obs = jnp.asarray(np.random.default_rng(0).normal(size=(256, 3)), jnp.float32)
    moved = {}
    for coef in (0.0, 100.0):
        env = PointTracking(16)
        cfg = dataclasses.replace(TINY, anchor_kl_coef=coef)
        start = init_train_state(cfg, env.obs_size, env.action_size)
        trainer = PPOTrainer(cfg, env.obs_size, env.action_size, state=start, anchor=start.policy)
        history = []
        trainer.train(env, 5 * TINY.num_steps * 16, history.append)
        a0 = jax.vmap(start.policy.mean)(obs)
        a1 = jax.vmap(trainer.state.policy.mean)(obs)
        moved[coef] = float(jnp.sqrt(jnp.mean((a1 - a0) ** 2)))
        assert ("anchor_kl" in history[-1]) == (coef > 0)
    assert moved[100.0] < 0.3 * moved[0.0], moved


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)
    state = init_train_state(TINY, 3, 1)
    good = save_checkpoint(tmp_path / "good.npz", state, TINY, {"a": 1})
    loaded = load_checkpoint(good)
    assert loaded.config == TINY and loaded.metadata == {"a": 1}
    _assert_same_state(loaded.state, state)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(truncated)


def test_a_policy_is_read_from_a_checkpoint_without_jax(tmp_path):
    """``learn/policy.read_weights`` picks the policy's arrays out of the saved leaves by their
    place: every leaf of the saved state is distinct, so a wrong place cannot pass; its network
    and normaliser are the saved state's bit for bit; and reading imports no JAX."""
    import subprocess
    import sys

    from kintwin.learn.policy import Weights, read_weights

    cfg = dataclasses.replace(TINY, policy_hidden=(16, 8), value_hidden=(8,), obs_clip=7.0)
    state = init_train_state(cfg, 6, 4)
    leaves, treedef = jax.tree_util.tree_flatten(state)
    rng = np.random.default_rng(0)
    leaves = [jnp.asarray(rng.normal(size=x.shape), x.dtype) if jnp.issubdtype(x.dtype, jnp.floating)
              else x for x in leaves]
    state = jax.tree_util.tree_unflatten(treedef, leaves)
    path = save_checkpoint(tmp_path / "p.npz", state, cfg, {"kind": "test"})
    weights, meta = read_weights(path)
    want = Weights.of(state.policy, state.obs_norm)
    assert meta == {"kind": "test"} and weights.activation == want.activation and weights.obs_clip == 7.0
    for name in ("log_std", "obs_mean", "obs_var", "obs_count"):
        np.testing.assert_array_equal(getattr(weights, name), getattr(want, name), err_msg=name)
    for (w, b), (w0, b0) in zip(weights.layers, want.layers, strict=True):
        np.testing.assert_array_equal(w, w0)
        np.testing.assert_array_equal(b, b0)
    network, norm = weights.modules()  # back to JAX, as training takes it
    for a, b in zip(jax.tree_util.tree_leaves((network, norm)),
                    jax.tree_util.tree_leaves((state.policy, state.obs_norm)), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert norm.clip == state.obs_norm.clip
    probe = (f"import sys\nfrom kintwin.learn.policy import Policy\np = Policy.read({str(path)!r})\n"
             "print(p.obs_size, p.action_size, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["6", "4", "False"]
    other = save_checkpoint(tmp_path / "other.npz", state, dataclasses.replace(cfg, policy_hidden=(16,)))
    with pytest.raises(CheckpointError, match="do not make a policy"):
        read_weights(other)  # a header that does not describe its arrays


def test_gae_matches_closed_form():
    g, lam = 0.9, 0.8
    r = np.array([1.0, 2.0, 3.0])
    v = np.array([0.5, 1.5, 2.5])
    v_last, v_term = 4.0, 10.0  # value after the rollout; value of the terminal obs at t=1
    # Three envs (columns): no episode end; terminated at t=1; truncated at t=1.
    dones = np.array([[0, 0, 0], [0, 1, 1], [0, 0, 0]], bool)
    trunc = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]], bool)
    rewards, values = np.repeat(r[:, None], 3, 1), np.repeat(v[:, None], 3, 1)
    term_values = np.where(trunc, v_term, -99.0)  # only used where truncated
    adv, ret = compute_gae(jnp.asarray(rewards), jnp.asarray(values), jnp.full(3, v_last),
                           jnp.asarray(dones), jnp.asarray(trunc), jnp.asarray(term_values), g, lam)

    d = [r[0] + g * v[1] - v[0], r[1] + g * v[2] - v[1], r[2] + g * v_last - v[2]]
    a_none = [d[0] + g * lam * d[1] + (g * lam) ** 2 * d[2], d[1] + g * lam * d[2], d[2]]
    d1_term = r[1] - v[1]  # no bootstrap after a termination
    a_term = [d[0] + g * lam * d1_term, d1_term, d[2]]
    d1_trunc = r[1] + g * v_term - v[1]  # bootstrap from the terminal obs, but do not cross
    a_trunc = [d[0] + g * lam * d1_trunc, d1_trunc, d[2]]
    expected = np.array([a_none, a_term, a_trunc]).T
    np.testing.assert_allclose(np.asarray(adv), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ret), expected + values, rtol=1e-6)


def test_normalizer_matches_numpy():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, (n, 5)) * np.arange(1, 6) for n in (7, 100, 1, 33)]
    norm = RunningMeanStd.create(5)
    np.testing.assert_array_equal(np.asarray(norm.normalize(jnp.ones(5))), np.ones(5))
    for b in batches:
        norm = norm.update(jnp.asarray(b))
    data = np.concatenate(batches)
    np.testing.assert_allclose(np.asarray(norm.mean), data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(norm.std), data.std(0), rtol=1e-5)
    assert float(norm.count) == len(data)
    x = data[:3] + np.array([0, 0, 0, 0, 1e3])  # last feature far out -> clipped to 10
    z = np.asarray(norm.normalize(jnp.asarray(x)))
    np.testing.assert_allclose(z[:, :4], ((x - data.mean(0)) / data.std(0))[:, :4], rtol=1e-4)
    np.testing.assert_array_equal(z[:, 4], 10.0)


def test_popart_preserves_value_outputs():
    import equinox as eqx

    head = eqx.nn.Linear(4, 1, key=jax.random.PRNGKey(0))
    old = PopArtStats.create().update(jnp.array([1.0, 3.0, 5.0]), 0.5)
    new = old.update(jnp.array([20.0, 40.0]), 0.5)
    h = jax.random.normal(jax.random.PRNGKey(1), (4,))
    out_old = old.denormalize(head(h))
    out_new = new.denormalize(popart_rescale(head, old, new)(h))
    np.testing.assert_allclose(np.asarray(out_new), np.asarray(out_old), rtol=1e-5)
    assert float(old.mean) == pytest.approx(3.0) and float(old.std) == pytest.approx(
        np.std([1.0, 3.0, 5.0]), rel=1e-5)


def test_behavior_cloning_linear_map():
    rng = np.random.default_rng(0)
    obs = rng.normal(2.0, 3.0, (2048, 6)).astype(np.float32)
    w = rng.normal(0.0, 0.05, (6, 3)).astype(np.float32)
    actions = (obs - 2.0) @ w
    cfg = PPOConfig(policy_hidden=(64, 64), value_hidden=(16,), seed=1)
    state = init_train_state(cfg, 6, 3)
    before = float(np.mean((np.asarray(state.policy.mean(state.obs_norm.normalize(obs)))
                            - actions) ** 2))
    state, loss = behavior_clone(state, cfg, obs, actions, epochs=60, batch_size=256,
                                 learning_rate=3e-3, clip_targets=False)
    assert float(state.obs_norm.count) == len(obs)
    assert loss < 2e-3 * before and loss < 1e-4, (before, loss)
    pred = state.policy.mean(state.obs_norm.normalize(jnp.asarray(obs)))
    assert float(jnp.mean((pred - actions) ** 2)) == pytest.approx(loss, rel=1e-3)


def test_behavior_cloning_learning_rate_decay_settles_the_fit():
    """``final_lr_fraction``: with the rate decaying over the fit, Adam settles instead of
    ending where its last noisy steps left it: a smaller error on held-back states of the same
    map (what DAgger's fits gained: bench_distill, BENCHMARKS issue 16)."""
    rng = np.random.default_rng(0)
    obs = rng.normal(0.0, 1.0, (4096, 6)).astype(np.float32)
    w = rng.normal(0.0, 0.1, (6, 3)).astype(np.float32)
    actions = np.tanh(obs) @ w + rng.normal(0.0, 0.02, (4096, 3)).astype(np.float32)
    held = rng.normal(0.0, 1.0, (1024, 6)).astype(np.float32)
    cfg = PPOConfig(policy_hidden=(64, 64), value_hidden=(16,), seed=1)
    err = {}
    for fraction in (1.0, 0.05):
        state, _ = behavior_clone(init_train_state(cfg, 6, 3), cfg, obs, actions, epochs=20,
                                  batch_size=128, learning_rate=1e-2, clip_targets=False,
                                  final_lr_fraction=fraction)
        pred = state.policy.mean(state.obs_norm.normalize(jnp.asarray(held)))
        err[fraction] = float(jnp.mean((pred - np.tanh(held) @ w) ** 2))
    assert err[0.05] < 0.5 * err[1.0], err


def test_spread_weighted_fit_fits_a_small_action_as_closely_as_a_large_one():
    """``weights=spread_weights(actions)``: an action dimension 20x smaller than the others (a
    toe motor next to the hips, driven by other inputs) is fitted to about the same fraction of
    its own spread as the large ones, where a uniform squared error neglects it; the unweighted
    MSE is what is returned."""
    rng = np.random.default_rng(0)
    obs = rng.normal(0.0, 1.0, (4096, 6)).astype(np.float32)
    big = np.tanh(obs[:, :3]) @ rng.normal(0.0, 0.3, (3, 2))
    small = 0.02 * np.tanh(obs[:, 3:]) @ rng.normal(0.0, 0.3, (3, 1))
    actions = np.concatenate([big, small], 1).astype(np.float32)
    weights = spread_weights(actions)
    assert weights[2] > 50 * weights[0] and np.mean(weights) == pytest.approx(1.0)
    cfg = PPOConfig(policy_hidden=(16, 16), value_hidden=(16,), seed=1)
    rel = {}
    for name, wt in (("uniform", None), ("spread", weights)):
        state, mse = behavior_clone(init_train_state(cfg, 6, 3), cfg, obs, actions, epochs=10,
                                    batch_size=128, learning_rate=3e-3, clip_targets=False,
                                    final_lr_fraction=0.05, weights=wt)
        pred = np.asarray(state.policy.mean(state.obs_norm.normalize(jnp.asarray(obs))))
        assert float(np.mean((pred - actions) ** 2)) == pytest.approx(mse, rel=1e-3)
        rel[name] = np.sqrt(np.mean((pred - actions) ** 2, 0)) / actions.std(0)
    # uniform: the small one 1.9x the large ones' relative error; weighted: about the same
    assert rel["uniform"][2] > 1.5 * rel["uniform"][:2].mean(), rel
    assert rel["spread"][2] < 1.3 * rel["spread"][:2].mean(), rel
    assert rel["spread"][2] < 0.8 * rel["uniform"][2], rel


@pytest.mark.parametrize("activation", ["elu", "tanh", "relu", "silu"])
def test_policy_mean_action_in_numpy_equals_the_network(activation):
    """The twin's numpy mean action is the JAX network's mean of the clipped, normalised
    observation, for every activation (float32 rounding apart)."""
    from kintwin.learn.policy import Policy, Weights

    cfg = PPOConfig(policy_hidden=(32, 16), activation=activation, seed=3)
    state = init_train_state(cfg, 6, 4)
    rng = np.random.default_rng(0)
    norm = state.obs_norm.update(jnp.asarray(rng.normal(2.0, 3.0, (50, 6))))
    net = jax.tree_util.tree_map(lambda x: x * 20 if x.ndim == 2 else x, state.policy)  # not ~0
    policy = Policy(Weights.of(net, norm))
    obs = rng.normal(2.0, 5.0, (9, 6))
    obs[0, 1] = 1e4  # clipped by the normaliser
    want = np.asarray(net.mean(norm.normalize(jnp.asarray(obs, jnp.float32))))
    got = policy.mean_action(obs)
    assert got.dtype == np.float32 and np.abs(want).max() > 0.1
    # float32 rounding: each output sums terms up to ~max|want|, so its error scales with that, not
    # with the output (an output of -0.76 among outputs of 500 was 3e-5 off on an AMD EPYC)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=8 * np.finfo(np.float32).eps * np.abs(want).max())
