"""Marker maps: which body each marker (or video keypoint) is attached to, where, and how much it counts.

A ``MarkerMap`` maps a marker name to a ``MarkerDef``: the body it moves with, its position in that
body's frame (metres) and its weight in the inverse-kinematics least squares. ``scaled`` says how
the positions are meant:

* ``scaled=False`` (the built-in maps, user maps by default): positions in the frames of the
  GENERIC 1.80 m model; each is multiplied by its body's segment scale factor when the subject's
  model is built (as OpenSim scales marker locations with their body).
* ``scaled=True``: positions already in the subject's model (an OpenSim ``MarkerSet`` of a scaled
  model, or a map written by ``kintwin ik`` after marker placement); used as they are.

``landmark`` marks markers on bony landmarks (or joint centres): only those count fully when
segment scale factors are fitted; soft-tissue cluster markers count with a fifth of their weight.

Built-in maps (``builtin_map(name)``; right side written once, the left side is its mirror image
``z -> -z``, ``_r -> _l`` bodies):

* ``opensim_example``: the 41 (+8 static-only knee/ankle epicondyle) markers of the OpenSim
  example gait data (subject01 walk, Hamner 2010 running): ``R.ASIS``, ``V.Sacral``,
  ``R.Thigh.Upper``, ... ``Top.Head``.
* ``opencap_study``: the augmented ``*_study`` anatomical markers of OpenCap (Uhlrich et al. 2023):
  ``r.ASIS_study``, ``RHJC_study``, ``r_knee_study``, ``r_mankle_study``, ...
* ``keypoints``: video keypoints as joint centres: COCO-17, HALPE-26 (Pose2Sim), OpenPose BODY-25
  (OpenCap's video keypoints) names: ``RHip``, ``RKnee``, ``RAnkle``, ``RHeel``, ``RBigToe``,
  ``RSmallToe``, ``RShoulder``, ``RElbow``, ``RWrist``, ``Neck``, ``Hip``/``MidHip``, ``Head``,
  ``Nose``, eyes and ears. Aliases: ``coco17``, ``halpe26``, ``body25``, ``pose2sim``, ``openpose``.
* ``plugin_gait``: Vicon Plug-in Gait full body (``RASI``, ``RPSI``/``SACR``, ``RTHI``, ``RKNE``,
  ``RTIB``, ``RANK``, ``RHEE``, ``RTOE``, ``C7``, ``T10``, ``CLAV``, ``STRN``, ``RBAK``, head
  ``RFHD``/``RBHD``, arm ``RSHO``, ``RUPA``, ``RELB``, ``RFRA``, ``RWRA``/``RWRB``, ``RFIN``) and
  common variants (``RCAL``, ``RMT1``/``RMT2``/``RMT5``, ``RLFC``/``RMFC``/``RKNM``,
  ``RLMAL``/``RMMAL``/``RMED``, virtual joint centres ``RHJC``/``RKJC``/``RAJC``). Aliases:
  ``pig``, ``plug-in-gait``, ``vicon``.

``choose_builtin_map(names)`` picks the built-in set that knows the most of a file's markers.

How the built-in positions were obtained: from anatomical definitions in the segment frames of
kintwin's generic model (OpenSim gait2392 frames at 1.80 m: pelvis origin near the mid-point of
the anterior superior iliac spines (ASIS), femur origin at the hip centre, tibia origin at the knee
centre, calcaneus origin at the back of the heel ~2.5 cm above the sole, ...). Bony landmarks are
placed with typical adult dimensions (knee and ankle widths ~0.10 m and ~0.09 m between the skin
markers; foot landmarks from the model's sole at y = -0.025 m of the calcaneus frame), plus ~1 cm
for skin and marker radius; the ``opensim_example`` pelvis markers and ``Midfoot.Sup`` are where
OpenSim's Scale tool placed them on the gait2392 pelvis and foot of both example subjects (the
pelvis markers fix the hip centres, so they must match the model's pelvis geometry). Cluster
markers (thigh, shank, upper arm) sit on the skin surface at plausible places. These are STARTING
values with errors of 1-3 cm: with a static trial,
``kintwin ik`` fits the segment scales and then moves every marker to where the static trial
sees it on the fitted model (marker placement, as OpenSim's MarkerPlacer does), which removes the
subject-specific offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np


@dataclass
class MarkerDef:
    body: str
    pos: np.ndarray  # (3,) metres in the body frame
    weight: float = 1.0
    landmark: bool = True  # bony landmark / joint centre: reliable for fitting segment scales

    def __post_init__(self):
        self.pos = np.asarray(self.pos, dtype=float).reshape(3)
        if not np.all(np.isfinite(self.pos)):
            raise ValueError(f"marker position {self.pos} is not finite")
        if not self.weight >= 0:
            raise ValueError(f"marker weight must be >= 0, not {self.weight}")


@dataclass
class MarkerMap:
    name: str
    markers: dict[str, MarkerDef]
    scaled: bool = False  # True: positions are already in the subject's model (no scaling)
    source: str = "built-in"
    aliases: dict[str, str] = field(default_factory=dict)  # other name -> marker name

    @property
    def names(self) -> list[str]:
        return list(self.markers)

    def __len__(self) -> int:
        return len(self.markers)

    def resolve(self, name: str) -> str | None:
        """The map's marker for a file's marker name: exact, alias, then case-insensitive match;
        a name with a subject prefix (Vicon Nexus writes ``Subject01:RASI``) also by the part
        after its last colon."""
        if name in self.markers:
            return name
        if name in self.aliases:
            return self.aliases[name]
        low = name.strip().lower()
        hits = [m for m in list(self.markers) + list(self.aliases) if m.lower() == low]
        if len(hits) == 1:
            return self.aliases.get(hits[0], hits[0])
        if ":" in name:
            return self.resolve(name.rsplit(":", 1)[1])
        return None

    def subset(self, names) -> "MarkerMap":
        return replace(self, markers={n: self.markers[n] for n in names})

    def bodies(self) -> set[str]:
        return {m.body for m in self.markers.values()}

    def to_dict(self) -> dict:
        return {
            "name": self.name, "scaled": self.scaled, "source": self.source,
            "markers": {n: {"body": m.body, "pos": [round(float(v), 6) for v in m.pos],
                            "weight": float(m.weight), "landmark": bool(m.landmark)}
                        for n, m in self.markers.items()},
        }


# --------------------------------------------------------------------------------------------
# Built-in maps. Positions: metres, generic 1.80 m model, right side (body names without side
# suffix get "_r"/"_l"; "pelvis", "torso", "head" are central and mirrored in z only).
# Columns: name, body, (x forward, y up along the segment, z right/lateral), weight, landmark.
# --------------------------------------------------------------------------------------------

_HJC = (-0.0707, -0.0661, 0.0835)  # right hip centre in the pelvis frame (the model's hip joint)
_KJC = (-0.0044, -0.3955, 0.0)  # knee centre in the femur frame (the tibia's origin)
_AJC = (0.0, -0.43, 0.0)  # ankle centre in the tibia frame (the talus's origin)

# Bony landmarks shared by several sets (right side; see the opensim_example notes below for how
# each was placed). One definition each, so that the sets agree where the landmark is the same.
_ASIS = ("pelvis", (0.024, 0.037, 0.128))
_SACRUM = ("pelvis", (-0.173, 0.037, 0.0))
_KNEE_LAT = ("femur", (-0.002, -0.39, 0.052))  # lateral femoral epicondyle
_KNEE_MED = ("femur", (-0.002, -0.39, -0.05))  # medial femoral epicondyle
_ANKLE_LAT = ("tibia", (-0.006, -0.435, 0.05))  # lateral malleolus
_ANKLE_MED = ("tibia", (0.006, -0.425, -0.045))  # medial malleolus
_HEEL = ("calcn", (-0.015, 0.01, 0.0))
_MT1 = ("calcn", (0.175, 0.0, -0.045))  # 1st metatarsal head
_MT5 = ("calcn", (0.16, -0.005, 0.05))  # 5th metatarsal head
_ACROMION = ("torso", (-0.005, 0.41, 0.16))
_ELBOW_LAT = ("humerus", (0.005, -0.28, 0.035))  # lateral humeral epicondyle
_WRIST_LAT = ("radius", (-0.01, -0.23, 0.045))  # radial styloid
_WRIST_MED = ("radius", (-0.01, -0.235, -0.022))  # ulnar styloid
_C7 = ("torso", (-0.085, 0.44, 0.0))  # C7 spinous process, on the skin

# Pelvis markers: where OpenSim's Scale tool placed the OpenSim example markers on the gait2392
# pelvis of both example subjects (subject01_simbody.osim, Hamner subject02_RRA_Adjusted.osim),
# divided by their pelvis scale, left and right averaged: ASIS (0.024, 0.035, 0.128), V.Sacral
# (-0.173, 0.039, 0.0), spread between subjects <= 1 cm in x and z (cf. the generic Hamner 2010
# MarkerSet: (0.02, 0.03, 0.128), (-0.16, 0.04, 0)). Both are set at their mean height (0.037 m),
# so the ASIS-sacral line is level at zero pelvis tilt (their 4 mm difference is within the
# 1.7 cm spread between subjects). These put the hip centres ~9 cm behind and ~10 cm below the
# ASIS markers, as the gait2392 pelvis does; a hip centre from a regression (Harrington et al.
# 2007, ~5 cm behind the ASIS) misplaces the pelvis by ~3.5 cm relative to the markers, which
# tilts the thigh by ~4 deg in the static trial and shows up as ~3 deg of knee and hip offsets.
_OPENSIM_EXAMPLE_RIGHT = [
    # pelvis
    ("R.ASIS", *_ASIS, 10.0, True),
    # femur: cluster of three on the lateral thigh; knee epicondyles (static trial only) at the
    # knee centre level (y = -0.395), ~5 cm either side of the knee centre with the marker.
    ("R.Thigh.Upper", "femur", (0.0, -0.14, 0.095), 3.0, False),
    ("R.Thigh.Front", "femur", (0.045, -0.24, 0.08), 3.0, False),
    ("R.Thigh.Rear", "femur", (-0.045, -0.26, 0.08), 3.0, False),
    ("R.Knee.Lat", *_KNEE_LAT, 5.0, True),
    ("R.Knee.Med", *_KNEE_MED, 5.0, True),
    # tibia: lateral shank cluster; malleoli (static only): the ankle centre (y = -0.43) is their
    # mid-point, the lateral one ~1 cm lower and further back.
    ("R.Shank.Upper", "tibia", (0.005, -0.12, 0.06), 3.0, False),
    ("R.Shank.Front", "tibia", (0.035, -0.22, 0.05), 3.0, False),
    ("R.Shank.Rear", "tibia", (-0.03, -0.24, 0.055), 3.0, False),
    ("R.Ankle.Lat", *_ANKLE_LAT, 5.0, True),
    ("R.Ankle.Med", *_ANKLE_MED, 5.0, True),
    # calcaneus frame: origin at the back of the heel, sole at y = -0.025; markers on the shoe.
    ("R.Heel", *_HEEL, 10.0, True),
    # on the medial dorsum (navicular/first cuneiform), as OpenSim's registrations of both
    # example subjects place it (mean (0.119, 0.039, -0.037), z within 6 mm)
    ("R.Midfoot.Sup", "calcn", (0.119, 0.039, -0.037), 5.0, True),
    ("R.Midfoot.Lat", "calcn", (0.10, 0.0, 0.045), 5.0, True),
    ("R.Toe.Lat", *_MT5, 5.0, True),
    ("R.Toe.Med", *_MT1, 5.0, True),
    ("R.Toe.Tip", "calcn", (0.245, 0.005, -0.01), 10.0, True),  # front of the shoe (2nd toe)
    # torso frame: origin at the lumbar joint; shoulder centres at y = 0.3715, z = +-0.17;
    # C7/T1 at (-0.01, 0.43). Acromion on top of the shoulder.
    # The acromion moves with the scapula, not rigidly with the thorax (shoulders shrugged in a
    # T-pose static trial move it by several cm): low weight.
    ("R.Acromium", *_ACROMION, 1.0, True),
    # upper arm: biceps belly (cluster-like), lateral epicondyle at the elbow centre level.
    ("R.Bicep", "humerus", (0.035, -0.16, 0.025), 2.0, False),
    ("R.Elbow", *_ELBOW_LAT, 5.0, True),
    # radius frame (pro_sup = 0: palm forward, positive = pronation): radial (lateral) and ulnar
    # (medial) styloids either side of the wrist centre (-0.0088, -0.2358, 0.0136).
    ("R.Wrist.Lat", *_WRIST_LAT, 5.0, True),
    ("R.Wrist.Med", *_WRIST_MED, 5.0, True),
    # head frame (our head body, origin at the C7/T1 neck joint): temples ~15 cm above C7 and
    # 9 cm in front of it, head width ~14 cm with the markers.
    ("R.Temple", "head", (0.09, 0.155, 0.07), 2.0, True),
]
_OPENSIM_EXAMPLE_CENTRAL = [
    ("V.Sacral", *_SACRUM, 10.0, True),
    ("Sternum", "torso", (0.09, 0.32, 0.0), 5.0, True),  # body of the sternum, on the skin
    ("Top.Head", "head", (0.01, 0.26, 0.0), 2.0, True),  # vertex ~0.25 m above C7 + marker
]

_STUDY_RIGHT = [  # OpenCap augmented markers (r_ prefix on the right, L_ on the left)
    ("r.ASIS_study", "pelvis", (-0.015, 0.014, 0.118), 10.0, True),
    ("r.PSIS_study", "pelvis", (-0.18, 0.02, 0.045), 10.0, True),
    ("RHJC_study", "pelvis", _HJC, 10.0, True),
    ("r_knee_study", *_KNEE_LAT, 5.0, True),
    ("r_mknee_study", *_KNEE_MED, 5.0, True),
    ("r_thigh1_study", "femur", (0.0, -0.14, 0.095), 2.0, False),
    ("r_thigh2_study", "femur", (0.045, -0.24, 0.08), 2.0, False),
    ("r_thigh3_study", "femur", (-0.01, -0.30, 0.085), 2.0, False),
    ("r_ankle_study", *_ANKLE_LAT, 5.0, True),
    ("r_mankle_study", *_ANKLE_MED, 5.0, True),
    ("r_sh1_study", "tibia", (0.005, -0.12, 0.06), 2.0, False),
    ("r_sh2_study", "tibia", (0.035, -0.22, 0.05), 2.0, False),
    ("r_sh3_study", "tibia", (-0.01, -0.30, 0.055), 2.0, False),
    ("r_calc_study", *_HEEL, 10.0, True),
    ("r_toe_study", "calcn", (0.2, 0.02, -0.015), 5.0, True),
    ("r_5meta_study", *_MT5, 5.0, True),
    ("r_shoulder_study", *_ACROMION, 1.0, True),
    ("r_lelbow_study", *_ELBOW_LAT, 5.0, True),
    ("r_melbow_study", "humerus", (0.01, -0.28, -0.055), 5.0, True),
    ("r_lwrist_study", *_WRIST_LAT, 5.0, True),
    ("r_mwrist_study", *_WRIST_MED, 5.0, True),
]
_STUDY_CENTRAL = [("C7_study", *_C7, 5.0, True)]

# Video keypoints: joint centres of the model (origins of the distal bodies), the rest on the
# head and foot. Hip keypoints are attached to the pelvis at the hip centre.
_KEYPOINTS_RIGHT = [
    ("RHip", "pelvis", _HJC, 1.0, True),
    ("RKnee", "tibia", (0.0, 0.0, 0.0), 1.0, True),
    ("RAnkle", "talus", (0.0, 0.0, 0.0), 1.0, True),
    ("RHeel", "calcn", (0.0, -0.005, 0.0), 1.0, True),
    ("RBigToe", "toes", (0.06, -0.005, -0.025), 1.0, True),
    ("RSmallToe", "toes", (0.02, -0.01, 0.04), 1.0, True),
    ("RShoulder", "humerus", (0.0, 0.0, 0.0), 1.0, True),
    ("RElbow", "ulna", (0.0, 0.0, 0.0), 1.0, True),
    ("RWrist", "hand", (0.0, 0.0, 0.0), 1.0, True),
    ("REye", "head", (0.11, 0.135, 0.032), 0.5, True),
    ("REar", "head", (0.02, 0.12, 0.075), 0.5, True),
]
_KEYPOINTS_CENTRAL = [
    ("Hip", "pelvis", (_HJC[0], _HJC[1], 0.0), 1.0, True),
    ("Neck", "torso", (-0.01, 0.40, 0.0), 1.0, True),  # mid-shoulder level
    ("Head", "head", (0.03, 0.25, 0.0), 0.5, True),  # top of the head (HALPE-26)
    ("Nose", "head", (0.13, 0.10, 0.0), 0.5, True),
]
_KEYPOINT_ALIASES = {"MidHip": "Hip", "midHip": "Hip", "CHip": "Hip", "Pelvis": "Hip"}

# Vicon Plug-in Gait (the conventional gait model) full body, plus common lab variants of its
# names (as in OpenSim's walking2.c3d). Where the landmark is one of the sets above, its position
# is reused. The wands on the thigh and shank (RTHI, RTIB) and the upper arm and forearm (RUPA,
# RFRA) are soft tissue; thigh/shank clusters (RTH1..3, RTB1..3) are lab-specific and not in the
# set (use --ignore-unknown-markers or a --marker-map). Virtual joint centres computed by the
# lab's software (RHJC/RKJC/RAJC) sit at the model's joint centres and count less than the bony
# landmarks; the hip centre least: Plug-in Gait's (Davis) regression puts it ~4 cm behind the
# ASIS line, the gait2392 pelvis ~9 cm (4-5 cm apart in walking2.c3d, see _HJC's note above).
_PLUGIN_GAIT_RIGHT = [
    ("RASI", *_ASIS, 10.0, True),
    # PSIS: ~4.5 cm either side of the sacral marker (the PSIS pair is ~10 cm apart), as high
    ("RPSI", "pelvis", (-0.165, 0.037, 0.045), 10.0, True),
    ("RHJC", "pelvis", _HJC, 1.0, True),
    ("RTHI", "femur", (0.0, -0.26, 0.085), 3.0, False),  # wand, lower third of the lateral thigh
    ("RKNE", *_KNEE_LAT, 5.0, True),
    ("RLFC", *_KNEE_LAT, 5.0, True),
    ("RMFC", *_KNEE_MED, 5.0, True),
    ("RKNM", *_KNEE_MED, 5.0, True),
    ("RKJC", "femur", _KJC, 3.0, True),
    ("RTIB", "tibia", (0.0, -0.28, 0.06), 3.0, False),  # wand, lower third of the lateral shank
    ("RANK", *_ANKLE_LAT, 5.0, True),
    ("RLMAL", *_ANKLE_LAT, 5.0, True),
    ("RMMAL", *_ANKLE_MED, 5.0, True),
    ("RMED", *_ANKLE_MED, 5.0, True),
    ("RAJC", "tibia", _AJC, 3.0, True),
    ("RHEE", *_HEEL, 10.0, True),
    ("RCAL", *_HEEL, 10.0, True),
    # RTOE: on the 2nd metatarsal head, on the dorsum of the foot (shoe)
    ("RTOE", "calcn", (0.18, 0.02, -0.01), 10.0, True),
    ("RMT1", *_MT1, 5.0, True),
    # RMT2 as walking2.c3d has it: on the LATERAL forefoot, 8-10 cm from RMT1 over the whole
    # trial (the 1st and 5th metatarsal heads are ~9.5 cm apart on the model, the 1st and 2nd
    # ~4 cm); placed at the 2nd metatarsal head instead, its IK pins the subtalar joint at its
    # -25 deg limit and doubles the foot marker errors. A lab whose RMT2 is on the 2nd head:
    # --marker-map with RMT2 where RTOE is here.
    ("RMT2", *_MT5, 5.0, True),
    ("RMT5", *_MT5, 5.0, True),
    # head band: front markers over the temples, back markers in the same plane
    ("RFHD", "head", (0.10, 0.18, 0.07), 2.0, True),
    ("RBHD", "head", (-0.035, 0.17, 0.075), 2.0, True),
    ("RSHO", *_ACROMION, 1.0, True),  # acromio-clavicular joint
    ("RUPA", "humerus", (-0.01, -0.19, 0.045), 2.0, False),  # wand, lower third of the upper arm
    ("RELB", *_ELBOW_LAT, 5.0, True),
    ("RFRA", "radius", (-0.01, -0.15, 0.04), 2.0, False),  # wand, lower third of the forearm
    ("RWRA", *_WRIST_LAT, 5.0, True),  # wrist bar, thumb side
    ("RWRB", *_WRIST_MED, 5.0, True),  # wrist bar, little-finger side
    ("RFIN", "hand", (-0.02, -0.075, 0.01), 2.0, True),  # dorsum, below the 2nd metacarpal head
]
_PLUGIN_GAIT_CENTRAL = [
    ("SACR", *_SACRUM, 10.0, True),
    ("C7", *_C7, 5.0, True),
    ("T10", "torso", (-0.115, 0.18, 0.0), 5.0, True),  # spinous process, on the skin
    ("CLAV", "torso", (0.055, 0.385, 0.0), 5.0, True),  # jugular notch
    ("STRN", "torso", (0.10, 0.21, 0.0), 5.0, True),  # xiphoid process
    ("RBAK", "torso", (-0.10, 0.30, 0.08), 1.0, False),  # middle of the right scapula (right only)
]

_SIDED_BODIES = {"femur", "tibia", "talus", "calcn", "toes", "humerus", "ulna", "radius", "hand"}


def _left_name(name: str) -> str:
    """Left-side counterpart of a right-side marker name (R.X, RX, r_x, r.X, RHJC_study)."""
    for r, l in (("R.", "L."), ("r.", "L."), ("r_", "L_"), ("RHJC", "LHJC")):
        if name.startswith(r):
            return l + name[len(r):]
    if name.startswith("R") and name[1:2].isupper():
        return "L" + name[1:]
    raise ValueError(f"cannot mirror marker name {name!r}")


def _build(name: str, right, central, aliases=None) -> MarkerMap:
    markers: dict[str, MarkerDef] = {}
    for mk, body, pos, w, lm in right:
        for side, zs in (("r", 1.0), ("l", -1.0)):
            b = f"{body}_{side}" if body in _SIDED_BODIES else body
            n = mk if side == "r" else _left_name(mk)
            p = np.array(pos, float) * (1.0, 1.0, zs)
            markers[n] = MarkerDef(b, p, w, lm)
    for mk, body, pos, w, lm in central:
        markers[mk] = MarkerDef(body, np.array(pos, float), w, lm)
    return MarkerMap(name=name, markers=markers, scaled=False, source="built-in",
                     aliases=dict(aliases or {}))


BUILTIN_MAPS = ("opensim_example", "opencap_study", "keypoints", "plugin_gait")
_ALIASES = {"coco17": "keypoints", "coco": "keypoints", "halpe26": "keypoints",
            "halpe": "keypoints", "body25": "keypoints", "pose2sim": "keypoints",
            "openpose": "keypoints", "opencap": "opencap_study", "opensim": "opensim_example",
            "gait2392": "opensim_example", "gait2354": "opensim_example", "hamner": "opensim_example",
            "pig": "plugin_gait", "plug-in-gait": "plugin_gait", "vicon": "plugin_gait"}


def builtin_map(name: str) -> MarkerMap:
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "opensim_example":
        return _build("opensim_example", _OPENSIM_EXAMPLE_RIGHT, _OPENSIM_EXAMPLE_CENTRAL)
    if key == "opencap_study":
        return _build("opencap_study", _STUDY_RIGHT, _STUDY_CENTRAL)
    if key == "keypoints":
        return _build("keypoints", _KEYPOINTS_RIGHT, _KEYPOINTS_CENTRAL, _KEYPOINT_ALIASES)
    if key == "plugin_gait":
        return _build("plugin_gait", _PLUGIN_GAIT_RIGHT, _PLUGIN_GAIT_CENTRAL)
    raise ValueError(f"unknown marker set {name!r}: built-in sets are {list(BUILTIN_MAPS)} "
                     f"(aliases {sorted(_ALIASES)}); or give --marker-map MAP.yaml")


def choose_builtin_map(names) -> tuple[MarkerMap, int]:
    """The built-in set that knows the most of a file's marker ``names`` (exact, alias or
    case-insensitive, as ``MarkerMap.resolve``), and how many it knows; ties go to the first
    of ``BUILTIN_MAPS``."""
    best, best_known = None, -1
    for set_name in BUILTIN_MAPS:
        mmap = builtin_map(set_name)
        known = sum(mmap.resolve(n) is not None for n in names)
        if known > best_known:
            best, best_known = mmap, known
    return best, best_known


# --------------------------------------------------------------------------------------------
# Files: YAML maps and OpenSim MarkerSets
# --------------------------------------------------------------------------------------------

def load_marker_map(path: str | Path) -> MarkerMap:
    """A marker map from YAML (``.yaml``/``.yml``) or from an OpenSim model's ``<MarkerSet>``.

    YAML layout (``scaled``, ``weight`` and ``landmark`` optional)::

        name: my_lab
        scaled: false          # positions in the generic 1.80 m model (default), scaled per body
        markers:
          R.ASIS: {body: pelvis, pos: [-0.015, 0.014, 0.118], weight: 10}
          R.Thigh: {body: femur_r, pos: [0.0, -0.2, 0.09], weight: 2, landmark: false}
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"marker map {path} not found")
    if path.suffix.lower() == ".osim":
        return marker_map_from_osim(path)
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("markers"), dict) or not data["markers"]:
        raise ValueError(f"{path}: a marker map needs a 'markers:' mapping of "
                         "name -> {body, pos: [x, y, z], weight}")
    markers = {}
    for n, d in data["markers"].items():
        if not isinstance(d, dict) or "body" not in d or "pos" not in d:
            raise ValueError(f"{path}: marker {n!r} needs 'body' and 'pos: [x, y, z]' (metres)")
        pos = np.asarray(d["pos"], dtype=float)
        if pos.shape != (3,):
            raise ValueError(f"{path}: marker {n!r}: pos must be 3 numbers, got {d['pos']!r}")
        try:
            markers[str(n)] = MarkerDef(str(d["body"]), pos, float(d.get("weight", 1.0)),
                                        bool(d.get("landmark", True)))
        except ValueError as e:
            raise ValueError(f"{path}: marker {n!r}: {e}") from None
    aliases = {str(k): str(v) for k, v in (data.get("aliases") or {}).items()}
    return MarkerMap(name=str(data.get("name", path.stem)), markers=markers,
                     scaled=bool(data.get("scaled", False)), source=str(path), aliases=aliases)


def save_marker_map(path: str | Path, mmap: MarkerMap) -> Path:
    import yaml

    path = Path(path)
    d = mmap.to_dict()
    d["markers"] = {n: {k: v for k, v in m.items()} for n, m in d["markers"].items()}
    path.write_text(yaml.safe_dump(d, sort_keys=False, default_flow_style=None))
    return path


def with_weights_from(mmap: MarkerMap, reference: MarkerMap) -> MarkerMap:
    """``mmap`` with the weights and landmark flags of ``reference`` for the markers both have."""
    out = {}
    for n, m in mmap.markers.items():
        r = reference.markers.get(reference.resolve(n) or "")
        out[n] = replace(m, weight=r.weight, landmark=r.landmark) if r is not None else m
    return replace(mmap, markers=out)


def marker_map_from_osim(path: str | Path, weight: float = 1.0) -> MarkerMap:
    """The ``<MarkerSet>`` of an OpenSim model (3.x ``<body>`` or 4.x ``socket_parent_frame``).

    Locations are in the model's own (already scaled) body frames, so the map is ``scaled=True``.
    """
    import xml.etree.ElementTree as ET

    path = Path(path)
    root = ET.parse(path).getroot()
    markers = {}
    for mk in root.iter("Marker"):
        name = mk.get("name")
        body_el = mk.find("body")
        if body_el is None:
            body_el = mk.find("socket_parent_frame")
        loc_el = mk.find("location")
        if name is None or body_el is None or loc_el is None or not (body_el.text or "").strip():
            continue
        body = body_el.text.strip().rstrip("/").split("/")[-1]
        pos = np.array([float(v) for v in loc_el.text.split()])
        markers[name] = MarkerDef(body, pos, weight, True)
    if not markers:
        raise ValueError(f"{path}: no <MarkerSet> markers found")
    return MarkerMap(name=path.stem, markers=markers, scaled=True, source=str(path))
