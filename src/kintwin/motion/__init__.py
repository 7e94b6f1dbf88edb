"""Motion data: file formats (``storage``, ``trc``, ``c3d``, ``grf``), signal conditioning
(``filtering``) and kinematics (``motion``, ``kinematics_io``, ``frames``).

Import from the submodules, e.g. ``from kintwin.motion.storage import read_table``.
"""
