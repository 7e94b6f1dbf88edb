"""Muscle paths as fixed tendons, linearised at the current pose and refreshed every control step.

Why: MuJoCo computes every spatial tendon's length and Jacobian at every physics step. With the
92 gait2392 muscles that stage is a third of the step (15 of 43 us; BENCHMARKS, issue 18), and
fewer via points do not help: a tendon's cost is mostly its Jacobian over the dofs, paid even by
a straight line. A *fixed* tendon (a linear combination of joint coordinates) costs almost
nothing.

What: ``LinearPaths(spec, model)`` builds, from a muscle model with spatial tendons (``model``,
compiled from ``spec``), the same model in which each tendon is a fixed tendon over the joints
its path crosses (``.model``: same bodies, joints, actuators and names; the path sites left
out). ``refresh(qpos)``, called before each control step, evaluates the spatial paths at
``qpos`` (length ``L0`` and Jacobian ``J``, the moment arms) and writes them into that model:

* each fixed tendon's joint coefficients become ``J``;
* each muscle's ``actuator_lengthrange`` is shifted by ``L0 - J q`` (the fixed tendon's length has
  no constant term; MuJoCo's muscle curves read the length only relative to that range).

So the muscle lengths MuJoCo's force-length-velocity curves see, and the moment arms the forces
act through, are the spatial paths' exactly at the refresh pose and to first order over the
control step (8 ms at 125 Hz: at 5 rad/s a joint moves 0.04 rad, a moment arm of ~2 cm changes by
well under a millimetre and the length by micrometres). The model's raw ``actuator_length`` and
``ten_length`` then lack the constant: read muscle lengths through ``actuator_lengthrange``, as
MuJoCo's ``mju_muscleGain`` does. Stepping several simulations of one model in turn (the
fine-tuning env) refreshes before each; simulations stepped at once from threads would need a
model each.

Measured (BENCHMARKS, issue 18): the 92-muscle model steps at 0.72-0.75 of the torque model's
rate (0.51 with spatial tendons), 0.68 with one refresh (~35 us) per 8 physics steps.
"""

from __future__ import annotations

import mujoco
import numpy as np

_SCALAR_JOINTS = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))


def _ancestors(model: mujoco.MjModel, body: int) -> set[int]:
    out = set()
    while body > 0:
        out.add(body)
        body = model.body_parentid[body]
    return out


def crossed_joints(model: mujoco.MjModel, tendon: int) -> list[int]:
    """The joints between the bodies a spatial tendon's path runs over (their moment arms are the
    only ones that can be non-zero): the joints of the bodies on the tree paths from the bodies of
    its sites and wrapping geoms to their common ancestor."""
    bodies = set()
    for k in range(model.tendon_adr[tendon], model.tendon_adr[tendon] + model.tendon_num[tendon]):
        kind, obj = model.wrap_type[k], model.wrap_objid[k]
        if kind == int(mujoco.mjtWrap.mjWRAP_SITE):
            bodies.add(int(model.site_bodyid[obj]))
        elif kind in (int(mujoco.mjtWrap.mjWRAP_SPHERE), int(mujoco.mjtWrap.mjWRAP_CYLINDER)):
            bodies.add(int(model.geom_bodyid[obj]))
    chains = [_ancestors(model, b) for b in bodies]
    if not chains:
        return []
    moving = set.union(*chains) - set.intersection(*chains)
    return [j for b in sorted(moving)
            for j in range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b])]


class LinearPaths:
    """The fixed-tendon twin of a spatial-tendon muscle model and its refresh (module doc)."""

    def __init__(self, spec: mujoco.MjSpec, model: mujoco.MjModel):
        if model.ntendon == 0 or np.any(model.tendon_num == 0):
            raise ValueError("LinearPaths needs a model whose muscles run along spatial tendons")
        self.spatial = model
        self.data = mujoco.MjData(model)
        joints = [crossed_joints(model, t) for t in range(model.ntendon)]
        bad = {model.joint(j).name for js in joints for j in js
               if int(model.jnt_type[j]) not in _SCALAR_JOINTS}
        if bad:
            raise ValueError(f"muscle paths cross joints a fixed tendon cannot span: {sorted(bad)}")
        if not all(joints):
            raise ValueError("a muscle path crosses no joint")
        fast = spec.copy()
        names = [model.tendon(t).name for t in range(model.ntendon)]
        for name in names:
            fast.delete(fast.tendon(name))
        path_sites = {model.site(int(o)).name for k, o in zip(model.wrap_type, model.wrap_objid)
                      if k == int(mujoco.mjtWrap.mjWRAP_SITE)}
        for name in path_sites:  # only the paths used them; their kinematics cost ~2 us a step
            fast.delete(fast.site(name))
        for name, js in zip(names, joints):
            tendon = fast.add_tendon(name=name)
            for j in js:
                tendon.wrap_joint(model.joint(j).name, 0.0)
        self.model = fast.compile()
        m = self.model
        # (tendon, joint) pairs in the fixed model's wrap order, and where their values come from
        self._tendon = np.repeat(np.arange(m.ntendon), m.tendon_num)
        # the fixed tendons' wraps are the model's only ones; same joint ids in both models
        self._qpos = m.jnt_qposadr[m.wrap_objid]
        dof = model.jnt_dofadr[m.wrap_objid]
        # the entry of the spatial model's tendon Jacobian (MuJoCo keeps it sparse, with a fixed
        # pattern) for each (tendon, dof)
        sparse = {(t, int(model.ten_J_colind[k])): k for t in range(model.ntendon)
                  for k in range(model.ten_J_rowadr[t], model.ten_J_rowadr[t] + model.ten_J_rownnz[t])}
        self._entry = np.array([sparse.get((int(t), int(d)), -1) for t, d in zip(self._tendon, dof)])
        if np.any(self._entry < 0):  # a crossed joint the spatial Jacobian never reaches
            raise ValueError("a muscle path's Jacobian lacks a dof of the joints it crosses")
        self._starts = m.tendon_adr.copy()  # each tendon's wraps, contiguous
        self._muscles = np.flatnonzero(m.actuator_trntype == mujoco.mjtTrn.mjTRN_TENDON)
        self._muscle_tendon = m.actuator_trnid[self._muscles, 0]
        self._gear = m.actuator_gear[self._muscles, 0]
        self._lengthrange = model.actuator_lengthrange[self._muscles].copy()
        self._shifted = self._lengthrange.copy()

    def refresh(self, qpos: np.ndarray, qvel: np.ndarray | None = None, ahead_s: float = 0.0) -> None:
        """Write into ``self.model`` the spatial paths linearised at ``qpos`` moved on
        by ``qvel`` for ``ahead_s`` (half the coming control step: the linearisation's error is
        then split between the step's start and end)."""
        d = self.data
        d.qpos[:] = qpos
        if qvel is not None and ahead_s:
            mujoco.mj_integratePos(self.spatial, d.qpos, qvel, ahead_s)
        mujoco.mj_kinematics(self.spatial, d)
        mujoco.mj_comPos(self.spatial, d)
        mujoco.mj_tendon(self.spatial, d)
        coef = d.ten_J[self._entry]
        model = self.model
        model.wrap_prm[: len(coef)] = coef
        offset = d.ten_length - np.add.reduceat(coef * d.qpos[self._qpos], self._starts)
        np.subtract(self._lengthrange, (self._gear * offset[self._muscle_tendon])[:, None],
                    out=self._shifted)
        model.actuator_lengthrange[self._muscles] = self._shifted


__all__ = ["LinearPaths", "crossed_joints"]
