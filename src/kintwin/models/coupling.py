"""Coupled joints: MuJoCo joints whose value is a polynomial of another joint's value.

A ``Skeleton`` dof with ``coupled_to`` (e.g. the tibia translations ``knee_angle_r_tx``/``_ty``
of the gait2392/Hamner knee, splines of the knee angle in OpenSim) is built by ``build.py`` as an
ordinary MuJoCo joint plus a joint equality constraint (``mjEQ_JOINT``) with ``polycoef``::

    q_joint - q0_joint = c0 + c1 x + c2 x^2 + c3 x^3 + c4 x^4,   x = q_master - q0_master

(``q0`` = ``model.qpos0``, MuJoCo's reference positions). The forward simulation enforces it as a
(soft) constraint; everything kinematic in kintwin uses this module to treat such a joint as a
function of its master, not as a coordinate:

* ``couple_qpos`` / ``couple_qvel_qacc``: positions from the masters; velocities and accelerations
  by the chain rule (``qd = p'(x) xd``, ``qdd = p''(x) xd^2 + p'(x) xdd``), so a replayed motion
  satisfies the constraints (and their time derivatives) exactly.
* ``fold_forces``: generalized forces (or any rows of ``J^T``-like quantities: moment arms)
  expressed on the reduced coordinates by virtual work,
  ``Q_master += p'(x) Q_joint`` and ``Q_joint = 0``, i.e. ``G^T Q`` with ``G = d q_full / d q_reduced``.
  Inverse dynamics reports ``tau_knee = tau_hinge + sum_i p_i'(q) F_slide_i``, the generalized
  force of the OpenSim coordinate.
* ``fold_jacobian``: the same for Jacobian columns (IK).

Only ACTIVE joint equalities between two joints count (``eq_active0``); a chain (a joint coupled to
a coupled joint) is handled in dependency order.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class Coupling:
    """One coupled joint: ``q[qadr] = ref + p(q[master_qadr] - master_ref)``."""

    joint: str
    master: str
    jnt: int
    master_jnt: int
    qadr: int
    dadr: int
    master_qadr: int
    master_dadr: int
    polycoef: tuple[float, ...]  # (c0, c1, c2, c3, c4)
    ref: float
    master_ref: float

    def value(self, x):
        """Joint value for master values ``x`` (MuJoCo qpos units)."""
        return self.ref + np.polynomial.polynomial.polyval(np.asarray(x, float) - self.master_ref,
                                                           self.polycoef)

    def slope(self, x):
        """d q_joint / d q_master at master values ``x``."""
        d = np.polynomial.polynomial.polyder(self.polycoef)
        return np.polynomial.polynomial.polyval(np.asarray(x, float) - self.master_ref, d)

    def curvature(self, x):
        """d^2 q_joint / d q_master^2 at master values ``x``."""
        d = np.polynomial.polynomial.polyder(self.polycoef, 2)
        return np.polynomial.polynomial.polyval(np.asarray(x, float) - self.master_ref, d)


def couplings(model: mujoco.MjModel) -> list[Coupling]:
    """The active joint-to-joint polynomial couplings of ``model``, masters before dependants."""
    out = []
    for e in range(model.neq):
        if int(model.eq_type[e]) != int(mujoco.mjtEq.mjEQ_JOINT) or not model.eq_active0[e]:
            continue
        j, k = int(model.eq_obj1id[e]), int(model.eq_obj2id[e])
        if k < 0:  # a joint held at a constant: not a coupling
            continue
        out.append(Coupling(
            joint=mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j),
            master=mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, k),
            jnt=j, master_jnt=k, qadr=int(model.jnt_qposadr[j]), dadr=int(model.jnt_dofadr[j]),
            master_qadr=int(model.jnt_qposadr[k]), master_dadr=int(model.jnt_dofadr[k]),
            polycoef=tuple(float(c) for c in model.eq_data[e, :5]),
            ref=float(model.qpos0[model.jnt_qposadr[j]]),
            master_ref=float(model.qpos0[model.jnt_qposadr[k]])))
    # dependency order: a coupling whose master is itself coupled comes after the master's
    by_joint = {c.jnt: c for c in out}
    if len(by_joint) != len(out):
        dup = sorted({c.joint for c in out if sum(d.jnt == c.jnt for d in out) > 1})
        raise ValueError(f"joints coupled by more than one equality constraint: {dup}")
    ordered: list[Coupling] = []
    done: set[int] = set()

    def visit(c: Coupling, stack: tuple[int, ...] = ()):
        if c.jnt in done:
            return
        if c.jnt in stack:
            raise ValueError(f"cyclic joint couplings through {c.joint!r}")
        if c.master_jnt in by_joint:
            visit(by_joint[c.master_jnt], stack + (c.jnt,))
        done.add(c.jnt)
        ordered.append(c)

    for c in out:
        visit(c)
    return ordered


def coupled_joint_ids(model: mujoco.MjModel) -> set[int]:
    return {c.jnt for c in couplings(model)}


def coordinate_joints(model: mujoco.MjModel) -> tuple[list[str], list[int]]:
    """Names and ids of the model's coordinate joints: hinges and slides that are not coupled."""
    coupled = coupled_joint_ids(model)
    names, ids = [], []
    for j in range(model.njnt):
        if int(model.jnt_type[j]) in (int(mujoco.mjtJoint.mjJNT_FREE), int(mujoco.mjtJoint.mjJNT_BALL)):
            continue
        if j in coupled:
            continue
        names.append(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j))
        ids.append(j)
    return names, ids


def couple_qpos(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """Set every coupled joint of ``qpos`` ((nq,) or (T, nq), IN PLACE) from its master; returns it."""
    q = np.asarray(qpos)
    for c in couplings(model):
        q[..., c.qadr] = c.value(q[..., c.master_qadr])
    return qpos


def couple_qvel_qacc(model: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray,
                     qacc: np.ndarray | None = None) -> None:
    """Chain rule for the coupled joints of ``qvel`` (and ``qacc``), IN PLACE; ``qpos`` must hold
    the masters' positions."""
    for c in couplings(model):
        x, xd = qpos[..., c.master_qadr], qvel[..., c.master_dadr]
        s = c.slope(x)
        if qacc is not None:
            qacc[..., c.dadr] = c.curvature(x) * xd * xd + s * qacc[..., c.master_dadr]
        qvel[..., c.dadr] = s * xd


def fold_forces(model: mujoco.MjModel, qpos: np.ndarray, qfrc: np.ndarray) -> np.ndarray:
    """Generalized forces on the reduced coordinates: each coupled joint's force, times
    ``d q_joint / d q_master``, is added to its master's and the joint's entry is set to 0.

    ``qpos`` (nq,) or (T, nq); ``qfrc`` (..., nv) with the leading axes of ``qpos`` (a (T, K, nv)
    array of per-frame rows such as moment arms works too). Returns a new array.
    """
    out = np.array(qfrc, float, copy=True)
    q = np.asarray(qpos, float)
    for c in reversed(couplings(model)):  # dependants first, so chains fold all the way up
        s = c.slope(q[..., c.master_qadr])
        s = s.reshape(s.shape + (1,) * (out.ndim - 1 - np.ndim(s)))
        out[..., c.master_dadr] += s * out[..., c.dadr]
        out[..., c.dadr] = 0.0
    return out


def fold_jacobian(model: mujoco.MjModel, qpos: np.ndarray, jac: np.ndarray,
                  cps: list[Coupling] | None = None) -> np.ndarray:
    """Jacobian columns (..., nv) of one pose ``qpos`` (nq,) on the reduced coordinates, IN PLACE:
    the master's column gains ``p'(x)`` times the coupled joint's column, which is zeroed.
    ``cps``: ``couplings(model)`` if already at hand."""
    for c in reversed(couplings(model) if cps is None else cps):
        s = float(c.slope(qpos[c.master_qadr]))
        jac[..., c.master_dadr] += s * jac[..., c.dadr]
        jac[..., c.dadr] = 0.0
    return jac
