"""The one quadratic-program solver call of kintwin (DAQP, a dual active-set solver).

    minimise   1/2 x^T H x + g^T x
    subject to lower <= C x <= upper     (rows with ``equality`` True: C x = lower = upper)

Used per frame by the force-free inverse dynamics (``contact_estimation``) and per control step
by the whole-body controller (``kintwin.control.wholebody``). Problems here are small (tens of
variables) and dense, which is what DAQP is fast at (tens of microseconds).
"""

from __future__ import annotations

import daqp
import numpy as np

INFINITY = 1e30  # DAQP's "no bound"


def solve_qp(H: np.ndarray, g: np.ndarray, C: np.ndarray, lower: np.ndarray, upper: np.ndarray,
             equality: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Solution ``x`` and whether DAQP found the optimum (False: infeasible or failed)."""
    sense = np.zeros(len(upper), dtype=np.intc)
    if equality is not None:
        sense[np.asarray(equality, bool)] = 5  # DAQP: equality constraint
    x, _, flag, _ = daqp.solve(np.ascontiguousarray(H, float), np.ascontiguousarray(g, float),
                               np.ascontiguousarray(C, float), np.ascontiguousarray(upper, float),
                               np.ascontiguousarray(lower, float), sense)
    return np.asarray(x), flag >= 1
