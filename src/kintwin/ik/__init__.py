"""From markers and video keypoints to model kinematics: marker maps, scaling and IK.

* ``markersets``: marker maps (marker -> body, position, weight); built-in sets and YAML/.osim maps.
* ``model``: the MuJoCo model with one site per marker; in-place segment rescaling.
* ``solver``: per-frame weighted least-squares IK (Levenberg-Marquardt, ``mj_jacSite`` Jacobians,
  joint limits as bounds) and the joint pose + segment-scale fit.
* ``checks``: marker names against a map, length units against the subject.
* ``pipeline``: ``run_ik`` (scale, place markers, IK) and ``write_ik_outputs`` (``kintwin ik``).
"""

from .markersets import BUILTIN_MAPS, MarkerDef, MarkerMap, builtin_map, load_marker_map
from .pipeline import IKResult, load_markers, run_ik, write_ik_outputs
from .solver import IKOptions, MarkerIK

__all__ = ["BUILTIN_MAPS", "MarkerDef", "MarkerMap", "builtin_map", "load_marker_map",
           "IKResult", "load_markers", "run_ik", "write_ik_outputs", "IKOptions", "MarkerIK"]
