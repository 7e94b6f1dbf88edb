"""Several batched environments stepped as one (e.g. one tracking env per subject model).

:class:`ConcatEnv` implements :class:`kintwin.sim.interface.SnapshotVecEnv` over a list of envs
with the same observation and action sizes: rows ``[0, n_0)`` of every batched array belong to
the first env, the next ``n_1`` rows to the second, and so on. The learner sees one env, so a
policy trains on many subjects (each with its own scaled model, the subject's height and mass in
the observation) without knowing it.
"""

from __future__ import annotations

import numpy as np


class ConcatEnv:
    def __init__(self, envs: list):
        if not envs:
            raise ValueError("ConcatEnv needs at least one env")
        sizes = {(e.obs_size, e.action_size) for e in envs}
        if len(sizes) != 1:
            raise ValueError(f"envs differ in (obs_size, action_size): {sorted(sizes)}")
        self.envs = list(envs)
        self.obs_size, self.action_size = sizes.pop()
        counts = [e.num_envs for e in envs]
        self.num_envs = int(sum(counts))
        self._bounds = np.concatenate([[0], np.cumsum(counts)]).astype(int)

    def _split(self, x):
        x = np.asarray(x)
        return [x[a:b] for a, b in zip(self._bounds[:-1], self._bounds[1:])]

    def reset(self, seed: int) -> np.ndarray:
        return np.concatenate([e.reset(int(seed) + 7919 * k) for k, e in enumerate(self.envs)])

    def step(self, action):
        outs = [e.step(a) for e, a in zip(self.envs, self._split(action))]
        obs, rew, done = (np.concatenate([o[i] for o in outs]) for i in range(3))
        keys = set.intersection(*(set(o[3]) for o in outs))
        info = {k: np.concatenate([np.asarray(o[3][k]) for o in outs]) for k in keys}
        return obs, rew, done, info

    def get_state(self) -> dict[str, np.ndarray]:
        return {f"{k}/{name}": v for k, e in enumerate(self.envs) for name, v in e.get_state().items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        for k, e in enumerate(self.envs):
            prefix = f"{k}/"
            e.set_state({name[len(prefix):]: v for name, v in state.items() if name.startswith(prefix)})

    def close(self) -> None:
        for e in self.envs:
            e.close()


__all__ = ["ConcatEnv"]
