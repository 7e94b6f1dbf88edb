"""The one quadratic-program solver call of kintwin (DAQP, a dual active-set solver).

    minimise   1/2 x^T H x + g^T x
    subject to lower <= C x <= upper     (rows with ``equality`` True: C x = lower = upper)
               x_lower <= x <= x_upper   (optional: bounds on the variables themselves)

Used per frame by the force-free inverse dynamics (``contact_estimation``) and per control step
by the whole-body controller (``kintwin.control.wholebody``). Problems here are small (tens to
~150 variables) and dense, which is what DAQP is fast at (tens of microseconds to ~1 ms). Give
bounds on single variables as ``x_lower``/``x_upper``, not as rows of ``C``: DAQP takes them as
simple bounds, which its setup does not transform (the whole-body controller's muscle QP: 0.70
-> 0.50 ms of setup per solve).
"""

from __future__ import annotations

import daqp
import numpy as np

INFINITY = 1e30  # DAQP's "no bound"


def solve_qp(H: np.ndarray, g: np.ndarray, C: np.ndarray, lower: np.ndarray, upper: np.ndarray,
             equality: np.ndarray | None = None, x_lower: np.ndarray | None = None,
             x_upper: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Solution ``x`` and whether DAQP found the optimum (False: infeasible or failed)."""
    n = len(g)
    sense = np.zeros(len(upper), dtype=np.intc)
    if equality is not None:
        sense[np.asarray(equality, bool)] = 5  # DAQP: equality constraint
    if x_lower is not None or x_upper is not None:  # DAQP: the first n bounds are on x itself
        lower = np.r_[np.full(n, -INFINITY) if x_lower is None else x_lower, lower]
        upper = np.r_[np.full(n, INFINITY) if x_upper is None else x_upper, upper]
        sense = np.r_[np.zeros(n, dtype=np.intc), sense]
    x, _, flag, _ = daqp.solve(np.ascontiguousarray(H, float), np.ascontiguousarray(g, float),
                               np.ascontiguousarray(C, float), np.ascontiguousarray(upper, float),
                               np.ascontiguousarray(lower, float), sense)
    return np.asarray(x), flag >= 1
