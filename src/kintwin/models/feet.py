"""Foot contact spheres and foot sites, shared by every model source (built-in and OpenSim).

Positions are in the OpenSim ``calcn_*`` / ``toes_*`` body frames of the generic 1.80 m gait2392
foot, in metres, for the right side (the left mirrors Z); multiply by the foot's scale factor.
Heel sphere under the calcaneus, two spheres under the first and fifth metatarsal heads, one
under the toes. Their height was calibrated so that kinematic replays of the two shared OpenSim
trials (subject01 walking, Hamner running) put the stance sole within 3 cm of the floor on their
subject-scaled models (the two disagree by ~5 cm; the spheres sit in between).
"""

from __future__ import annotations

import numpy as np

SOLE_Y = -0.017  # sole height in the calcn/toes frames (generic model), m

#: (name prefix, centre (x, y, z) right side, radius) in the calcn frame
CALCN_SPHERES = (("heel", (0.03, SOLE_Y + 0.035, 0.0), 0.035),
                 ("meta1", (0.17, SOLE_Y + 0.02, -0.03), 0.02),
                 ("meta5", (0.15, SOLE_Y + 0.02, 0.035), 0.02))
#: in the toes frame
TOES_SPHERES = (("toe", (0.05, SOLE_Y + 0.02, 0.0), 0.02),)
HEEL_SITE = (0.0, SOLE_Y, 0.0)  # calcn frame
TOE_SITE = (0.06, SOLE_Y, 0.0)  # toes frame


def mirrored(p, side: str) -> np.ndarray:
    """A right-side point for ``side`` ("r" or "l": Z negated)."""
    p = np.asarray(p, float)
    return p * (1, 1, -1) if side == "l" else p
