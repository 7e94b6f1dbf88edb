"""The batched-environment interface that the learners (``kintwin.learn``) drive.

One protocol serves both simulation back ends:

* the CPU back end steps ``num_envs`` C MuJoCo models (from threads) and returns numpy arrays;
* the MJX back end steps one batched JAX state and returns ``jax.Array``.

The learner runs a plain host-side loop over batched arrays::

    obs = env.reset(seed)
    for t in range(num_steps):
        action = policy(obs)                       # (num_envs, action_size), clipped to [-1, 1]
        obs, reward, done, info = env.step(action)

and converts every output with ``jnp.asarray`` (a no-op for JAX arrays, one copy for numpy).

Conventions of ``step``:

* ``action``: (num_envs, action_size) normalised joint torques in [-1, 1]. The PPO trainer passes
  a numpy array when ``reset`` returned numpy and a ``jax.Array`` otherwise; an env should still
  accept either (``np.asarray(action)``) and clip to [-1, 1] itself for safety.
* ``obs``: (num_envs, obs_size) float; ``reward``: (num_envs,) float; ``done``: (num_envs,) bool.
* Auto-reset: an env whose episode ended during this step (``done``) is reset inside ``step``,
  and its row of the returned ``obs`` is already the FIRST observation of the new episode.
* ``info``: dict of (num_envs, ...) arrays with at least

  - ``"truncated"`` (num_envs,) bool: the episode ended by the time limit (or any other cut
    that is not a failure). ``done & ~truncated`` is a true termination (fall, tracking lost):
    its value is 0. A truncated episode is bootstrapped with the value of its terminal obs.
  - ``"terminal_obs"`` (num_envs, obs_size): the last observation of the episode that just
    ended (before the auto-reset); rows of envs that are not done are ignored (returning
    ``obs`` there is fine).

  Any other (num_envs,) numeric entry (e.g. ``"tracking_error"``) is averaged over the rollout
  and reported by the trainer's callback under the same name.

Optional snapshot methods (:class:`SnapshotVecEnv`) make checkpoint/resume bit-identical: the
trainer saves ``get_state()`` next to the policy and calls ``set_state`` on resume. Without
them a resumed run starts fresh episodes (statistically equivalent, not bit-identical).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # keep importing this module free of JAX
    import jax

    Array = Union[np.ndarray, jax.Array]
else:
    Array = Any


@runtime_checkable
class VecEnv(Protocol):
    """A batch of ``num_envs`` independent environments stepped together (see module doc)."""

    num_envs: int
    obs_size: int
    action_size: int

    def reset(self, seed: int) -> Array:
        """Reset all envs (deterministically from ``seed``); returns obs (num_envs, obs_size)."""
        ...

    def step(self, action: Array) -> tuple[Array, Array, Array, dict[str, Array]]:
        """Advance all envs one control step with ``action`` (num_envs, action_size) in [-1, 1].

        Returns ``(obs, reward, done, info)``; done envs are auto-reset (module doc), ``info``
        holds ``"truncated"`` and ``"terminal_obs"``.
        """
        ...


@runtime_checkable
class SnapshotVecEnv(VecEnv, Protocol):
    """A :class:`VecEnv` whose complete state can be saved and restored (for exact resume).

    ``get_state`` returns a flat dict of numpy arrays holding everything that determines future
    outputs (physics state, episode step counters, reference-motion phase, RNG state as integer
    arrays, ...); ``set_state`` on an env built with the same constructor arguments restores it,
    so that the next ``step`` gives bit-identical results.
    """

    def get_state(self) -> dict[str, np.ndarray]:
        ...

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        ...
