"""Checks of a trial before a twin runs it (nothing is simulated or written if they fail)."""

from __future__ import annotations

import mujoco
import numpy as np

from ..motion.motion import Motion

RANGE_TOLERANCE_DEG = 5.0


def check_trial_span(motion: Motion, min_span_s: float, why: str) -> None:
    span = motion.time_s[-1] - motion.time_s[0]
    if span < min_span_s:
        raise ValueError(f"trial is {span:.3f} s long; the twin needs at least {min_span_s:.3f} s "
                         f"({why})")


def check_coordinate_ranges(motion: Motion, model: mujoco.MjModel) -> None:
    """Every limited hinge of the model within its range (+-5 deg) over the motion: catches wrong
    units (degrees read as radians) and sign conventions."""
    qpos = motion.to_qpos(model, warn=False)
    out = []
    tol = np.deg2rad(RANGE_TOLERANCE_DEG)
    for j in range(model.njnt):
        if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE or not model.jnt_limited[j]:
            continue
        lo, hi = model.jnt_range[j]
        q = qpos[:, model.jnt_qposadr[j]]
        if q.min() < lo - tol or q.max() > hi + tol:
            out.append(f"{model.joint(j).name} [{np.rad2deg(q.min()):.0f}, {np.rad2deg(q.max()):.0f}] deg "
                       f"outside [{np.rad2deg(lo):.0f}, {np.rad2deg(hi):.0f}]")
    if out:
        raise ValueError("coordinates out of the model's range (check units and sign convention): "
                         + "; ".join(out))
