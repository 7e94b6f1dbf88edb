"""Canonical coordinate names and sign conventions of kintwin.

Every ``Motion`` and every model in kintwin uses these names (OpenSim gait2392 / Hamner 2010 /
Rajagopal 2016 short names) and one convention:

* SI units inside: radians for rotations, metres for translations.
* Knee flexion is POSITIVE (as in Rajagopal 2016 and clinical practice). gait2354/gait2392/Hamner
  files store knee flexion as negative; readers convert.
* The pelvis coordinates are OpenSim's: ``pelvis_tilt`` (about Z), ``pelvis_list`` (about the new
  X), ``pelvis_rotation`` (about the new Y), a body-fixed Z-X-Y sequence in OpenSim's Y-up ground;
  ``pelvis_tx/ty/tz`` are translations in OpenSim ground (X forward, Y up, Z right).
* Inside MuJoCo the world is Z-up (X forward, Y left, Z up). Body-local frames keep OpenSim's
  segment frames (long axis along local Y), so OpenSim joint geometry carries over unchanged.
"""

from __future__ import annotations

PELVIS_ROTATIONS = ("pelvis_tilt", "pelvis_list", "pelvis_rotation")
PELVIS_TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")
PELVIS_COORDINATES = PELVIS_ROTATIONS + PELVIS_TRANSLATIONS

_LEG = ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle",
        "subtalar_angle", "mtp_angle")
_ARM = ("arm_flex", "arm_add", "arm_rot", "elbow_flex", "pro_sup", "wrist_flex", "wrist_dev")
TRUNK_COORDINATES = ("lumbar_extension", "lumbar_bending", "lumbar_rotation",
                     "neck_flexion", "neck_bending", "neck_rotation")


def _sided(names: tuple[str, ...], side: str) -> tuple[str, ...]:
    return tuple(f"{n}_{side}" for n in names)


LEG_R, LEG_L = _sided(_LEG, "r"), _sided(_LEG, "l")
ARM_R, ARM_L = _sided(_ARM, "r"), _sided(_ARM, "l")
#: how the arms' coordinates begin, in the built-in model and in OpenSim's gait models
ARM_PREFIXES = ("arm_", "elbow_", "pro_sup", "wrist_")

#: The 34 hinge coordinates of the default torque model, in model (tree) order.
JOINT_COORDINATES = LEG_R + LEG_L + TRUNK_COORDINATES[:3] + TRUNK_COORDINATES[3:] + ARM_R + ARM_L

#: All 40 generalized coordinates of the default model (pelvis first).
ALL_COORDINATES = PELVIS_COORDINATES + JOINT_COORDINATES

#: Translational coordinates (metres); every other coordinate is a rotation (radians).
TRANSLATIONS = frozenset(PELVIS_TRANSLATIONS)

#: Coordinates whose sign differs between the legacy (gait2392/Hamner) and canonical conventions.
LEGACY_NEGATED = ("knee_angle_r", "knee_angle_l")

#: Names of the six pelvis residual actuators: forces (N) and moments (N*m), both in the MuJoCo
#: world frame, applied at the pelvis origin.
RESIDUAL_ACTUATORS = ("residual_fx", "residual_fy", "residual_fz",
                      "residual_mx", "residual_my", "residual_mz")
#: Name prefix of a muscle model's reserve motor on a muscle-driven coordinate (``reserve_<name>``).
RESERVE_PREFIX = "reserve_"


def mirror_name(name: str) -> str:
    """The same coordinate on the other side (``hip_flexion_r`` -> ``hip_flexion_l``)."""
    if name.endswith("_r"):
        return name[:-2] + "_l"
    if name.endswith("_l"):
        return name[:-2] + "_r"
    return name
